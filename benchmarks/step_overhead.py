"""Per-step overhead of `cua run` on a 1920x1080 Xvfb, beside the floor measured in the same run.

Overhead is everything cua does between receiving Claude's reply and having the next request
ready (parse, action, settle, capture, scale, encode, record). The fake Messages API answers
instantly, so the figures are cua's own. Run:  python benchmarks/step_overhead.py [--clicks 40]
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

from claude_cua.core.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.core.demo.policies import computer_call, report
from claude_cua.core.desktop import Frame
from claude_cua.core.screen import encode_png, fit_size, frame_to_image, scale_image
from claude_cua.core.xserver import VirtualDisplay


def measure_floor(display: VirtualDisplay, rounds: int = 30) -> dict[str, float]:
    """Median grab, scale and encode times on this display, in milliseconds."""
    os.environ.update(display.env)
    import mss

    with mss.mss() as sct:
        monitor = sct.monitors[1]
        grabs, scales, encodes = [], [], []
        size = fit_size(monitor["width"], monitor["height"])
        for _ in range(rounds):
            t0 = time.perf_counter()
            shot = sct.grab(monitor)
            frame = Frame(shot.width, shot.height, shot.raw)
            t1 = time.perf_counter()
            image = scale_image(frame_to_image(frame), size)
            t2 = time.perf_counter()
            encode_png(image)
            t3 = time.perf_counter()
            grabs.append(t1 - t0)
            scales.append(t2 - t1)
            encodes.append(t3 - t2)
    ms = {k: statistics.median(v) * 1000 for k, v in
          (("grab", grabs), ("scale", scales), ("encode", encodes))}
    ms["floor"] = ms["grab"] + ms["scale"] + ms["encode"]
    return ms


def run_clicks(clicks: int, kind: str) -> list[float]:
    """Overheads (ms) of `clicks` steps of one kind against a static xterm."""
    with FakeMessagesAPI() as api, tempfile.TemporaryDirectory() as tmp:
        if kind == "click":
            step = lambda req: Reply([computer_call(req, "left_click", coordinate=[300, 300])])  # noqa: E731
        else:
            step = lambda req: Reply([computer_call(req, "type", text="hello world ")])  # noqa: E731
        api.queue(*[step] * clicks, Reply([report("success", "done")]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CUA_", "ANTHROPIC_"))}
        env.update(ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=api.url, CUA_DATA_DIR=tmp)
        run_dir = Path(tmp) / "run"
        subprocess.run(
            [sys.executable, "-m", "claude_cua.cli", "run", "--quiet", "--json",
             "--virtual-display", "1920x1080", "--app", "xterm -geometry 120x40+0+0",
             "--model", "claude-sonnet-5-5", "--max-steps", str(clicks + 1),
             "--run-dir", str(run_dir), "benchmark"],
            env=env, check=True, capture_output=True, timeout=600)
        steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    return [s["overhead_s"] * 1000 for s in steps if s.get("actions")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=40)
    args = parser.parse_args()
    with VirtualDisplay(size=(1920, 1080)) as display:
        proc = display.start_app(["xterm", "-geometry", "120x40+0+0"])
        time.sleep(1.0)  # let xterm map before measuring the floor on a realistic screen
        floor = measure_floor(display)
        proc.terminate()
    print(f"floor on 1920x1080 (median of 30): grab {floor['grab']:.1f} ms + scale "
          f"{floor['scale']:.1f} ms + encode {floor['encode']:.1f} ms = {floor['floor']:.1f} ms")
    for kind in ("click", "type"):
        overheads = run_clicks(args.clicks, kind)
        med = statistics.median(overheads)
        print(f"{kind} steps: n={len(overheads)} median overhead {med:.1f} ms "
              f"(p90 {sorted(overheads)[int(len(overheads) * 0.9)]:.1f} ms), "
              f"{med / floor['floor']:.2f}x the floor")


if __name__ == "__main__":
    main()
