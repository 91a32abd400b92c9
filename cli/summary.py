"""The one JSON object `cua run --json` prints: the same keys on every exit path.

The session fills in what it knows; whatever an exit path does not know is null. Errors raised
before a session starts (typer's own usage errors, a bad config file or CUA_* value) are printed
by cli.main with `error_summary`, unless the session already printed its object.
"""

from __future__ import annotations

from typing import Any

SUMMARY_KEYS = ("status", "summary", "steps", "exit_code", "model", "tool_version", "provider",
                "region", "run_id", "run_dir", "duration_s", "usage", "cost_usd", "error",
                "approval", "check", "replay")
_printed = [False]


def empty_summary() -> dict[str, Any]:
    """Every key null, except `steps`: no step has run yet, so 0."""
    return {**dict.fromkeys(SUMMARY_KEYS), "steps": 0}


def mark_printed() -> None:
    _printed[0] = True


def reset() -> None:
    _printed[0] = False


def was_printed() -> bool:
    return _printed[0]


def error_summary(message: str, exit_code: int, status: str = "error") -> dict[str, Any]:
    """The object for a run that ended before it began: only the outcome is known."""
    return {**empty_summary(), "status": status, "exit_code": exit_code, "error": message}
