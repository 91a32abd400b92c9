"""`cua doctor`: check the environment an unattended run needs, and say how to fix what fails."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Annotated

import typer

HELP = (
    "Check what an unattended (cron) run needs: a reachable X11 display, the Xauthority file, "
    "the screen size and how it is scaled for Claude, ANTHROPIC_API_KEY (never shown), writable "
    "data and config folders, and that no other cua run holds the display. Exits 0 when every "
    "check passes, 5 otherwise."
)
FAILED_EXIT = 5  # an environment problem, like DesktopError


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="The checks as one JSON array.")] = False,
) -> None:
    from ..core.doctor import run_checks

    checks = run_checks(os.environ)
    if as_json:
        sys.stdout.write(json.dumps([asdict(c) for c in checks], ensure_ascii=False) + "\n")
    else:
        # Plain columns, not a Rich table: doctor output often ends up in mail from cron.
        width = max(len(c.name) for c in checks)
        for check in checks:
            sys.stdout.write(f"{check.name:<{width}}  {'ok' if check.ok else 'FAIL':<4}  "
                             f"{check.detail}\n")
            if not check.ok and check.fix:
                sys.stdout.write(f"  fix: {check.fix}\n")
    raise typer.Exit(0 if all(c.ok for c in checks) else FAILED_EXIT)
