"""`cua runs list|show`: read run records back."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer


def _root() -> Path:
    from ..core.runs import runs_root

    return runs_root(os.environ)


def list_runs_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> int:
    from ..core.runs import is_replayable, list_runs

    runs = list_runs(_root())
    if as_json:
        rows = [{"run_id": r.run_id, "path": str(r.path), **r.meta,
                 "replayable": is_replayable(r.header)} for r in runs]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return 0
    if not runs:
        sys.stdout.write(f"No runs yet in {_root()}.\n")
        return 0
    # Plain columns, not a Rich table: importing Rich would double this command's start-up.
    # REPLAY: "yes" when `cua run --replay RUN` can follow the run.
    table = [("RUN", "STARTED", "STATUS", "STEPS", "REPLAY", "MODEL", "TASK")]
    for r in runs:
        h = r.header
        table.append((r.run_id, (h.started_at or "")[:19].replace("T", " "), h.status,
                      "" if h.steps is None else str(h.steps),
                      "yes" if is_replayable(h) else "", h.model, " ".join(h.task.split())))
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    task_width = _task_width(sum(widths) + 2 * 6)
    for row in table:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        sys.stdout.write(_with_task(cells, row[6], task_width) + "\n")
    return 0


_MIN_TASK_COLUMN = 24


def _task_width(used: int) -> tuple[int, int] | None:
    """(columns for the task, terminal width) on a terminal; None when piped (write the task
    whole, on one line, for scripts)."""
    if not sys.stdout.isatty():
        return None
    import shutil

    columns = shutil.get_terminal_size().columns
    return columns - used, columns


def _with_task(cells: str, task: str, room: tuple[int, int] | None) -> str:
    """The row with its task, wrapped at word boundaries under its own column (or, when that
    column would be too narrow, on indented lines of its own below the row)."""
    if room is None or len(task) <= room[0]:
        return f"{cells}  {task}".rstrip()
    import textwrap

    width, columns = room
    if width < _MIN_TASK_COLUMN:
        lines = textwrap.wrap(task, columns - 4, break_on_hyphens=False)
        return cells.rstrip() + "".join(f"\n    {line}" for line in lines)
    lines = textwrap.wrap(task, width, break_on_hyphens=False)
    indent = " " * (len(cells) + 2)
    return f"{cells}  {lines[0]}" + "".join(f"\n{indent}{line}" for line in lines[1:])


def show_run_command(
    run_id: Annotated[str, typer.Argument(
        help="Run id, a unique prefix, a run folder, or latest.", metavar="RUN")],
    as_json: Annotated[bool, typer.Option("--json", help="The run and its steps as JSON.")] = False,
) -> int:
    from rich.console import Console

    from ..core.runs import load_run
    from .show import render_run

    run = load_run(_root(), run_id)
    warn_damage(run)
    if as_json:
        record = {"run": run.header.to_dict(), "path": str(run.path),
                  "steps": [step.to_dict() for step in run.steps],
                  "damaged": [{"line": n, "why": why} for n, why in run.damaged]}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return 0
    console = Console()
    for line, style in render_run(run):
        console.print(line, markup=False, highlight=False, style=style,
                      soft_wrap=not console.is_terminal)
    return 0


_DAMAGE_SHOWN = 5


def warn_damage(run) -> None:  # type: ignore[no-untyped-def]
    """One stderr line per thing wrong with the record (a few, then a count): what is shown
    leaves damaged lines out, and says so."""
    from ..core.runs import damage_of

    damage = damage_of(run)
    for what in damage[:_DAMAGE_SHOWN]:
        sys.stderr.write(f"cua: warning: {run.path}: {what}\n")
    if len(damage) > _DAMAGE_SHOWN:
        sys.stderr.write(f"cua: warning: and {len(damage) - _DAMAGE_SHOWN} more such problems\n")


REPORT_HELP = """\
Write one self-contained HTML file showing RUN step by step: each screenshot Claude saw with its actions drawn on it, Claude's text, the policy's verdicts, results, times, tokens and cost. Images, styles and script are inside the file: it opens from disk or as a mail attachment and asks no other host for anything.

RUN is a run id, a unique prefix, a run folder, or `latest`. The file goes into the run folder as report.html unless -o FILE is given; its path is printed. Keys in the page: left/right or k/j move between steps.

\b
Examples:
  cua runs report latest --open
  cua runs report 20261201-0930 -o /tmp/run.html --gif /tmp/run.gif
"""


def report_run_command(
    run_id: Annotated[str, typer.Argument(
        help="Run id, a unique prefix, a run folder, or latest.", metavar="RUN")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the HTML here instead of RUN/report.html.",
        metavar="FILE")] = None,
    open_it: Annotated[bool, typer.Option(
        "--open", help="Open the report in the desktop's web browser, if there is one.")] = False,
    gif: Annotated[Path | None, typer.Option(
        help="Also write an animated GIF of the run (one frame per step) to FILE.",
        metavar="FILE")] = None,
) -> int:
    from ..core.errors import ConfigError
    from ..core.report import write_report
    from ..core.runs import load_run

    run = load_run(_root(), run_id)
    warn_damage(run)
    redact = report_redactor(run.header.secrets, os.environ)
    path = output or run.path / "report.html"
    try:
        write_report(run, path, redact=redact)
        if gif is not None:
            size = write_gif(run, gif, redact=redact)
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc}") from exc
    sys.stdout.write(f"{path}\n")
    if gif is not None:
        sys.stdout.write(f"{gif} ({size / 1024:.0f} KiB)\n")
    if open_it:
        _open_in_browser(path)
    return 0


def write_gif(run, path: Path, *, redact) -> int:  # type: ignore[no-untyped-def]
    """Write the run's animation to `path`; returns its size in bytes."""
    from ..core.animation import animate
    from ..core.report import gather
    from ..core.runs import write_private_atomically

    data = animate(run, gather(run).pictures, redact=redact)
    write_private_atomically(path, data)  # 0600, like the screenshots it shows
    return len(data)


def report_redactor(names, env):  # type: ignore[no-untyped-def]
    """A last pass over the report with the project's redactor: the run's secrets whose
    values this environment still holds (as $NAME), and the credentials it sets. The record
    itself holds only placeholders."""
    from ..core.secrets import Secrets

    return Secrets.from_specs([n for n in names if env.get(n)], env).redact


def _open_in_browser(path: Path) -> None:
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        sys.stderr.write("cua: no web browser found to open the report; open the file above\n")
        return
    browser.open(path.resolve().as_uri())
