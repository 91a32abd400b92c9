"""Replay against the recorded run: wall time, where a replay's time goes, per-step overhead,
and false alarms.

Records the supplier form once with a fake model that takes `--delay` seconds per reply (1 s by
default), then replays it `--replays` times on an unchanged form (each a fresh `cua` process,
its own Xvfb, start-up included) against a fake API that must receive no request. By default
each replay is `--replay auto`, the cron pattern: it follows the newest success, i.e. the
previous replay (`--fixed`: every replay follows the first recording). Prints the
recorded and replayed wall times and their ratio (the target is at least 10x), the median
overhead of an ordinary step and of a replayed step (check + action + settle, from
steps.jsonl; the target is at most 2x), how many replays wrongly handed over (false alarms), and
for `--phases` more replays, run under a timing harness, the median time of each phase of a
replay (interpreter start, imports, Xvfb, openbox, the app's first frame, each step's check,
actions, settle, encode, record, teardown).

Child processes run without PYTHONDONTWRITEBYTECODE, as an installed cua runs (pip writes the
bytecode at install time); with it set, Python recompiles cua's ~60 modules on every start.
Run:  python benchmarks/replay.py [--replays 50] [--delay 1.0] [--phases 5]
"""

from __future__ import annotations

import argparse
import builtins
import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

FORM = [sys.executable, "-m", "claude_cua.cli.demo.supplier_form"]
TASK = "fill the supplier form"
CUA_ARGS = ["run", "--json", "--yes", "--virtual-display", "1920x1080"]

# What the timing harness wraps: (module, attribute, phase). Each phase's time excludes the
# phases nested in it, so the phases and "other" add up to the wall time. Imports are a phase
# wherever they happen (first import of a module only).
PHASES = [
    ("claude_cua.cli.main", "run_cli", "command line, settings, view (rest)"),
    ("claude_cua.core.x11.xserver", "VirtualDisplay._start_xvfb", "Xvfb start"),
    ("claude_cua.core.x11.xserver", "VirtualDisplay._start_wm", "openbox spawn"),
    ("claude_cua.core.x11.xserver", "VirtualDisplay.wait_for_window_manager",
     "waiting for openbox (after the X connection)"),
    ("claude_cua.core.x11.xdesktop", "XDesktop.__init__", "X connection (XDesktop)"),
    ("claude_cua.core.x11.xserver", "VirtualDisplay.start_app", "app spawn"),
    ("claude_cua.core.x11.session", "_wait_for_app", "waiting for the app's first frame"),
    ("claude_cua.core.engine.loop", "run_task", "run_task (rest)"),
    ("claude_cua.core.engine.step", "StepRunner.start", "first screenshot"),
    ("claude_cua.core.engine.replay", "Replayer.look", "replay: check"),
    ("claude_cua.core.engine.replay", "Replayer.carry_out", "replay: actions"),
    ("claude_cua.core.engine.step", "StepRunner.ask", "ordinary: model call"),
    ("claude_cua.core.engine.step", "StepRunner.execute", "ordinary: actions"),
    ("claude_cua.core.engine.step", "wait_for_settle", "settle"),
    ("claude_cua.core.engine.step", "encode_png", "PNG encode"),
    ("claude_cua.core.store.runs", "RunRecorder.__call__", "record writes"),
    ("claude_cua.core.x11.xserver", "VirtualDisplay.stop", "stop app, openbox, Xvfb"),
    ("claude_cua.core.x11.xdesktop", "XDesktop.close", "X disconnect, watchdog stop"),
]


class Timer:
    """Exclusive time per phase on the main thread; other threads' time listed apart."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.local = threading.local()
        self.main = threading.main_thread()

    def wrap(self, name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = getattr(self.local, "stack", None)
            if stack is None:
                stack = self.local.stack = []
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                nested = stack.pop()
                key = name if threading.current_thread() is self.main else f"{name} (background)"
                self.totals[key] += spent - nested
                if stack:
                    stack[-1] += spent
        return timed


def phases_child(out: str, argv: list[str]) -> int:
    started = float(os.environ.pop("CUA_BENCH_T0"))
    timer = Timer()
    timer.totals["interpreter start"] = time.time() - started
    original = builtins.__import__
    timed_import = timer.wrap("imports", original)

    def importing(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                  level: int = 0) -> Any:
        if level == 0 and name in sys.modules and not fromlist:
            return original(name, globals, locals, fromlist, level)
        return timed_import(name, globals, locals, fromlist, level)

    builtins.__import__ = importing
    for module_name, attribute, phase in PHASES:
        module = importlib.import_module(module_name)
        owner_name, _, name = attribute.rpartition(".")
        owner = getattr(module, owner_name) if owner_name else module
        setattr(owner, name, timer.wrap(phase, getattr(owner, name)))
    from claude_cua.cli import main as cli

    timed_cli = cli.run_cli

    def run_cli(args: list[str] | None = None) -> int:
        try:
            return timed_cli(args)
        finally:  # written here: cua's main() leaves with os._exit
            timer.totals["finished"] = time.time()
            Path(out).write_text(json.dumps(timer.totals), encoding="utf-8")

    cli.run_cli = run_cli
    sys.argv = ["cua", *argv]
    cli.entry()  # as the `cua` command runs, exit included
    return 0


def cua(home: Path, api_url: str, *args: str, phases: Path | None = None
        ) -> tuple[subprocess.CompletedProcess[str], float, dict[str, float]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in (
               "DISPLAY", "XAUTHORITY", "PYTHONDONTWRITEBYTECODE")}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"), ANTHROPIC_API_KEY="bench",
               ANTHROPIC_BASE_URL=api_url, CUA_MAX_RETRIES="0")
    argv = [*CUA_ARGS, *args, TASK]
    if phases is None:
        command = [sys.executable, "-m", "claude_cua.cli", *argv]
    else:
        command = [sys.executable, __file__, "--phases-child", str(phases), "--", *argv]
        env["CUA_BENCH_T0"] = repr(time.time())
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                          stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    spent: dict[str, float] = {}
    if phases is not None:
        spent = json.loads(phases.read_text(encoding="utf-8"))
        spent["process exit"] = time.time() - spent.pop("finished")
        spent["other"] = wall - sum(v for k, v in spent.items() if "background" not in k)
    return proc, wall, spent


def steps_of(run_dir: str) -> list[dict]:
    lines = (Path(run_dir) / "steps.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def print_phases(title: str, runs: list[dict[str, float]]) -> None:
    names = sorted({k for run in runs for k in run}, key=lambda k: -statistics.median(
        [run.get(k, 0.0) for run in runs]))
    walls = [sum(v for k, v in run.items() if "background" not in k) for run in runs]
    print(f"{title} ({len(runs)} runs under the timing harness, median wall "
          f"{statistics.median(walls):.2f} s; median per phase, main thread):")
    for name in names:
        values = [run.get(name, 0.0) for run in runs]
        print(f"  {statistics.median(values) * 1000:7.0f} ms  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=50)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds per model reply")
    parser.add_argument("--phases", type=int, default=5,
                        help="extra replays run under the timing harness (0: none)")
    parser.add_argument("--fixed", action="store_true",
                        help="replay the first recording every time, not `--replay auto`")
    args = parser.parse_args()
    from claude_cua.cli.demo.fakeapi import FakeMessagesAPI
    from claude_cua.cli.demo.policies import supplier_form_policy

    home = Path(tempfile.mkdtemp(prefix="cua-bench-replay-"))
    app = " ".join([*FORM, "--out", str(home / "recorded.json")])
    with FakeMessagesAPI(reply_delay_s=args.delay) as api:
        api.queue(*[supplier_form_policy()] * 40)
        proc, recorded_s, _ = cua(home, api.url, "--app", app)
        requests = len(api.requests)
    summary = json.loads(proc.stdout)
    assert summary["status"] == "success", proc.stderr
    recording = summary["run_dir"]
    ordinary = [s["overhead_s"] for s in steps_of(recording) if s["actions"]]
    walls, replayed, false_alarms, asked, in_run, timed = [], [], 0, 0, [], []
    for i in range(args.replays + args.phases):
        app = " ".join([*FORM, "--out", str(home / f"replay-{i}.json")])
        phases = home / f"phases-{i}.json" if i >= args.replays else None
        with FakeMessagesAPI(reply_delay_s=args.delay) as api:
            proc, wall, spent = cua(home, api.url, "--replay",
                                    recording if args.fixed else "auto", "--app", app,
                                    phases=phases)
            asked += len(api.requests)
        result = json.loads(proc.stdout)
        if phases is not None:
            timed.append(spent)
        else:
            walls.append(wall)
            in_run.append(result["duration_s"])
        followed = (result.get("replay") or {}).get("from")
        if not args.fixed and followed is None:
            sys.stderr.write(f"replay {i}: auto found nothing to replay\n")
        if result.get("replay", {}).get("diverged_at") is not None or result["status"] != (
                "success"):
            false_alarms += 1
            sys.stderr.write(f"replay {i}: {result.get('replay')} {result['status']}\n")
            continue
        replayed += [s["overhead_s"] for s in steps_of(result["run_dir"]) if s["actions"]]
    total = args.replays + args.phases
    print(f"recorded run: {recorded_s:.2f} s wall, {requests} model requests at "
          f"{args.delay:g} s each, {summary['steps']} steps")
    if walls:
        median_wall = statistics.median(walls)
        ratio = recorded_s / median_wall
        print(f"replay ({len(walls)} runs): median {median_wall:.2f} s wall "
              f"(min {min(walls):.2f}, max {max(walls):.2f}), start-up included; "
              f"ratio {ratio:.1f}x ({'meets' if ratio >= 10 else 'misses'} the 10x target; "
              f"a tenth of the recording is {recorded_s / 10:.2f} s)")
        print(f"inside the run (run_task, no start-up): recorded {summary['duration_s']:.2f} s, "
              f"replay median {statistics.median(in_run):.2f} s "
              f"({summary['duration_s'] / statistics.median(in_run):.1f}x)")
    if replayed:
        per_ordinary, per_replayed = statistics.median(ordinary), statistics.median(replayed)
        print(f"per-step overhead, steps with actions: ordinary median "
              f"{per_ordinary * 1000:.0f} ms, replayed (check + action + settle) median "
              f"{per_replayed * 1000:.0f} ms: {per_replayed / per_ordinary:.2f}x an ordinary "
              f"step ({'meets' if per_replayed <= 2 * per_ordinary else 'misses'} the 2x target)")
    else:
        print("no replay succeeded")
    print(f"model requests during the {total} replays: {asked}")
    how = "each the first recording" if args.fixed else "each `--replay auto`, the previous one"
    print(f"false alarms (a handover on the unchanged form): {false_alarms} of {total} "
          f"replays ({how})")
    if timed:
        print_phases("where a replay's wall time goes", timed)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--phases-child":
        sys.path.pop(0)  # this folder's scripts must not shadow modules
        raise SystemExit(phases_child(sys.argv[2], sys.argv[4:]))
    raise SystemExit(main())
