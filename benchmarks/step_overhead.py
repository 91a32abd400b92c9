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

from claude_cua.cli.demo import colours
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import (
    computer_call,
    find_colour,
    latest_image,
    report,
    to_model_space,
)
from claude_cua.core.vocab.actions import encode_png, fit_size, frame_to_image, scale_image
from claude_cua.core.vocab.desktop import Frame
from claude_cua.core.x11.xserver import VirtualDisplay


def measure_floor(display: VirtualDisplay, rounds: int = 30) -> dict[str, float]:
    """Median grab, scale and encode times on this display, in milliseconds."""
    os.environ.update(display.env)
    import mss

    with mss.MSS() as sct:
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


def click_field(request: dict) -> Reply:
    """Click the form field that does not have focus now: the focus ring moves each time."""
    count = sum(1 for m in request["messages"] if m["role"] == "assistant")
    colour = colours.COMPANY if count % 2 == 0 else colours.EMAIL
    image = latest_image(request, search_back=True)
    point = to_model_space(find_colour(image, colour), image=image, request=request)
    return Reply([computer_call(request, "left_click", coordinate=point)])


STEPS = {
    # a click whose effect is visible (focus moves between two fields of the supplier form)
    "click": click_field,
    # a click with no visible effect (on the form's background): settling waits its grace
    "idle-click": lambda req: Reply([computer_call(req, "left_click", coordinate=[600, 20])]),
    # varied text: a repeated word, once it scrolls, can leave the visible entry unchanged
    "type": lambda req: Reply([computer_call(req, "type", text=f"word{len(req['messages'])} ")]),
}


def run_clicks(clicks: int, kind: str, tripwire: str = "on") -> list[float]:
    """Overheads (ms) of `clicks` steps of one kind against the static supplier form."""
    with FakeMessagesAPI() as api, tempfile.TemporaryDirectory() as tmp:
        first = [click_field] if kind == "type" else []  # type into a focused field
        api.queue(*first, *[STEPS[kind]] * clicks, Reply([report("success", "done")]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CUA_", "ANTHROPIC_"))}
        # The tripwire's scan runs while Claude thinks; this fake Claude answers at once, so with
        # it on, each step also waits for its scan (what --tripwire on shows).
        env.update(ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=api.url, CUA_DATA_DIR=tmp,
                   CUA_TRIPWIRE=tripwire)
        run_dir = Path(tmp) / "run"
        subprocess.run(
            [sys.executable, "-m", "claude_cua.cli", "run", "--quiet", "--json",
             "--virtual-display", "1920x1080", "--app",
             f"{sys.executable} -m claude_cua.cli.demo.supplier_form --out {tmp}/form.json",
             "--model", "claude-sonnet-5-5", "--max-steps", str(clicks + 2),
             "--run-dir", str(run_dir), "benchmark"],
            env=env, check=True, capture_output=True, timeout=600)
        steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    name = "type" if kind == "type" else "left_click"
    acted = [s for s in steps if s.get("actions") and s["actions"][0]["name"] == name]
    for key in ("action_s", "settle_s"):
        values = [(s["actions"][0][key] if key == "action_s" else s[key]) * 1000 for s in acted]
        print(f"  {kind}: median {key} {statistics.median(values):.1f} ms")
    captures = statistics.median(s["settle_captures"] for s in acted)
    print(f"  {kind}: median captures while settling {captures}")
    return [s["overhead_s"] * 1000 for s in acted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--tripwire", choices=("on", "off"), default="off",
                        help="the injection tripwire's OCR (default off: cua's own overhead; "
                             "with an instant fake model, on adds each step's scan)")
    args = parser.parse_args()
    with VirtualDisplay(size=(1920, 1080)) as display:
        proc = display.start_app([sys.executable, "-m", "claude_cua.cli.demo.supplier_form",
                                  "--out", "/dev/null"])
        time.sleep(1.0)  # let the form map before measuring the floor on a realistic screen
        floor = measure_floor(display)
        proc.terminate()
        proc.wait()
    print(f"floor on 1920x1080 (median of 30): grab {floor['grab']:.1f} ms + scale "
          f"{floor['scale']:.1f} ms + encode {floor['encode']:.1f} ms = {floor['floor']:.1f} ms")
    for kind in STEPS:
        overheads = run_clicks(args.clicks, kind, args.tripwire)
        med = statistics.median(overheads)
        print(f"{kind} steps: n={len(overheads)} median overhead {med:.1f} ms "
              f"(p90 {sorted(overheads)[int(len(overheads) * 0.9)]:.1f} ms), "
              f"{med / floor['floor']:.2f}x the floor")


if __name__ == "__main__":
    main()
