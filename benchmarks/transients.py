"""Recall and false reports of what came and went between screenshots, on a 1920x1080 Xvfb.

Our Tk app (tests/apps/transients.py) shows toasts (override-redirect windows) and in-window
flashes at random delays (20-600 ms) after a click, for random times (toasts 50-500 ms,
flashes 100-300 ms); the fake model clicks, then waits a second, and reads each request's
`Since the last screenshot:` text. A transient that was on screen when a screenshot was taken
is seen by Claude directly and counts as neither found nor missed. Then 50 clicks on a button
that changes nothing, beside a focused entry whose caret blinks: every report is a false one.
The watcher's CPU time is read from /proc for its thread. Run:
    python benchmarks/transients.py [--rounds 40] [--quiet-steps 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from claude_cua.cli.demo import colours
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import (
    computer_call,
    find_colour,
    latest_image,
    report,
    to_model_space,
)
from claude_cua.core.x11.xserver import VirtualDisplay

APP = Path(__file__).parent.parent / "tests" / "apps" / "transients.py"
TOAST_RGB = colours.SUBMITTED
FLASH_RGB = (0xFF, 0x20, 0x20)
HEADER = "Since the last screenshot:"


def texts_of(request: dict[str, Any]) -> list[str]:
    out = []
    for block in request["messages"][-1]["content"]:
        parts = block.get("content", []) if block.get("type") == "tool_result" else [block]
        out.extend(p["text"] for p in parts if p.get("type") == "text")
    return [t for t in out if t.startswith(HEADER)]


class Policy:
    """Rounds of click-then-wait on the toast and flash buttons, then quiet clicks."""

    def __init__(self, kinds: list[str], quiet_steps: int) -> None:
        self.kinds, self.quiet_steps = kinds, quiet_steps
        self.plan: list[tuple[str, int]] = []
        for i in range(len(kinds)):
            self.plan += [("click", i), ("wait", i)]
        self.plan += [("quiet", -1)] * quiet_steps + [("done", -1)]
        self.at = 0
        self.reports: list[tuple[int, str]] = []  # (round, block) for every block received
        self.visible: set[int] = set()  # rounds whose transient a screenshot showed
        self.quiet_blocks: list[str] = []

    def __call__(self, request: dict[str, Any]) -> Reply:
        step, round_ = self.plan[self.at]
        previous = self.plan[self.at - 1] if self.at else ("start", -1)
        self.at += 1
        blocks = texts_of(request)
        if previous[0] in ("click", "wait"):
            self.reports += [(previous[1], b) for b in blocks]
        elif previous[0] == "quiet":
            self.quiet_blocks += blocks
        image = latest_image(request)
        if previous[0] in ("click", "wait") and find_colour(
                image, TOAST_RGB if self.kinds[previous[1]] == "toast" else FLASH_RGB) is not None:
            self.visible.add(previous[1])
        if step == "done":
            return Reply([report("success", "done")])
        if step == "wait":
            return Reply([computer_call(request, "wait", duration=1)])
        colour = {"toast": colours.COMPANY, "flash": colours.EMAIL}.get(
            self.kinds[round_] if round_ >= 0 else "", colours.NOTES)
        image = latest_image(request, search_back=True)
        point = to_model_space(find_colour(image, colour), image=image, request=request)
        return Reply([computer_call(request, "left_click", coordinate=point)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="toasts and flashes, each")
    parser.add_argument("--quiet-steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kinds = ["toast", "flash"] * args.rounds
    rng.shuffle(kinds)
    timings = [(rng.uniform(0.02, 0.6), rng.uniform(0.05, 0.5) if k == "toast"
                else rng.uniform(0.1, 0.3)) for k in kinds]
    policy = Policy(kinds, args.quiet_steps)
    with VirtualDisplay(size=(1920, 1080)) as display, FakeMessagesAPI() as api, \
            tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "app.jsonl"
        app = display.start_app([sys.executable, str(APP), "--log", str(log), "--timings",
                                 ",".join(f"{d:.3f}:{t:.3f}" for d, t in timings)])
        deadline = time.monotonic() + 20
        while not (log.exists() and "ready" in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        api.queue(*[policy] * len(policy.plan))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CUA_", "ANTHROPIC_"))}
        env.update(display.env, ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=api.url,
                   CUA_DATA_DIR=tmp)
        run_dir = Path(tmp) / "run"
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "claude_cua.cli", "run", "-v", "--json",
             "--model", "claude-sonnet-5-5", "--max-steps", str(len(policy.plan) + 2),
             "--run-dir", str(run_dir), "benchmark"],
            env=env, capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            sys.exit(f"cua failed ({proc.returncode}): {proc.stderr[-2000:]}")
        shown = [json.loads(line) for line in log.read_text().splitlines()][1:]
        steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
        app.terminate()
        app.wait()
    truth = {e["text"]: e["hidden_s"] - e["shown_s"] for e in shown}
    counts = {"toast": [0, 0, 0], "flash": [0, 0, 0]}  # found, missed, seen in a screenshot
    flash_no = toast_no = 0
    for i, kind in enumerate(kinds):
        if kind == "toast":
            toast_no += 1
            name = f"Saved {toast_no}"
            if truth.get(name, 0) < 0.05:
                continue
            found = any(f'"{name}"' in b for _, b in policy.reports)
        else:
            flash_no += 1
            if truth.get(f"Invalid {flash_no}", 0) < 0.1:
                continue
            found = any(r == i and "changed and changed back" in b for r, b in policy.reports)
        slot = 0 if found else (2 if i in policy.visible else 1)
        counts[kind][slot] += 1
    for kind, (found, missed, seen) in counts.items():
        judged = found + missed
        print(f"{kind}es" if kind == "flash" else f"{kind}s", end=": ")
        print(f"{found}/{judged} reported ({100 * found / max(judged, 1):.1f}% recall); "
              f"{seen} more were on screen in a screenshot (seen directly)")
    lines = sum(len(b.splitlines()) - 1 for b in policy.quiet_blocks)
    print(f"false reports on the still screen with a blinking caret: {lines} lines in "
          f"{args.quiet_steps} steps")
    lines = [line for _, b in policy.reports for line in b.splitlines()[1:]]
    print(f"lines received during the rounds: {len(lines)} for {len(kinds)} transients")
    print(f"{len(steps)} steps in {wall:.1f} s")
    cpu = re.search(r"the watcher used .*", proc.stderr)
    print(cpu.group(0) if cpu else "the watcher's CPU was not logged")


if __name__ == "__main__":
    main()
