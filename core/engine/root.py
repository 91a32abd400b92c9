"""The composition root: one task, from resolved settings to its outcome.

`run(request, hooks)` resolves the endpoint, tool flavour, price and rules, opens the desktop
session, records the run, drives the steps (loop.py), runs --check, and returns the RunOutcome:
the exact object `cua run --json` prints and the documented exit code. `cua run` and `cua demo`
call it; so can a batch runner or an MCP server, several at once in one process (each on its own
display), because nothing here is process-wide: what varies per caller comes in through RunHooks
(the event sink, the approver, warnings, the Cancel), and signals stay with the process's entry
point, which cancels every run in flight (core/interrupts.py).

core never prints: what a person should read arrives as events, `warn` lines, and the outcome.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import traceback
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..cancel import Cancel
from ..errors import ConfigError, CuaError
from ..exits import BUG_EXIT, STATUS_EXIT, SUMMARY_KEYS, InternalError, empty_summary, exit_code_for
from ..interrupts import exit_code_is, in_flight
from ..safety.policy import Approver, refuse_all
from ..safety.secrets import CREDENTIAL_VARS, Secrets
from ..settings import Settings
from ..vocab.events import EventSink, Usage

__all__ = ["SUMMARY_KEYS", "Cancel", "RunHooks", "RunOutcome", "RunRequest", "empty_summary",
           "run", "write_crash"]

@dataclass(frozen=True, slots=True)
class RunRequest:
    """One task and its resolved settings: everything about the run that is not a callback."""

    task: str
    settings: Settings
    env: Mapping[str, str]  # what the run sees: API key lookup, secrets' values, DISPLAY
    virtual_display: str | None = None  # "WxH": a private Xvfb for this run
    app: list[str] | None = None  # argv started on the display before the first screenshot
    run_dir: Path | None = None
    base_url: str | None = None  # overrides every other base URL (cua demo's stand-in)
    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    model_is_default: bool = False  # then each provider's own default model is used
    app_wait_s: float = 15.0
    price_overrides: Mapping[str, Any] | None = None
    policy_files: tuple[Path, ...] = ()
    secret_specs: tuple[str, ...] = ()  # as --secret: NAME or NAME=ENVVAR; values from env
    timeout_s: float | None = None
    check: str | None = None
    wait_lock_s: float = 0.0
    desktop: str | None = None  # hidden test desktop spec ("fake:...")
    report: bool = False  # write report.html into the run folder when the run ends
    known_model: bool = False  # the model is known not to be in the table (cua demo)
    scope_window: str | None = None  # --scope-window REGEX: actions elsewhere go to a person


def _ignore(_: Any) -> None:
    return None


@dataclass
class RunHooks:
    """What varies with the caller."""

    on_event: EventSink = _ignore  # every core event, already redacted, in order
    approver: Approver = refuse_all  # answers the policy's `ask`
    warn: Callable[[str], None] = _ignore  # one human line per warning
    cancel: Cancel | None = None  # set it (from any thread) to end the run as Ctrl-C does


@dataclass(frozen=True)
class RunOutcome:
    summary: dict[str, Any]  # exactly the object `cua run --json` prints: redacted, every key
    exit_code: int  # the documented exit code (core/exits.py)
    error: BaseException | None = None  # CuaError, InternalError or the interruption, if any
    report_path: Path | None = None  # report.html, when the request asked for one


def run(request: RunRequest, hooks: RunHooks) -> RunOutcome:
    """Run one task to its end. Never raises for the run's own failure (a config error, a
    crash, a budget, Ctrl-C): that is the outcome's `error` and `exit_code`."""
    cancel = hooks.cancel if hooks.cancel is not None else Cancel()
    env, credential_vars = _with_header_values(request.env, request.headers)
    failure: ConfigError | None = None
    try:
        secrets = Secrets.from_specs(request.secret_specs, env, credential_vars)
    except ConfigError as exc:  # the credentials are still redacted on the way out
        secrets, failure = Secrets.credentials_only(env, credential_vars), exc
    summary: dict[str, Any] = {}
    code, error = BUG_EXIT, None
    report: Path | None = None
    with in_flight(cancel):
        try:
            if failure is not None:
                raise failure
            code = _run(request, hooks, secrets, summary, cancel)
        except BaseException as exc:
            code = exit_code_for(exc)
            exit_code_is(code)
            summary.update(status=summary.get("status") or _status_for(exc), exit_code=code)
            if not isinstance(exc, KeyboardInterrupt):
                summary["error"] = _describe(exc)
            error = _reported(exc, summary, secrets)
        finally:
            exit_code_is(code)
            report = _after_run(request, summary.get("run_dir"), code, secrets, hooks.warn)
    summary = secrets.redact_data({**empty_summary(), **summary})
    return RunOutcome(summary, code, error, report)


def _reported(exc: BaseException, summary: dict[str, Any], secrets: Secrets) -> BaseException:
    """The error the caller sees: the interruption itself, a CuaError with its message
    redacted, or for anything else (a bug) an InternalError naming the crash file."""
    if isinstance(exc, KeyboardInterrupt):
        return exc
    if isinstance(exc, CuaError):
        return _redacted(exc, secrets)
    run_dir = summary.get("run_dir", "(no run folder yet)")
    written = write_crash(run_dir, exc, secrets)
    error = InternalError(run_dir, exc, crash_file=written)
    error.args = (secrets.redact(str(error)),)
    error.__cause__ = exc
    return error


def _with_header_values(env: Mapping[str, str], headers: Mapping[str, str]
                        ) -> tuple[dict[str, str], tuple[str, ...]]:
    """The environment plus each extra header's value (config [headers], and the SDK's
    ANTHROPIC_CUSTOM_HEADERS) under a name of its own, so a gateway token is redacted like a
    key wherever it shows up."""
    values = dict(headers)
    for line in env.get("ANTHROPIC_CUSTOM_HEADERS", "").splitlines():
        name, colon, value = line.partition(":")
        if colon and value.strip():
            values[name.strip()] = value.strip()
    extra = {"HEADER_" + "".join(c if c.isalnum() else "_" for c in name).upper(): value
             for name, value in values.items()}
    return {**env, **extra}, (*CREDENTIAL_VARS, *extra)


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


def _status_for(exc: BaseException) -> str:
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"


def _after_run(request: RunRequest, run_dir: str | None, code: int, secrets: Secrets,
               warn: Callable[[str], None]) -> Path | None:
    """Where every run ends, however it ends: the exit code goes into run.json, and with
    `report` the report is written (its path returned). Never raises: the run's own outcome
    stands."""
    if not run_dir or not (Path(run_dir) / "run.json").is_file():
        return None
    try:
        # Imported here: keeps importing this module light (start-up time).
        from ..store.runs import load_run, record_exit_code

        record_exit_code(Path(run_dir), code)
        if not request.report:
            return None
        # Imported here: keeps importing this module light (start-up time).
        from ..report.html import write_report

        run = load_run(Path(run_dir), run_dir)
        return Path(write_report(run, Path(run_dir) / "report.html", redact=secrets.redact))
    except Exception as exc:  # a full disk must not turn a finished run into a crash
        warn(secrets.redact(f"could not finish the run record or report in {run_dir}: {exc}"))
        return None


def _with_scope(rules: list[Any], scope_window: str | None) -> tuple[Any, ...]:
    """The rules with --scope-window's outside-scope rule after the policy files' rules."""
    if not scope_window:
        return tuple(rules)
    import re  # only with --scope-window

    from ..safety.policy import BUILTIN_RULES, scope_rule

    try:
        scope = scope_rule(scope_window)
    except re.error as exc:
        raise ConfigError(f"--scope-window {scope_window!r} is not a valid regular expression: "
                          f"{exc}") from None
    at = len(rules) - len(BUILTIN_RULES)
    return (*rules[:at], scope, *rules[at:])


def _tripwire_reader(env: Mapping[str, str], warn: Callable[[str], None]) -> Any:
    """The OCR engine for the injection tripwire, or None (saying once why it is off)."""
    setting = env.get("CUA_TRIPWIRE", "on").strip().lower()
    if setting in ("off", "0", "no", "false"):
        return None
    if setting not in ("on", "1", "yes", "true", ""):
        raise ConfigError(f"CUA_TRIPWIRE must be on or off, not {setting!r}")
    from ..safety.tripwire import find_engine  # tesserocr: only for a run that reads the screen

    reader, detail = find_engine(env=env)
    if reader is None:
        warn(f"the injection tripwire is off (screen text is not checked for prompt "
             f"injection): {detail}")
    return reader


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
            from ..store.runs import write_private  # only on the crash path (start-up time)

            write_private(path, text, encoding="utf-8", errors="backslashreplace")
            return str(path)
        except OSError:
            continue
    try:
        # Imported here: keeps importing this module light (start-up time).
        import tempfile

        fd, name = tempfile.mkstemp(prefix="cua-crash-", suffix=".txt")
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(text)
        return name
    except OSError:
        return None


def _run(request: RunRequest, hooks: RunHooks, secrets: Secrets, summary: dict[str, Any],
         cancel: Cancel) -> int:
    # Imported here, not at the top: `cua runs list` and `cua --version` import this module's
    # callers without starting a run, and these pull in the SDK, PIL and X (start-up time).
    from ..config_file import header_credential
    from ..model.claude import ClaudeClient
    from ..model.context import flavour_for, image_limits_for, model_warning
    from ..model.providers import resolve_endpoint
    from ..safety.policy_file import default_policy_path, effective_rules
    from ..store.runs import RunRecorder, check_run_dir, new_run_id, prepare_run_dir, runs_root
    from ..x11.session import APP_HOLD_S, open_session
    from .loop import LoopConfig, run_task
    from .replay import LazyClient, make_replayer

    s = request.settings
    summary.update(provider=s.provider, region=s.region)
    endpoint = resolve_endpoint(
        provider=s.provider, model=s.model, model_is_default=request.model_is_default,
        region=s.region, project=s.project, base_url=request.base_url or s.base_url,
        headers=request.headers, env=request.env)
    summary.update(region=endpoint.region)
    model = endpoint.model
    canonical = model.canonical or model.id
    flavour = flavour_for(canonical, s.tool_version)
    warning = model_warning(canonical, s.tool_version)
    if warning is not None and not request.known_model:
        where = "" if endpoint.provider == "anthropic" else f"{endpoint.label}: "
        hooks.warn(secrets.redact(f"{where}{warning}"))
    policy_files = list(request.policy_files)
    if not policy_files and (default := default_policy_path(request.env)).is_file():
        policy_files.append(default)
    rules = _with_scope(effective_rules(policy_files), request.scope_window)
    reader = _tripwire_reader(request.env, hooks.warn)
    header_credential("ANTHROPIC_API_KEY", request.api_key)  # one clear line, value never shown
    run_id = new_run_id(datetime.now(UTC))
    replay = make_replayer(s.replay, task=secrets.redact(request.task),
                           root=runs_root(request.env), monitor=s.monitor,
                           wait_s=s.replay_wait_s, exclude=run_id)

    def make_client() -> ClaudeClient:
        return ClaudeClient(api_key=request.api_key, endpoint=endpoint, env=request.env,
                            max_retries=s.max_retries, sleep=cancel.sleep)

    # A replay asks Claude only at a handover: the SDK is imported, and the key needed, then.
    client: Any = make_client() if replay is None else LazyClient(make_client)
    if replay is None:
        endpoint = client.endpoint
    # One rule for every early exit: the run folder is made only once the desktop (and --app)
    # is ready, so a run that stops before that leaves no folder (run_id, run_dir null).
    run_path = request.run_dir or runs_root(request.env) / run_id
    existed = run_path.exists()
    check_run_dir(run_path)  # early, creating nothing: a folder holding a record, or unwritable
    summary.update(status=None, summary="", steps=0, exit_code=None, model=model.id,
                   provider=endpoint.provider, region=endpoint.region,
                   tool_version=flavour.version, duration_s=0.0, usage=Usage().as_dict(),
                   cost_usd=None)
    with ExitStack() as stack:
        stack.callback(client.close)
        session = stack.enter_context(open_session(
            request.env, virtual_display=request.virtual_display, app=request.app,
            monitor=s.monitor, run_dir=str(run_path), wait_lock_s=request.wait_lock_s,
            app_wait_s=request.app_wait_s, fake=request.desktop, interrupt=cancel.check,
            # a replay waits at each step for the screen to match the recording instead
            app_hold_s=0.0 if replay is not None else APP_HOLD_S))
        desktop, desktop_env = session.desktop, session.env
        # Only now, with the desktop up: a run stopped while Xvfb or --app starts (a signal,
        # even SIGKILL) leaves no run folder without a record.
        run_dir = prepare_run_dir(run_path)
        if not existed:
            stack.callback(_drop_if_unrecorded, run_dir)
        summary.update(run_id=run_id, run_dir=str(run_dir))
        # The record first, then the caller's sink: a record that cannot be written raises
        # RecordError (exit 5) with the view still told.
        recorder = RunRecorder(run_dir, meta={**_versions(request, secrets, policy_files),
                                              **_provider_meta(endpoint),
                                              "display": desktop_env["DISPLAY"],
                                              "monitor": s.monitor},
                               redactor=secrets.redactor, then=hooks.on_event)
        stack.callback(recorder.close)
        # Whatever way the run ends, the summary says what its RunFinished said.
        stack.callback(_summarise, recorder, summary)
        config = LoopConfig(model=model.id, flavour=flavour, max_steps=s.max_steps,
                            max_tokens=s.max_tokens, keep_images=s.keep_images,
                            settle_ceiling_s=s.settle_ceiling_s, limits=image_limits_for(canonical),
                            price=_price(endpoint, request.price_overrides),
                            max_cost_usd=s.max_cost_usd, rules=rules, secrets=secrets,
                            timeout_s=request.timeout_s, reader=reader)
        result = run_task(request.task, desktop=desktop, client=client, config=config,
                          on_event=recorder, run_id=run_id, run_dir=str(run_dir),
                          approver=hooks.approver, check=_check(request.check, desktop_env),
                          replay=replay, cancel=cancel)
        exit_code_is(STATUS_EXIT[result.status])  # the ending still to come keeps this code
    code = STATUS_EXIT[result.status]
    summary["exit_code"] = code  # the rest came with the RunFinished event
    return code


def _summarise(recorder: Any, summary: dict[str, Any]) -> None:
    event = recorder.finished
    if event is not None:
        summary.update(status=event.status, summary=event.summary, steps=event.steps,
                       duration_s=round(event.duration_s, 3), usage=event.usage.as_dict(),
                       cost_usd=event.cost_usd, **event.details)


def _drop_if_unrecorded(run_dir: Path) -> None:
    """Remove the run folder again if the run stopped before its record began (still empty)."""
    if not (run_dir / "run.json").exists():
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def _check(command: str | None, env: Mapping[str, str]) -> Any:
    if not command:
        return None
    # Imported here: keeps importing this module light (start-up time).
    from .check import run_check

    return lambda: run_check(command, env=env)


def _versions(request: RunRequest, secrets: Any, policy_files: list[Path]) -> dict[str, Any]:
    try:
        cua_version = metadata.version("claude-cua")
        sdk_version = metadata.version("anthropic")
    except metadata.PackageNotFoundError:
        cua_version = sdk_version = "unknown"
    return {"cua_version": cua_version, "anthropic_version": sdk_version,
            "python": sys.version.split()[0], "host": socket.gethostname(),
            "virtual_display": request.virtual_display,
            "app": request.app, "secrets": list(secrets.names),
            "policy_files": [str(p) for p in policy_files], "timeout_s": request.timeout_s,
            "check": request.check}


def _provider_meta(endpoint: Any) -> dict[str, Any]:
    """Where the run's requests went; header values are left out (they may hold tokens)."""
    return {"provider": endpoint.provider, "region": endpoint.region,
            "project": endpoint.project, "model_canonical": endpoint.model.canonical,
            "model_profile": endpoint.model.profile, "base_url": _public_url(endpoint.base_url),
            "extra_headers": sorted(endpoint.headers)}


def _price(endpoint: Any, overrides: Mapping[str, Any] | None) -> Any:
    """The model's price: an override for the id as written, else the canonical model's row
    times the provider's factor (regional endpoints cost more)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..model.context import price_factor
    from ..vocab.record import price_for

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

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
