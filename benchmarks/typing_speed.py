"""Typing speed of XDesktop.type_text, and what a long Unicode text costs the window manager.

On a private Xvfb with openbox, into an xterm whose shell reads the input raw and discards it, or
into a Tk text box.
Prints characters per second for ASCII, Latin-1, CJK and emoji texts, the keyboard-mapping
changes each one caused (MappingNotify events seen by a separate X client), and openbox's CPU
time from /proc/PID/stat (utime + stime) before and after a 10k-character Unicode text,
counting until openbox is idle again.

Run:  python benchmarks/typing_speed.py [--chars 10000] [--seed 1] [--app xterm|tk]
      [--only ascii ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where its name would shadow the
# standard library's `typing` for every module imported below.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import io
import os
import random
import shutil
import time
from contextlib import redirect_stdout

from claude_cua.core.x11.xdesktop import XDesktop, display_env_restored
from claude_cua.core.x11.xserver import VirtualDisplay

_TICKS = os.sysconf("SC_CLK_TCK")
# A Tk text box that empties itself now and then, so a long text costs it no more per key.
TK_BOX = ("import tkinter as tk; r = tk.Tk(); r.geometry('600x300+10+10'); t = tk.Text(r); "
          "t.pack(); t.focus_force(); "
          "f = lambda: (t.delete('1.0', 'end'), r.after(500, f)); f(); r.mainloop()")
APPS = {
    "xterm": ["xterm", "-u8", "-geometry", "80x24+10+10", "-e", "sh", "-c",
              "stty raw -echo; cat > /dev/null"],
    "tk": [sys.executable, "-c", TK_BOX],
}


def texts(chars: int, seed: int) -> dict[str, str]:
    """Texts of `chars` characters drawn from each script (seeded, so runs compare)."""
    rng = random.Random(seed)
    ascii_pool = [chr(c) for c in range(0x20, 0x7F)]
    latin1_pool = [chr(c) for c in range(0xA1, 0x100) if c != 0xAD]  # not the soft hyphen
    cjk_pool = [chr(0x4E00 + i) for i in range(3000)]  # the commonest block, a wide pool
    emoji_pool = [chr(c) for c in range(0x1F600, 0x1F650)]

    def draw(pool: list[str]) -> str:
        return "".join(rng.choice(pool) for _ in range(chars))

    return {"ascii": draw(ascii_pool), "latin-1": draw(latin1_pool), "cjk": draw(cjk_pool),
            "emoji": draw(emoji_pool)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def until_idle(pid: int, *, quiet_s: float = 1.0, limit_s: float = 300.0) -> tuple[float, float]:
    """Wait until the process used no CPU for `quiet_s`; (its CPU seconds, seconds it was busy)."""
    start = time.monotonic()
    last, last_change = cpu_seconds(pid), start
    while time.monotonic() - last_change < quiet_s and time.monotonic() - start < limit_s:
        time.sleep(0.05)  # a polling interval: idleness is the condition waited for
        now = cpu_seconds(pid)
        if now != last:
            last, last_change = now, time.monotonic()
    return last, last_change - start


class MappingWatcher:
    """A separate X client counting keyboard-mapping changes: the MappingNotify events
    the server sends every client."""

    def __init__(self, display: VirtualDisplay) -> None:
        import Xlib.display

        os.environ["XAUTHORITY"] = str(display.xauthority)
        with redirect_stdout(io.StringIO()):
            self._x = Xlib.display.Display(display.display)
        self.count = 0

    def settled_count(self) -> int:
        """MappingNotify events so far: after a round trip, every earlier event has arrived."""
        from Xlib import X

        self._x.sync()
        while self._x.pending_events():
            event = self._x.next_event()
            if event.type == X.MappingNotify and event.request == X.MappingKeyboard:
                self.count += 1
        return self.count

    def close(self) -> None:
        self._x.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--app", choices=["xterm", "tk"], default="xterm",
                        help="type into an xterm (does not answer pings, so cua waits set "
                        "times around mapping changes) or a Tk text box (answers them)")
    parser.add_argument("--only", choices=["ascii", "latin-1", "cjk", "emoji"], action="append",
                        help="measure only these scripts (repeatable)")
    args = parser.parse_args()
    if shutil.which("openbox") is None or shutil.which("xterm") is None:
        sys.exit("needs openbox and xterm (apt-get install openbox xterm)")
    samples = texts(args.chars, args.seed)
    with VirtualDisplay(size=(1280, 800)) as screen, display_env_restored():
        wm_pid = screen.window_manager_pid
        assert wm_pid is not None, "openbox did not start"
        screen.start_app(APPS[args.app], env={"LC_ALL": "C.UTF-8"})
        desktop = XDesktop(display=screen.display, xauthority=screen.xauthority)
        watcher = MappingWatcher(screen)
        try:
            desktop.click(300, 150)  # focus the app
            print(f"{args.chars} characters each into {args.app}, seed {args.seed}")
            for name, text in samples.items():
                if args.only and name not in args.only:
                    continue
                before_cpu, _ = until_idle(wm_pid)
                before_changes = watcher.settled_count()
                t0 = time.perf_counter()
                desktop.type_text(text)
                took = time.perf_counter() - t0
                after_cpu, busy = until_idle(wm_pid)
                changes = watcher.settled_count() - before_changes
                print(f"{name:8} {len(text) / took:9.0f} chars/s  ({took:6.2f} s)  "
                      f"{changes:6d} mapping changes  openbox: {after_cpu - before_cpu:6.2f} s "
                      f"CPU, busy {busy:5.1f} s after typing ended")
        finally:
            watcher.close()
            desktop.close()


if __name__ == "__main__":
    main()
