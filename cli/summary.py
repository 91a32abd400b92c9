"""The one JSON object `cua run --json` prints: the same keys on every exit path.

core.engine fills it in (RunOutcome.summary); whatever an exit path does not know is null.
Errors raised before a run starts (typer's own usage errors, a bad config file or CUA_* value)
are printed by cli.main with `error_summary`, unless the command already printed its object.
Whether it did is per invocation of `cua` (a context variable that cli.main sets afresh), not
per process: two invocations in two threads do not see each other's.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from ..core.exits import SUMMARY_KEYS, empty_summary

__all__ = ["SUMMARY_KEYS", "begin", "empty_summary", "error_summary", "mark_printed",
           "was_printed"]

_printed: ContextVar[list[bool] | None] = ContextVar("cua_json_printed", default=None)


def begin() -> None:
    """A new invocation of `cua` on this thread: nothing printed yet."""
    _printed.set([False])


def mark_printed() -> None:
    flag = _printed.get()
    if flag is not None:
        flag[0] = True


def was_printed() -> bool:
    flag = _printed.get()
    return flag is not None and flag[0]


def error_summary(message: str, exit_code: int, status: str = "error") -> dict[str, Any]:
    """The object for a run that ended before it began: only the outcome is known."""
    return {**empty_summary(), "status": status, "exit_code": exit_code, "error": message}
