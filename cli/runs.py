"""`cua runs list|show`: read run records back."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.vocab.words import counted


def _root() -> Path:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.store.runs import runs_root

    return runs_root(os.environ)


LIST_HELP = """\
List recorded runs, newest first: id, start, status, steps, whether `cua run --replay RUN` can follow it (REPLAY), model and task.

On a terminal each run takes one line of its width (the task cut short with …); piped, every cell is written whole. Runs of `cua demo` show DEMO as their model (`--json`: "demo": true).
"""


def list_runs_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    limit: Annotated[int | None, typer.Option(
        help="Only the newest N runs.", metavar="N")] = None,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.errors import ConfigError
    from ..core.store.runs import is_demo, is_replayable, list_runs

    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be 1 or more, not {limit}")
    every = list_runs(_root())
    runs = every[:limit] if limit is not None else every
    if as_json:
        rows = [{"run_id": r.run_id, "path": str(r.path), **r.meta,
                 "replayable": is_replayable(r.header), "demo": is_demo(r.header)} for r in runs]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return 0
    if not runs:
        sys.stdout.write(f"No runs yet in {_root()}.\n")
        return 0
    # Plain columns, not a Rich table: importing Rich would double this command's start-up.
    width = _terminal_width()
    for line in table_lines(runs, width):
        sys.stdout.write(line + "\n")
    if len(runs) < len(every):
        sys.stderr.write(f"({counted(len(every) - len(runs), 'older run')} not shown; --limit "
                         f"{len(every)} shows all)\n")
    return 0


_MIN_TASK = 24  # columns the task keeps before others give way
_MODEL_CAP = 14  # a model name longer than this, at a narrow width, ends in …


def _terminal_width() -> int | None:
    """The terminal's columns; None when piped (every cell written whole, for scripts)."""
    if not sys.stdout.isatty():
        return None
    # Imported here, not at the top: start-up loads only what --help needs.
    import shutil

    return shutil.get_terminal_size().columns


def table_lines(runs, width: int | None) -> list[str]:  # type: ignore[no-untyped-def]
    """`cua runs list` as lines: with `width`, each at most that wide (columns give way in
    order: the start time, the models' `claude-` prefix, long model names; the task is cut to
    one line with …); without, every cell whole."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.store.runs import is_demo, is_replayable

    rows = []
    for r in runs:
        h = r.header
        model = "DEMO" if is_demo(h) else h.model
        rows.append({"RUN": r.run_id, "STARTED": (h.started_at or "")[:16].replace("T", " "),
                     "STATUS": h.status, "STEPS": "" if h.steps is None else str(h.steps),
                     "REPLAY": "yes" if is_replayable(h) else "", "MODEL": model,
                     "TASK": " ".join(h.task.split())})
    columns = ["RUN", "STARTED", "STATUS", "STEPS", "REPLAY", "MODEL"]
    if width is not None:
        for give_way in (_drop_started, _short_models, _capped_models):
            if width - _used(columns, rows) >= _MIN_TASK:
                break
            columns = give_way(columns, rows)
    used = _used(columns, rows)
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}
    lines = []
    for row in [{c: c for c in [*columns, "TASK"]}, *rows]:
        cells = "  ".join(row[c].ljust(widths[c]) for c in columns)
        task = row["TASK"] if width is None else _cut(row["TASK"], max(width - used, 1))
        lines.append(f"{cells}  {task}".rstrip())
    return lines


def _used(columns: list[str], rows: list[dict[str, str]]) -> int:
    return sum(max(len(c), *(len(row[c]) for row in rows)) + 2 for c in columns)


def _drop_started(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    return [c for c in columns if c != "STARTED"]


def _short_models(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    for row in rows:
        # us.anthropic.claude-sonnet-4-5-… → sonnet-4-5-…: the provider's prefix and "claude-"
        row["MODEL"] = row["MODEL"].rpartition("anthropic.")[2].removeprefix("claude-")
    return columns


def _capped_models(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    for row in rows:
        row["MODEL"] = _cut(row["MODEL"], _MODEL_CAP)
    return columns


def _cut(text: str, width: int) -> str:
    """`text` in at most `width` columns, ending in … when cut."""
    return text if len(text) <= width else text[:max(width - 1, 0)].rstrip() + "…"


PRUNE_HELP = """\
Remove recorded runs older than an age (by when they started), and say what was removed and how much space that freed. A run still in progress (one holding a display lock) is never removed.

\b
Examples:
  cua runs prune --older-than 30d --dry-run
  cua runs prune --older-than 2w
"""


def prune_runs_command(
    older_than: Annotated[str, typer.Option(
        help="Remove runs that started longer ago than this: 30d, 12h, 90m, 2w.",
        metavar="AGE")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be removed, and remove nothing.")] = False,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from datetime import UTC, datetime

    from ..core.store.runs import folder_size, list_runs, parse_age, plan_prune, remove_run
    from ..core.x11.lock import held_run_dirs, lock_dir

    age = parse_age(older_than)
    root = _root()
    plan = plan_prune(list_runs(root), older_than_s=age, now=datetime.now(UTC),
                      in_progress=held_run_dirs(lock_dir(os.environ)))
    for info, why in plan.kept:
        sys.stderr.write(f"cua: kept {info.run_id}: {why}\n")
    freed = 0
    verb = "would remove" if dry_run else "removed"
    for info in plan.remove:
        size = folder_size(info.path)
        if not dry_run:
            remove_run(info)
        freed += size
        sys.stdout.write(f"{verb} {info.run_id}  {info.header.status}  "
                         f"{(info.header.started_at or '')[:10]}  {_bytes(size)}\n")
    runs = counted(len(plan.remove), "run")
    if dry_run:
        sys.stdout.write(f"{runs} older than {older_than} would be removed, freeing "
                         f"{_bytes(freed)} (dry run: nothing removed)\n")
    else:
        sys.stdout.write(f"{runs} older than {older_than} removed, {_bytes(freed)} "
                         f"freed, in {root}\n")
    return 0


def _bytes(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} bytes"


SHOW_HELP = """\
Show one run's steps, as the live view showed them. RUN is a run id, a unique prefix, a run folder, or `latest` (the default).
"""


def show_run_command(
    run_id: Annotated[str, typer.Argument(
        help="Run id, a unique prefix, a run folder, or latest.", metavar="RUN",
        show_default=False)] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="The run and its steps as JSON.")] = False,
) -> int:
    # Imported here: slow to import; only this path pays for it (start-up time).
    from rich.console import Console

    from ..core.store.runs import load_run
    from .show import render_run

    run = load_run(_root(), run_id)
    warn_damage(run)
    if as_json:
        sys.stdout.write(json.dumps(run_as_json(run), ensure_ascii=False) + "\n")
        return 0
    console = Console()
    for line, style in render_run(run):
        console.print(line, markup=False, highlight=False, style=style,
                      soft_wrap=not console.is_terminal)
    return 0


def run_as_json(run) -> dict:  # type: ignore[no-untyped-def]
    """The object `cua runs show --json` prints (and cua mcp's show_run returns)."""
    return {"run": run.header.to_dict(), "path": str(run.path),
            "steps": [step.to_dict() for step in run.steps],
            "damaged": [{"line": n, "why": why} for n, why in run.damaged]}


_DAMAGE_SHOWN = 5


def warn_damage(run) -> None:  # type: ignore[no-untyped-def]
    """One stderr line per thing wrong with the record (a few, then a count): what is shown
    leaves damaged lines out, and says so."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.store.runs import damage_of

    damage = damage_of(run)
    for what in damage[:_DAMAGE_SHOWN]:
        sys.stderr.write(f"cua: warning: {run.path}: {what}\n")
    if len(damage) > _DAMAGE_SHOWN:
        sys.stderr.write(f"cua: warning: and {counted(len(damage) - _DAMAGE_SHOWN, 'more such problem')}\n")


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
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.errors import ConfigError
    from ..core.report.html import write_report
    from ..core.store.runs import load_run

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
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.report.animation import animate
    from ..core.report.html import gather
    from ..core.store.runs import write_private_atomically

    data = animate(run, gather(run).pictures, redact=redact)
    write_private_atomically(path, data)  # 0600, like the screenshots it shows
    return len(data)


def report_redactor(names, env):  # type: ignore[no-untyped-def]
    """A last pass over the report with the project's redactor: the run's secrets whose
    values this environment still holds (as $NAME), and the credentials it sets. The record
    itself holds only placeholders."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.safety.secrets import Secrets

    return Secrets.from_specs([n for n in names if env.get(n)], env).redact


def _open_in_browser(path: Path) -> None:
    # Imported here, not at the top: start-up loads only what --help needs.
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        sys.stderr.write("cua: no web browser found to open the report; open the file above\n")
        return
    browser.open(path.resolve().as_uri())
