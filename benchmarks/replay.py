"""Replay against the recorded run: wall time, per-step overhead, and false alarms.

Records the supplier form once with a fake model that takes `--delay` seconds per reply (1 s by
default), then replays it `--replays` times on an unchanged form (each a fresh `cua` process,
its own Xvfb, start-up included) against a fake API that must receive no request. Prints the
recorded and replayed wall times, the median overhead of an ordinary step and of a replayed step
(check + action + settle, from steps.jsonl), and how many replays wrongly handed over (false
alarms). Run:  python benchmarks/replay.py [--replays 50] [--delay 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claude_cua.core.demo.fakeapi import FakeMessagesAPI
from claude_cua.core.demo.policies import supplier_form_policy

FORM = [sys.executable, "-m", "claude_cua.core.demo.supplier_form"]
TASK = "fill the supplier form"


def cua(home: Path, api_url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in ("DISPLAY", "XAUTHORITY")}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"), ANTHROPIC_API_KEY="bench",
               ANTHROPIC_BASE_URL=api_url, CUA_MAX_RETRIES="0")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "run", "--json", "--yes",
                           "--virtual-display", "1920x1080", *args, TASK], capture_output=True,
                          text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
    return proc, time.perf_counter() - t0


def steps_of(run_dir: str) -> list[dict]:
    lines = (Path(run_dir) / "steps.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=50)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds per model reply")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cua-bench-replay-"))
    app = " ".join([*FORM, "--out", str(home / "recorded.json")])
    with FakeMessagesAPI(reply_delay_s=args.delay) as api:
        api.queue(*[supplier_form_policy()] * 40)
        proc, recorded_s = cua(home, api.url, "--app", app)
        requests = len(api.requests)
    summary = json.loads(proc.stdout)
    assert summary["status"] == "success", proc.stderr
    recording = summary["run_dir"]
    ordinary = [s["overhead_s"] for s in steps_of(recording) if s["actions"]]
    walls, replayed, false_alarms, asked, in_run = [], [], 0, 0, []
    for i in range(args.replays):
        app = " ".join([*FORM, "--out", str(home / f"replay-{i}.json")])
        with FakeMessagesAPI(reply_delay_s=args.delay) as api:
            proc, wall = cua(home, api.url, "--replay", recording, "--app", app)
            asked += len(api.requests)
        result = json.loads(proc.stdout)
        walls.append(wall)
        in_run.append(result["duration_s"])
        if result.get("replay", {}).get("diverged_at") is not None or result["status"] != (
                "success"):
            false_alarms += 1
            sys.stderr.write(f"replay {i}: {result.get('replay')} {result['status']}\n")
            continue
        replayed += [s["overhead_s"] for s in steps_of(result["run_dir"]) if s["actions"]]
    median_wall = statistics.median(walls)
    print(f"recorded run: {recorded_s:.2f} s wall, {requests} model requests at "
          f"{args.delay:g} s each, {summary['steps']} steps")
    print(f"replay ({args.replays} runs): median {median_wall:.2f} s wall "
          f"(min {min(walls):.2f}, max {max(walls):.2f}), start-up included; "
          f"{recorded_s / median_wall:.1f}x faster; {asked} model requests in all")
    print(f"inside the run (run_task, no start-up): recorded {summary['duration_s']:.2f} s, "
          f"replay median {statistics.median(in_run):.2f} s "
          f"({summary['duration_s'] / statistics.median(in_run):.1f}x)")
    print(f"per-step overhead, steps with actions: ordinary median "
          f"{statistics.median(ordinary) * 1000:.0f} ms, replayed (check + action + settle) "
          f"median {statistics.median(replayed) * 1000:.0f} ms"
          if replayed else "no replay succeeded")
    print(f"false alarms (a handover on the unchanged form): {false_alarms} of {args.replays}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
