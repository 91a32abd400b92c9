"""Watcher: what the X server reports between two screenshots, on a connection of its own.

One per run, on the run's display, in a background thread: windows mapped and unmapped on the
root (SubstructureNotify, with their titles and classes, override-redirect ones included), and
the DAMAGE extension's rectangles, each batch of them captured at once (just the damaged box,
XGetImage on the watcher's own connection) so a region that changes and changes back can be
shown as it was at its most changed moment. Nothing here is shared between runs or with the
desktop's connections: two runs in one process watch two displays.

The step asks it two things: `last_change` (when the screen last changed, for settling on the
display's own events instead of comparing captures) and `take` (everything seen up to a
screenshot, for core/vocab/transients.py to judge). Without the DAMAGE extension `open_watcher`
returns None with the reason, and the step settles by comparing captures as before.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageChops

from ..vocab.desktop import Frame
from ..vocab.transients import Box, Damage, Notice, Observed, Snapshot, WindowSeen, is_caret

log = logging.getLogger(__name__)

MAX_SNAPSHOT_PIXELS = 640 * 480  # a bigger damaged box is a repaint, not a flash
MAX_SNAPSHOT_BYTES = 48 * 1024 * 1024  # per interval: a video stops being captured
MAX_DAMAGE = 20_000  # rectangles kept per interval
MAX_STALE = 32  # boxes the shadow is known not to hold, before it is all one
_TREE_DEPTH = 3  # how far below a WM frame to look for the client's title and class


class Unavailable(Exception):
    """The display cannot be watched (no DAMAGE extension, refused): the reason."""


class Watcher:
    """Watches one X display from a background thread; `close` ends it."""

    def __init__(self, display: str, *, origin: tuple[int, int] = (0, 0),
                 size: tuple[int, int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        import Xlib.display
        import Xlib.error
        import Xlib.X
        from Xlib.ext import damage

        self._clock = clock
        self._origin = origin
        self._lock = threading.Lock()
        self._seen = Observed()
        self._mapped: dict[int, WindowSeen] = {}
        self._snapshot_bytes = 0
        self._last_change: float | None = None
        self._changes: list[tuple[float, Box]] = []  # non-caret damage, for settling
        # Boxes whose pixels the shadow does not hold (repainted, too big to read back at once):
        # the next damage there counts as a change, and reading it back makes it known again.
        self._stale: list[Box] = []
        self._errors = Xlib.error
        self._X = Xlib.X
        try:
            self._x = Xlib.display.Display(display)
        except Exception as exc:  # any failure: the display cannot be watched
            raise Unavailable(f"cannot open {display!r}: {exc}") from exc
        try:
            if not self._x.has_extension("DAMAGE"):
                raise Unavailable(f"the X server on {display} lacks the DAMAGE extension")
            self._x.set_error_handler(lambda *args: None)  # windows vanish under us: expected
            self._root = self._x.screen().root
            geometry = self._root.get_geometry()
            self._size = size or (geometry.width, geometry.height)
            self._x.damage_query_version()
            self._damage = self._root.damage_create(damage.DamageReportRawRectangles)
            self._root.change_attributes(event_mask=Xlib.X.SubstructureNotifyMask)
            self._x.sync()
            self._damage_type = self._x.extension_event.DamageNotify
            shadow = self._grab(0, 0, *self._size)
            if shadow is None:
                raise Unavailable(f"the screen of {display} cannot be read as 32-bit pixels")
            self._shadow = shadow
        except Unavailable:
            self._x.close()
            raise
        except Exception as exc:
            self._x.close()
            raise Unavailable(f"the X server on {display} refused to be watched: {exc}") from exc
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._busy = True  # reading or handling events (see caught_up)
        self._cpu_s = 0.0
        self._thread = threading.Thread(target=self._run, name="cua-watcher", daemon=True)
        self._thread.start()

    # -- asked by the step ----------------------------------------------------------------------

    def caught_up(self) -> bool:
        """Whether every event the server has sent so far has been handled: the thread is
        waiting for more and nothing is waiting on its socket (a change drawn before a
        screenshot may leave is then known, however late the thread got to it)."""
        if self._busy:
            return False
        ready, _, _ = select.select([self._x.fileno()], [], [], 0)
        return not ready

    def last_change(self) -> float | None:
        """When the screen last changed (caret blinks aside), on the watcher's clock."""
        return self._last_change

    def first_change_after(self, since: float, until: float | None = None) -> float | None:
        """The first change (caret blinks aside) after `since` (and before `until`)."""
        with self._lock:
            for at, _ in self._changes:
                if at > since and (until is None or at <= until):
                    return at
        return None

    def changes_between(self, since: float, until: float) -> list[tuple[float, Box]]:
        """The changes (caret blinks aside) after `since` and up to `until`: time and box."""
        with self._lock:
            return [(at, box) for at, box in self._changes if since < at <= until]

    def still_differs(self, boxes: list[Box], frame: Frame) -> bool:
        """Whether the screen now differs from `frame` (a screenshot) in any of `boxes`: a
        change that stayed, not one that came and went. A box the watcher could not read
        back counts as differing."""
        image = Image.frombuffer("RGB", (frame.width, frame.height), frame.bgra, "raw", "BGRX",
                                 0, 1)
        with self._lock:
            for x, y, w, h in boxes:
                area = (x, y, x + w, y + h)
                if any(_overlap(box, (x, y, w, h)) for box in self._stale):
                    return True
                if self._shadow.crop(area).tobytes() != image.crop(area).tobytes():
                    return True
        return False

    def take(self, until: float) -> Observed:
        """Everything seen up to `until` (a screenshot's time); later events stay for the
        next interval. A window mapped by then is consumed: visible in the screenshot if it
        is still there, a transient if it has gone."""
        with self._lock:
            seen, later = self._seen, Observed()
            later.damage = [d for d in seen.damage if d.at > until]
            later.snapshots = [s for s in seen.snapshots if s.at > until]
            later.notices = [n for n in seen.notices if n.at > until]
            seen.damage = [d for d in seen.damage if d.at <= until]
            seen.snapshots = [s for s in seen.snapshots if s.at <= until]
            seen.notices = [n for n in seen.notices if n.at <= until]
            # Windows still mapped at `until` go on to the next interval too: shown before it,
            # they are never its transients, but the damage their going leaves is theirs.
            later.windows = [w for w in seen.windows if w.gone_at is None or w.gone_at > until]
            later.since = until
            seen.windows = [w for w in seen.windows if w.shown_at <= until]
            self._seen = later
            self._snapshot_bytes = sum(len(s.bgra) for s in later.snapshots)
            self._changes = [c for c in self._changes if c[0] > until - 5.0]
            return seen

    def add_notice(self, notice: Notice) -> None:
        """A desktop notification (from core/x11/notices.py's listener)."""
        with self._lock:
            self._seen.notices.append(notice)

    def cpu_s(self) -> float:
        """The watcher thread's own CPU time so far."""
        return self._cpu_s

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        try:
            self._x.close()
        except Exception:  # the display may be gone already
            log.debug("closing the watcher's X connection failed", exc_info=True)

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        fd = self._x.fileno()
        cpu0 = time.thread_time()
        try:
            while not self._stopping:
                self._busy = True
                if self._x.pending_events() == 0:  # (which reads what the socket holds)
                    self._busy = False
                    ready, _, _ = select.select([fd, self._wake_r], [], [], 1.0)
                    if self._wake_r in ready:
                        break
                    self._busy = True
                self._drain()
                self._cpu_s = time.thread_time() - cpu0
        except Exception:  # the display went away: watch no more
            log.debug("the watcher stopped", exc_info=True)

    def _drain(self) -> None:
        batch: list[Box] = []
        first_at: float | None = None
        for _ in range(self._x.pending_events()):
            event = self._x.next_event()
            now = self._clock()
            if event.type == self._damage_type:
                a = event.area
                batch.append((a.x - self._origin[0], a.y - self._origin[1], a.width, a.height))
                first_at = now if first_at is None else first_at
            elif event.type == self._X.MapNotify:
                self._mapped_window(event.window, bool(event.override), now)
            elif event.type in (self._X.UnmapNotify, self._X.DestroyNotify):
                self._unmapped_window(event.window.id, now)
            elif event.type == self._X.ConfigureNotify:
                self._moved_window(event, now)
        if batch and first_at is not None:
            self._damaged(batch, first_at)

    def _damaged(self, boxes: list[Box], at: float) -> None:
        """One batch of damage: capture its box and keep what really changed.

        The capture is compared with the shadow (the screen as last captured): programs
        repaint more than they change (Tk redraws a whole entry to blink its caret), so only
        pixels that differ count, and a change no bigger than a caret never counts."""
        x0 = max(0, min(b[0] for b in boxes))
        y0 = max(0, min(b[1] for b in boxes))
        x1 = min(self._size[0], max(b[0] + b[2] for b in boxes))
        y1 = min(self._size[1], max(b[1] + b[3] for b in boxes))
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            return
        image = None
        if w * h <= MAX_SNAPSHOT_PIXELS:
            image = self._grab(x0, y0, w, h)
        if image is None:  # too big to capture (or refused): a change we cannot picture
            with self._lock:
                self._stale = _merged(self._stale, (x0, y0, w, h), self._size)
            self._changed(Damage(at, (x0, y0, w, h)), None)
            return
        with self._lock:  # still_differs reads the shadow from the step's thread
            old = self._shadow.crop((x0, y0, x1, y1))
            self._shadow.paste(image, (x0, y0))
            unknown = [b for b in self._stale if _overlap(b, (x0, y0, w, h))]
            if unknown:
                self._stale = [piece for b in self._stale
                               for piece in _subtract(b, (x0, y0, w, h))]
        bbox = ImageChops.difference(image, old).getbbox()
        if unknown:  # the shadow did not hold what was there: this much changed, at least
            bbox = _bounds([(bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1])]
                           if bbox else [], [(max(b[0], x0) - x0, max(b[1], y0) - y0,
                                              min(b[0] + b[2], x1) - max(b[0], x0),
                                              min(b[1] + b[3], y1) - max(b[1], y0))
                                             for b in unknown])
        if bbox is None:
            return  # repainted as it was
        box = (x0 + bbox[0], y0 + bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1])
        snapshot = None
        if self._snapshot_bytes + w * h * 4 <= MAX_SNAPSHOT_BYTES:
            snapshot = Snapshot(self._clock(), (x0, y0, w, h), image.tobytes("raw", "BGRX"))
        self._changed(Damage(at, box), snapshot)

    def _changed(self, damage: Damage, snapshot: Snapshot | None) -> None:
        with self._lock:
            if len(self._seen.damage) < MAX_DAMAGE:
                self._seen.damage.append(damage)
            if snapshot is not None:
                self._seen.snapshots.append(snapshot)
                self._snapshot_bytes += len(snapshot.bgra)
            if not is_caret(damage.box):
                self._last_change = damage.at
                self._changes.append((damage.at, damage.box))

    def _grab(self, x: int, y: int, w: int, h: int) -> Image.Image | None:
        """The screen's pixels in this box (RGB), on the watcher's own connection."""
        try:
            reply = self._root.get_image(x + self._origin[0], y + self._origin[1], w, h,
                                         self._X.ZPixmap, 0xFFFFFFFF)
        except self._errors.XError:
            return None
        data = reply.data if isinstance(reply.data, bytes) else bytes(reply.data)
        if len(data) < w * h * 4:
            return None  # not a 32-bit-per-pixel screen: no pictures, lines only
        return Image.frombuffer("RGB", (w, h), data, "raw", "BGRX", 0, 1).copy()

    def _mapped_window(self, window: Any, is_override: bool, now: float) -> None:
        try:
            g = window.get_geometry()
            title, wm_class = self._names(window)
        except self._errors.XError:
            return
        except Exception:  # python-xlib raises others for vanished windows
            return
        seen = WindowSeen(window.id, now, (g.x - self._origin[0], g.y - self._origin[1],
                                           g.width, g.height), title, wm_class, is_override)
        with self._lock:
            self._mapped[window.id] = seen
            self._seen.windows.append(seen)

    def _unmapped_window(self, window_id: int, now: float) -> None:
        with self._lock:
            seen = self._mapped.pop(window_id, None)
            if seen is None:
                return
            gone = WindowSeen(seen.window, seen.shown_at, seen.box, seen.title, seen.wm_class,
                              seen.is_override, now)
            self._seen.windows = [gone if w is seen else w for w in self._seen.windows]

    def _moved_window(self, event: Any, now: float) -> None:
        with self._lock:
            seen = self._mapped.get(event.window.id)
            if seen is None:
                return
            box = (event.x - self._origin[0], event.y - self._origin[1], event.width,
                   event.height)
            moved = WindowSeen(seen.window, seen.shown_at, box, seen.title, seen.wm_class,
                               seen.is_override, seen.gone_at)
            self._mapped[seen.window] = moved
            self._seen.windows = [moved if w is seen else w for w in self._seen.windows]

    def _names(self, window: Any, depth: int = 0) -> tuple[str, str]:
        """The title and class of `window`, or of the client inside a WM frame."""
        wm_class = window.get_wm_class()
        title = self._title(window)
        if wm_class or title or depth >= _TREE_DEPTH:
            return title, (wm_class[1] if wm_class else "")
        for child in window.query_tree().children[:64]:
            title, found = self._names(child, depth + 1)
            if title or found:
                return title, found
        return "", ""

    def _title(self, window: Any) -> str:
        net_name = self._x.get_atom("_NET_WM_NAME")
        utf8 = self._x.get_atom("UTF8_STRING")
        prop = window.get_full_property(net_name, utf8)
        if prop is not None and prop.value:
            value = prop.value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        name = window.get_wm_name()
        if isinstance(name, bytes):
            return name.decode("latin-1")
        return name or ""


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _subtract(a: Box, b: Box) -> list[Box]:
    """`a` less `b`: at most four boxes (above, below, left and right of the overlap)."""
    if not _overlap(a, b):
        return [a]
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    top, bottom = max(a[1], b[1]), min(ay1, by1)
    pieces = [(a[0], a[1], a[2], top - a[1]), (a[0], bottom, a[2], ay1 - bottom),
              (a[0], top, max(a[0], b[0]) - a[0], bottom - top),
              (min(ax1, bx1), top, ax1 - min(ax1, bx1), bottom - top)]
    return [p for p in pieces if p[2] > 0 and p[3] > 0]


def _bounds(*groups: list[Box]) -> tuple[int, int, int, int] | None:
    """The bounding (left, top, right, bottom) of boxes, None without any."""
    boxes = [b for group in groups for b in group if b[2] > 0 and b[3] > 0]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes))


def _merged(stale: list[Box], box: Box, size: tuple[int, int]) -> list[Box]:
    """`box` added to the stale boxes; past MAX_STALE boxes, the whole screen is one."""
    kept = [b for b in stale if not _contains(box, b)]
    if any(_contains(b, box) for b in kept):
        return kept
    if len(kept) >= MAX_STALE:
        return [(0, 0, size[0], size[1])]
    return [*kept, box]


def _contains(outer: Box, inner: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def open_watcher(display: str, *, origin: tuple[int, int] = (0, 0),
                 size: tuple[int, int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> tuple[Watcher | None, str]:
    """A started Watcher, or None and the reason it cannot watch this display."""
    try:
        return Watcher(display, origin=origin, size=size, clock=clock), ""
    except Unavailable as exc:
        return None, str(exc)
