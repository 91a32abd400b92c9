"""`cua demo`: the real loop, offline, on a private display, with a scripted stand-in for Claude."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

HELP = """\
See cua work without an API key: starts a private virtual display, opens a small bundled supplier form, and lets a scripted stand-in for Claude (served on 127.0.0.1, not the real Claude) fill it in through the real screenshot → model → action loop.

Example: cua demo --json
"""

DEMO_TASK = ("Fill in the supplier form with company Acme Tools Ltd, email orders@acme.example, "
             "country Österreich, notes 'Net 30 <urgent>', and submit it.")
STAND_IN_MODEL = "cua-demo-stand-in"


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
) -> int:
    from rich.console import Console

    from ..core.demo.fakeapi import FakeMessagesAPI
    from ..core.demo.policies import supplier_form_policy
    from ..core.settings import Settings
    from .session import RunPlan, execute

    stderr = Console(stderr=True)
    stderr.soft_wrap = not stderr.is_terminal  # piped: whole lines, not wrapped at 80
    if not quiet:
        stderr.print("[bold]cua demo[/]: offline. The model here is a [bold]scripted stand-in "
                     "served on 127.0.0.1, not Claude[/]; no API key is used and nothing leaves "
                     "this machine.")
    with tempfile.TemporaryDirectory(prefix="cua-demo-") as tmp:
        out = Path(tmp) / "submitted.json"
        app = [sys.executable, "-m", "claude_cua.core.demo.supplier_form", "--out", str(out)]
        with FakeMessagesAPI(default=supplier_form_policy()) as api:
            plan = RunPlan(
                task=DEMO_TASK,
                settings=Settings(model=STAND_IN_MODEL, tool_version="computer_toolset_20260801",
                                  max_steps=30),
                env=dict(os.environ), virtual_display=virtual_display, app=app,
                as_json=as_json, quiet=quiet, base_url=api.url, api_key="demo-stand-in",
                verbose=verbose, report=report, known_model=True,
            )
            code = execute(plan)
        if not quiet:
            if out.exists():
                submitted = json.loads(out.read_text(encoding="utf-8"))
                stderr.print("The form wrote: " + json.dumps(submitted, ensure_ascii=False))
            else:
                stderr.print("The form was not submitted.")
    return code
