"""`cua batch FILE`: many tasks, each on its own private display, here or on a Ray cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from ..core.vocab.words import counted

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

HELP = """\
Run every task in FILE, each as `cua run` would with the task's options, on its own private Xvfb display, with its own run record, lock and budgets. A task that fails in any way is that task's outcome; the others go on. Tasks run on threads of this process (each one run of cua's engine, with its own display and Cancel); --isolate runs each in its own `cua run` process instead.

FILE is JSON Lines (one object per line, e.g. {"task": "fill the form", "id": "acme", "max_steps": 20}; a first line {"defaults": {...}} sets every task's defaults) or TOML ([[task]] tables; top-level keys are the defaults). Fields: task, id, app, virtual_display, model, provider, max_steps, max_cost, timeout, check, secrets (names of environment variables, as --secret), policy, replay, tags. A bad line stops the batch before anything runs (exit 2, naming FILE:LINE). A task without an id gets one from its own fields (README, "Batches").

stdout: one JSON line per task as it finishes (the object `cua run --json` prints, plus "id"). stderr: a live table (plain lines when not a terminal) and a summary. Approvals: nobody is asked; an action that needs approval stops its task (needs_approval) unless --yes.

Exit code: 0 when every task succeeded; else the worst task outcome's code, worst first: 70 (a bug), 130/143/129 (a task's process was stopped from outside), 5, 6, 2, 4, 3 (also: not started because the batch's --max-cost was reached), 1. Ctrl-C or SIGTERM stops every running task cleanly and exits 130 or 143.

\b
Examples:
  cua batch vendors.jsonl --parallel 4 > results.jsonl
  cua batch nightly.toml --resume --report
  cua batch vendors.jsonl --ray                 # a local Ray instance on 127.0.0.1
  cua batch vendors.jsonl --ray 10.0.0.5:6379   # an existing Ray cluster
"""

_FINAL = ("success", "failure", "unknown", "check_failed", "budget_exhausted", "timeout",
          "needs_approval", "aborted", "interrupted", "error", "skipped")
_STYLE = {"success": "green", "running": "cyan", "queued": "dim", "skipped": "yellow"}


def batch(
    file: Annotated[Path, typer.Argument(help="The batch file (.jsonl or .toml).",
                                         show_default=False, metavar="FILE")],
    parallel: Annotated[int | None, typer.Option(
        help="Tasks run at once on this machine. Default: 2 per CPU core, and no more than "
        "the available memory holds at 170 MB per task (a task + Xvfb + app measured 120 MB in "
        "process, 175 MB with --isolate).",
        min=1)] = None,
    max_cost: Annotated[float | None, typer.Option(
        help="Stop starting tasks once the batch has cost this many US dollars (running "
        "tasks finish; the rest end as skipped, exit 3).", metavar="USD", min=0)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip the tasks whose last run in an earlier `cua batch` of this "
        "file ended in success (by id).")] = False,
    report: Annotated[bool, typer.Option(
        "--report", help="Write each task's report.html and one HTML page for the whole "
        "batch (named on stderr).")] = False,
    ray: Annotated[str | None, typer.Option(
        help="Run the tasks on a Ray cluster at ADDRESS (host:port, or auto); `local` starts "
        "a Ray instance on this machine bound to 127.0.0.1. Each task needs one `display` "
        "resource. Needs `pip install 'claude-cua[ray]'`. --ray alone is --ray local.",
        metavar="ADDRESS")] = None,
    results_dir: Annotated[Path | None, typer.Option(
        help="Put the run records (and the batch state) in DIR instead of cua's runs folder.",
        metavar="DIR")] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Approve every action the policy would ask about, in every "
        "task. Actions a rule denies stay denied.")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Config file (TOML) instead of ~/.config/cua/config.toml (env CUA_CONFIG).",
        metavar="FILE")] = None,
    isolate: Annotated[bool, typer.Option(
        "--isolate", help="Run each task in its own `cua run` process instead of on a thread "
        "of this one: a crash or hang of one task cannot touch the others (a process per task "
        "costs start-up time and memory). --ray always runs each task as a process on its "
        "worker.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.batch.runner import plan_jobs
    from ..core.batch.state import BatchState, state_path
    from ..core.batch.tasks import load_batch
    from ..core.store.runs import runs_root

    env = dict(os.environ)
    batch_file = load_batch(file)
    jobs = plan_jobs(batch_file, env=env, config=config, assume_yes=yes, report=report)
    folder = results_dir or runs_root(env)
    state = (BatchState.load if resume else BatchState)(state_path(folder, file), file)
    done = [j for j in jobs if resume and state.succeeded(j.id)]
    todo = [j for j in jobs if j not in done]
    if not resume:
        state = BatchState(state.path, file)
    from rich.console import Console  # the live view: only a batch pays for it (start-up time)

    console = Console(stderr=True)
    view = BatchView(console, total=len(todo), quiet=quiet, already=len(done))
    # In this process, a task's --app and --check write to our stdout: it is kept for results.
    with _results_only_on_stdout(ray is not None or not isolate) as out:
        backend = _backend(ray, env, todo, parallel, isolate=isolate, view=view)
        return _run(todo, done, backend, folder, state, view, max_cost, report, batch_file,
                    out)


@contextlib.contextmanager
def _results_only_on_stdout(guard: bool) -> Iterator[TextIO]:
    """stdout for the JSON lines alone. With `guard`, file descriptor 1 points at stderr while
    the batch runs, and the lines go to a copy of the real stdout: Ray writes notes of its own
    (a node that died, ...) to the driver's stdout, and so do the programs an in-process task
    starts (--app, --check), and stdout must hold only results."""
    if not guard:
        yield sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(1)
    out = os.fdopen(os.dup(saved), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    try:
        yield out
    finally:
        out.close()
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def ray_alone(args: list[str]) -> list[str]:
    """`--ray` with no ADDRESS (last, or before another option or the batch file) is
    `--ray local`: Typer has no options with an optional value."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--ray":
            following = out[i + 1] if i + 1 < len(out) else None
            if following is None or following.startswith("-") or Path(following).is_file():
                out[i] = "--ray=local"
    return out


def _backend(ray: str | None, env: dict[str, str], jobs: list[Any], parallel: int | None,
             *, isolate: bool, view: BatchView) -> Any:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.batch.runner import default_parallel, local_execute

    if ray is None and isolate:
        return LocalBackend(local_execute(env), parallel or default_parallel(),
                            name="local, a process per task")
    if ray is None:
        return LocalBackend(in_process_execute(env, view.note), parallel or default_parallel(),
                            name="local, in this process", progress_files=False)
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.batch.ray_cluster import RayBackend

    return RayBackend.connect(ray, env=env, parallel=parallel)


def in_process_execute(env: dict[str, str], note: Any) -> Any:
    """Run each job in this process: the RunPlan `cua run` would make of the task's options
    (cli.run.make_plan), run by core.engine.run on the batch's worker thread, with its own
    Cancel (stopped by the batch's signal handler), refuse_all or --yes's approve_all, and
    progress from its events. A task that cannot start is its own outcome, as in `cua run`."""
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.batch.runner import finish_summary
    from ..core.cancel import Cancel
    from ..core.engine.root import RunHooks, run
    from ..core.errors import ConfigError
    from ..core.settings import SettingsError
    from ..core.vocab.events import ModelReplied, StepFinished
    from .run import make_plan
    from .session import _approver
    from .summary import error_summary

    def execute(job: Any, run_dir: Path, child: Any, state: Any) -> dict[str, Any]:
        try:
            plan, problems = make_plan(job.task.task, env=env, run_dir=run_dir, quiet=True,
                                       **job.options)
        except ConfigError as exc:  # as `cua run` ends on it: exit 2
            return error_summary(str(exc), 2)
        if problems:  # `cua run` would stop here: exit 2 with every problem named
            return error_summary(str(SettingsError(problems)), 2)
        step, cost = 0, 0.0

        def progress(event: Any) -> None:
            nonlocal step, cost
            if isinstance(event, StepFinished):
                step = event.step
            elif isinstance(event, ModelReplied) and event.total_cost_usd is not None:
                cost = event.total_cost_usd
            else:
                return
            child.progress(step, cost)

        cancel = Cancel()
        child.cancelled_by(cancel)
        outcome = run(plan.request(), RunHooks(
            on_event=progress, approver=_approver(plan, None, None), cancel=cancel,
            warn=lambda line: note(f"[{job.id}] warning: {line}")))
        return finish_summary(dict(outcome.summary), run_dir)

    return execute


class LocalBackend:
    def __init__(self, execute: Any, parallel: int, *, name: str = "local",
                 progress_files: bool = True) -> None:
        self.execute, self.parallel = execute, parallel
        self.progress_files = progress_files
        self.name = f"{name}, {parallel} at a time"

    def close(self) -> None:
        pass


def _run(todo: list[Any], done: list[Any], backend: Any, folder: Path, state: Any,
         view: BatchView, max_cost: float | None, report: bool, batch_file: Any,
         out: TextIO) -> int:
    # Imported here, not at the top: start-up loads only what --help needs.
    from ..core.batch.runner import BatchRunner, batch_exit_code

    printing = threading.Lock()

    def on_change(task: Any) -> None:
        view.update(task)
        if task.status in _FINAL:
            line = _json_line(task)
            with printing:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
            state.record(task.id, {k: line.get(k) for k in (
                "status", "exit_code", "run_id", "run_dir", "cost_usd", "steps")})

    runner = BatchRunner(todo, parallel=backend.parallel, runs_folder=folder,
                         execute=backend.execute, max_cost=max_cost, on_change=on_change,
                         progress_files=getattr(backend, "progress_files", True))
    started = time.monotonic()
    try:
        with _forwarding_signals(runner), view.live(backend.name):
            states = runner.run()
    finally:
        backend.close()
    wall = time.monotonic() - started
    view.summary(states, wall, runner.stopped_by, skipped_done=len(done))
    if report:
        # Imported here, not at the top: start-up loads only what --help needs.
        from ..core.batch.page import write_batch_report

        page = write_batch_report(state.path.with_suffix(".html"), batch_file, states,
                                  previous=state.tasks, wall_s=wall)
        view.note(f"batch report: {page}")
    if runner.stopped_by is not None:
        return 128 + int(runner.stopped_by)
    return batch_exit_code([int((s.result or {}).get("exit_code") or 0) for s in states])


class _forwarding_signals:
    """While the batch runs, SIGINT, SIGTERM and SIGHUP stop it: nothing more starts, every
    running task gets the same signal and ends its run cleanly; a second signal is noted."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            self.saved[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        again = self.runner.stopped_by is not None
        os.write(2, (f"\ncua: {signal.Signals(signum).name}: "
                     + ("already stopping; waiting for the running tasks to finish their "
                        "records\n" if again else "stopping every running task; their records "
                        "are being finished\n")).encode())
        self.runner.cancel(signum)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)


def _json_line(task: Any) -> dict[str, Any]:
    # Imported here, not at the top: start-up loads only what --help needs.
    from .summary import empty_summary

    line: dict[str, Any] = {"id": task.id, **empty_summary(), **(task.result or {})}
    if task.job.task.tags:
        line["tags"] = list(task.job.task.tags)
    if task.retried:
        line["retried"] = True
    return line


# --- the view ---------------------------------------------------------------------------


class BatchView:
    """A live table (task, status, step, cost, time) with a progress bar and the running
    total cost on a terminal; plain lines otherwise; nothing with --quiet."""

    def __init__(self, console: Console, *, total: int, quiet: bool, already: int) -> None:
        self.console, self.quiet, self.total = console, quiet, total
        self.tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None
        # Imported here: every cua command starts with only what --help needs.
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self._bar = self.progress.add_task("tasks", total=total)
        if already and not quiet:
            console.print(f"cua: --resume: {already} task(s) already succeeded; not run again",
                          soft_wrap=True)

    def live(self, backend: str) -> Any:
        if not self.quiet:
            self.console.print(f"cua: batch of {self.total} task(s), {backend}", markup=False,
                               soft_wrap=True)
        view = self

        class _Live:
            def __enter__(self) -> None:
                if view.console.is_terminal and not view.quiet:
                    from rich.live import Live  # a terminal's live table only (start-up time)

                    view._live = Live(view._render(), console=view.console,
                                      refresh_per_second=4, transient=False,
                                      get_renderable=view._render)
                    view._live.__enter__()

            def __exit__(self, *exc: object) -> None:
                if view._live is not None:
                    view._live.__exit__(None, None, None)
                    view._live = None

        return _Live()

    def update(self, task: Any) -> None:
        with self._lock:
            first = task.id not in self.tasks
            self.tasks[task.id] = task
            if task.status in _FINAL:
                self.progress.update(self._bar, completed=sum(
                    1 for t in self.tasks.values() if t.status in _FINAL))
        if self.quiet or self._live is not None:
            return
        if task.status == "running" and first:
            self.console.print(f"cua: [{task.id}] started", markup=False, highlight=False,
                               soft_wrap=True)
        elif task.status in _FINAL:
            self.console.print(f"cua: [{task.id}] {self._line(task)}", markup=False,
                               highlight=False, soft_wrap=True)

    def _line(self, task: Any) -> str:
        result = task.result or {}
        text = (f"{task.status} ({counted(task.step, 'step')}, {_usd(task.cost_usd)}, "
                f"{task.elapsed(time.monotonic()):.1f} s)")
        if result.get("error"):
            text += f": {result['error']}"
        return text

    def _render(self) -> Any:
        from rich.console import Group  # the live table only (start-up time)
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for name, justify in (("task", "left"), ("status", "left"), ("step", "right"),
                              ("cost", "right"), ("time", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        now = time.monotonic()
        with self._lock:
            tasks = list(self.tasks.values())
        for t in tasks[-20:]:
            style = _STYLE.get(t.status, "red")
            status = t.status + (" (retried)" if t.retried else "")
            table.add_row(t.id, f"[{style}]{status}[/]", str(t.step), _usd(t.cost_usd),
                          f"{t.elapsed(now):.0f} s")
        total = sum(t.cost_usd for t in tasks)
        return Group(table, self.progress, f"total cost {_usd(total)}")

    def summary(self, states: list[Any], wall_s: float, stopped_by: int | None,
                skipped_done: int) -> None:
        if self.quiet:
            return
        counts: dict[str, int] = {}
        for s in states:
            status = "not started" if s.status == "queued" else s.status
            counts[status] = counts.get(status, 0) + 1
        tokens = 0
        for s in states:
            usage = (s.result or {}).get("usage") or {}
            tokens += sum(v for v in usage.values() if isinstance(v, int))
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        if skipped_done:
            parts += f", {skipped_done} already done"
        cost = sum(s.cost_usd for s in states)
        if stopped_by is not None:
            self.console.print(f"cua: batch stopped by {signal.Signals(stopped_by).name}",
                               markup=False, soft_wrap=True)
        self.console.print(f"cua: batch done: {parts}; cost {_usd(cost)}, {tokens} tokens, "
                           f"wall time {wall_s:.1f} s", markup=False, highlight=False,
                           soft_wrap=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"cua: {text}", markup=False, highlight=False, soft_wrap=True)


def _usd(value: float) -> str:
    return f"${value:.4f}"
