"""Typing under load: long mixed texts typed into a Tk text box while busy processes load every
core, the text read back from the app after each one.

On a private Xvfb with openbox, into the tests' probe app (tests/apps/probe.py, which writes the
Text widget's whole content to a JSONL file after each change). Each round types one text of
ASCII words with Latin-1, Greek, CJK, emoji, newlines and tabs among them, waits until the app
shows it (or 120 s), and counts wrong characters position by position. Prints, per round and in
total: characters typed, wrong characters, seconds, and the load average.

Run:  python benchmarks/typing_stress.py [--rounds 10] [--chars 2000] [--busy N] [--seed 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where its name would shadow the
# standard library's `typing` for every module imported below.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import json
import os
import random
import subprocess
import tempfile
import time

from claude_cua.core.x11.xdesktop import XDesktop, display_env_restored
from claude_cua.core.x11.xserver import VirtualDisplay

TESTS = Path(__file__).resolve().parent.parent / "tests"
PROBE = TESTS / "apps" / "probe.py"
sys.path.insert(0, str(TESTS))
from helpers import mixed_text  # noqa: E402  (the tests' text, after TESTS is on sys.path)

BUSY = "import itertools\nfor _ in itertools.count(): pass"


def probe_text(out: Path) -> str | None:
    if not out.exists():
        return None
    texts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()
             if line.endswith("}") and '"event": "text"' in line]
    return texts[-1]["text"] if texts else ""


def wait_for(out: Path, expected: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    got = probe_text(out) or ""
    while got != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        got = probe_text(out) or ""
    return got


def wrong(expected: str, got: str) -> int:
    return sum(a != b for a, b in zip(expected, got, strict=False)) + abs(len(expected) - len(got))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--busy", type=int, default=max(2, os.cpu_count() or 2),
                        help="busy processes (default: one per core, at least 2)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    total_chars = total_wrong = 0
    with tempfile.TemporaryDirectory() as folder, VirtualDisplay(size=(1920, 1080)) as screen:
        out = Path(folder) / "probe.jsonl"
        app = screen.start_app([sys.executable, str(PROBE), "--out", str(out),
                                "--geometry", "1600x900+0+0"])
        deadline = time.monotonic() + 30
        while '"event": "ready"' not in (out.read_text() if out.exists() else ""):
            if time.monotonic() > deadline:
                raise SystemExit("the probe app did not start")
            time.sleep(0.1)
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.busy)]
        try:
            with display_env_restored():
                desktop = XDesktop(display=screen.display, xauthority=screen.xauthority)
                try:
                    typed = ""
                    for number in range(1, args.rounds + 1):
                        text = mixed_text(args.chars, rng)
                        typed += text
                        started = time.monotonic()
                        desktop.type_text(text)
                        got = wait_for(out, typed, 120)
                        took = time.monotonic() - started
                        bad = wrong(typed, got) if got != typed else 0
                        total_chars += len(text)
                        total_wrong += bad
                        sys.stdout.write(
                            f"round {number:>2}: {len(text)} chars, {bad} wrong, {took:.1f} s, "
                            f"load {os.getloadavg()[0]:.1f}\n")
                        sys.stdout.flush()
                finally:
                    desktop.close()
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
            app.terminate()
            app.wait(timeout=10)
    sys.stdout.write(f"total: {total_chars} characters typed over {args.rounds} rounds, "
                     f"{total_wrong} wrong, {args.busy} busy processes\n")


if __name__ == "__main__":
    main()
