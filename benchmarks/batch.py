"""`cua batch`: wall time of N tasks in parallel against one after another, memory per
concurrent task, and Ray's overhead per task (8 and 64 tasks).

Each task is the supplier form on its own Xvfb (`--task form`: 12 model replies) or a short
look at it (`--task look`: a screenshot and a report, 2 replies); the fake model answers each
request after `--delay` seconds (1 s). Every measurement is a fresh process, start-up included.

- sequential: the tasks one after another, each `cua run --json` (what a shell loop does)
- local: `cua batch FILE --parallel N`, in process (the default) and with --isolate
- memory: while the local batch runs, the PSS (proportional set size, shared pages split
  between the processes that map them) of every process below `cua batch` (each task's
  `cua run`, Xvfb, openbox, the form), sampled every 0.5 s; its peak divided by N, and the
  batch process itself
- ray: `cua batch FILE --ray` (a local Ray instance cua starts, N display resources), for
  each of `--ray-tasks` (8 and 64) against the local batch of the same tasks; the overhead
  per task is (ray wall - local wall) / tasks, Ray's start included

Run:  python benchmarks/batch.py [--tasks 8] [--parallel 4] [--delay 1.0] [--task form]
      python benchmarks/batch.py --only ray --task look --ray-tasks 8 64
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report, supplier_form_policy

FORM = [sys.executable, "-m", "claude_cua.cli.demo.supplier_form"]


def look(request):
    if any(m["role"] == "assistant" for m in request["messages"]):
        return Reply([report("success", "the form is there")])
    return Reply([computer_call(request, "screenshot")])


def env_for(home: Path, api: FakeMessagesAPI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in ("DISPLAY", "XAUTHORITY")}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"), ANTHROPIC_API_KEY="bench",
               ANTHROPIC_BASE_URL=api.url, CUA_MAX_RETRIES="0", RAY_USAGE_STATS_ENABLED="0")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def batch_file(home: Path, tasks: int) -> Path:
    path = home / f"batch-{tasks}.jsonl"
    lines = [json.dumps({"defaults": {"max_steps": 20, "virtual_display": "1280x800"}})]
    for i in range(tasks):
        app = " ".join([*FORM, "--out", str(home / f"form-{i}.json")])
        lines.append(json.dumps({"id": f"form-{i}", "task": f"fill the supplier form #{i}",
                                 "app": app}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(argv: list[str], env: dict[str, str], *, sample_memory: bool = False
          ) -> tuple[float, subprocess.CompletedProcess[str], dict[str, float]]:
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    peaks: dict[str, float] = {"tree_mb": 0.0, "own_mb": 0.0}
    sampler = None
    if sample_memory:
        done = threading.Event()
        sampler = threading.Thread(target=_sample, args=(proc.pid, peaks, done), daemon=True)
        sampler.start()
    out, err = proc.communicate()
    wall = time.monotonic() - start
    if sampler is not None:
        done.set()
        sampler.join()
    return wall, subprocess.CompletedProcess(argv, proc.returncode, out, err), peaks


def _sample(pid: int, peaks: dict[str, float], done: threading.Event) -> None:
    while not done.wait(0.5):
        below = _descendants(pid)
        tree = sum(_pss_mb(p) for p in below)
        peaks["tree_mb"] = max(peaks["tree_mb"], tree)
        peaks["own_mb"] = max(peaks["own_mb"], _pss_mb(pid))


def _descendants(pid: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found = []
    for proc in parents:
        up = parents.get(proc)
        while up and up != pid:
            up = parents.get(up)
        if up == pid:
            found.append(proc)
    return found


def _pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def check(proc: subprocess.CompletedProcess[str], what: str, tasks: int) -> None:
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    ok = sum(1 for x in lines if x.get("status") == "success")
    if proc.returncode != 0 or ok != tasks:
        sys.exit(f"{what}: exit {proc.returncode}, {ok}/{tasks} succeeded\n{proc.stderr[-3000:]}")


def run_sequential(home: Path, env: dict[str, str], tasks: int) -> float:
    start = time.monotonic()
    for i in range(tasks):
        app = " ".join([*FORM, "--out", str(home / f"seq-{i}.json")])
        proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "run", "--json",
                               "--non-interactive", "--virtual-display", "1280x800",
                               "--max-steps", "20", "--app", app, f"fill the supplier form #{i}"],
                              env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        check(subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, proc.stderr),
              f"sequential task {i}", 1)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--delay", type=float, default=1.0, help="the fake model's reply time")
    parser.add_argument("--task", choices=("form", "look"), default="form")
    parser.add_argument("--only", choices=("local", "ray"), default=None)
    parser.add_argument("--ray-tasks", type=int, nargs="*", default=[8, 64])
    args = parser.parse_args()
    policy = supplier_form_policy() if args.task == "form" else look
    cua = [sys.executable, "-m", "claude_cua.cli", "batch"]
    with tempfile.TemporaryDirectory() as tmp, \
            FakeMessagesAPI(default=policy, reply_delay_s=args.delay) as api:
        home = Path(tmp)
        env = env_for(home, api)
        print(f"task: {args.task}, fake model reply {args.delay:g} s, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f}")
        if args.only in (None, "local"):
            path = batch_file(home, args.tasks)
            seq = run_sequential(home, env, args.tasks)
            print(f"sequential ({args.tasks} x cua run): {seq:.1f} s")
            for mode, extra in (("in process", []), ("--isolate", ["--isolate"])):
                wall, proc, peaks = timed([*cua, str(path), "--parallel", str(args.parallel),
                                           *extra], env, sample_memory=True)
                check(proc, f"local batch ({mode})", args.tasks)
                print(f"cua batch --parallel {args.parallel} ({mode}): {wall:.1f} s = "
                      f"{wall / seq:.2f}x sequential (target <= 0.4x)")
                tree, own = peaks["tree_mb"], peaks["own_mb"]
                if extra:
                    print(f"  memory: peak PSS of everything below cua batch {tree:.0f} MB = "
                          f"{tree / args.parallel:.0f} MB per concurrent task (cua run + Xvfb "
                          f"+ openbox + app); cua batch itself {own:.0f} MB")
                else:  # the runs are threads of cua batch: its own PSS holds them
                    print(f"  memory: peak PSS of cua batch and everything below it "
                          f"{tree + own:.0f} MB = {(tree + own) / args.parallel:.0f} MB per "
                          f"concurrent task (its run in cua batch + Xvfb + openbox + app); "
                          f"cua batch itself {own:.0f} MB, below it {tree:.0f} MB")
        if args.only in (None, "ray"):
            for n in args.ray_tasks:
                path = batch_file(home, n)
                local, proc, _ = timed([*cua, str(path), "--parallel", str(args.parallel)], env)
                check(proc, f"local batch of {n}", n)
                ray, proc, _ = timed([*cua, str(path), "--ray", "--parallel",
                                      str(args.parallel)], env)
                check(proc, f"ray batch of {n}", n)
                ready = re.search(r"ready in ([\d.]+) s", proc.stderr)
                start = float(ready.group(1)) if ready else 0.0
                print(f"{n} tasks: local --parallel {args.parallel} {local:.1f} s, --ray "
                      f"({args.parallel} displays) {ray:.1f} s; Ray overhead "
                      f"{ray - local:.1f} s in all = {(ray - local) / n:.2f} s per task; "
                      f"of it Ray's start {start:.1f} s, the rest "
                      f"{(ray - local - start) / n:.2f} s per task")


if __name__ == "__main__":
    main()
