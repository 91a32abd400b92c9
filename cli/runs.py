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
                      "yes" if is_replayable(h) else "", h.model, h.task[:60]))
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[6]]) + "\n")
    return 0


def show_run_command(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix, or a run folder).")],
    as_json: Annotated[bool, typer.Option("--json", help="The run and its steps as JSON.")] = False,
) -> int:
    from rich.console import Console
    from rich.markup import escape

    from ..core.runs import load_run

    run = load_run(_root(), run_id)
    if as_json:
        record = {"run": run.header.to_dict(), "path": str(run.path),
                  "steps": [step.to_dict() for step in run.steps]}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return 0
    console = Console()
    h = run.header
    console.print(f"[bold]{escape(h.task)}[/]  {run.path}")
    steps = h.steps if h.steps is not None else len(run.steps)
    duration = h.duration_s if h.duration_s is not None else "?"
    where = f" on {h.provider}" + (f" {h.region}" if h.region else "") if h.provider else ""
    console.print(f"{escape(h.model)} ({h.tool_version}){escape(where)}, status "
                  f"[bold]{h.status}[/], {steps} steps, {duration} s")
    if h.summary:
        console.print(f"summary: {escape(h.summary)}")
    if h.replay is not None:
        r = h.replay
        if r.from_run is None:
            console.print(f"replay: {escape(r.reason)}")
        else:
            where = ("replayed to the end" if r.diverged_at is None
                     else f"handed over to Claude at recorded step {r.diverged_at}: {r.reason}")
            console.print(f"replay of {r.from_run}: {r.steps_replayed} steps, {escape(where)}")
    for step in run.steps:
        text = step.text.strip()
        how = (f"replayed, match {step.match:.3f}" if step.replayed and step.match is not None
               else f"model {step.model_s} s")
        console.print(f"[bold]step {step.step}[/] {how}" + (f": {escape(text)}" if text else ""))
        for action in step.actions:
            err = f"  [red]error: {escape(action.error)}[/]" if action.error else ""
            described = json.dumps(action.to_dict()["action"])
            console.print(f"  {action.name} {escape(described)}{err}")
        if step.screenshot:
            console.print(f"  [dim]{run.path / step.screenshot}[/]")
    return 0


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

    data = animate(run, gather(run).pictures, redact=redact)
    path.write_bytes(data)
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
