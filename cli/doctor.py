"""`cua doctor`: check the environment an unattended run needs, and say how to fix what fails."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import asdict
from typing import Annotated

import typer

HELP = (
    "Check what an unattended (cron) run needs: a reachable X11 display, the Xauthority file, "
    "the screen size and how it is scaled for Claude, the provider's credentials "
    "(ANTHROPIC_API_KEY, or with --provider bedrock, vertex or foundry that cloud's extra, "
    "region, project and credential chain; never shown, and without calling the network), "
    "the model id, writable "
    "data and config folders, and that no other cua run holds the display. Exits 0 when every "
    "check passes (a check that could not run because an earlier one failed shows as "
    "skipped), 5 otherwise. The fixes name `cua run` options."
)
FAILED_EXIT = 5  # an environment problem, like DesktopError


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="The checks as one JSON array.")] = False,
    provider: Annotated[str | None, typer.Option(
        help="Check this provider's set-up: anthropic, bedrock, vertex or foundry (env "
        "CUA_PROVIDER).", show_default="anthropic")] = None,
    region: Annotated[str | None, typer.Option(help="The region a run would pass.")] = None,
    project: Annotated[str | None, typer.Option(
        help="The Vertex AI project a run would pass.")] = None,
) -> None:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.engine.doctor import run_checks
    from ..core.settings import SettingsError, load_settings
    from .run import _settings_flags

    # The same resolution as `cua run`: flags, CUA_* variables, the config file, defaults. A
    # config folder or file that cannot be read is what the checks below report on; the
    # settings then come from flags, variables and defaults alone.
    flags = _settings_flags(provider=provider, region=region, project=project)
    try:
        loaded = load_settings(dict(os.environ), None, flags)
        s, sources = loaded.settings, loaded.sources
    except SettingsError as exc:  # the good values still stand
        s, sources = exc.partial.settings, exc.partial.sources
    checks = run_checks(os.environ, provider=s.provider, region=s.region, project=s.project,
                        model=None if sources["model"] == "default" else s.model)
    if as_json:
        # "warning" shows as its status ("WARN"), so the rows keep the fields they always had.
        rows = [{**{k: v for k, v in asdict(c).items() if k != "warning"}, "status": c.status}
                for c in checks]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
    else:
        # Plain columns, not a Rich table: doctor output often ends up in mail from cron.
        paint = _painter(os.environ, sys.stdout.isatty())
        for line in doctor_lines(checks, paint, _terminal_width()):
            sys.stdout.write(line + "\n")
    # A skipped check is not a failure of its own: the check it depends on failed already.
    raise typer.Exit(0 if all(c.ok or c.skipped for c in checks) else FAILED_EXIT)


def _terminal_width() -> int | None:
    """The terminal's columns; None when piped (cron mail: whole lines)."""
    if not sys.stdout.isatty():
        return None
    # Imported here, not at the top: start-up loads only what --help needs.
    import shutil

    return shutil.get_terminal_size().columns


def doctor_lines(checks, paint, width: int | None) -> list[str]:  # type: ignore[no-untyped-def]
    """The checks as lines: name, status, detail; a failed check's fix below it. With `width`,
    details and fixes wrap at word boundaries, continued under their own column."""

    name_width = max(len(c.name) for c in checks)
    lines = []

    def wrapped(first: str, text: str, indent: int) -> list[str]:
        if width is None or indent + len(text) <= width:
            return [first + text]
        parts = textwrap.wrap(text, max(width - indent, 20), break_on_hyphens=False,
                              break_long_words=False)
        return [first + parts[0], *(" " * indent + part for part in parts[1:])]

    for check in checks:
        lead = f"{check.name:<{name_width}}  {paint(check.status, 7)}  "
        lines += wrapped(lead, check.detail, name_width + 11)
        if check.status in ("FAIL", "WARN") and check.fix:
            lines += wrapped("  fix: ", check.fix, 7)
    return lines


_COLOURS = {"ok": "32", "WARN": "1;33", "FAIL": "1;31", "skipped": "2"}  # green, yellow, red, dim


def _painter(env: dict[str, str] | os._Environ[str], is_tty: bool):  # type: ignore[no-untyped-def]
    """Colours the status on a terminal (not with NO_COLOR, TERM=dumb, or in cron mail)."""
    colour = is_tty and "NO_COLOR" not in env and env.get("TERM") != "dumb"

    def paint(status: str, width: int) -> str:
        padded = f"{status:<{width}}"
        return f"\033[{_COLOURS[status]}m{padded}\033[0m" if colour else padded

    return paint
