"""`cua demo`: the real loop, offline, on a private display, with a scripted stand-in for Claude."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ...core.defaults import DEMO_MODEL

HELP = """\
See cua work without an API key: starts a private virtual display, opens a small bundled supplier form, and lets a scripted stand-in for Claude (served on 127.0.0.1, not the real Claude) fill it in through the real screenshot → model → action loop.

\b
Examples:
  cua demo
  cua demo --replay     (replay the latest demo run, offline)
  cua demo --json
"""

DEMO_TASK = ("Fill in the supplier form with company Acme Tools Ltd, email orders@acme.example, "
             "country Österreich, notes 'Net 30 <urgent>', and submit it.")
STAND_IN_MODEL = DEMO_MODEL


def demo(
    virtual_display: Annotated[str, typer.Option(
        help="Size of the private display.", metavar="WxH")] = "1920x1080",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the run summary as one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="More detail, as for `cua run`: -v adds settling "
        "and overhead per step, every field of each action, and cua's info logs; -vv adds "
        "debug logs.")] = 0,
    report: Annotated[bool, typer.Option(
        "--report", help="Write report.html into the run folder at the end (see `cua runs "
        "report`) and name it on stderr.")] = False,
    replay: Annotated[bool, typer.Option(
        "--replay", help="Replay the latest demo run that can be replayed, offline, as `cua run "
        "--replay` would (recording one first if there is none): each recorded step is checked "
        "on screen and carried out without asking the model.")] = False,
) -> int:
    # Imported here: slow to import; only this path pays for it (start-up time).
    from rich.console import Console

    from ...core.vocab.words import counted

    stderr = Console(stderr=True)
    stderr.soft_wrap = not stderr.is_terminal  # piped: whole lines, not wrapped at 80
    say = (lambda text: None) if quiet else stderr.print
    say("[bold]cua demo[/]: offline. The model here is a [bold]scripted stand-in served on "
        "127.0.0.1, not Claude[/]; no API key is used and nothing leaves this machine.")
    recording = None
    if replay:
        recording = _latest_demo_run()
        if recording is None:
            say("No demo run to replay yet: recording one first.")
            # stdout is the replay's (its one JSON object with --json): this run's outcome
            # line goes to stderr with its progress
            with contextlib.redirect_stdout(sys.stderr):
                code = _one_demo(say, virtual_display=virtual_display, as_json=False,
                                 quiet=quiet, verbose=verbose, report=False, replay=None)
            if code != 0:
                return code
            recording = _latest_demo_run()
        assert recording is not None
        h = recording.header
        virtual_display = h.virtual_display or f"{h.screen_size[0]}x{h.screen_size[1]}"
        say(f"Replaying demo run {recording.run_id} ({counted(len(recording.steps), 'step')}): "
            "each step is checked on screen and carried out without asking the model.")
    return _one_demo(say, virtual_display=virtual_display, as_json=as_json, quiet=quiet,
                     verbose=verbose, report=report,
                     replay=None if recording is None else str(recording.path))


def _latest_demo_run():  # type: ignore[no-untyped-def]
    # Imported here, not at the top: start-up loads only what --help needs.
    from ...core.errors import ConfigError
    from ...core.store.runs import runs_root
    from ..replay import latest_replayable

    try:
        return latest_replayable(runs_root(os.environ), demo=True)
    except ConfigError:
        return None


def _one_demo(say, *, virtual_display: str, as_json: bool, quiet: bool,  # type: ignore[no-untyped-def]
              verbose: int, report: bool, replay: str | None) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ...core.settings import Settings
    from ..session import RunPlan, execute
    from .fakeapi import FakeMessagesAPI
    from .policies import supplier_form_policy

    with tempfile.TemporaryDirectory(prefix="cua-demo-") as tmp:
        out = Path(tmp) / "submitted.json"
        app = [sys.executable, "-m", "claude_cua.cli.demo.supplier_form", "--out", str(out)]
        with FakeMessagesAPI(default=supplier_form_policy()) as api:
            plan = RunPlan(
                task=DEMO_TASK,
                settings=Settings(model=STAND_IN_MODEL, tool_version="computer_toolset_20260801",
                                  max_steps=30, replay=replay),
                env=dict(os.environ), virtual_display=virtual_display, app=app,
                as_json=as_json, quiet=quiet, base_url=api.url, api_key="demo-stand-in",
                verbose=verbose, report=report, known_model=True,
            )
            say(f"Starting a private {virtual_display} display and the supplier form, and "
                "waiting for the form's window to hold still (a second or two)…")
            code = execute(plan)
        if out.exists():
            submitted = json.loads(out.read_text(encoding="utf-8"))
            say("The form wrote: " + json.dumps(submitted, ensure_ascii=False))
        else:
            say("The form was not submitted.")
    return code
