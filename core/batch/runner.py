"""Running a batch: N tasks at a time, each in this process through core.engine.run (the
default: cli.batch.in_process_execute) or as `cua run --json` in a process of its own
(`--isolate`, and every Ray worker: `run_process`).

Why a process per task is still offered: a task's outcome must be its own whatever happens in
it (a crash, a hung X request, a segfault in a C library, memory), and a process is the unit
the operating system isolates, limits and signals. Each process is exactly `cua run` with
the task's options, on its own private Xvfb (killed with it, PR_SET_PDEATHSIG), with its own
record, lock and budgets. In process, the same options build the same RunPlan
(cli.run.make_plan), so "as `cua run` would" holds either way.

The scheduler (`BatchRunner`) is threads in this process: one per running task, running it or
waiting on its child. It starts a task only while the batch's --max-cost is not reached, and
`cancel` passes SIGINT or SIGTERM on to every task (`Child.stop`: the signal to its process, or
its run's Cancel set as that signal would), which ends its run as `cua run` does (input
released, record complete, Xvfb stopped). Nothing here prints: the caller gets callbacks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cancel import Cancel
from ..errors import ConfigError
from ..interrupts import cancel_as_signal
from .tasks import Batch, BatchTask

DEFAULT_DISPLAY = "1280x800"  # a task's private Xvfb when neither it nor the settings give one
# Measured by benchmarks/batch.py (a task + Xvfb + openbox + the supplier form, peak PSS
# of 4 at once): 120 MB per task in process, 175 MB with --isolate (a `cua run` each).
TASK_MEMORY_MB = 170
TASKS_PER_CORE = 2  # a task mostly waits for the model; the CPU is busy per screenshot only
STOP_GRACE_S = 30.0  # a child's own ending is bounded at 10 s (core.interrupts); then SIGKILL
# Exit codes of task outcomes, worst first: the batch exits with the first one any task has.
# A bug or a broken environment needs a person most; an API fault next; then configuration;
# then a task that needed approval, ran out of budget (or was never started because the
# batch's --max-cost was reached), or failed. A task interrupted by a signal that did not
# come through the batch (someone killed its process) ranks after a bug.
EXIT_ORDER = (70, 130, 143, 129, 5, 6, 2, 4, 3, 1)


def default_parallel(*, cpus: int | None = None, available_mb: int | None = None) -> int:
    """How many tasks this machine holds at once: TASKS_PER_CORE per core, and no more than
    the available memory takes at TASK_MEMORY_MB each; at least 1."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    if available_mb is None:
        available_mb = _available_mb()
    by_memory = available_mb // TASK_MEMORY_MB if available_mb is not None else cpus
    return max(1, min(cpus * TASKS_PER_CORE, by_memory))


def _available_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def batch_exit_code(codes: Sequence[int]) -> int:
    """0 when every code is 0, else the worst by EXIT_ORDER (a code not in it counts as 70)."""
    bad = [c if c in EXIT_ORDER else 70 for c in codes if c != 0]
    return min(bad, key=EXIT_ORDER.index) if bad else 0


# --- what a task runs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskJob:
    """One task as the `cua run` options that carry it out (run folder aside): `options` by
    `cua run`'s own parameter names (the in-process run), `args` the same as its command line
    (a `cua run` process: --isolate, a Ray worker)."""

    task: BatchTask
    args: tuple[str, ...]
    policy_files: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.task.id


def settings_flags(task: BatchTask) -> dict[str, Any]:
    """The task's fields as core.settings flags (for load_settings)."""
    names = {"model": "model", "provider": "provider", "max_steps": "max_steps",
             "max_cost": "max_cost_usd", "timeout": "timeout_s", "replay": "replay",
             "virtual_display": "virtual_display", "app": "app", "policy": "policy"}
    return {names[k]: v for k, v in task.fields.items() if k in names}


def plan_jobs(batch: Batch, *, env: Mapping[str, str], config: Path | None,
              assume_yes: bool, report: bool) -> list[TaskJob]:
    """Every task's `cua run` options, each checked as `cua run` would check them (settings,
    --app) before anything runs; a ConfigError names the task's FILE:LINE."""
    # Imported here: keeps importing this module light (start-up time).
    from ..settings import load_settings

    jobs = []
    for task in batch.tasks:
        try:
            loaded = load_settings(env, config, settings_flags(task))
            if task.get("app"):
                _split_app(task.get("app"))
        except ConfigError as exc:
            raise ConfigError(f"{batch.where(task)}: {exc}") from None
        s = loaded.settings
        display = task.get("virtual_display") or s.virtual_display or DEFAULT_DISPLAY
        options = run_options(task, display=display, config=config, assume_yes=assume_yes,
                              report=report)
        jobs.append(TaskJob(task, tuple(run_args(options, task.task)),
                            policy_files=tuple(task.get("policy", ())), options=options))
    return jobs


def _split_app(command: str) -> list[str]:

    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"app {command!r} is not a valid command line: {exc}") from None


_VALUED = (("desktop", "--desktop"), ("virtual_display", "--virtual-display"),
           ("app", "--app"), ("model", "--model"), ("provider", "--provider"),
           ("max_steps", "--max-steps"), ("max_cost", "--max-cost"), ("timeout", "--timeout"),
           ("check", "--check"), ("replay", "--replay"))


def run_options(task: BatchTask, *, display: str, config: Path | None, assume_yes: bool,
                report: bool) -> dict[str, Any]:
    """`cua run`'s options for `task`, by its parameter names: JSON, never a prompt, a private
    display."""
    f = task.fields
    options: dict[str, Any] = {"as_json": True, "yes": assume_yes,
                               "non_interactive": not assume_yes}
    if f.get("desktop"):  # tests: a FakeDesktop, which takes no display and no --app
        options["desktop"] = f["desktop"]
    else:
        options["virtual_display"] = display
        if f.get("app"):
            options["app"] = f["app"]
    for name in ("model", "provider", "max_steps", "max_cost", "timeout", "check", "replay"):
        if name in f:
            options[name] = f[name]
    if f.get("secrets"):
        options["secret"] = list(f["secrets"])
    if f.get("policy"):
        options["policy"] = [Path(p) for p in f["policy"]]
    if config is not None:
        options["config"] = config
    if report:
        options["report"] = True
    return options


def run_args(options: Mapping[str, Any], task: str) -> list[str]:
    """The `cua run` command line of `options` (run_options) and `task`."""
    args = ["run", "--json", "--yes" if options.get("yes") else "--non-interactive"]
    for name, flag in _VALUED:
        if name in options:
            value = options[name]
            args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for spec in options.get("secret", ()):
        args += ["--secret", spec]
    for path in options.get("policy", ()):
        args += ["--policy", str(path)]
    if options.get("config") is not None:
        args += ["--config", str(options["config"])]
    if options.get("report"):
        args.append("--report")
    return [*args, "--", task]


# --- one task in a process ------------------------------------------------------------------


def _no_progress(step: int, cost_usd: float) -> None:
    return None


@dataclass
class Child:
    """The running task: its `cua run` process, or the Cancel of its run in this process;
    `stop(signum)` ends it as that signal ends `cua run`. `progress(step, cost)` is how an
    in-process run reports its steps (a process's are read from its run folder)."""

    proc: subprocess.Popen[bytes] | None = None
    cancel: Cancel | None = None
    stopped: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: Callable[[int, float], None] = _no_progress

    def started(self, proc: subprocess.Popen[bytes]) -> bool:
        with self.lock:
            self.proc = proc
            if self.stopped is not None:
                _signal(proc, self.stopped)
            return True

    def cancelled_by(self, cancel: Cancel) -> None:
        """The task runs in this process, ended through `cancel` (set at once if stopped)."""
        with self.lock:
            self.cancel = cancel
            if self.stopped is not None:
                cancel_as_signal(cancel, self.stopped)

    def stop(self, signum: int) -> None:
        with self.lock:
            self.stopped = signum
            if self.proc is not None:
                _signal(self.proc, signum)
            if self.cancel is not None:
                cancel_as_signal(self.cancel, signum)


def _signal(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, OSError):
        if proc.poll() is None:
            proc.send_signal(signum)


def run_process(args: Sequence[str], *, run_dir: Path, env: Mapping[str, str],
                child: Child | None = None) -> dict[str, Any]:
    """Run `cua run` with `args` (and `--run-dir run_dir`) in a new session, wait for it and
    return the JSON summary it printed; a summary of our own (status "error", exit 70, or
    the signal's code) when it printed none (killed, crashed before its first line)."""
    child = child or Child()
    argv = _tied_to_us([sys.executable, "-m", "claude_cua.cli", *_with_run_dir(args, run_dir)],
                       env)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, env=dict(env), start_new_session=True)
        child.started(proc)
        try:
            out, _ = proc.communicate(timeout=None)
        except BaseException:
            _signal(proc, signal.SIGTERM)
            _wait_or_kill(proc)
            raise
        err.seek(0)
        tail = err.read()[-4000:].decode("utf-8", "replace")
    summary = _last_json(out)
    if summary is None:
        summary = _no_summary(proc.returncode, tail, run_dir)
    return finish_summary(summary, run_dir)


def finish_summary(summary: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A task's summary as the batch reports it: its run_id is its folder's name (the id
    `cua runs show` takes); a run folder left without its run.json is removed."""
    if summary.get("run_dir"):
        summary["run_id"] = run_dir.name
    _drop_if_unrecorded(run_dir)
    return summary


def _tied_to_us(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """The kernel SIGTERMs the child when the thread that started it dies, even by SIGKILL
    (util-linux's setpriv sets PR_SET_PDEATHSIG and execs in place): a batch, or a Ray
    worker, that is killed leaves no `cua run` (and so no Xvfb) behind. The child's own
    SIGTERM handling still finishes its record."""
    # Imported here: keeps importing this module light (start-up time).
    import shutil

    setpriv = shutil.which("setpriv", path=env.get("PATH"))
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _with_run_dir(args: Sequence[str], run_dir: Path) -> list[str]:
    cut = list(args).index("--")
    return [*args[:cut], "--run-dir", str(run_dir), *args[cut:]]


def _wait_or_kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()


def _last_json(out: bytes) -> dict[str, Any] | None:
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        if line.strip():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                return None
            return data if isinstance(data, dict) else None
    return None


def _no_summary(code: int, stderr_tail: str, run_dir: Path) -> dict[str, Any]:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
        error, exit_code = f"cua run was killed by {name}", 70
    else:
        last = [ln for ln in stderr_tail.splitlines() if ln.strip()][-3:]
        error = f"cua run exited {code} without a summary: " + " / ".join(last)
        exit_code = code if code else 70
    has_record = (run_dir / "run.json").is_file()
    return {"status": "error", "exit_code": exit_code, "error": error,
            "run_dir": str(run_dir) if has_record else None,
            "run_id": run_dir.name if has_record else None}


def _drop_if_unrecorded(run_dir: Path) -> None:
    """A run folder without its run.json (a child killed before its record began) is removed:
    no run folder is ever left without its record."""
    if run_dir.is_dir() and not (run_dir / "run.json").exists():
        # Imported here: keeps importing this module light (start-up time).
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)


def read_progress(run_dir: Path) -> tuple[int, float]:
    """Steps recorded so far and their cost, from the run folder's steps.jsonl."""
    steps, cost = 0, 0.0
    try:
        with open(run_dir / "steps.jsonl", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue
                steps += 1
                if isinstance(data, dict) and isinstance(data.get("cost_usd"), int | float):
                    cost += data["cost_usd"]
    except OSError:
        pass
    return steps, cost


# --- the scheduler ---------------------------------------------------------------------------


@dataclass
class TaskState:
    """What the batch knows about one task, for the views and the batch state file."""

    job: TaskJob
    status: str = "queued"  # queued, running, then the run's own status, or "skipped"
    step: int = 0
    cost_usd: float = 0.0
    started: float | None = None
    ended: float | None = None
    run_dir: Path | None = None
    result: dict[str, Any] | None = None
    retried: bool = False

    @property
    def id(self) -> str:
        return self.job.id

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or now) - self.started


# execute(job, run_dir, child, state) -> summary; the runner gives it a fresh run folder.
Execute = Callable[[TaskJob, Path, Child, TaskState], dict[str, Any]]


class BatchRunner:
    """Runs jobs `parallel` at a time through `execute`, until all ran, the batch's
    `max_cost` is reached (the rest are skipped), or `cancel`."""

    def __init__(self, jobs: Sequence[TaskJob], *, parallel: int, runs_folder: Path,
                 execute: Execute, max_cost: float | None = None,
                 on_change: Callable[[TaskState], None] = lambda s: None,
                 new_run_id: Callable[[], str] | None = None, poll_s: float = 0.5,
                 progress_files: bool = True) -> None:
        self.states = [TaskState(job) for job in jobs]
        self._parallel = max(1, parallel)
        self._folder = runs_folder
        self._execute = execute
        self._max_cost = max_cost
        self._on_change = on_change
        self._new_run_id = new_run_id or _run_id
        self._poll_s = poll_s
        self._progress_files = progress_files  # else tasks report it (Child.progress)
        self._lock = threading.Lock()
        self._next = 0
        self._children: dict[str, Child] = {}
        self._used: set[Path] = set()
        self.stopped_by: int | None = None
        self._done = threading.Event()

    @property
    def total_cost(self) -> float:
        return sum(s.cost_usd for s in self.states)

    def run(self) -> list[TaskState]:
        workers = [threading.Thread(target=self._work, name=f"cua-batch-{i}", daemon=True)
                   for i in range(min(self._parallel, len(self.states)))]
        poller = threading.Thread(target=self._poll, name="cua-batch-progress", daemon=True)
        for w in workers:
            w.start()
        if self._progress_files:
            poller.start()
        for w in workers:
            while w.is_alive():
                w.join(0.2)  # a timed join, so the main thread takes signals at once
        self._done.set()
        if self._progress_files:
            poller.join()
        return self.states

    def cancel(self, signum: int = signal.SIGINT) -> None:
        """Start nothing more, and pass `signum` on to every running task."""
        with self._lock:
            if self.stopped_by is None:
                self.stopped_by = signum
            children = list(self._children.values())
        for child in children:
            child.stop(signum)

    def _take(self) -> TaskState | None:
        with self._lock:
            while self._next < len(self.states):
                state = self.states[self._next]
                self._next += 1
                if self.stopped_by is not None:
                    return None
                if self._max_cost is not None and self.total_cost >= self._max_cost:
                    state.status, state.ended = "skipped", time.monotonic()
                    state.result = {"status": "skipped", "exit_code": 3, "steps": 0,
                                    "error": f"not started: the batch's --max-cost "
                                             f"{self._max_cost:g} USD was reached"}
                    self._changed(state)
                    continue
                state.status, state.started = "running", time.monotonic()
                self._children[state.id] = Child(
                    progress=lambda step, cost, state=state: self._progress(state, step, cost))
                state.run_dir = self._fresh_run_dir()
                return state
            return None

    def _fresh_run_dir(self) -> Path:
        """A run folder no task of this batch has and none on disk: run ids are the second
        plus 16 random bits, and many tasks start in one second."""
        while True:
            path = self._folder / self._new_run_id()
            if path not in self._used and not path.exists():
                self._used.add(path)
                return path

    def _work(self) -> None:
        while (state := self._take()) is not None:
            self._changed(state)
            child = self._children[state.id]
            assert state.run_dir is not None
            try:
                summary = self._execute(state.job, state.run_dir, child, state)
            except Exception as exc:  # a fault of the batch machinery is this task's outcome
                summary = {"status": "error", "exit_code": 70,
                           "error": f"{type(exc).__name__}: {exc}"}
            with self._lock:
                self._children.pop(state.id, None)
                state.result = summary
                state.status = str(summary.get("status") or "error")
                state.step = int(summary.get("steps") or state.step)
                cost = summary.get("cost_usd")
                if isinstance(cost, int | float):
                    state.cost_usd = float(cost)
                state.ended = time.monotonic()
            self._changed(state)

    def _progress(self, state: TaskState, step: int, cost: float) -> None:
        with self._lock:
            if state.status != "running" or (step, cost) == (state.step, state.cost_usd):
                return
            state.step, state.cost_usd = step, cost
        self._changed(state)

    def _poll(self) -> None:
        while not self._done.wait(self._poll_s):
            for state in list(self.states):
                if state.status == "running" and state.run_dir is not None:
                    step, cost = read_progress(state.run_dir)
                    if (step, cost) != (state.step, state.cost_usd) and state.status == "running":
                        state.step, state.cost_usd = step, cost
                        self._changed(state)

    def _changed(self, state: TaskState) -> None:
        with contextlib.suppress(Exception):  # a view's fault must not stop the batch
            self._on_change(state)


def _run_id() -> str:
    # Imported here: keeps importing this module light (start-up time).
    from datetime import UTC, datetime

    from ..store.runs import new_run_id

    return new_run_id(datetime.now(UTC))


def local_execute(env: Mapping[str, str]) -> Execute:
    """Run each job as a `cua run` process on this machine (`cua batch --isolate`)."""
    def execute(job: TaskJob, run_dir: Path, child: Child, state: TaskState) -> dict[str, Any]:
        return run_process(job.args, run_dir=run_dir, env=env, child=child)

    return execute
