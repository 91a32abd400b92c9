"""Time from a signal to cua's exit, wherever the signal lands: `cua run --json` as a subprocess
on a private Xvfb with openbox, against the fake Messages API, the signal sent once a condition
shows where the run is:

  typing-ascii    a Tk box has received 300 characters of a 200k-character ASCII text
  typing-unicode  the same for a CJK/emoji text (keycodes borrowed and remapped as it types)
  model           the model call is waiting (a button is held down)
  settle          cua waits for a screen that never settles (an xterm scrolling forever)

For each place and signal (SIGINT, SIGTERM, SIGHUP) it prints the median and the slowest
time-to-exit over --repeat runs and checks what a user would: the exit code, one JSON summary
with status interrupted, nothing pressed afterwards. Also prints the machine's load.

Run:  python benchmarks/signal_exit.py [--repeat 5] [--only typing-ascii ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call
from claude_cua.core.x11.xserver import VirtualDisplay

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
# A Tk text box at a known place that writes how many characters it holds, every 50 ms.
TK_BOX = ("import sys, tkinter as tk; r = tk.Tk(); r.geometry('800x400+100+100'); "
          "t = tk.Text(r); t.pack(fill='both', expand=1); out = sys.argv[1]\n"
          "def tick():\n"
          "    open(out + '.tmp', 'w').write(str(len(t.get('1.0', 'end')) - 1)); "
          "__import__('os').replace(out + '.tmp', out); r.after(50, tick)\n"
          "tick(); r.mainloop()")


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


def held(screen: VirtualDisplay) -> bool:
    import Xlib.display

    os.environ["XAUTHORITY"] = str(screen.xauthority)
    x = Xlib.display.Display(screen.display)
    try:
        keys = any(x.query_keymap())
        buttons = x.screen().root.query_pointer().mask & 0x1F00
        return bool(keys or buttons)
    finally:
        x.close()


class Hang:
    def __init__(self) -> None:
        self.done = threading.Event()

    def __call__(self, request):
        self.done.wait(60)
        return Reply([{"type": "text", "text": "released"}])


def text(kind: str) -> str:
    rng = random.Random(3)
    if kind == "ascii":
        return "".join(rng.choice("abcdefghij klmnopqrstuvwxyz ABCDEF.,") for _ in range(200_000))
    return "".join(rng.choice([*"abc ", *(chr(0x4E00 + i) for i in range(500)), "é", "🙂"])
                   for _ in range(200_000))


def one(place: str, signum: int, screen: VirtualDisplay, api: FakeMessagesAPI,
        home: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CUA_"))}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"), ANTHROPIC_API_KEY="bench-key",
               ANTHROPIC_BASE_URL=api.url, CUA_MAX_RETRIES="0", DISPLAY=screen.display,
               XAUTHORITY=str(screen.xauthority), CUA_SETTLE_CEILING_S="60")
    hang, extra, ready = Hang(), None, None
    count = home / "count.txt"
    count.unlink(missing_ok=True)
    if place.startswith("typing"):
        extra = screen.start_app([sys.executable, "-c", TK_BOX, str(count)])
        wait_until(count.exists, 30, "the Tk box")
        typed = text(place.split("-")[1])
        api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[500, 300])]),
                  lambda req: Reply([computer_call(req, "type", text=typed)]), hang)

        def ready() -> bool:
            try:
                return int(count.read_text() or 0) >= 300
            except (OSError, ValueError):
                return False
    elif place == "model":
        api.queue(lambda req: Reply([computer_call(req, "left_mouse_down",
                                                   coordinate=[300, 300])]), hang)
        before = len(api.requests)

        def ready() -> bool:
            return len(api.requests) >= before + 2
    else:  # settle
        extra = screen.start_app(["xterm", "-geometry", "80x24+600+400", "-e", "sh", "-c",
                                  "while :; do date +%s%N; done"])
        api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[200, 200])]),
                  hang)
        before = len(api.requests)

        def ready() -> bool:
            return len(api.requests) >= before + 1 and not held(screen)
    proc = subprocess.Popen([sys.executable, "-m", "claude_cua.cli", "run", "--json", "bench"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        wait_until(ready, 60, f"the run to reach {place}")
        if place == "settle":
            time.sleep(0.3)  # positioning only: past the click, into the settle wait (60 s)
        proc.send_signal(signum)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        hang.done.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if extra is not None:
            extra.terminate()
            extra.wait(timeout=10)
    summary = json.loads(out.strip().splitlines()[-1])
    problems = []
    if proc.returncode != CODES[signum]:
        problems.append(f"exit {proc.returncode}")
    if summary.get("status") != "interrupted":
        problems.append(f"status {summary.get('status')}")
    if held(screen):
        problems.append("input still held")
    if problems:
        raise RuntimeError(f"{place} {signal.Signals(signum).name}: {problems}\n{err}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*",
                        default=["typing-ascii", "typing-unicode", "model", "settle"])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp, VirtualDisplay(size=(1280, 800)) as screen, \
            FakeMessagesAPI() as api:
        for place in args.only:
            for signum in CODES:
                times = [one(place, signum, screen, api, Path(tmp))
                         for _ in range(args.repeat)]
                print(f"{place:15} {signal.Signals(signum).name:8} median "
                      f"{statistics.median(times):.2f} s  slowest {max(times):.2f} s  "
                      f"(n={len(times)})", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
