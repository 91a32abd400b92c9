"""`cua run` and `cua demo` around core.engine.run: the terminal's part of a run (the view, who
answers an approval, signals, redacting stdio, the JSON or the one-line result).

Shared by `cua run` and `cua demo`, which differ only in where Claude and the app come from.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.console import Console

from ..core.errors import ConfigError
from ..core.exits import interruption_message
from ..core.interrupts import GRACE_S, SignalHandling, handling_signals, signal_name
from ..core.settings import Settings
from .logs import core_logging
from .summary import mark_printed
from .view import guarded_stdio, make_view


@dataclass(frozen=True, slots=True)
class RunPlan:
    task: str
    settings: Settings
    env: Mapping[str, str]
    virtual_display: str | None = None
    app: list[str] | None = None
    run_dir: Path | None = None
    as_json: bool = False
    quiet: bool = False
    base_url: str | None = None  # overrides every other base URL (cua demo's stand-in)
    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    model_is_default: bool = False  # then each provider's own default model is used
    app_wait_s: float = 15.0
    price_overrides: Mapping[str, Any] | None = None
    policy_files: tuple[Path, ...] = ()
    secret_specs: tuple[str, ...] = ()
    assume_yes: bool = False
    non_interactive: bool = False
    timeout_s: float | None = None
    check: str | None = None
    wait_lock_s: float = 0.0
    desktop: str | None = None  # hidden --desktop: a FakeDesktop spec, for tests
    report: bool = False  # write report.html into the run folder when the run ends
    verbose: int = 0  # -v: step detail and core's info logs; -vv: debug logs
    known_model: bool = False  # the model is known not to be in the table (cua demo's stand-in)
    scope_window: str | None = None  # --scope-window REGEX

    def request(self) -> Any:
        """The core's part of the plan."""
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.engine.root import RunRequest

        # Every field of the request is a field of the plan under the same name (a test checks),
        # so a field added to RunRequest is carried without a second list to keep in step.
        return RunRequest(**{f.name: getattr(self, f.name) for f in fields(RunRequest)})


def parse_app(command: str | None) -> list[str] | None:
    if not command:
        return None
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"--app {command!r} is not a valid command line: {exc}") from exc
    return argv or None


def execute(plan: RunPlan) -> int:
    """Run the plan to the end; returns the exit code (Ctrl-C and SIGTERM included).
    CuaErrors propagate to cli.main, their messages redacted."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.root import _with_header_values
    from ..core.safety.secrets import Secrets

    env, credential_vars = _with_header_values(plan.env, plan.headers)
    try:
        secrets = Secrets.from_specs(plan.secret_specs, env, credential_vars)
    except ConfigError:  # the run reports it; the credentials are still redacted here
        secrets = Secrets.credentials_only(env, credential_vars)
    # The terminal is this process's, not the run's: cli guards its own stdio.
    # SIGINT, SIGTERM and SIGHUP unwind the run like Ctrl-C (exit 130, 143, 129); a signal
    # during the ending after it (or after any end) is held until the record is finished.
    with guarded_stdio(secrets.redactor):
        stderr = Console(stderr=True)
        with (core_logging(stderr, plan.verbose),
              handling_signals(on_held=_note_held, on_overdue=_note_overdue) as handling):
            return _execute(plan, stderr, handling)


def _note_held(signum: int) -> None:
    # Straight to fd 2 from the handler: the view may be half-way through a write.
    _write_fd(2, f"\ncua: {signal_name(signum)} noted; still releasing input and finishing the "
                 "run record, then cua exits\n")


def _note_overdue(code: int) -> None:
    _write_fd(2, f"cua: the run's ending took over {GRACE_S:g} s; exiting now with {code} (the "
                 "input watchdog releases any key or button still down)\n")


def _write_fd(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):  # a terminal that hung up: nobody is there to read it
        os.write(fd, text.encode("utf-8", "replace"))


def _execute(plan: RunPlan, stderr: Console, handling: SignalHandling | None) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.root import RunHooks, run

    view = make_view(stderr, quiet=plan.quiet, verbose=plan.verbose)
    hooks = RunHooks(on_event=view, approver=_approver(plan, view, stderr),
                     warn=lambda line: sys.stderr.write(f"cua: warning: {line}\n"))
    outcome = run(plan.request(), hooks)
    if handling is not None:
        handling.exit_code_is(outcome.exit_code)
    error = outcome.error
    if error is not None:
        close = getattr(view, "close", None)
        if close:
            close()
    if plan.as_json:  # scripts get their one JSON object on every exit path
        _print_json(outcome.summary)
    elif error is None and (not plan.quiet or outcome.summary["status"] != "success"):
        sys.stdout.write(f"{outcome.summary['status']}: {outcome.summary['summary']}\n")
    if outcome.report_path is not None and not plan.quiet:
        sys.stderr.write(f"cua: report: {outcome.report_path}\n")
    if isinstance(error, KeyboardInterrupt):
        # Handled here: typer would turn it into a bare 130, losing SIGTERM's 143.
        sys.stderr.write(f"cua: {interruption_message(error)}\n")
    elif error is not None:
        raise error from error.__cause__
    return outcome.exit_code


def _print_json(summary: dict[str, Any]) -> None:
    mark_printed()
    text = json.dumps(summary, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a non-UTF-8 path): escape it
        text = json.dumps(summary, ensure_ascii=True)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write_crash(run_dir: str, exc: BaseException, secrets: Any = None) -> str | None:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.root import write_crash as write

    return write(run_dir, exc, secrets)


def _approver(plan: RunPlan, view: Any, console: Console) -> Any:
    """Who answers the policy's `ask`: --yes, a person at this terminal, or nobody."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.safety.policy import approve_all, refuse_all

    if plan.assume_yes:
        return approve_all
    if plan.non_interactive or not sys.stdin.isatty():
        return refuse_all
    # Imported here, not at the top: start-up loads only what --help needs.
    from .approval import TerminalApprover

    return TerminalApprover(console, pause=getattr(view, "paused", None))
