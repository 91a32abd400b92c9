"""One check of `cua doctor`: a leaf module, so the doctor and the providers both build them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: what was found (`detail`) and, on failure, what to do (`fix`)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False
    warning: bool = False  # ok (nothing stops a run), but worth fixing: `fix` says how

    @property
    def status(self) -> str:
        """"ok", "WARN", "FAIL" or "skipped", as shown."""
        if self.skipped:
            return "skipped"
        if not self.ok:
            return "FAIL"
        return "WARN" if self.warning else "ok"


def check_api_key(env: Mapping[str, str]) -> Check:
    """ANTHROPIC_API_KEY is set. Its value is never read into a message."""
    if env.get("ANTHROPIC_API_KEY", "").strip():
        return Check("api_key", True, "ANTHROPIC_API_KEY is set")
    return Check("api_key", False, "ANTHROPIC_API_KEY is not set",
                 "export ANTHROPIC_API_KEY where the run starts (cron does not read your shell "
                 "profile: set it in the crontab or in a script the job runs)")
