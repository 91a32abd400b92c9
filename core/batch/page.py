"""One HTML page for a whole batch: per task its status, cost, time, a thumbnail of its last
screen and a link to its own report. Self-contained (thumbnails are data: URIs) and asks no
host for anything (the same Content-Security-Policy as the run report, no script at all)."""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..store.runs import private_dir, write_private_atomically
from .tasks import Batch

THUMB_WIDTH = 240
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; " \
      "form-action 'none'"
_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2328; }
table { border-collapse: collapse; } td, th { padding: 6px 10px; border-bottom: 1px solid #d0d7de;
text-align: left; vertical-align: top; } .num { text-align: right; }
.success { color: #1a7f37; } .bad { color: #cf222e; } img { border: 1px solid #d0d7de; }
.task { max-width: 36em; } .dim { color: #57606a; }
"""


def last_screenshot(run_dir: Path) -> Path | None:
    """The newest screenshot of a run folder (step-NNN.png), if any."""
    shots = sorted(p for p in run_dir.glob("step-*.png") if p.is_file())
    return shots[-1] if shots else None


def thumbnail(path: Path, *, width: int = THUMB_WIDTH) -> str | None:
    """A small JPEG of the picture at `path`, as a data: URI; None if it cannot be read."""
    try:
        # Imported here: slow to import; only this path pays for it (start-up time).
        from PIL import Image

        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((width, width * 4))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def write_batch_report(path: Path, batch: Batch, states: Sequence[Any],
                       previous: Mapping[str, Mapping[str, Any]] | None = None,
                       wall_s: float | None = None) -> Path:
    """Write the batch page to `path`. `states` are this invocation's tasks (TaskState);
    `previous` the batch state's entries, for tasks a --resume did not run again."""
    rows = {s.id: _row_of_state(s) for s in states}
    for task in batch.tasks:
        if task.id not in rows and previous and task.id in previous:
            rows[task.id] = dict(previous[task.id])
    body = [_row(task, rows.get(task.id, {}), path.parent) for task in batch.tasks]
    counts: dict[str, int] = {}
    for row in rows.values():
        status = str(row.get("status") or "not run")
        counts[status] = counts.get(status, 0) + 1
    total = sum(float(r.get("cost_usd") or 0) for r in rows.values())
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    wall = f", wall time {wall_s:.1f} s" if wall_s is not None else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>cua batch: {html.escape(batch.path.name)}</title><style>{_STYLE}</style></head>
<body><h1>Batch {html.escape(batch.path.name)}</h1>
<p id="summary">{len(batch.tasks)} tasks: {html.escape(summary)}; cost ${total:.4f}{wall}</p>
<table><thead><tr><th>id</th><th>task</th><th>status</th><th class="num">steps</th>
<th class="num">cost</th><th class="num">time</th><th>last screen</th><th>report</th></tr>
</thead><tbody>
{"".join(body)}</tbody></table></body></html>
"""
    private_dir(path.parent)  # task texts and screens: readable by their owner only, as records
    write_private_atomically(path, page, encoding="utf-8")
    return path


def _row_of_state(state: Any) -> dict[str, Any]:
    result = state.result or {}
    return {"status": state.status, "cost_usd": result.get("cost_usd", state.cost_usd),
            "steps": result.get("steps", state.step), "duration_s": result.get("duration_s"),
            "run_dir": result.get("run_dir"), "error": result.get("error"),
            "retried": state.retried}


def _row(task: Any, row: Mapping[str, Any], here: Path) -> str:
    status = str(row.get("status") or "not run")
    css = "success" if status == "success" else "bad"
    cost = row.get("cost_usd")
    duration = row.get("duration_s")
    run_dir = Path(row["run_dir"]) if row.get("run_dir") else None
    shot = last_screenshot(run_dir) if run_dir and run_dir.is_dir() else None
    thumb = thumbnail(shot) if shot else None
    image = (f'<img alt="last screen of {html.escape(task.id)}" src="{thumb}" '
             f'width="{THUMB_WIDTH}">' if thumb else '<span class="dim">none</span>')
    report = run_dir / "report.html" if run_dir else None
    link = (f'<a href="{html.escape(_relative(report, here))}">report</a>'
            if report and report.is_file() else '<span class="dim">none</span>')
    error = (f'<div class="dim">{html.escape(str(row["error"]))}</div>'
             if row.get("error") else "")
    retried = " (retried)" if row.get("retried") else ""
    return (f'<tr data-id="{html.escape(task.id)}"><td>{html.escape(task.id)}</td>'
            f'<td class="task">{html.escape(task.task)}{error}</td>'
            f'<td class="{css} status">{html.escape(status)}{retried}</td>'
            f'<td class="num">{row.get("steps") or 0}</td>'
            f'<td class="num">{"" if cost is None else f"${float(cost):.4f}"}</td>'
            f'<td class="num">{"" if duration is None else f"{float(duration):.1f} s"}</td>'
            f"<td>{image}</td><td>{link}</td></tr>\n")


def _relative(target: Path, here: Path) -> str:
    try:
        return Path(os.path.relpath(target, here)).as_posix()
    except ValueError:
        return target.as_uri()
