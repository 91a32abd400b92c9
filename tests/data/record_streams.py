"""Record what the X server reports around real actions, for tests/test_settle_events.py.

Run:  python tests/data/record_streams.py > tests/data/settle_streams.json

For each action: when its input events went out (and which were key or button presses), when
the action returned, and every change the watcher saw (time and box) in the 400 ms after it;
times in seconds from the action's start. Apps: the supplier form in Tk (a click that moves
the focus, typing, a click on the background that changes nothing) and the web form in
Debian's chromium (a click on Submit: a focus ring a frame later, the answer a round trip
after that), each on a 1920x1080 Xvfb.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from claude_cua.cli.demo import colours
from claude_cua.cli.demo.policies import find_colour
from claude_cua.core.vocab.actions import frame_to_image
from claude_cua.core.x11.xdesktop import XDesktop
from claude_cua.core.x11.xserver import VirtualDisplay

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "apps"))
from browser import RefusingProxy
from webform import WebForm, chromium_argv

AFTER_S = 0.4


def record(desktop: XDesktop, watch: Any, app: str, name: str, act: Any) -> dict[str, Any]:
    time.sleep(0.4)
    watch.take(time.monotonic())
    t0 = time.monotonic()
    act()
    end = time.monotonic()
    time.sleep(AFTER_S)
    changes = watch.changes_between(t0 - 1.0, time.monotonic())
    inputs = [(at, press) for at, press in list(desktop._inputs) if at >= t0]

    def rel(t: float) -> float:
        return round(t - t0, 5)

    return {"app": app, "action": name, "end": rel(end),
            "inputs": [[rel(at), press] for at, press in inputs],
            "changes": [[rel(at), list(box)] for at, box in changes if at >= t0]}


def tk(rounds: int) -> list[dict[str, Any]]:
    out = []
    with VirtualDisplay(size=(1920, 1080)) as display:
        proc = display.start_app([sys.executable, "-m", "claude_cua.cli.demo.supplier_form",
                                  "--out", "/dev/null"])
        time.sleep(1.5)
        desktop = XDesktop(display=display.display, xauthority=display.xauthority,
                           watchdog=False)
        watch, _ = desktop.watch()
        image = frame_to_image(desktop.capture())
        fields = [find_colour(image, colours.COMPANY), find_colour(image, colours.EMAIL)]
        for i in range(rounds):
            out.append(record(desktop, watch, "tk", "left_click",
                              lambda i=i: desktop.click(*fields[i % 2])))
        for i in range(rounds):
            out.append(record(desktop, watch, "tk", "type",
                              lambda i=i: desktop.type_text(f"word{i} ")))
        for _ in range(rounds):
            out.append(record(desktop, watch, "tk", "idle_click",
                              lambda: desktop.click(600, 20)))
        watch.close()
        desktop.close()
        proc.terminate()
    return out


def chromium(rounds: int) -> list[dict[str, Any]]:
    out = []
    with VirtualDisplay(size=(1920, 1080)) as display, tempfile.TemporaryDirectory() as tmp:
        form, proxy = WebForm(0.06), RefusingProxy()
        proc = display.start_app(chromium_argv(form.url, f"{tmp}/profile", proxy.port))
        desktop = XDesktop(display=display.display, xauthority=display.xauthority,
                           watchdog=False)
        for _ in range(rounds):
            while True:
                image = frame_to_image(desktop.capture())
                at = find_colour(image, colours.SUBMIT)
                if at is not None and find_colour(image, colours.DIALOG_OK) is None:
                    break
                time.sleep(0.2)
            desktop.move(700, 500)
            watch, _ = desktop.watch()  # a fresh watcher per page, as a fresh run has
            out.append(record(desktop, watch, "chromium", "left_click",
                              lambda at=at: desktop.click(*at)))
            watch.close()
            desktop.key("F5")
            time.sleep(1.0)
        desktop.close()
        proc.terminate()
        proc.wait()
        form.close()
        proxy.close()
    return out


if __name__ == "__main__":
    streams = tk(5) + chromium(5)
    sys.stdout.write(json.dumps(streams).replace("}, {", "},\n {") + "\n")
