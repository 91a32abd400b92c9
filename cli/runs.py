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
    from ..core.runs import list_runs

    runs = list_runs(_root())
    if as_json:
        rows = [{"run_id": r.run_id, "path": str(r.path), **r.meta} for r in runs]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return 0
    if not runs:
        sys.stdout.write(f"No runs yet in {_root()}.\n")
        return 0
    # Plain columns, not a Rich table: importing Rich would double this command's start-up.
    table = [("RUN", "STARTED", "STATUS", "STEPS", "MODEL", "TASK")]
    for r in runs:
        m = r.meta
        table.append((r.run_id, str(m.get("started_at", ""))[:19].replace("T", " "),
                      str(m.get("status", "")), str(m.get("steps", "")),
                      str(m.get("model", "")), str(m.get("task", ""))[:60]))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[5]]) + "\n")
    return 0


def show_run_command(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix, or a run folder).")],
    as_json: Annotated[bool, typer.Option("--json", help="The run and its steps as JSON.")] = False,
) -> int:
    from rich.console import Console
    from rich.markup import escape

    from ..core.runs import load_run

    info, steps = load_run(_root(), run_id)
    if as_json:
        record = {"run": info.meta, "path": str(info.path), "steps": steps}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return 0
    console = Console()
    m = info.meta
    console.print(f"[bold]{escape(str(m.get('task', '')))}[/]  {info.path}")
    console.print(f"{m.get('model')} ({m.get('tool_version')}), status [bold]{m.get('status')}[/]"
                  f", {m.get('steps', len(steps))} steps, {m.get('duration_s', '?')} s")
    if m.get("summary"):
        console.print(f"summary: {escape(str(m['summary']))}")
    for step in steps:
        text = str(step.get("text") or "").strip()
        console.print(f"[bold]step {step.get('step')}[/] model {step.get('model_s')} s"
                      + (f": {escape(text)}" if text else ""))
        for action in step.get("actions", []):
            err = f"  [red]error: {escape(str(action['error']))}[/]" if action.get("error") else ""
            console.print(f"  {action['name']} {escape(json.dumps(action['action']))}{err}")
        if step.get("screenshot"):
            console.print(f"  [dim]{info.path / step['screenshot']}[/]")
    return 0
