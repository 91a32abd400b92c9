"""A helper process that releases the keys and buttons cua pressed if cua dies without doing so.

XTest presses outlive the client that made them: after a SIGKILL (or an interpreter crash) the
keys and buttons cua held would stay pressed on the display, which on $DISPLAY is the user's
keyboard, and keycodes it borrowed would keep their foreign keysyms. cua cannot run code after
SIGKILL, so XDesktop starts this watchdog next to itself (its client, `Watchdog`, lives in
xdesktop.py, on the path of every press) and tells it, through a pipe, every
keycode and button it is about to press and every keycode it maps or restores. The watchdog
holds its own X connection. When the pipe reaches end-of-file without a goodbye, whatever way
cua died, the watchdog releases every announced key and button the server still reports down,
empties the keycodes cua mapped and left mapped, and exits. After a goodbye it just exits.

Run as `python -m claude_cua.core.x11.watchdog DISPLAY` with the pipe on stdin (XDesktop does this);
it ignores SIGINT, SIGTERM and SIGHUP so that a terminal's Ctrl-C or a service manager's
SIGTERM to the whole group cannot end it before cua has gone.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

GOODBYE = b"bye\n"


@dataclass(slots=True)
class Pressed:
    """What cua said it may have left pressed or mapped, parsed from its announcements."""

    keycodes: set[int] = field(default_factory=set)
    buttons: set[int] = field(default_factory=set)
    mapped: dict[int, tuple[int, int]] = field(default_factory=dict)
    said_goodbye: bool = False

    def read(self, line: bytes) -> None:
        """Apply one announcement line; unknown or torn lines are ignored."""
        words = line.split()
        try:
            match words:
                case [b"k", code]:
                    self.keycodes.add(int(code))
                case [b"b", number]:
                    self.buttons.add(int(number))
                case [b"m", code, low, high]:
                    self.mapped[int(code)] = (int(low), int(high))
                case [b"u", code]:
                    self.mapped.pop(int(code), None)
                case [b"bye"]:
                    self.said_goodbye = True
        except ValueError:
            return


def release(x: Any, pressed: Pressed) -> None:
    """Over connection `x`: release the announced keys and buttons the server reports down, and
    empty the announced keycodes that still carry what cua put there."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    from Xlib import X
    from Xlib.ext import xtest

    keymap = x.query_keymap()
    for code in sorted(pressed.keycodes):
        if 0 <= code < 256 and keymap[code // 8] & (1 << (code % 8)):
            xtest.fake_input(x, X.KeyRelease, code)
    mask = x.screen().root.query_pointer().mask
    for number in sorted(pressed.buttons):
        # Buttons 1-5 show in the pointer mask; 6 and 7 (horizontal wheel) do not, and a
        # release of a button that is up is dropped by the server.
        if number > 5 or mask & (1 << (7 + number)):
            xtest.fake_input(x, X.ButtonRelease, number)
    if pressed.mapped:
        info = x.display.info
        rows = x.get_keyboard_mapping(info.min_keycode, info.max_keycode - info.min_keycode + 1)
        width = len(rows[0]) if rows else 2
        for code, keysyms in sorted(pressed.mapped.items()):
            row = tuple(rows[code - info.min_keycode])
            if row[:2] == keysyms:
                x.change_keyboard_mapping(code, [(0,) * width])
    x.sync()


def _connect(display: str) -> Any:
    # Imported here: slow to import; only this path pays for it (start-up time).
    import Xlib.display

    with contextlib.redirect_stdout(io.StringIO()):  # python-xlib's xauth warnings
        return Xlib.display.Display(display)


def _watch(display: str, fd: int) -> None:
    """Read announcements until end-of-file, keeping the X connection drained; then release."""
    pressed, pending = Pressed(), b""
    x = None
    with contextlib.suppress(Exception):
        x = _connect(display)
    while True:
        sources = [fd] + ([x.fileno()] if x is not None else [])
        ready = select.select(sources, [], [])[0]
        if x is not None and x.fileno() in ready:
            try:
                while x.pending_events():  # MappingNotify and the like: read, ignore
                    x.next_event()
            except Exception:
                x = None
        if fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                pressed.read(line)
    if pressed.said_goodbye:
        return
    with contextlib.suppress(Exception):
        release(x if x is not None else _connect(display), pressed)


def main(argv: list[str]) -> int:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    if len(argv) != 1:
        return 2
    _watch(argv[0], sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
