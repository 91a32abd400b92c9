"""The web form in Debian's chromium whose Submit answers a round trip later: in how many fresh
runs does the screenshot after the click on Submit show the answer, and how long does that
click step wait? Each run is a new `cua run` (nothing learned from an earlier one). Run:
    python benchmarks/webform.py [--runs 10] [--delay 0.06]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "apps"))
from browser import RefusingProxy
from webform import WebForm, chromium_argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.06, help="the server's answer delay")
    args = parser.parse_args()
    shown, waits, overheads = [], [], []
    with VirtualDisplay(size=(1920, 1080)) as display, tempfile.TemporaryDirectory() as tmp:
        form, proxy = WebForm(args.delay), RefusingProxy()
        browser = display.start_app(chromium_argv(form.url, f"{tmp}/profile", proxy.port))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CUA_", "ANTHROPIC_"))}
        env.update(display.env, ANTHROPIC_API_KEY="bench", CUA_DATA_DIR=tmp)
        try:
            for run in range(args.runs):
                policy = Policy()
                with FakeMessagesAPI() as api:
                    api.queue(*[policy] * 30)
                    env["ANTHROPIC_BASE_URL"] = api.url
                    run_dir = Path(tmp) / f"run{run}"
                    subprocess.run(
                        [sys.executable, "-m", "claude_cua.cli", "run", "--quiet", "--json",
                         "--model", "claude-sonnet-5-5", "--max-steps", "25",
                         "--run-dir", str(run_dir), "submit"],
                        env=env, capture_output=True, text=True, timeout=300)
                steps = [json.loads(line)
                         for line in (run_dir / "steps.jsonl").read_text().splitlines()]
                clicks = [s for s in steps if s["actions"]
                          and s["actions"][0]["name"] == "left_click"]
                if not clicks or policy.banner is None:
                    print(f"run {run}: the form never showed")
                    continue
                shown.append(policy.banner)
                print(f"run {run}: banner {policy.banner}, settle "
                      f"{clicks[0]['settle_s'] * 1000:.0f} ms, {clicks[0]['settle_captures']} "
                      f"captures, click {clicks[0]['actions'][0]['action_s'] * 1000:.0f} ms")
                waits.append(clicks[0]["settle_s"] * 1000)
                overheads.append(clicks[0]["overhead_s"] * 1000)
        finally:
            browser.terminate()
            browser.wait()
            form.close()
            proxy.close()
    print(f"banner in the screenshot after Submit: {sum(shown)} of {len(shown)} fresh runs "
          f"(server delay {args.delay * 1000:.0f} ms)")
    if waits:
        print(f"click step on Submit: settle median {statistics.median(waits):.0f} ms "
              f"(min {min(waits):.0f}, max {max(waits):.0f}); overhead median "
              f"{statistics.median(overheads):.0f} ms")


class Policy:
    """Wait until the form is ready (Submit shown, no banner), click Submit, note whether the
    next screenshot shows the banner, reload the page for the next run (F5), end."""

    def __init__(self) -> None:
        self.stage = "ready"
        self.banner: bool | None = None

    def __call__(self, request: dict[str, Any]) -> Reply:
        image = latest_image(request)
        if self.stage == "clicked":
            self.banner = find_colour(image, colours.DIALOG_OK) is not None
            self.stage = "reloaded"
            return Reply([computer_call(request, "key", text="F5")])
        if self.stage == "reloaded":
            if find_colour(image, colours.DIALOG_OK) is not None:
                return Reply([computer_call(request, "wait", duration=0.3)])
            return Reply([report("success", "submitted")])
        at = find_colour(image, colours.SUBMIT)
        if at is None or find_colour(image, colours.DIALOG_OK) is not None:
            return Reply([computer_call(request, "wait", duration=0.5)])
        self.stage = "clicked"
        point = to_model_space(at, image=image, request=request)
        return Reply([computer_call(request, "left_click", coordinate=point)])


if __name__ == "__main__":
    main()
