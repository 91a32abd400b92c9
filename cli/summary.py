"""The one JSON object `cua run --json` prints: the same keys on every exit path.

core.engine fills it in (RunOutcome.summary); whatever an exit path does not know is null.
Errors raised before a run starts (typer's own usage errors, a bad config file or CUA_* value)
are printed by cli.main with `error_summary`, unless the command already printed its object.
Whether it did is per invocation of `cua` (thread-local state that cli.main sets afresh), not
per process: two invocations in two threads do not see each other's.
"""

from __future__ import annotations

import threading
from typing import Any

from ..core.exits import SUMMARY_KEYS, empty_summary

__all__ = ["SUMMARY_KEYS", "begin", "empty_summary", "error_summary", "mark_printed",
           "was_printed"]

_invocation = threading.local()  # .printed: this thread's `cua` printed its JSON object


def begin() -> None:
    """A new invocation of `cua` on this thread: nothing printed yet."""
    _invocation.printed = False


def mark_printed() -> None:
    _invocation.printed = True


def was_printed() -> bool:
    return bool(getattr(_invocation, "printed", False))


def error_summary(message: str, exit_code: int, status: str = "error") -> dict[str, Any]:
    """The object for a run that ended before it began: only the outcome is known."""
    return {**empty_summary(), "status": status, "exit_code": exit_code, "error": message}
