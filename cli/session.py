"""Builds what a run needs (the desktop session from core.session, client, recorder, view),
runs it, reports it.

Shared by `cua run` and `cua demo`, which differ only in where Claude and the app come from.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import traceback
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console

from ..core.errors import ConfigError, CuaError
from ..core.events import Event, RunFinished, Usage
from ..core.exits import (
    BUG_EXIT,
    STATUS_EXIT,
    InternalError,
    exit_code_for,
    interruption_message,
)
from ..core.interrupts import (
    GRACE_S,
    SignalHandling,
    exit_code_is,
    handling_signals,
    signal_name,
)
from ..core.secrets import Secrets
from ..core.settings import Settings
from .logs import core_logging
from .replay import make_replayer
from .summary import empty_summary, mark_printed
from .terminal import guarded_stdio
from .view import make_view


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
    failure: ConfigError | None = None
    env, credential_vars = _with_header_values(plan.env, plan.headers)
    try:
        secrets = Secrets.from_specs(plan.secret_specs, env, credential_vars)
    except ConfigError as exc:  # the credentials are still redacted on the way out
        secrets, failure = Secrets.credentials_only(env, credential_vars), exc
    with guarded_stdio(secrets.redactor):
        return _execute_guarded(plan, secrets, failure)


def _with_header_values(env: Mapping[str, str], headers: Mapping[str, str]
                        ) -> tuple[dict[str, str], tuple[str, ...]]:
    """The environment plus each extra header's value (config [headers], and the SDK's
    ANTHROPIC_CUSTOM_HEADERS) under a name of its own, so a gateway token is redacted like a
    key wherever it shows up."""
    from ..core.secrets import CREDENTIAL_VARS

    values = dict(headers)
    for line in env.get("ANTHROPIC_CUSTOM_HEADERS", "").splitlines():
        name, colon, value = line.partition(":")
        if colon and value.strip():
            values[name.strip()] = value.strip()
    extra = {"HEADER_" + "".join(c if c.isalnum() else "_" for c in name).upper(): value
             for name, value in values.items()}
    return {**env, **extra}, (*CREDENTIAL_VARS, *extra)


def _execute_guarded(plan: RunPlan, secrets: Secrets, failure: ConfigError | None) -> int:
    stderr = Console(stderr=True)
    with core_logging(stderr, plan.verbose):
        return _execute_logged(plan, secrets, failure, stderr)


def _execute_logged(plan: RunPlan, secrets: Secrets, failure: ConfigError | None,
                    stderr: Console) -> int:
    # SIGINT, SIGTERM and SIGHUP unwind the run like Ctrl-C (exit 130, 143, 129); a signal
    # during the ending after it (or after any end) is held until the record is finished.
    with handling_signals(on_held=_note_held, on_overdue=_note_overdue) as handling:
        return _execute_handled(plan, secrets, failure, stderr, handling)


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


def _execute_handled(plan: RunPlan, secrets: Secrets, failure: ConfigError | None,
                     stderr: Console, handling: SignalHandling | None) -> int:
    view = make_view(stderr, quiet=plan.quiet, verbose=plan.verbose)
    summary: dict[str, Any] = {}
    code = BUG_EXIT
    try:
        if failure is not None:
            raise failure
        code = _execute(plan, secrets, view, stderr, summary)
    except BaseException as exc:
        code = exit_code_for(exc)
        if handling is not None:
            handling.exit_code_is(code)
        close = getattr(view, "close", None)
        if close:
            close()
        if plan.as_json:  # scripts get their one JSON object on every exit path
            summary.update(status=summary.get("status") or _status_for(exc),
                           exit_code=exit_code_for(exc))
            if not isinstance(exc, KeyboardInterrupt):
                summary["error"] = _describe(exc)
            _print_json(secrets.redact_data(summary))
        if isinstance(exc, KeyboardInterrupt):
            # Handled here: typer would turn it into a bare 130, losing SIGTERM's 143.
            sys.stderr.write(f"cua: {interruption_message(exc)}\n")
            return exit_code_for(exc)
        if isinstance(exc, CuaError):
            safe = _redacted(exc, secrets)
            if safe is exc:
                raise
            raise safe from None
        run_dir = summary.get("run_dir", "(no run folder yet)")
        written = write_crash(run_dir, exc, secrets)
        error = InternalError(run_dir, exc, crash_file=written)
        error.args = (secrets.redact(str(error)),)
        raise error from exc
    finally:
        if handling is not None:
            handling.exit_code_is(code)
        _after_run(plan, summary.get("run_dir"), code, secrets)
    return code


def _redacted(exc: CuaError, secrets: Secrets) -> CuaError:
    """`exc` itself when its message holds no secret, else a copy with a redacted message."""
    message = str(exc)
    if not secrets.redactor.found(message):
        return exc
    return type(exc)(secrets.redact(message))


def _describe(exc: BaseException) -> str:
    """str(exc), which must not fail even when the exception's own __str__ does."""
    try:
        return str(exc)
    except Exception:
        return type(exc).__name__
def _after_run(plan: RunPlan, run_dir: str | None, code: int, secrets: Secrets) -> None:
    """Where every run ends, however it ends: the exit code goes into run.json, and with
    --report the report is written. Never raises: the run's own outcome stands."""
    if not run_dir or not (Path(run_dir) / "run.json").is_file():
        return
    try:
        from ..core.runs import load_run, record_exit_code

        record_exit_code(Path(run_dir), code)
        if not plan.report:
            return
        from ..core.report import write_report

        run = load_run(Path(run_dir), run_dir)
        path = write_report(run, Path(run_dir) / "report.html", redact=secrets.redact)
        if not plan.quiet:
            sys.stderr.write(f"cua: report: {path}\n")
    except Exception as exc:  # a full disk must not turn a finished run into a crash
        sys.stderr.write(f"cua: could not finish the run record or report in {run_dir}: {exc}\n")


def _status_for(exc: BaseException) -> str:
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"


def _print_json(summary: dict[str, Any]) -> None:
    summary = {**empty_summary(), **summary}  # every key on every exit path, null if unknown
    mark_printed()
    text = json.dumps(summary, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a non-UTF-8 path): escape it
        text = json.dumps(summary, ensure_ascii=True)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write_crash(run_dir: str, exc: BaseException, secrets: Secrets | None = None) -> str | None:
    """Write the traceback, redacted, to crash.txt in the run folder (else a temporary file);
    the path written, or None. Never raises: this is the path that reports a bug."""
    try:
        text = "".join(traceback.format_exception(exc))
        text = secrets.redact(text) if secrets is not None else text
    except Exception as inner:  # an exception whose formatting fails
        text = f"{type(exc).__name__} (its traceback could not be formatted: {inner!r})\n"
    candidates = [Path(run_dir) / "crash.txt"] if run_dir and Path(run_dir).is_dir() else []
    for path in candidates:
        try:
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
            return str(path)
        except OSError:
            continue
    try:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="cua-crash-", suffix=".txt")
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(text)
        return name
    except OSError:
        return None


def _execute(plan: RunPlan, secrets: Secrets, view: Any, console: Console,
             summary: dict[str, Any]) -> int:
    from ..core.claude import ClaudeClient
    from ..core.config_file import header_credential
    from ..core.flavours import flavour_for, image_limits_for, model_warning
    from ..core.loop import LoopConfig, run_task
    from ..core.policy_file import default_policy_path, effective_rules
    from ..core.providers import resolve_endpoint
    from ..core.replay import LazyClient
    from ..core.runs import RunRecorder, check_run_dir, new_run_id, prepare_run_dir, runs_root
    from ..core.session import APP_HOLD_S, open_session

    s = plan.settings
    summary.update(provider=s.provider, region=s.region)
    endpoint = resolve_endpoint(
        provider=s.provider, model=s.model, model_is_default=plan.model_is_default,
        region=s.region, project=s.project, base_url=plan.base_url or s.base_url,
        headers=plan.headers, env=plan.env)
    summary.update(region=endpoint.region)
    model = endpoint.model
    canonical = model.canonical or model.id
    flavour = flavour_for(canonical, s.tool_version)
    warning = model_warning(canonical, s.tool_version)
    if warning is not None and not plan.known_model:
        where = "" if endpoint.provider == "anthropic" else f"{endpoint.label}: "
        sys.stderr.write(f"cua: warning: {where}{warning}\n")
    policy_files = list(plan.policy_files)
    if not policy_files and (default := default_policy_path(plan.env)).is_file():
        policy_files.append(default)
    rules = _with_scope(effective_rules(policy_files), plan.scope_window)
    reader = _tripwire_reader(plan.env)
    header_credential("ANTHROPIC_API_KEY", plan.api_key)  # one clear line, value never shown
    now = datetime.now(UTC)
    run_id = new_run_id(now)
    replay = make_replayer(s.replay, task=secrets.redact(plan.task), root=runs_root(plan.env),
                           monitor=s.monitor, wait_s=s.replay_wait_s, exclude=run_id)

    def make_client() -> ClaudeClient:
        return ClaudeClient(api_key=plan.api_key, endpoint=endpoint, env=plan.env,
                            max_retries=s.max_retries)

    # A replay asks Claude only at a handover: the SDK is imported, and the key needed, then.
    client: Any = make_client() if replay is None else LazyClient(make_client)
    if replay is None:
        endpoint = client.endpoint
    # One rule for every early exit: the run folder is made only once the desktop (and --app)
    # is ready, so a run that stops before that leaves no folder (run_id, run_dir null).
    run_path = plan.run_dir or runs_root(plan.env) / run_id
    existed = run_path.exists()
    check_run_dir(run_path)  # early, creating nothing: a folder holding a record, or unwritable
    summary.update(status=None, summary="", steps=0, exit_code=None, model=model.id,
                   provider=endpoint.provider, region=endpoint.region,
                   tool_version=flavour.version, duration_s=0.0, usage=Usage().as_dict(),
                   cost_usd=None)
    with ExitStack() as stack:
        stack.callback(client.close)
        session = stack.enter_context(open_session(
            plan.env, virtual_display=plan.virtual_display, app=plan.app,
            monitor=plan.settings.monitor, run_dir=str(run_path), wait_lock_s=plan.wait_lock_s,
            app_wait_s=plan.app_wait_s, fake=plan.desktop,
            # a replay waits at each step for the screen to match the recording instead
            app_hold_s=0.0 if replay is not None else APP_HOLD_S))
        desktop, desktop_env = session.desktop, session.env
        # Only now, with the desktop up: a run stopped while Xvfb or --app starts (a signal,
        # even SIGKILL) leaves no run folder without a record.
        run_dir = prepare_run_dir(run_path)
        if not existed:
            stack.callback(_drop_if_unrecorded, run_dir)
        summary.update(run_id=run_id, run_dir=str(run_dir))
        recorder = RunRecorder(run_dir, meta={**_versions(plan, secrets, policy_files),
                                              **_provider_meta(endpoint),
                                              "display": desktop_env["DISPLAY"],
                                              "monitor": s.monitor},
                               redactor=secrets.redactor)
        stack.callback(recorder.close)

        def on_event(event: Event) -> None:
            try:
                recorder(event)  # a record that cannot be written raises RecordError (exit 5)
            finally:
                view(event)
                if isinstance(event, RunFinished):  # so that every exit path reports the same
                    summary.update(status=event.status, summary=event.summary,
                                   steps=event.steps, duration_s=round(event.duration_s, 3),
                                   usage=event.usage.as_dict(), cost_usd=event.cost_usd,
                                   **event.details)

        config = LoopConfig(model=model.id, flavour=flavour, max_steps=s.max_steps,
                            max_tokens=s.max_tokens, keep_images=s.keep_images,
                            settle_ceiling_s=s.settle_ceiling_s, limits=image_limits_for(canonical),
                            price=_price(endpoint, plan.price_overrides),
                            max_cost_usd=s.max_cost_usd, rules=rules, secrets=secrets,
                            timeout_s=plan.timeout_s, reader=reader)
        result = run_task(plan.task, desktop=desktop, client=client, config=config,
                          on_event=on_event, run_id=run_id, run_dir=str(run_dir),
                          approver=_approver(plan, view, console),
                          check=_check(plan.check, desktop_env), replay=replay)
        exit_code_is(STATUS_EXIT[result.status])  # the ending still to come keeps this code
    code = STATUS_EXIT[result.status]
    summary["exit_code"] = code  # the rest came with the RunFinished event
    if plan.as_json:
        _print_json(secrets.redact_data(summary))
    elif not plan.quiet or result.status != "success":
        sys.stdout.write(f"{result.status}: {result.summary}\n")
    return code


def _with_scope(rules: list[Any], scope_window: str | None) -> tuple[Any, ...]:
    """The rules with --scope-window's outside-scope rule after the policy files' rules."""
    if not scope_window:
        return tuple(rules)
    import re

    from ..core.policy import BUILTIN_RULES, scope_rule

    try:
        scope = scope_rule(scope_window)
    except re.error as exc:
        raise ConfigError(f"--scope-window {scope_window!r} is not a valid regular expression: "
                          f"{exc}") from None
    at = len(rules) - len(BUILTIN_RULES)
    return (*rules[:at], scope, *rules[at:])


def _tripwire_reader(env: Mapping[str, str]) -> Any:
    """The OCR engine for the injection tripwire, or None (saying once why it is off)."""
    setting = env.get("CUA_TRIPWIRE", "on").strip().lower()
    if setting in ("off", "0", "no", "false"):
        return None
    if setting not in ("on", "1", "yes", "true", ""):
        raise ConfigError(f"CUA_TRIPWIRE must be on or off, not {setting!r}")
    from ..core.ocr import find_engine

    reader, detail = find_engine(env=env)
    if reader is None:
        sys.stderr.write(f"cua: warning: the injection tripwire is off (screen text is not "
                         f"checked for prompt injection): {detail}\n")
    return reader


def _drop_if_unrecorded(run_dir: Path) -> None:
    """Remove the run folder again if the run stopped before its record began (still empty)."""
    if not (run_dir / "run.json").exists():
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def _approver(plan: RunPlan, view: Any, console: Console) -> Any:
    """Who answers the policy's `ask`: --yes, a person at this terminal, or nobody."""
    from ..core.gate import approve_all, refuse_all

    if plan.assume_yes:
        return approve_all
    if plan.non_interactive or not sys.stdin.isatty():
        return refuse_all
    from .approval import TerminalApprover

    return TerminalApprover(console, pause=getattr(view, "paused", None))


def _check(command: str | None, env: Mapping[str, str]) -> Any:
    if not command:
        return None
    from ..core.check import run_check

    return lambda: run_check(command, env=env)


def _versions(plan: RunPlan, secrets: Any, policy_files: list[Path]) -> dict[str, Any]:
    try:
        cua_version = metadata.version("claude-cua")
        sdk_version = metadata.version("anthropic")
    except metadata.PackageNotFoundError:
        cua_version = sdk_version = "unknown"
    return {"cua_version": cua_version, "anthropic_version": sdk_version,
            "python": sys.version.split()[0], "host": socket.gethostname(),
            "virtual_display": plan.virtual_display,
            "app": plan.app, "secrets": list(secrets.names),
            "policy_files": [str(p) for p in policy_files], "timeout_s": plan.timeout_s,
            "check": plan.check}


def _provider_meta(endpoint: Any) -> dict[str, Any]:
    """Where the run's requests went; header values are left out (they may hold tokens)."""
    return {"provider": endpoint.provider, "region": endpoint.region,
            "project": endpoint.project, "model_canonical": endpoint.model.canonical,
            "model_profile": endpoint.model.profile, "base_url": _public_url(endpoint.base_url),
            "extra_headers": sorted(endpoint.headers)}


def _price(endpoint: Any, overrides: Mapping[str, Any] | None) -> Any:
    """The model's price: an override for the id as written, else the canonical model's row
    times the provider's factor (regional endpoints cost more)."""
    from ..core.flavours import price_factor
    from ..core.prices import price_for

    model = endpoint.model
    if overrides and model.id in overrides:
        return overrides[model.id]
    price = price_for(model.canonical or model.id, overrides)
    factor = price_factor(model, region=endpoint.region)
    if price is None or factor == 1.0:
        return price
    return replace(price, input=price.input * factor, output=price.output * factor,
                   cache_write=price.cache_write * factor, cache_read=price.cache_read * factor)


def _public_url(url: str | None) -> str | None:
    """A URL without user:password@ or query, which may carry a gateway's credentials."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
