"""XDesktop: the Desktop protocol on a real X server (mss capture, XTest mouse and keys).

Everything goes through XTest on the desktop's own python-xlib connection (pyautogui, used once,
typed '>' for '<', dropped non-ASCII characters, and drove one module-global display per
process). Keys and buttons are sent directly, and
characters missing from the keyboard layout are mapped onto spare keycodes (keys.plan_typing),
in one mapping change per batch, restored once the text is typed.

A signal (Ctrl-C, SIGTERM, SIGHUP) can land inside a python-xlib request
and leave that connection's bookkeeping half-updated; used again, it would spin forever waiting
for a reply it has already read. So every connection is guarded (_guard): a signal that lands
inside its I/O marks it at once, the cleanups on the way out (Shift up after typing, a chord's
keys, a drag's button) leave a marked connection alone, and the next operation, release_all
included, drops both connections unflushed and opens fresh ones before it does anything else.
A marked connection used by mistake raises the interruption again instead of hanging. Key and
button releases count as done only once a sync has sent them. A watchdog process
(core/x11/watchdog.py) releases input if cua dies without being able to (SIGKILL, a crash);
its client, `Watchdog` at the end of this module, announces each press to it.

Action limits (repeat, scroll amount, hold time, scroll direction) are checked once, in
actions.parse_action; the desktop carries out what it is given.

Nothing here is process-wide: each XDesktop has its own connections to its own display (the
Xauthority file is given, not read from $DISPLAY/XAUTHORITY of the process), so several runs
can each drive a display of their own in one process. mss and Xlib are imported inside
XDesktop.__init__ (start-up time).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ActionError, CuaError, DesktopError, FailSafeTriggered
from ..vocab.desktop import Button, Frame, ScrollDirection, Window
from ..vocab.keys import (
    NO_SYMBOL,
    SHIFT_L,
    Keymap,
    KeyStroke,
    keysyms_for_text,
    mapping_spans,
    parse_chord,
    parse_chords,
    plan_typing,
)
from .watchdog import GOODBYE
from .xserver import stdout_to_log, x_authority

log = logging.getLogger(__name__)

_BUTTONS: dict[str, int] = {"left": 1, "middle": 2, "right": 3}
_BUTTON_MASKS = {1: 1 << 8, 2: 1 << 9, 3: 1 << 10}
_ALL_BUTTON_MASKS = 0x1F << 8  # buttons 1-5
_CAPS_LOCK = 0xFFE5
_LOCK_MASK = 1 << 1
_MAX_TREE_DEPTH = 8  # window nesting to walk from the focus to its client, up or down
_MAX_SEARCHED = 64  # windows whose children are searched, per level, below a frame
_MAX_PROPERTY_LONGS = 1024  # read at most 4 KiB of a class or title property
_FIRST_PING_TIMEOUT_S = 1.0  # for an app that does not say it answers pings
# For an app that has answered pings: the longest to wait for it to read the keys typed with a
# keycode before that keycode may change (a loaded app can be seconds behind).
_PROOF_TIMEOUT_S = 30.0
# For an app that takes no pings: the longest to wait for its process to go idle (an app with a
# thread that never sleeps, playing a video say, gets timed waits after that).
_IDLE_TIMEOUT_S = 30.0
_PRESSES = frozenset({2, 4})  # X.KeyPress, X.ButtonPress
_LOCAL_CLIENT_PID_MASK = 1 << 1  # X-Resource: identify a client by its local process id
_OLD_CLIENT_TIMEOUT_S = 2.0  # for the server to finish an interrupted connection's requests
_FLUSH_EVERY = 256  # key events queued before sending: python-xlib's send buffer grows O(n^2)
_FAILSAFE_MESSAGE = (
    "the mouse was pushed into a screen corner, so the fail-safe stopped the run; "
    "move it away from the corner before starting again"
)


@dataclass(frozen=True, slots=True)
class Monitor:
    """One monitor's rectangle in X root-window pixels."""

    left: int
    top: int
    width: int
    height: int


def select_monitor(monitors: Sequence[Mapping[str, Any]], index: int) -> Monitor:
    """Pick mss's monitor `index` (1 is the primary, 0 all monitors as one rectangle)."""
    if not 0 <= index < len(monitors):
        available = ", ".join(
            f"{number}: {m['width']}x{m['height']}+{m['left']}+{m['top']}"
            for number, m in enumerate(monitors)
        )
        raise DesktopError(
            f"monitor {index} does not exist; available monitors are {available} "
            "(0 is all monitors together)"
        )
    chosen = monitors[index]
    return Monitor(chosen["left"], chosen["top"], chosen["width"], chosen["height"])


@contextlib.contextmanager
def display_env_restored() -> Iterator[None]:
    """A block after which DISPLAY and XAUTHORITY of this process are as they were before it
    (XDesktop no longer sets them; for code and tests that do)."""
    saved = {name: os.environ.get(name) for name in ("DISPLAY", "XAUTHORITY")}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class XDesktop:
    """Drives one X display in screen pixels relative to the chosen monitor's top-left corner."""

    def __init__(self, *, display: str, xauthority: Path, monitor: int = 1,
                 remap_settle_s: float = 0.05, pointer_timeout_s: float = 5.0,
                 watchdog: bool = True, interrupt: Callable[[], None] | None = None) -> None:
        """Connect to `display` with the Xauthority file `xauthority`.

        Args:
            remap_settle_s: how long to give clients to catch up with a keyboard mapping
                change (before typing with it, and before changing a keycode typed recently).
                X offers no way to know when another client has, so this is a bounded wait,
                paid only when characters missing from the layout need a mapping change.
            pointer_timeout_s: the longest to wait for the server to apply a pointer event.
            watchdog: start the helper that releases keys and buttons if this process dies.
            interrupt: called between batches of typed keys; raises to stop typing (the run's
                Cancel.check).
        """
        self._display = display
        self._xauthority = xauthority
        self._interrupt = interrupt
        self._closed = True
        self._settle_s = remap_settle_s
        self._pointer_timeout_s = pointer_timeout_s
        # Keys and buttons that may be down: added before the press is queued, removed once
        # the release is; a queued release stays in _unsent until a sync has sent it (an
        # interrupted connection is dropped with whatever it still held, and python-xlib's
        # flush may send only part of its queue), so an interruption anywhere leaves them
        # listed for release_all.
        self._keys_down: list[int] = []
        self._buttons_down: set[int] = set()
        self._wheel_down: set[int] = set()
        self._unsent_keys: set[int] = set()
        self._unsent_buttons: set[int] = set()
        # Spare (empty) keycode → the keysyms we put there; and when we last typed it.
        self._borrowed: dict[int, tuple[int, int]] = {}
        self._used_at: dict[int, float] = {}
        self._unsynced: set[int] = set()
        self._rows: dict[int, tuple[int, ...]] = {}  # the mapping as last read, with our changes
        self._modifier_keycodes: frozenset[int] = frozenset()
        self._x_errors: list[Exception] = []
        self._interrupted = False  # a signal passed through an operation: reconnect first
        self._ping_target: Any | None = None  # the app typed into, if it answers pings
        self._ping_serial = 0
        self._ping_answered = False
        self._silent_windows: set[int] = set()
        self._answering_windows: set[int] = set()  # windows that answered a ping
        self._app_pid: int | None = None  # the app typed into, if its process is here to see
        # Borrowed keycodes typed since the focused app last proved (by a ping's answer) that
        # it had read every event before it: none of them may change until it proves it again.
        self._unproven: set[int] = set()
        self._wm_probe: Any | None = None  # a 1x1 unmapped window to ask the WM about
        self._wm_answered = self._wm_silent = False
        self._ping_timeout_s = 10.0
        # When each input event was sent, and whether it pressed a key or button (the settling
        # rule in core/x11/watcher.py measures how soon the app answered).
        self._inputs: collections.deque[tuple[float, bool]] = collections.deque(maxlen=256)
        try:
            with stdout_to_log():
                self._connect(display, monitor)
        except CuaError:
            raise
        except Exception as exc:
            raise DesktopError(f"cannot use X display {display!r}: {exc}") from exc
        env = {**os.environ, "DISPLAY": display, "XAUTHORITY": str(xauthority)}
        self._watchdog = Watchdog(display=display, env=env) if watchdog else None
        self._closed = False

    def _connect(self, display: str, monitor: int) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        import mss
        import Xlib.display
        import Xlib.error
        from Xlib.ext import xtest

        fake_input = xtest.fake_input

        def stamped(connection: Any, event_type: int, *args: Any, **kwargs: Any) -> None:
            self._inputs.append((time.monotonic(), event_type in _PRESSES))
            fake_input(connection, event_type, *args, **kwargs)

        self._fake_input = stamped
        self._transport_errors: tuple[type[Exception], ...] = (
            Xlib.error.ConnectionClosedError, Xlib.error.DisplayError, Xlib.error.XError,
            mss.exception.ScreenShotError, OSError,
        )
        self._x = self._open_connection()
        try:
            if not self._x.has_extension("XTEST"):
                raise DesktopError(f"the X server on {display} lacks the XTEST extension")
            screen = self._x.screen()
            width, height = screen.width_in_pixels, screen.height_in_pixels
            self._root_size = (width, height)
            # The fail-safe: the pointer pushed into a corner of the screen stops the run.
            self._corners = frozenset({(0, 0), (0, height - 1), (width - 1, 0),
                                       (width - 1, height - 1)})
            with x_authority(self._xauthority):
                self._mss = mss.MSS(display=display)
            try:
                self._monitor = select_monitor(self._mss.monitors, monitor)
            except BaseException:
                self._mss.close()
                raise
        except BaseException:
            self._x.close()
            raise

    def _open_connection(self) -> Any:
        # Imported here: slow to import; only this path pays for it (start-up time).
        import Xlib.display

        with x_authority(self._xauthority):
            connection = _guard(Xlib.display.Display(self._display))
        connection.set_error_handler(self._x_errors.append)
        self._root = connection.screen().root
        return connection

    def _reconnect(self) -> None:
        """Replace both X connections after an interruption, without touching the old ones'
        python-xlib state (a flush or close on it could wait forever).

        The old connections may have sent requests the server has not handled yet (a key
        press, say); handled after our releases on the new ones, they would leave that key
        down. So the fresh connections are opened first (their resource ids then differ from
        the old ones'), the old sockets closed, and the server asked until each old client's
        marker pixmap is gone: it frees a client's resources only after reading to the end
        of its requests.
        """
        log.debug("an interrupted X connection is replaced, not reused")
        old_x = self._x
        markers = [_marker(old_x)]
        self._x_errors.clear()
        self._wm_probe = None  # it belonged to the old connection
        with stdout_to_log():
            self._x = self._open_connection()
        _drop_connection(old_x)
        self._interrupted = False
        self._await_gone([m for m in markers if m is not None])

    def _await_gone(self, markers: Sequence[int]) -> None:
        """Wait (bounded) until the server has freed each of these pixmaps (see _reconnect)."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        import Xlib.error

        deadline = time.monotonic() + _OLD_CLIENT_TIMEOUT_S
        for marker in markers:
            pixmap = self._x.create_resource_object("pixmap", marker)
            while True:
                try:
                    pixmap.get_geometry()
                except (Xlib.error.BadDrawable, Xlib.error.BadPixmap, Xlib.error.BadMatch):
                    break
                if time.monotonic() > deadline:
                    log.warning("an interrupted X connection was not closed by the server "
                                "within %.0f s; releasing input anyway", _OLD_CLIENT_TIMEOUT_S)
                    return
                time.sleep(0.002)

    # -- screen ---------------------------------------------------------------------------------

    def size(self) -> tuple[int, int]:
        """The monitor's size in pixels."""
        return self._monitor.width, self._monitor.height

    def capture(self) -> Frame:
        """Grab the monitor as raw BGRA."""
        m = self._monitor
        with self._device_errors("capture the screen"):
            shot = self._mss.grab({"left": m.left, "top": m.top, "width": m.width,
                                   "height": m.height})
            return Frame(width=shot.width, height=shot.height, bgra=bytes(shot.raw))

    def inputs_since(self, since: float) -> list[tuple[float, bool]]:
        """The input events sent since `since` (time.monotonic): when each went out, and
        whether it pressed a key or button (the newest 256 are kept)."""
        return [(at, is_press) for at, is_press in list(self._inputs) if at >= since]

    def watch(self) -> tuple[Any, str]:
        """A Watcher (core/x11/watcher.py) of this display and monitor on a connection of its own,
        or None and the reason it cannot watch."""
        # Imported here: keeps importing this module light (start-up time).
        from .watcher import open_watcher

        m = self._monitor
        with x_authority(self._xauthority):  # its connection is opened with this run's file
            return open_watcher(self._display, origin=(m.left, m.top), size=(m.width, m.height))

    def cursor_position(self) -> tuple[int, int]:
        """Pointer position relative to the monitor (outside its bounds when on another one)."""
        with self._device_errors("read the pointer position"):
            pointer = self._root.query_pointer()
        return pointer.root_x - self._monitor.left, pointer.root_y - self._monitor.top

    # -- mouse ----------------------------------------------------------------------------------

    def move(self, x: int, y: int) -> None:
        """Move the pointer instantly."""
        target = self._to_screen(x, y)
        with self._device_errors("move the pointer"):
            self._check_failsafe()
            self._move_to(target)

    def click(self, x: int | None, y: int | None, *, button: Button = "left", count: int = 1,
              modifiers: str | None = None) -> None:
        """Click `count` times (2 and 3 are double and triple clicks) at a point or in place."""
        target = self._optional_point(x, y)
        number = _button_number(button)
        with self._device_errors(f"{button}-click"), self._holding(modifiers):
            self._check_failsafe()
            if target is not None:
                self._move_to(target)
            for _ in range(count):
                self._button(number, down=True)
                self._button(number, down=False)

    def drag(self, start: tuple[int, int], end: tuple[int, int], *,
             modifiers: str | None = None) -> None:
        """Press the left button at start, move to end (via the midpoint), release there."""
        begin, finish = self._to_screen(*start), self._to_screen(*end)
        middle = ((begin[0] + finish[0]) // 2, (begin[1] + finish[1]) // 2)
        with self._device_errors("drag"), self._holding(modifiers):
            self._check_failsafe()
            self._move_to(begin)
            self._button(1, down=True)
            try:
                # Some toolkits start a drag only after seeing motion while the button is down.
                self._move_to(middle)
                self._move_to(finish)
                self._button(1, down=False)
            finally:
                if self._usable():  # else release_all releases it, over fresh connections
                    self._release_buttons([1])

    def mouse_down(self, x: int | None, y: int | None, *, button: Button = "left") -> None:
        """Press and keep holding a button."""
        self._set_button(x, y, button, down=True)

    def mouse_up(self, x: int | None, y: int | None, *, button: Button = "left") -> None:
        """Release a button (pressed by mouse_down)."""
        self._set_button(x, y, button, down=False)

    def _set_button(self, x: int | None, y: int | None, button: Button, *, down: bool) -> None:
        target = self._optional_point(x, y)
        number = _button_number(button)
        with self._device_errors(f"{'press' if down else 'release'} the mouse button"):
            self._check_failsafe()
            if target is not None:
                self._move_to(target)
            self._button(number, down=down)

    def scroll(self, x: int | None, y: int | None, *, direction: ScrollDirection, amount: int,
               modifiers: str | None = None) -> None:
        """Scroll `amount` wheel clicks (X buttons 4/5 vertically, 6/7 horizontally)."""
        target = self._optional_point(x, y)
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        with self._device_errors("scroll"), self._holding(modifiers):
            self._check_failsafe()
            if target is not None:
                self._move_to(target)
            wheel = {"up": 4, "down": 5, "left": 6, "right": 7}[direction]
            if self._watchdog is not None:
                self._watchdog.pressing_button(wheel)
            self._wheel_down.add(wheel)  # clicked `amount` times
            for _ in range(amount):
                self._fake_input(self._x, X.ButtonPress, wheel)
                self._fake_input(self._x, X.ButtonRelease, wheel)
            self._unsent_buttons.add(wheel)
            self._sync()
            self._wheel_down.discard(wheel)
            self._settle_pointer()

    def _move_to(self, point: tuple[int, int]) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        self._fake_input(self._x, X.MotionNotify, x=point[0], y=point[1])
        self._x.sync()
        self._settle_pointer(point)

    def _button(self, number: int, *, down: bool) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        if down:
            if self._watchdog is not None:
                self._watchdog.pressing_button(number)
            self._buttons_down.add(number)
            self._fake_input(self._x, X.ButtonPress, number)
            self._x.sync()
        else:
            self._fake_input(self._x, X.ButtonRelease, number)
            self._unsent_buttons.add(number)
            self._sync()
            self._buttons_down.discard(number)
        self._settle_pointer()

    def _settle_pointer(self, point: tuple[int, int] | None = None) -> None:
        """Wait until the server has applied our pointer events (bounded; polls, no fixed sleep).

        A window manager's passive button grab (openbox: click to focus) freezes the pointer
        until it replays the press; events sent meanwhile can be reordered or lost, so the next
        event waits until the button state (and position) we expect is visible.
        """
        expected = sum(_BUTTON_MASKS[n] for n in self._buttons_down)
        deadline = time.monotonic() + self._pointer_timeout_s
        while True:
            pointer = self._root.query_pointer()
            buttons_match = pointer.mask & _ALL_BUTTON_MASKS == expected
            if buttons_match and (point is None or (pointer.root_x, pointer.root_y) == point):
                return
            if time.monotonic() > deadline:
                log.warning("pointer state did not settle: mask %#x, at (%d, %d), wanted %s",
                            pointer.mask, pointer.root_x, pointer.root_y, point)
                return
            time.sleep(0.001)

    def _release_buttons(self, numbers: Sequence[int] = (1, 2, 3)) -> None:
        """Release held buttons (the fail-safe never blocks a release)."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        for number in sorted(self._buttons_down.intersection(numbers) | self._unsent_buttons
                             | self._wheel_down):
            self._fake_input(self._x, X.ButtonRelease, number)
            self._unsent_buttons.add(number)
            self._buttons_down.discard(number)
            self._wheel_down.discard(number)
        self._sync()

    def _optional_point(self, x: int | None, y: int | None) -> tuple[int, int] | None:
        if x is None and y is None:
            return None
        if x is None or y is None:
            raise ActionError("give both x and y, or neither to act at the pointer position")
        return self._to_screen(x, y)

    def _to_screen(self, x: int, y: int) -> tuple[int, int]:
        """Monitor-relative point → root-window point, refusing off-screen and fail-safe points."""
        width, height = self.size()
        if not (0 <= x < width and 0 <= y < height):
            raise ActionError(
                f"({x}, {y}) is outside the screen; x must be 0-{width - 1} and y 0-{height - 1}"
            )
        point = (x + self._monitor.left, y + self._monitor.top)
        if point in self._corners:
            raise ActionError(
                f"({x}, {y}) is a screen corner, where the fail-safe would stop the run; "
                "pick a point at least 1 px inside the screen"
            )
        return point

    # -- keyboard -------------------------------------------------------------------------------

    def key(self, chord: str, *, repeat: int = 1) -> None:
        """Press and release a chord ('ctrl+shift+t') or a space-separated sequence of chords."""
        chords = parse_chords(chord)
        with self._device_errors(f"press {chord!r}"):
            self._check_failsafe()
            for _ in range(repeat):
                for keysyms in chords:
                    self._tap_chord(keysyms, chord)

    def hold_key(self, chord: str, *, seconds: float) -> None:
        """Hold one chord down for `seconds`, then release it."""
        keysyms = parse_chord(chord)
        with self._device_errors(f"hold {chord!r}"):
            self._check_failsafe()
            with self._chord_held(keysyms, chord):
                self._hold_for(seconds)

    def _hold_for(self, seconds: float) -> None:
        """The requested hold itself, not a wait for anything; `interrupt` is asked every
        50 ms, so a run cancelled from another thread (an MCP client's cancel, a batch) lets go
        at once, as a signal makes it."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
            if self._interrupt is not None:
                self._interrupt()

    def type_text(self, text: str) -> None:
        """Type any Unicode text exactly; newlines become Return and tabs Tab."""
        keysyms = keysyms_for_text(text)
        if not keysyms:
            return
        with self._device_errors("type text"):
            self._check_failsafe()
            keymap = self._keymap()
            batches = plan_typing(keysyms, keymap)
            needs_remap = any(batch.remap for batch in batches)
            self._ping_target = self._pingable_focus() if needs_remap else None
            self._app_pid = self._focus_pid() if needs_remap else None
            try:
                with self._caps_lock_off(keymap):
                    for batch in batches:
                        self._borrow(batch.remap)
                        self._type_strokes(batch.strokes, keymap)
                self._unborrow()
            finally:
                self._ping_target = self._app_pid = None

    def _tap_chord(self, keysyms: list[int], chord: str) -> None:
        with self._chord_held(keysyms, chord):
            pass

    @contextlib.contextmanager
    def _chord_held(self, keysyms: list[int], chord: str) -> Iterator[None]:
        """Press a chord's keys in order (adding Shift where a level needs it); release reversed."""
        keymap = self._keymap()
        batches = plan_typing(keysyms, keymap)
        if len(batches) != 1:
            raise ActionError(f"too many keys missing from the keyboard layout in {chord!r}")
        self._borrow(batches[0].remap)
        shift = _shift_keycode(keymap)
        pressed: list[int] = []
        try:
            for stroke in batches[0].strokes:
                if stroke.shift and shift not in pressed:
                    self._press_key(shift)
                    pressed.append(shift)
                self._press_key(stroke.keycode)
                pressed.append(stroke.keycode)
            self._sync()
            yield
        finally:
            if self._usable():  # else release_all releases them, over fresh connections
                for keycode in reversed(pressed):
                    self._release_key(keycode)
                self._sync()

    def _type_strokes(self, strokes: Sequence[KeyStroke], keymap: Keymap) -> None:
        """Tap each stroke, holding Shift across runs of shifted characters; one sync at the end.

        Events go out every _FLUSH_EVERY strokes: python-xlib appends each queued request to
        its send buffer by copying it, so a whole long text queued at once costs O(n^2).
        """
        shift = _shift_keycode(keymap)
        try:
            for count, stroke in enumerate(strokes, 1):
                if stroke.shift != (shift in self._keys_down):
                    (self._press_key if stroke.shift else self._release_key)(shift)
                self._press_key(stroke.keycode)
                self._release_key(stroke.keycode)
                if count % _FLUSH_EVERY == 0:
                    self._x.flush()  # best effort: may leave part queued, so _unsent stays
                    if self._interrupt is not None:
                        self._interrupt()  # a cancelled run stops typing here
        finally:
            if self._usable():  # else release_all releases Shift, over fresh connections
                if shift in self._keys_down:
                    self._release_key(shift)
                self._sync()

    def _borrow(self, remap: Sequence[tuple[int, tuple[int, int]]]) -> None:
        """Put keysyms on spare keycodes, in one mapping change; they stay until _unborrow.

        After the change, clients get a moment to handle the MappingNotify before keys arrive:
        Tk (and XIM-style clients) translate a KeyPress as soon as they read it from the socket,
        with whatever mapping they hold then, so a press read together with the notification
        would type the old symbol (seen in tests: the press typed nothing, the release was right).
        """
        if not remap:
            return
        rows = dict(remap)
        self._await_clients(list(rows))
        if self._watchdog is not None:
            self._watchdog.mapping(rows)
        self._write_rows(rows)
        self._borrowed.update(rows)
        self._sync()
        self._wm_caught_up()
        if not self._caught_up():
            time.sleep(self._settle_s)

    def _unborrow(self) -> None:
        """Empty the borrowed keycodes again, as they were before we mapped anything there."""
        if not self._borrowed:
            return
        codes = sorted(self._borrowed)
        self._await_clients(codes)
        self._write_rows(dict.fromkeys(codes, (NO_SYMBOL, NO_SYMBOL)))
        self._borrowed.clear()
        self._sync()
        if self._watchdog is not None:
            self._watchdog.restored(codes)

    def _write_rows(self, rows: Mapping[int, tuple[int, int]]) -> None:
        """Change the keysyms on `rows` in as few ChangeKeyboardMapping requests as is safe.

        Each request sends every client a MappingNotify, and openbox regrabs all its key
        bindings on each (~40 ms, pointer frozen): one request per keycode froze the desktop
        for over a minute after a long Unicode text. Spare keycodes are scattered, so one
        request spans several of them, giving the layout keys between them their rows back --
        only keys whose row survives that unchanged (keys.rewritable), else the span splits.
        """
        for low, high in mapping_spans(sorted(rows), self._rows, self._modifier_keycodes):
            span = []
            for code in range(low, high + 1):
                row = rows.get(code) or self._rows.get(code, ())[:2]
                span.append((*row, NO_SYMBOL, NO_SYMBOL)[:2])
            self._x.change_keyboard_mapping(low, span)
            for code, row in rows.items():
                if low <= code <= high:
                    self._rows[code] = row

    def _await_clients(self, keycodes: Sequence[int]) -> None:
        """Before a borrowed keycode changes, make sure the app has translated its events.

        The race this closes: the app looks a keycode up when it handles the key's event, and
        Xlib drops its copy of the keyboard mapping as soon as it *reads* a MappingNotify from
        the socket, not when the app gets to it. So a key still waiting in the app's queue when
        its keycode is remapped types the new keysym: under load, a run of characters from
        elsewhere in the text. A round trip to the server (sync) proves nothing here: the
        server has long sent the events; the app has not read them.

        So a keycode typed since the app last proved it had handled everything sent to it
        (`_unproven`) changes only after a fresh proof, however long the app takes; time alone
        decides nothing. Two proofs, the first the app offers:
        - a _NET_WM_PING (GTK, Qt, Chromium...): the app answers only when it handles the ping,
          after every event queued before it, our keys included (`_caught_up`);
        - for an app that does not take pings (Tk, xterm), its process, found through the
          X-Resource extension when it runs on this machine: once the server has sent it our
          keys, a process with every thread asleep has read its socket dry and handled what it
          read, since a readable socket wakes the thread that polls it (`_app_idle`).
        A mapping change of keycodes no pending key uses needs no proof (their old keys are
        read already), so rotating through more spare keycodes would add mapping changes
        without making anything safer. Only an app that offers neither (on another machine)
        gets a bounded wait (`remap_settle_s` after its last key), the best X allows.
        """
        pending = [keycode for keycode in keycodes if keycode in self._unproven]
        if not pending:
            return
        if self._ping_target is not None:
            self._caught_up(required=True)  # raises rather than remap unproven keycodes
            return
        if self._app_pid is not None:
            idle = self._app_idle(self._app_pid)
            if idle:
                self._unproven.clear()
                return
            if idle is None:  # alive and still busy: remapping now could type wrong characters
                raise ActionError(
                    f"stopped typing: the app stayed busy for {_IDLE_TIMEOUT_S:g} s without "
                    "showing it had read the keys typed so far, and changing the keyboard "
                    "mapping before it has would type wrong characters. Part of the text may "
                    "be typed: take a screenshot, and type the rest once the app responds")
        last_use = max((self._used_at.get(keycode, -math.inf) for keycode in pending),
                       default=-math.inf)
        remaining = last_use + self._settle_s - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        self._unproven.difference_update(pending)

    def _wm_caught_up(self) -> None:
        """Wait until the window manager has handled the mapping change just made.

        A window manager regrabs its key bindings on every change (openbox: ~40 ms); typing
        faster than that leaves it seconds behind, with the pointer frozen meanwhile. An EWMH
        window manager answers _NET_REQUEST_FRAME_EXTENTS by setting _NET_FRAME_EXTENTS on
        the window asked about, and reaches the request only after the change's MappingNotify,
        so the property change marks it caught up. Without an answer in a second, not asked
        again.
        """
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X
        from Xlib.protocol import event

        if self._wm_silent:
            return
        extents = self._x.get_atom("_NET_FRAME_EXTENTS")
        if self._wm_probe is None:
            self._wm_probe = self._root.create_window(
                -10, -10, 1, 1, 0, X.CopyFromParent, X.InputOutput, X.CopyFromParent,
                event_mask=X.PropertyChangeMask)
        self._wm_probe.delete_property(extents)
        self._root.send_event(event.ClientMessage(
            window=self._wm_probe, client_type=self._x.get_atom("_NET_REQUEST_FRAME_EXTENTS"),
            data=(32, [0, 0, 0, 0, 0])),
            event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self._x.flush()
        deadline = time.monotonic() + (self._ping_timeout_s if self._wm_answered
                                       else _FIRST_PING_TIMEOUT_S)
        while time.monotonic() < deadline:
            while self._x.pending_events():
                reply = self._x.next_event()
                if (reply.type == X.PropertyNotify and reply.atom == extents
                        and reply.state == X.PropertyNewValue):
                    self._wm_answered = True
                    return
            select.select([self._x.fileno()], [], [], max(deadline - time.monotonic(), 0))
        log.info("the window manager did not answer _NET_REQUEST_FRAME_EXTENTS; typing on "
                 "without waiting for it")
        self._wm_silent = True

    def _focus_pid(self) -> int | None:
        """The process id of the focused app, if it runs on this machine (X-Resource tells the
        server's view of the client's pid; /proc must show it); None otherwise."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        import Xlib.error

        if not self._x.has_extension("X-Resource"):
            return None
        try:
            start = self._focus_start()
            found = self._client_window(start) if start is not None else None
            if found is None:
                return None
            reply = self._x.res_query_client_ids(
                [{"client": found[0].id, "mask": _LOCAL_CLIENT_PID_MASK}])
        except (Xlib.error.XError, AttributeError):
            return None
        for client in reply.ids:
            if client.spec.mask & _LOCAL_CLIENT_PID_MASK and client.value:
                pid = int(client.value[0])
                if pid != os.getpid() and os.path.isdir(f"/proc/{pid}/task"):
                    return pid
        return None

    def _app_idle(self, pid: int) -> bool | None:
        """Wait until process `pid` has handled every event the server has sent it: True then;
        None if it is still busy after `_IDLE_TIMEOUT_S` (the caller stops typing rather than
        remap under unread keys: a slow app is waited for, never raced); False if it has gone.

        Each look follows two round trips to the server, so our keys have left it: the first
        reply comes once it has handled our requests, the second once it has flushed what the
        first cycle sent to every client. The kernel marks a thread runnable the moment its
        socket turns readable, so every thread asleep (S) then means nothing is left to read
        or being handled; a stopped (T) or running (R, D) thread means wait. Two looks in a
        row must agree, a few milliseconds apart.
        """
        deadline = time.monotonic() + _IDLE_TIMEOUT_S
        calm = 0
        while time.monotonic() < deadline:
            self._x.sync()
            self._x.sync()
            states = _thread_states(pid)
            if states is None:
                return False
            calm = calm + 1 if states and set(states) <= {"S", "I"} else 0
            if calm >= 2:
                return True
            time.sleep(0.002)
        log.info("the focused app (pid %d) stayed busy for %.0f s", pid, _IDLE_TIMEOUT_S)
        return None

    def _pingable_focus(self) -> Any | None:
        """The focused client window, to ping (see _caught_up); None without one.

        Only apps that list _NET_WM_PING in WM_PROTOCOLS are pinged (ICCCM: a client gets only
        the protocols it lists). Others get timed waits: xterm, for one, closes its window on
        any WM_PROTOCOLS message it did not ask for, so a ping would end the user's terminal.
        """
        # Imported here: slow to import; only this path pays for it (start-up time).
        import Xlib.error

        try:
            start = self._focus_start()
            found = self._client_window(start) if start is not None else None
            if found is None:
                return None
            protocols = found[0].get_wm_protocols() or []
        except (Xlib.error.BadWindow, Xlib.error.BadDrawable, Xlib.error.BadMatch):
            return None
        if found[0].id in self._silent_windows:
            return None
        if self._x.get_atom("_NET_WM_PING") not in protocols:
            return None
        self._ping_answered = True
        return found[0]

    def _caught_up(self, *, required: bool = False) -> bool:
        """Whether the focused app has handled every event sent to it so far: it answers a
        _NET_WM_PING only once it reaches it in its event queue, behind our keys and the
        mapping change. False (after a bounded wait) without an app that answers.

        An answer proves every key typed before it read (`_unproven` empties). With
        `required` (a borrowed keycode is about to change under keys typed with it), an app
        that has answered before is waited for up to `_PROOF_TIMEOUT_S`, and one that still
        does not answer stops the typing with an ActionError: typing on would type the
        wrong characters, the worst outcome there is.
        """
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X
        from Xlib.protocol import event

        window = self._ping_target
        if window is None:
            return False
        self._ping_serial += 1
        protocols, ping = self._x.get_atom("WM_PROTOCOLS"), self._x.get_atom("_NET_WM_PING")
        self._root.change_attributes(event_mask=X.SubstructureNotifyMask)  # pongs go to root
        answered_before = window.id in self._answering_windows
        try:
            window.send_event(event.ClientMessage(
                window=window, client_type=protocols,
                data=(32, [ping, self._ping_serial, window.id, 0, 0])), event_mask=0)
            self._x.flush()
            if not answered_before:
                timeout = _FIRST_PING_TIMEOUT_S
            else:
                timeout = _PROOF_TIMEOUT_S if required else self._ping_timeout_s
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                while self._x.pending_events():
                    reply = self._x.next_event()
                    if (reply.type == X.ClientMessage and reply.client_type == protocols
                            and list(reply.data[1][:2]) == [ping, self._ping_serial]):
                        self._ping_answered = True
                        self._answering_windows.add(window.id)
                        self._unproven.clear()
                        return True
                select.select([self._x.fileno()], [], [], max(deadline - time.monotonic(), 0))
        finally:
            if self._usable():
                self._root.change_attributes(event_mask=X.NoEventMask)
        if required and answered_before:
            raise ActionError(
                f"stopped typing: the app did not confirm within {timeout:g} s that it had read "
                "the keys typed so far, and changing the keyboard mapping before it has would "
                "type wrong characters. Part of the text may be typed: take a screenshot, and "
                "type the rest once the app responds")
        log.info("the focused app did not answer a ping within %.1f s; typing on with timed "
                 "waits", timeout)
        self._silent_windows.add(window.id)  # not asked again during this run
        self._ping_target = None
        return False

    @contextlib.contextmanager
    def _caps_lock_off(self, keymap: Keymap) -> Iterator[None]:
        """Typing picks Shift itself, so a locked Caps Lock would invert letters: unlock it."""
        caps = keymap.find(_CAPS_LOCK)
        locked = bool(self._root.query_pointer().mask & _LOCK_MASK)
        if not locked or caps is None:
            yield
            return
        self._tap_keycode(caps.keycode)
        try:
            yield
        finally:
            if self._usable():
                self._tap_keycode(caps.keycode)

    def _tap_keycode(self, keycode: int) -> None:
        self._press_key(keycode)
        self._release_key(keycode)
        self._sync()

    def _keymap(self) -> Keymap:
        """Fetch the current mapping; forget borrowed keycodes someone else has changed since."""
        info = self._x.display.info
        first, count = info.min_keycode, info.max_keycode - info.min_keycode + 1
        rows = tuple(tuple(row) for row in self._x.get_keyboard_mapping(first, count))
        self._rows = {first + offset: row for offset, row in enumerate(rows)}
        modifiers = self._x.get_modifier_mapping()
        self._modifier_keycodes = frozenset(code for codes in modifiers for code in codes if code)
        for keycode, keysyms in list(self._borrowed.items()):
            if rows[keycode - first][:2] != keysyms:
                del self._borrowed[keycode]
        return Keymap(
            min_keycode=first,
            rows=rows,
            modifier_keycodes=self._modifier_keycodes,
            borrowed=frozenset(self._borrowed),
        )

    def _press_key(self, keycode: int) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        if self._watchdog is not None:
            self._watchdog.pressing_key(keycode)
        self._keys_down.append(keycode)
        self._fake_input(self._x, X.KeyPress, keycode)
        if keycode in self._borrowed:
            self._unsynced.add(keycode)
            self._unproven.add(keycode)

    def _release_key(self, keycode: int) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        self._fake_input(self._x, X.KeyRelease, keycode)
        self._unsent_keys.add(keycode)
        if keycode in self._keys_down:
            self._keys_down.remove(keycode)

    @contextlib.contextmanager
    def _holding(self, modifiers: str | None) -> Iterator[None]:
        """Hold modifier keys ('shift', 'ctrl+alt') around a mouse action; always release them."""
        if not modifiers:
            yield
            return
        with self._chord_held(parse_chord(modifiers), modifiers):
            yield

    # -- windows --------------------------------------------------------------------------------

    def focused_window(self) -> Window:
        """The top-level window with the keyboard focus; empty when there is none.

        Asks the window manager (_NET_ACTIVE_WINDOW), else the server (GetInputFocus), then
        finds the client window carrying WM_CLASS: focus may sit on a child of it or on the
        window manager's frame around it. A window that vanishes meanwhile reads as empty.
        """
        with self._device_errors("read the focused window"):
            return self._window_from(self._focus_start)

    def window_at(self, x: int, y: int) -> Window:
        """The top-level window shown at screen point (x, y) (the topmost one there); empty
        over the bare root window. Pointer actions aim at it (the scope rule judges it)."""
        def start() -> Any | None:
            child = self._root.translate_coords(self._root, x, y).child
            return child if child else None

        with self._device_errors("read the window at a point"):
            return self._window_from(start)

    def _window_from(self, start_of: Callable[[], Any | None]) -> Window:
        """The Window whose client is at or around `start_of()`'s window."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        import Xlib.error

        try:
            start = start_of()
            found = self._client_window(start) if start is not None else None
            if found is None:
                return Window()
            client, wm_class = found
            instance, _, rest = wm_class.partition(b"\0")
            return Window(wm_class=rest.split(b"\0")[0].decode("latin-1"),
                          instance=instance.decode("latin-1"), title=self._title(client))
        except (Xlib.error.BadWindow, Xlib.error.BadDrawable, Xlib.error.BadMatch) as exc:
            log.debug("the window went away while reading it: %s", exc)
            return Window()

    def _focus_start(self) -> Any | None:
        """The window the window manager calls active; without one, the X input focus, or the
        top-level window under the pointer when the focus follows the pointer (PointerRoot)."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X, Xatom

        active = self._root.get_property(self._x.get_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW,
                                         0, 1)
        if active is not None and active.format == 32:
            # An EWMH window manager keeps this current; 0 means nothing is active.
            window_id = active.value[0] if len(active.value) else X.NONE
        else:
            focus = self._x.get_input_focus().focus
            window_id = focus if isinstance(focus, int) else focus.id
            if window_id in (X.PointerRoot, self._root.id):
                # Keys go to the window under the pointer: X's own rule without a focus owner.
                child = self._root.query_pointer().child
                window_id = child.id if child else X.NONE
        if window_id in (X.NONE, X.PointerRoot, self._root.id):
            return None
        return self._x.create_resource_object("window", window_id)

    def _client_window(self, start: Any) -> tuple[Any, bytes] | None:
        """`start` or its nearest ancestor with WM_CLASS, else the first such descendant."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import Xatom

        wm_class = self._x.get_atom("WM_CLASS")
        window = start
        for _ in range(_MAX_TREE_DEPTH):
            prop = window.get_property(wm_class, Xatom.STRING, 0, _MAX_PROPERTY_LONGS)
            if prop is not None and prop.value:
                return window, bytes(prop.value)
            parent = window.query_tree().parent
            if not parent or parent.id == self._root.id:
                break
            window = parent
        return self._client_below(start, wm_class)

    def _client_below(self, start: Any, wm_class: int) -> tuple[Any, bytes] | None:
        """Breadth-first search under a frame window for the client it wraps."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import Xatom

        level = list(start.query_tree().children)
        for _ in range(_MAX_TREE_DEPTH):
            for window in level:
                prop = window.get_property(wm_class, Xatom.STRING, 0, _MAX_PROPERTY_LONGS)
                if prop is not None and prop.value:
                    return window, bytes(prop.value)
            level = [child for window in level[:_MAX_SEARCHED]
                     for child in window.query_tree().children]
            if not level:
                break
        return None

    def _title(self, window: Any) -> str:
        """_NET_WM_NAME (UTF-8), else WM_NAME in whatever encoding its type names."""
        # Imported here: slow to import; only this path pays for it (start-up time).
        from Xlib import X

        utf8 = self._x.get_atom("UTF8_STRING")
        prop = window.get_property(self._x.get_atom("_NET_WM_NAME"), utf8, 0,
                                   _MAX_PROPERTY_LONGS)
        if prop is None or not prop.value:
            prop = window.get_property(self._x.get_atom("WM_NAME"), X.AnyPropertyType, 0,
                                       _MAX_PROPERTY_LONGS)
        if prop is None or prop.format != 8:
            return ""
        # WM_NAME is usually STRING (Latin-1); COMPOUND_TEXT is read the same way, as its ASCII
        # and Latin-1 parts are, since apps that need more set _NET_WM_NAME too.
        encoding = "utf-8" if prop.property_type == utf8 else "latin-1"
        return bytes(prop.value).decode(encoding, errors="replace")

    # -- lifecycle ------------------------------------------------------------------------------

    def release_all(self) -> None:
        """Release every key and button this desktop holds down, and undo any keycode mapping.

        After an interruption this runs over fresh X connections (see _device_errors)."""
        if self._closed:
            return
        with self._device_errors("release held keys and buttons"):
            for keycode in reversed(list(dict.fromkeys([*self._unsent_keys, *self._keys_down]))):
                self._release_key(keycode)
            self._keys_down.clear()
            self._release_buttons()
            self._unborrow()

    def close(self) -> None:
        """Release everything and close the connections. Safe to call twice."""
        if self._closed:
            return
        released = False
        try:
            self.release_all()
            released = True
        except DesktopError as exc:
            # Usually the X server is gone already; nothing is left to release then.
            log.warning("could not release keys and buttons while closing: %s", exc)
        finally:
            self._closed = True
            self._mss.close()
            if not self._usable():  # interrupted during release_all: never flush these
                _drop_connection(self._x)
            else:
                with contextlib.suppress(*self._transport_errors):
                    self._x.close()
            if self._watchdog is not None:
                # Released: the helper has nothing to do; otherwise it releases what it can.
                self._watchdog.close(released=released)

    def _usable(self) -> bool:
        """Whether the connection can be used as it is: not after a signal landed inside its
        I/O (or passed through an operation); then it is replaced before any use."""
        return not (self._interrupted or _io_interrupted(self._x))

    def _check_failsafe(self) -> None:
        """The pointer in a corner of the screen (pushed there by a person) stops the run."""
        pointer = self._root.query_pointer()
        if (pointer.root_x, pointer.root_y) in self._corners:
            raise FailSafeTriggered(_FAILSAFE_MESSAGE)

    def root_size(self) -> tuple[int, int]:
        """The whole X screen's size, which the pointer moves over (all monitors)."""
        return self._root_size

    def _sync(self) -> None:
        """Round-trip to the server, then surface any error it sent for our earlier requests."""
        self._x.sync()
        self._unsent_keys.clear()
        self._unsent_buttons.clear()
        now = time.monotonic()
        for keycode in self._unsynced:
            self._used_at[keycode] = now
        self._unsynced.clear()
        if self._x_errors:
            error = self._x_errors[0]
            self._x_errors.clear()
            raise DesktopError(f"the X server rejected a request: {error}")

    @contextlib.contextmanager
    def _device_errors(self, action: str) -> Iterator[None]:
        """Translate python-xlib/mss failures; ActionError and CuaError pass through."""
        if self._closed:
            raise DesktopError(f"cannot {action}: the desktop is closed")
        try:
            if not self._usable():
                self._reconnect()
            yield
        except self._transport_errors as exc:
            raise DesktopError(f"cannot {action}: {exc}") from exc
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # KeyboardInterrupt, Terminated, DeadlineExceeded: raised by a signal handler,
                # possibly in the middle of a python-xlib request. Never reuse the connection.
                self._interrupted = True
            raise


def _thread_states(pid: int) -> list[str] | None:
    """The scheduler state letter of each thread of `pid` (R, S, D, T...); None if it is gone."""
    states = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:  # a thread that ended meanwhile
            continue
        state = stat[stat.rfind(")") + 2: stat.rfind(")") + 3]
        if state != "Z":
            states.append(state)
    return states


def _guard(connection: Any) -> Any:
    """Mark `connection` the moment a signal lands inside its I/O, and refuse it afterwards.

    Every byte python-xlib queues or moves goes through two methods of the protocol object:
    send_request (queue a request) and send_and_recv (every socket read and write, for flush,
    sync, replies and events). A call that does not return normally or with an ordinary error
    -- a KeyboardInterrupt, Terminated or DeadlineExceeded raised by a signal handler between
    two of its bytecodes -- leaves `busy` set: its send/receive flags and buffers may be
    half-updated, and the next request would spin forever. Such a connection is never used
    again: a later call raises the interruption again, at once.
    """
    protocol = connection.display
    protocol.cua_busy, protocol.cua_signal = False, None
    screen = connection.screen()
    # A resource of this client, for _reconnect to see when the server has closed it.
    protocol.cua_marker = screen.root.create_pixmap(1, 1, screen.root_depth).id
    connection.sync()

    def wrap(method: Any) -> Any:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if protocol.cua_busy:
                raise _again(protocol.cua_signal)
            protocol.cua_busy = True
            try:
                result = method(*args, **kwargs)
                protocol.cua_busy = False
                return result
            except Exception:  # python-xlib's own errors leave it consistent (or closed)
                protocol.cua_busy = False
                raise
            except BaseException as exc:
                protocol.cua_signal = exc
                raise

        return guarded

    protocol.send_request = wrap(protocol.send_request)
    protocol.send_and_recv = wrap(protocol.send_and_recv)
    return connection


def _marker(connection: Any) -> int | None:
    return getattr(getattr(connection, "display", None), "cua_marker", None)


def _io_interrupted(connection: Any) -> bool:
    """Whether a signal interrupted `connection` mid-I/O (see _guard)."""
    return bool(getattr(getattr(connection, "display", None), "cua_busy", False))


def _again(signal_exc: BaseException | None) -> BaseException:
    """The interruption that poisoned a connection, raised anew (the same kind: the exit code
    and the run's status stay those of the signal)."""
    if signal_exc is None:
        return KeyboardInterrupt("interrupted inside an X request")
    try:
        return type(signal_exc)(*signal_exc.args)
    except Exception:
        return KeyboardInterrupt(*signal_exc.args)


def _drop_connection(connection: Any) -> None:
    """Close a python-xlib connection's socket without flushing or taking its locks: after an
    interruption mid-request its bookkeeping is inconsistent and close() could wait forever."""
    with contextlib.suppress(Exception):
        connection.display.socket.close()


def _button_number(button: str) -> int:
    if button not in _BUTTONS:
        raise ActionError(f"unknown mouse button {button!r}; use left, middle or right")
    return _BUTTONS[button]


def _shift_keycode(keymap: Keymap) -> int:
    stroke = keymap.find(SHIFT_L)
    if stroke is None:
        raise DesktopError("the keyboard mapping has no Shift_L key to type shifted characters")
    return stroke.keycode


class Watchdog:
    """cua's side: starts the helper and announces what it is about to press or map.

    Announcements are deduplicated here, so typing sends a line per new keycode, not per key.
    If the helper cannot be started or has gone, cua carries on without one (logged).
    """

    def __init__(self, *, display: str, env: Mapping[str, str]) -> None:
        self._keys: set[int] = set()
        self._buttons: set[int] = set()
        read_fd, self._fd = os.pipe()
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "claude_cua.core.x11.watchdog", display], stdin=read_fd,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(env),
                start_new_session=True)
        except OSError as exc:
            log.warning("cannot start the input watchdog (%s); keys are released only when "
                        "cua ends normally", exc)
            self._proc = None
            os.close(self._fd)
            self._fd = -1
        finally:
            os.close(read_fd)

    @property
    def pid(self) -> int | None:
        """The helper's pid, while it runs."""
        return self._proc.pid if self._proc is not None else None

    def pressing_key(self, keycode: int) -> None:
        """Call before pressing `keycode`."""
        if keycode not in self._keys:
            self._keys.add(keycode)
            self._send(f"k {keycode}\n")

    def pressing_button(self, number: int) -> None:
        """Call before pressing mouse button `number`."""
        if number not in self._buttons:
            self._buttons.add(number)
            self._send(f"b {number}\n")

    def mapping(self, rows: Mapping[int, tuple[int, int]]) -> None:
        """Call before putting `rows` (keycode → its two keysyms) on borrowed keycodes."""
        self._send("".join(f"m {code} {low} {high}\n" for code, (low, high) in rows.items()))

    def restored(self, keycodes: list[int]) -> None:
        """Call after emptying borrowed keycodes again."""
        self._send("".join(f"u {code}\n" for code in keycodes))

    def _send(self, text: str) -> None:
        if self._fd < 0 or not text:
            return
        try:
            os.write(self._fd, text.encode())
        except OSError as exc:
            log.warning("the input watchdog has gone (%s); carrying on without it", exc)
            self._close_pipe()

    def close(self, *, released: bool = True) -> None:
        """Stop the helper. `released`: cua released everything itself, so the helper does
        nothing; otherwise it releases what was announced, as after a crash."""
        if self._fd >= 0:
            if released:
                with contextlib.suppress(OSError):
                    os.write(self._fd, GOODBYE)
            self._close_pipe()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _close_pipe(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
