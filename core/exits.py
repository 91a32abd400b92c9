"""Exit codes: the one table from a run's status or an error to the code `cua` exits with.

Imports nothing but the error tree, so anything (the cli, a batch runner) can use it and
nothing imports back.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, DesktopError, FailSafeTriggered, HungUp, ModelError, Terminated

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 task reported failed or unknown, or --check failed; 2 usage or "
    "configuration error; 3 budget exhausted (steps, cost or --timeout); 4 an action needed "
    "approval nobody could give, or the run was aborted at a prompt; 5 environment error "
    "(display, X11, lock, permissions); 6 API error that retries could not fix; 70 a bug in "
    "cua; 129 hung up (SIGHUP); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM)."
)

# Run status → exit code. Errors map through `exit_code_for` below; nothing else decides codes.
STATUS_EXIT = {
    "success": 0,
    "failure": 1,
    "unknown": 1,
    "check_failed": 1,
    "budget_exhausted": 3,
    "timeout": 3,
    "needs_approval": 4,
    "aborted": 4,
    "interrupted": 130,
}
ERROR_EXIT: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, 2),
    (DesktopError, 5),
    (ModelError, 6),
    (FailSafeTriggered, 130),
    (HungUp, 129),
    (Terminated, 143),
)
BUG_EXIT = 70


def exit_code_for(error: BaseException) -> int:
    for kind, code in ERROR_EXIT:
        if isinstance(error, kind):
            return code
    return 130 if isinstance(error, KeyboardInterrupt) else BUG_EXIT


class InternalError(Exception):
    """A bug in cua, wrapped with the run folder so the user can send it along."""

    def __init__(self, run_dir: str, cause: BaseException, *,
                 crash_file: str | None = None) -> None:
        try:
            detail = f"{type(cause).__name__}: {cause}"
        except Exception:  # an exception whose __str__ fails must still be reported
            detail = type(cause).__name__
        super().__init__(detail)
        self.run_dir, self.crash_file = run_dir, crash_file


def interruption_message(exc: KeyboardInterrupt) -> str:
    """What stopped the run, in words: a bare KeyboardInterrupt (Ctrl-C) has no message."""
    return str(exc) or "interrupted by Ctrl-C (SIGINT)"


# The keys of the run summary (`cua run --json`, core.engine's RunOutcome.summary), in order.
SUMMARY_KEYS = ("status", "summary", "steps", "exit_code", "model", "tool_version", "provider",
                "region", "run_id", "run_dir", "duration_s", "usage", "cost_usd", "error",
                "approval", "check", "replay")


def empty_summary() -> dict[str, Any]:
    """The summary with every key null, except `steps`: no step has run yet, so 0."""
    return {**dict.fromkeys(SUMMARY_KEYS), "steps": 0}
