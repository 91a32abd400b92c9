"""Polling and probe-app helpers shared by the display tests (no fixed sleeps anywhere)."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

PROBE = Path(__file__).parent / "apps" / "probe.py"
POLL_INTERVAL_S = 0.005


def wait_until(predicate: Callable[[], T], timeout: float, *, message: str = "") -> T:
    """Poll `predicate` until it returns something truthy and return that, or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(POLL_INTERVAL_S)  # the poll interval, not a guess at how long something takes


def require_xvfb() -> None:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed; apt-get install xvfb to run display tests")


class ProbeApp:
    """The probe Tk app running on a display, read through the JSONL file it writes."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path) -> None:
        self.proc, self.out = proc, out
        self.ready: dict[str, Any] = {}

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_text(encoding="utf-8").splitlines()
        # The last line may still be half-written; the app flushes whole lines.
        parsed = [json.loads(line) for line in lines if line.endswith("}")]
        return [e for e in parsed if kind is None or e["event"] == kind]

    def mark(self) -> int:
        """How many events exist now: pass to wait_for(after=) to see only later ones."""
        return len(self.events())

    def wait_for(self, kind: str, count: int = 1, *, after: int = 0,
                 where: Callable[[dict[str, Any]], bool] = lambda e: True,
                 timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` events of `kind` (matching `where`) arrived after `after`."""
        def found() -> list[dict[str, Any]] | None:
            matches = [e for e in self.events()[after:] if e["event"] == kind and where(e)]
            return matches if len(matches) >= count else None
        return wait_until(found, timeout, message=f"{count} {kind!r} event(s) from the probe")

    def text(self) -> str:
        texts = self.events("text")
        return texts[-1]["text"] if texts else ""

    def wait_for_text(self, expected: str, timeout: float = 10.0) -> str:
        try:
            wait_until(lambda: self.text() == expected, timeout, message="the probe's text")
        except AssertionError:
            keys = [e for e in self.events() if e["event"].startswith("key")][-6:]
            raise AssertionError(f"the probe's text is {self.text()!r}, not {expected!r}; "
                                 f"last key events: {keys}") from None
        return self.text()

    def canvas_point(self, dx: int, dy: int) -> tuple[int, int]:
        """A root-window point inside the canvas, offset from its top-left corner."""
        left, top, _, _ = self.ready["canvas"]
        return left + dx, top + dy


@contextmanager
def running_probe(display: Any, out: Path, *, geometry: str = "1600x900+0+0",
                  timeout: float = 20.0) -> Iterator[ProbeApp]:
    """Start the probe on a VirtualDisplay, wait for its ready line, stop it (by pid) after."""
    proc = display.start_app([sys.executable, str(PROBE), "--out", str(out),
                              "--geometry", geometry])
    app = ProbeApp(proc, out)
    try:
        app.ready = app.wait_for("ready", timeout=timeout)[0]
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def x_connection(screen: Any) -> Iterator[Any]:
    """A python-xlib connection of the test's own to a VirtualDisplay, to observe or disturb it."""
    import Xlib.display

    # python-xlib reads the cookie file named by $XAUTHORITY, and only while connecting.
    saved = os.environ.get("XAUTHORITY")
    os.environ["XAUTHORITY"] = str(screen.xauthority)
    try:
        with redirect_stdout(io.StringIO()):
            connection = Xlib.display.Display(screen.display)
    finally:
        if saved is None:
            del os.environ["XAUTHORITY"]
        else:
            os.environ["XAUTHORITY"] = saved
    try:
        yield connection
    finally:
        connection.close()


def keyboard_mapping(screen: Any) -> list[list[int]]:
    with x_connection(screen) as x:
        info = x.display.info
        rows = x.get_keyboard_mapping(info.min_keycode, info.max_keycode - info.min_keycode + 1)
        return [list(row) for row in rows]


def pointer_state(screen: Any) -> tuple[int, int, int]:
    """(x, y, modifier/button mask) of the pointer, as the server sees it."""
    with x_connection(screen) as x:
        pointer = x.screen().root.query_pointer()
        return pointer.root_x, pointer.root_y, pointer.mask


def keys_down(screen: Any) -> list[int]:
    """Keycodes the server considers pressed."""
    with x_connection(screen) as x:
        bitmap = x.query_keymap()
    return [byte * 8 + bit for byte, bits in enumerate(bitmap) for bit in range(8)
            if bits & (1 << bit)]


def warp_pointer(screen: Any, x: int, y: int) -> None:
    """Move the pointer the way a person would: not through the desktop under test."""
    from Xlib import X
    from Xlib.ext import xtest

    with x_connection(screen) as connection:
        xtest.fake_input(connection, X.MotionNotify, x=x, y=y)
        connection.sync()


@contextmanager
def randr_monitor(screen: Any, *, left: int, top: int, width: int, height: int
                  ) -> Iterator[None]:
    """Make Xvfb's only monitor (its RandR CRTC) a width x height rectangle at (left, top).

    Xvfb cannot have two monitors, but its CRTC can show a part of a larger screen, which gives
    mss a monitor with an offset. The connection stays open while the mode is in use.
    """
    from Xlib.ext import randr

    with x_connection(screen) as x:
        root = x.screen().root
        resources = root.xrandr_get_screen_resources()
        output, crtc = resources.outputs[0], resources.crtcs[0]
        name = f"{width}x{height}_cua"
        mode_info = {
            "id": 0, "width": width, "height": height, "dot_clock": 60 * width * height,
            "h_sync_start": width, "h_sync_end": width, "h_total": width, "h_skew": 0,
            "v_sync_start": height, "v_sync_end": height, "v_total": height,
            "name_length": len(name), "flags": 0,
        }
        mode = root.xrandr_create_mode(mode_info, name).mode
        x.xrandr_add_output_mode(output, mode)
        x.xrandr_set_crtc_config(crtc, resources.config_timestamp, left, top, mode,
                                 randr.Rotate_0, [output])
        x.sync()
        yield


class InProcessCli:
    """`cua` called in-process through `run_cli`: returns (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], data: Path) -> None:
        self.capsys, self.data = capsys, data

    @classmethod
    def against(cls, api: Any, capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch, home: Path, *, key: str) -> InProcessCli:
        """A cua whose runs go to `home`/data and whose requests go to the fake API `api`
        with API key `key`, with no retries (a fault shows at once)."""
        data = home / "data"
        for name, value in (("CUA_DATA_DIR", str(data)), ("ANTHROPIC_API_KEY", key),
                            ("ANTHROPIC_BASE_URL", api.url), ("CUA_MAX_RETRIES", "0")):
            monkeypatch.setenv(name, value)
        return cls(capsys, data)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        from claude_cua.cli.main import run_cli

        self.capsys.readouterr()
        code = run_cli(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> tuple[int, dict[str, Any], str]:
        """Run, and parse the one JSON object stdout must hold."""
        code, out, err = self(*argv)
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, f"stdout: {out!r}\nstderr: {err}"
        return code, json.loads(lines[0]), err


# Text of ASCII words with Latin-1, Greek, CJK and emoji among them, newlines and tabs included:
# what typing tests and benchmarks/typing_stress.py type.
MIXED_POOLS = [
    [*"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?<>'\"()-_"],
    [chr(c) for c in range(0xC0, 0x100)],
    [chr(c) for c in range(0x391, 0x3C9) if c != 0x3A2],
    [chr(0x4E00 + i) for i in range(800)],
    [chr(c) for c in range(0x1F600, 0x1F640)],
    ["\n", "\t"],
]
MIXED_WEIGHTS = [50, 12, 8, 20, 8, 2]


def mixed_text(length: int, rng: random.Random) -> str:
    """`length` characters drawn from MIXED_POOLS by MIXED_WEIGHTS."""
    return "".join(rng.choice(rng.choices(MIXED_POOLS, MIXED_WEIGHTS)[0]) for _ in range(length))
