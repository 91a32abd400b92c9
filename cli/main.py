"""The `cua` command: Typer app, global wiring, and reporting errors (their exit codes come from
core/exits.py, the one table)."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from typing import Annotated, NoReturn

import typer

from ..core.errors import CuaError
from ..core.exits import (
    BUG_EXIT,
    ERROR_EXIT,
    EXIT_CODES_HELP,
    STATUS_EXIT,
    InternalError,
    exit_code_for,
    interruption_message,
)

__all__ = ["BUG_EXIT", "ERROR_EXIT", "STATUS_EXIT", "app", "entry", "exit_code_for", "main",
           "run_cli"]

app = typer.Typer(
    name="cua",
    help="cua drives an X11 desktop with Claude: it sends screenshots, carries out the clicks "
    "and keystrokes Claude asks for, and repeats until the task is done.\n\n"
    'Example: cua run "fill the vendor form in the open browser"\n\n' + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: rendering help with Rich costs about 100 ms of imports at every start.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)
runs_app = typer.Typer(help="List, show and report recorded runs.", no_args_is_help=True,
                       rich_markup_mode=None)
app.add_typer(runs_app, name="runs")


def _print_version(value: bool) -> None:
    if value:

        try:
            version = metadata.version("claude-cua")
        except metadata.PackageNotFoundError:  # running from a checkout that is not installed
            version = "unknown"
        sys.stdout.write(f"cua {version}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", help="Print cua's version and exit.", is_eager=True,
        callback=_print_version)] = False,
) -> None:
    """Options that come before the command."""

config_app = typer.Typer(help="Show the settings cua run would use, and their sources.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(config_app, name="config")
policy_app = typer.Typer(help="Show the confirmation policy, or test an action against it.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(policy_app, name="policy")


def _register() -> None:
    # Command modules import only what --help needs; heavy imports happen inside the commands.
    if app.registered_commands:
        return
    # Imported here, not at the top: start-up loads only what --help needs.
    from . import batch, config, doctor, mcp, policy, replay, run, runs
    from .demo import command as demo
    from .help import CuaCommand

    commands = [
        (app, "run", run.run, run.HELP, EXIT_CODES_HELP),
        (app, "batch", batch.batch, batch.HELP, EXIT_CODES_HELP),
        (app, "demo", demo.demo, demo.HELP, None),
        (app, "doctor", doctor.doctor, doctor.HELP, None),
        (app, "mcp", mcp.mcp, mcp.HELP, None),
        (app, "replay-check", replay.replay_check_command, replay.HELP_CHECK, None),
        (config_app, "show", config.config_show, config.HELP_SHOW, None),
        (policy_app, "show", policy.policy_show, policy.HELP_SHOW, None),
        (policy_app, "test", policy.policy_test, policy.HELP_TEST, None),
        (runs_app, "list", runs.list_runs_command, runs.LIST_HELP, None),
        (runs_app, "show", runs.show_run_command, runs.SHOW_HELP, None),
        (runs_app, "prune", runs.prune_runs_command, runs.PRUNE_HELP, None),
        (runs_app, "report", runs.report_run_command, runs.REPORT_HELP, None),
    ]
    for group, name, function, help_text, epilog in commands:
        group.command(name, help=help_text, epilog=epilog, cls=CuaCommand)(function)


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Ctrl-C exits 130; SIGTERM (Terminated, a KeyboardInterrupt) exits 143."""
    sys.stderr.write(f"cua: {interruption_message(exc)}\n")
    return exit_code_for(exc)


def _bug_outside_a_run(exc: Exception) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    import os

    from ..core.safety.secrets import Secrets
    from .session import write_crash

    error = InternalError("(no run folder)", exc)
    try:
        secrets = Secrets.credentials_only(os.environ)
        error.args = (secrets.redact(str(error)),)
    except Exception:
        secrets = None
    written = write_crash("", exc, secrets)
    where = f"the traceback is in {written}" if written else "the traceback could not be written"
    sys.stderr.write(f"cua: internal error: {error}\nThis is a bug in cua ({where}). "
                     "Please report it.\n")
    return BUG_EXIT


def main() -> NoReturn:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.interrupts import for_this_process

    for_this_process()  # SIGTERM and SIGHUP end any command like Ctrl-C, from here to the exit
    sys.exit(run_cli())


def entry() -> NoReturn:
    """The `cua` command (and `python -m claude_cua.cli`): `main`, then leave without tearing
    the interpreter down. Every command has by then stopped what it started (Xvfb, --app, the
    watchdog), closed its record and released the display; Python's own teardown of the ~450
    modules a run imports took ~100 ms here, a twentieth of a replay (benchmarks/replay.py
    --phases, "process exit"). Logs and stdio are flushed first."""
    # Imported here, not at the top: start-up loads only what --help needs.
    import contextlib
    import logging
    import os

    from ..core.interrupts import for_this_process

    for_this_process()  # SIGTERM and SIGHUP end any command like Ctrl-C, from here to the exit
    code = run_cli()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing can reach it
            stream.flush()
    os._exit(code)


def run_cli(argv: list[str] | None = None) -> int:
    """Run `cua` with `argv` (default: the process's arguments) and return its exit code,
    with every error already reported on stderr. Tests call this in-process.

    `cua run|demo --json` prints its one JSON object on every path: the session prints it for
    the runs it starts; for what fails before (typer's usage errors, a bad config file or CUA_*
    value) it is printed here, with the same keys."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from . import summary

    summary.begin()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["batch"]:
        # Imported here, not at the top: start-up loads only what --help needs.
        from .batch import ray_alone

        argv = args = ray_alone(args)
    code, message = _run_cli(argv)
    if code != 0 and _wants_json(args) and not summary.was_printed():
        status = "interrupted" if code in (129, 130, 143) else "error"

        sys.stdout.write(json.dumps(summary.error_summary(message or f"exit {code}", code,
                                                          status), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return code


def _wants_json(args: list[str]) -> bool:
    commands = [a for a in args if not a.startswith("-")]
    return bool(commands) and commands[0] in ("run", "demo") and "--json" in args


def _run_cli(argv: list[str] | None) -> tuple[int, str]:
    _register()
    message = ""
    try:
        code = app(args=argv, standalone_mode=False, prog_name="cua")
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer's way of passing on Ctrl-C
            code = _interrupted(exc.__cause__)
        else:
            code = exc.exit_code
    except typer.TyperException as exc:
        # typer carries its own copy of click: usage errors (exit 2) show themselves.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            sys.stderr.write(f"cua: {exc}\n")
        code = exc.exit_code
        formatted = getattr(exc, "format_message", None)
        message = formatted() if formatted is not None else str(exc)
    except KeyboardInterrupt as exc:
        code = _interrupted(exc)
    except typer.Abort as exc:
        code = _interrupted(exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt)
                            else KeyboardInterrupt())
    except CuaError as exc:
        sys.stderr.write(f"cua: {exc}\n")
        code = exit_code_for(exc)
        message = str(exc)
    except InternalError as exc:
        where = (f"the traceback is in {exc.crash_file}" if exc.crash_file
                 else "the traceback could not be written anywhere")
        sys.stderr.write(f"cua: internal error: {exc}\nThis is a bug in cua; the run record is in "
                         f"{exc.run_dir} ({where}). Please report it.\n")
        code = BUG_EXIT
        message = f"internal error: {exc}"
    except Exception as exc:  # a bug outside a run: still one clear message, never a traceback
        code = _bug_outside_a_run(exc)
        message = "internal error (a bug in cua)"
    return (code if isinstance(code, int) else 0), message
