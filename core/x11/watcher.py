"""Between the screenshots: what the X server reports, settling on it, and what came and went.

The step (core/engine/step.py) asks this module, after each action, when the screen has settled
(`Between.screenshot`, on the display's own events), what flashed by since the last screenshot
(`find_transients`, pure: events in, Claude's lines out) and how each of those reads as a line
(`transient_text`). Its parts, in the order of this file:

What came and went (pure).
Pure: the watcher records what the X server reported between two screenshots (windows that
were mapped and unmapped, damaged rectangles, small captures of them, desktop notifications) as
an `Observed`; `find_transients` decides which of those Claude could not
have seen in either screenshot, and `describe` writes the `Since the last screenshot:` block.

What counts as a transient:
- a window mapped after the previous screenshot and unmapped before this one (a toast, a
  tooltip, a menu, a dialog that opened and closed); a window still there is in the screenshot;
- a region inside a window that changed and changed back: damage whose pixels, at the moment
  they differed most from the previous screenshot, are back to what that screenshot showed.
  A change that lasts is in the new screenshot; one still going on when it is taken (a
  spinner, a video) is not a transient; a caret (a thin bar) is never reported;
- a desktop notification.

Bounded so that a busy screen never floods the request: at most `MAX_LINES` lines and
`MAX_IMAGES` images per step, each image at most `MAX_IMAGE_SIDE` pixels on its long side, and
one line per region. Five lines keep the block under about a hundred tokens, and more separate
transients than that in one step is an animation rather than news; two images of at most
320 px cost at most ~270 tokens together (w·h/750 each), less than a tenth of a screenshot.

`transient_text`: one transient as one line of text, from its record form: what Claude
is told, what the live view, `cua runs show` and the report show. No Pillow here: `cua runs`
commands read records without it.

The watcher.
One per run, on the run's display, in a background thread: windows mapped and unmapped on the
root (SubstructureNotify, with their titles and classes, override-redirect ones included), and
the DAMAGE extension's rectangles, each batch of them captured at once (just the damaged box,
XGetImage on the watcher's own connection) so a region that changes and changes back can be
shown as it was at its most changed moment. Nothing here is shared between runs or with the
desktop's connections: two runs in one process watch two displays.

The step asks it two things: `last_change` (when the screen last changed, for settling on the
display's own events instead of comparing captures) and `take` (everything seen up to a
screenshot, for `find_transients` above to judge). Without the DAMAGE extension `open_watcher`
returns None with the reason, and the step settles by comparing captures as before.

Settling.
The settling rule, for apps that answer at once and apps that answer a round trip later. How
soon the app's first change came after the key or button press it answered tells them apart:
- within 4 ms (or within 10 ms, in a run whose apps have mostly answered at once: a busy
  machine): the app answered at once, as Tk and xterm do, drawing as they handle the event.
  The screenshot is captured as soon as the drawing pauses (1 ms) and is scaled and encoded
  straight away; it may leave once the screen has been still for the quiet window (15 ms)
  after its last change, which the encoding covers. A change meanwhile takes it again;
- later: the app draws on a frame clock, and its answer may be a round trip away (Chromium
  paints a click's focus ring a frame later, and a page's answer to Submit 70-110 ms after the
  click), or the screen was already changing in the 100 ms before the input (since the last
  screenshot), so the delay says nothing. The quiet window is three times that delay (at
  least 35 ms, two frames; at most 300 ms), and the request leaves no sooner than 150 ms
  after the input; a change before then retakes the screenshot. In a run whose apps have
  answered so at least as often as at once, an action that changes nothing is held as long;
- nothing changed at all: captured 10 ms after the input (an app that answers at once has
  drawn by then), sent 40 ms after the action started unless a change retakes it;
- a change that came within 300 ms after a screenshot taken after input and was still there
  when the next action started (an answer Claude did not see; a toast that came and went was
  told as such and needs no wait) holds every later request of the run until that delay after
  the input plus 20 ms (at most 400 ms).
At most two retakes; the ceiling stays the settle ceiling.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from PIL import Image, ImageChops

from ..vocab.actions import ScreenSpace, encode_png
from ..vocab.desktop import Frame
from .notices import Listener, Notice, open_listener

KINDS = {"window": "a window", "popup": "a popup window",
         "notification": "a desktop notification", "flash": "a region changed and changed back"}


def transient_text(t: Mapping[str, Any], *, image_below: bool = False) -> str:
    """e.g. `a popup window "Saved" (class Toast) at [100, 50, 149, 69], +0.21 s … +0.55 s`."""
    parts = [KINDS.get(str(t.get("kind")), str(t.get("kind")))]
    if t.get("text"):
        text = " ".join(str(t["text"]).split())
        parts.append('"' + (text if len(text) <= 200 else text[:199] + "…") + '"')
    if t.get("wm_class"):
        parts.append(f"(class {t['wm_class']})")
    if t.get("region"):
        parts.append(f"at {list(t['region'])}")
    line = " ".join(parts)
    if isinstance(t.get("came_s"), int | float):
        line += f", {t['came_s']:+.2f} s"
        if isinstance(t.get("went_s"), int | float):
            line += f" … {t['went_s']:+.2f} s"
    return line + (" (image below)" if image_below else "")

Box = tuple[int, int, int, int]  # x, y, width, height in screen pixels

MAX_LINES = 5
MAX_IMAGES = 2
MAX_IMAGE_SIDE = 320
HEADER = "Since the last screenshot:"
CARET_THICKNESS = 4  # a bar at most this many pixels wide (or high) ...
CARET_LENGTH = 64  # ... and at most this long is a caret, never reported
MERGE_GAP = 6  # damage rectangles this close together are one region
MIN_WINDOW_SIDE = 4  # smaller windows are helpers nobody sees (Tk's, Chromium's)
# A region back as it was within this long is a button pressed and released by the click
# itself, not news (the recall target is for flashes of 100 ms and more).
MIN_FLASH_S = 0.04
WINDOW_ECHO_S = 0.1
_KIND_ORDER = {"notification": 0, "dialog": 1, "window": 1, "popup": 1, "flash": 2}


@dataclass(frozen=True, slots=True)
class WindowSeen:
    """A window mapped (and perhaps unmapped) while the watcher watched, in screen pixels."""

    window: int
    shown_at: float
    box: Box
    title: str = ""
    wm_class: str = ""
    is_override: bool = False  # override-redirect: a popup, menu, tooltip or toast
    gone_at: float | None = None


@dataclass(frozen=True, slots=True)
class Damage:
    at: float
    box: Box


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A capture of `box` (raw BGRA, as Frame) taken at `at`, just after it was damaged."""

    at: float
    box: Box
    bgra: bytes


@dataclass(slots=True)
class Observed:
    """Everything the watcher saw between two screenshots."""

    windows: list[WindowSeen] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    # the previous screenshot's time; windows shown before it are listed too (their damage
    # is theirs) but are never transients of this interval
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Transient:
    """One thing that came and went: what Claude is told, and what the record keeps."""

    kind: str  # "window", "popup", "notification" or "flash"
    came_s: float  # relative to the start of the action it followed
    went_s: float | None  # None: a notification (its own timeout, not ours)
    action: int = 0  # which action of the turn it followed (0-based)
    text: str = ""  # the title or notification text, verbatim
    wm_class: str = ""
    region: Box | None = None  # model space: x0, y0, x1, y1 (inclusive)
    image: Image.Image | None = field(default=None, compare=False)

    def line(self) -> str:
        """The one line Claude reads."""
        return "- " + transient_text(self.record(), image_below=self.image is not None)

    def record(self, image_name: str | None = None) -> dict[str, object]:
        """The step record's form (JSON)."""
        return {"kind": self.kind, "text": self.text, "wm_class": self.wm_class,
                "region": None if self.region is None else list(self.region),
                "came_s": self.came_s, "went_s": self.went_s, "action": self.action,
                "image": image_name}


def is_caret(box: Box) -> bool:
    """A thin short bar: a text caret (or its blink), never news."""
    _, _, w, h = box
    return (w <= CARET_THICKNESS and h <= CARET_LENGTH) or (h <= CARET_THICKNESS
                                                            and w <= CARET_LENGTH)


def find_transients(
    seen: Observed,
    *,
    before: Frame | None,
    after: Frame,
    actions_at: Sequence[float],
    shot_at: float,
    space: ScreenSpace,
    ongoing_s: float = 0.05,
) -> list[Transient]:
    """The transients of one interval, best first, bounded (see the module docstring).

    `before` and `after` are the screenshots at either end (full-resolution frames);
    `actions_at` the start times of the turn's actions; `shot_at` when `after` was captured.
    Damage after `shot_at - ongoing_s` means a region is still changing: not a transient.
    """
    found: list[Transient] = []
    gone_windows = [w for w in seen.windows
                    if w.gone_at is not None and w.gone_at <= shot_at
                    and min(w.box[2], w.box[3]) >= MIN_WINDOW_SIDE
                    and _on_screen(w.box, after)]
    for w in gone_windows:
        assert w.gone_at is not None
        if seen.since is not None and w.shown_at <= seen.since:
            continue  # mapped before the previous screenshot: Claude saw it come
        action, base = _action_for(w.shown_at, actions_at)
        found.append(Transient(
            "popup" if w.is_override else "window", _rel(w.shown_at, base),
            _rel(w.gone_at, base), action, w.title, w.wm_class, _model_box(w.box, space, after)))
    for n in seen.notices:
        action, base = _action_for(n.at, actions_at)
        text = n.summary + (f": {n.body}" if n.body else "")
        found.append(Transient("notification", _rel(n.at, base), None, action, text, n.app))
    if before is not None and (before.width, before.height) == (after.width, after.height):
        found.extend(_flashes(seen, gone_windows, before, after, actions_at, shot_at,
                              ongoing_s, space))
    found.sort(key=lambda t: (_KIND_ORDER[t.kind], t.came_s if t.action == 0 else 1e9))
    return _bounded(found)


def describe(transients: Sequence[Transient]) -> str | None:
    """The `Since the last screenshot:` block, or None when nothing transient happened."""
    if not transients:
        return None
    lines = [HEADER, *(t.line() for t in transients[:MAX_LINES])]
    extra = len(transients) - MAX_LINES
    if extra > 0:
        lines.append(f"- and {extra} more")
    return "\n".join(lines)


# -- in-window flashes ---------------------------------------------------------------------


def _flashes(seen: Observed, gone: list[WindowSeen], before: Frame, after: Frame,
             actions_at: Sequence[float], shot_at: float, ongoing_s: float,
             space: ScreenSpace) -> list[Transient]:
    damage = [d for d in seen.damage
              if not is_caret(d.box) and not _inside_gone_window(d, gone)]
    found = []
    for region, first, last in _regions(damage):
        if last > shot_at - ongoing_s:
            continue  # still changing when the screenshot was taken
        if last - first < MIN_FLASH_S or _follows_window(first, last, gone):
            continue
        best = _most_changed(region, seen.snapshots, before)
        if best is None:
            continue
        changed, image = best
        if is_caret(changed) or not _same(before, after, changed):
            continue  # a lasting change: the screenshot shows it
        action, base = _action_for(first, actions_at)
        found.append(Transient("flash", _rel(first, base), _rel(last, base), action,
                               region=_model_box(changed, space, after),
                               image=_fit(image, space, after)))
    return found


def _regions(damage: Sequence[Damage]) -> list[tuple[Box, float, float]]:
    """Damage merged into regions (rectangles within MERGE_GAP of each other), each with its
    first and last damage time."""
    regions: list[list] = []  # [x0, y0, x1, y1, first, last]
    for d in damage:
        x, y, w, h = d.box
        merged = [x, y, x + w, y + h, d.at, d.at]
        keep = []
        for r in regions:
            if _near(r, merged):
                merged = [min(r[0], merged[0]), min(r[1], merged[1]), max(r[2], merged[2]),
                          max(r[3], merged[3]), min(r[4], merged[4]), max(r[5], merged[5])]
            else:
                keep.append(r)
        regions = [*keep, merged]
    return [((r[0], r[1], r[2] - r[0], r[3] - r[1]), r[4], r[5]) for r in regions]


def _near(a: list, b: list) -> bool:
    return not (a[2] + MERGE_GAP < b[0] or b[2] + MERGE_GAP < a[0]
                or a[3] + MERGE_GAP < b[1] or b[3] + MERGE_GAP < a[1])


def _most_changed(region: Box, snapshots: Sequence[Snapshot], before: Frame
                  ) -> tuple[Box, Image.Image] | None:
    """Among the captures inside `region`, the one that differs most from `before`: the box
    of its changed pixels (screen) and the capture cropped to it."""
    best: tuple[int, Box, Image.Image] | None = None
    for snap in snapshots:
        if not _contains(region, snap.box):
            continue
        x, y, w, h = snap.box
        if w <= 0 or h <= 0 or len(snap.bgra) < w * h * 4:
            continue
        image = Image.frombuffer("RGB", (w, h), snap.bgra, "raw", "BGRX", 0, 1)
        old = _crop(before, snap.box)
        diff = ImageChops.difference(image, old).convert("L").point(lambda v: 255 if v else 0)
        bbox = diff.getbbox()
        if bbox is None:
            continue
        changed = diff.histogram()[255]
        if best is None or changed > best[0]:
            box = (x + bbox[0], y + bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1])
            best = (changed, box, image.crop(bbox))
    return None if best is None else (best[1], best[2])


def _same(before: Frame, after: Frame, box: Box) -> bool:
    return _crop(before, box).tobytes() == _crop(after, box).tobytes()


def _crop(frame: Frame, box: Box) -> Image.Image:
    x, y, w, h = box
    image = Image.frombuffer("RGB", (frame.width, frame.height), frame.bgra, "raw", "BGRX", 0, 1)
    return image.crop((x, y, x + w, y + h))


def _contains(outer: Box, inner: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def _inside_gone_window(d: Damage, gone: Sequence[WindowSeen]) -> bool:
    """Damage drawn by (or left behind by) a window that came and went: that window's line
    says it already."""
    return any(_contains(_grown(w.box, 2), d.box) for w in gone)


def _follows_window(first: float, last: float, gone: Sequence[WindowSeen]) -> bool:
    """A region that changed as a window came and changed back as it went (the window
    manager greying the title bar of the window below while a dialog has the focus): the
    window's own line says it."""
    return any(w.gone_at is not None and abs(first - w.shown_at) <= WINDOW_ECHO_S
               and abs(last - w.gone_at) <= WINDOW_ECHO_S for w in gone)


def _grown(box: Box, by: int) -> Box:
    return box[0] - by, box[1] - by, box[2] + 2 * by, box[3] + 2 * by


def _fit(image: Image.Image, space: ScreenSpace, frame: Frame) -> Image.Image:
    """The capture at the model's scale, no larger than MAX_IMAGE_SIDE."""
    scale = min(space.model_w / frame.width, space.model_h / frame.height,
                MAX_IMAGE_SIDE / max(image.width, image.height))
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


# -- shared -----------------------------------------------------------------------------------


def _bounded(found: list[Transient]) -> list[Transient]:
    """Images on the first MAX_IMAGES flashes only (the lines stay, without images)."""
    out, images = [], 0
    for t in found:
        if t.image is not None:
            if images >= MAX_IMAGES:
                t = Transient(t.kind, t.came_s, t.went_s, t.action, t.text, t.wm_class,
                              t.region)
            else:
                images += 1
        out.append(t)
    return out


def _action_for(at: float, actions_at: Sequence[float]) -> tuple[int, float]:
    """The action an event followed (the last one started before it; the first, for events
    before any) and that action's start time."""
    index = 0
    for i, started in enumerate(actions_at):
        if started <= at:
            index = i
    return index, (actions_at[index] if actions_at else at)


def _rel(at: float, base: float) -> float:
    return round(at - base, 2)


def _on_screen(box: Box, frame: Frame) -> bool:
    x, y, w, h = box
    return x + w > 0 and y + h > 0 and x < frame.width and y < frame.height


def _model_box(box: Box, space: ScreenSpace, frame: Frame) -> Box:
    """A screen box as inclusive model-space corners [x0, y0, x1, y1], clipped to the screen."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(frame.width, x + w) - 1, min(frame.height, y + h) - 1
    mx0, my0 = space.to_model(x0, y0)
    mx1, my1 = space.to_model(max(x0, x1), max(y0, y1))
    return mx0, my0, mx1, my1

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


def open_watcher(display: str, *, origin: tuple[int, int] = (0, 0),
                 size: tuple[int, int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> tuple[Watcher | None, str]:
    """A started Watcher, or None and the reason it cannot watch this display."""
    try:
        return Watcher(display, origin=origin, size=size, clock=clock), ""
    except Unavailable as exc:
        return None, str(exc)

log = logging.getLogger(__name__)
T = TypeVar("T")

BASE_QUIET_S = 0.015
CAPTURE_QUIET_S = 0.001  # a first capture once the drawing pauses; the quiet is checked after
SYNC_S = 0.004  # an app whose first change came this soon after the press answered at once
LATE_S = 0.01  # ... this late, it did not; in between, as most of the run's apps did so far
BUSY_S = 0.1  # a change this soon before the input: drawing under way, the answer untimed
LATE_QUIET_S = 0.035  # two frames at 60 Hz: the least quiet window of a frame-clock app
GRACE_S = 0.04
ASYNC_HOLD_S = 0.15
MAX_HOLD_S = 0.4
LATENCY_FACTOR = 3.0
MAX_QUIET_S = 0.3
LEARN_WINDOW_S = 0.3
LEARN_MARGIN_S = 0.02
MAX_RETAKES = 2
POLL_S = 0.0005


@dataclass(frozen=True, slots=True)
class Shot(Generic[T]):
    """A screenshot taken on the display's events: the frame, what was made of it, how long
    the step waited for it to be settled, how many captures it took, and what came and went
    before it."""

    frame: Frame
    made: T
    waited_s: float
    captures: int
    is_stable: bool
    found: Found


@dataclass(frozen=True, slots=True)
class Found:
    """The transients of one interval, with their pictures (PNG) where they have one."""

    transients: tuple[Transient, ...]
    pngs: tuple[bytes | None, ...]
    action_ids: tuple[str, ...]  # the tool_use ids of the turn's actions, in order


@dataclass(frozen=True, slots=True)
class Settling:
    """One screenshot's wait: `since` the last action started (or the screenshot was asked
    for, with no input), `sent` its last input went out."""

    since: float
    sent: float
    after_input: bool
    inputs: tuple[tuple[float, bool], ...] = ()  # (sent at, is a press) of the action's input


class Between:
    def __init__(self, watcher: Watcher, *, space: ScreenSpace, ceiling_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 inputs_since: Callable[[float], list[tuple[float, bool]]] | None = None
                 ) -> None:
        self.watcher, self.space, self.ceiling_s = watcher, space, ceiling_s
        self.clock, self.sleep = clock, sleep
        # the desktop's: the input events sent since a time (when, and whether a press)
        self.inputs_since = inputs_since
        self.listener: Listener | None = None  # desktop notifications, where a bus is
        self.quiet_s = BASE_QUIET_S
        self.shots = 0
        self.hold_s = 0.0  # learned: after input, the request waits this long
        self.late_seen = False  # an app answered a frame or more after the input
        self.answers = {"at once": 0, "late": 0}  # steps whose app answered so, this run
        self.judged: dict[float, float | None] = {}  # action start -> its latency, if late
        self.turn: list[tuple[float, str]] = []  # (start, tool_use_id) of each action
        self.shot_at: float | None = None  # when the last screenshot was captured
        # the last screenshot after input, for learning: (captured at, input sent at, frame)
        self.learn_from: tuple[float, float, Frame] | None = None

    def action_started(self, tool_use_id: str) -> None:
        now = self.clock()
        if not self.turn:
            self._learn(now)
        self.turn.append((now, tool_use_id))

    def _learn(self, now: float) -> None:
        """Hold later requests when the app answered after the last screenshot, and the
        answer stayed (a toast that came and went was told as such: nothing to wait for)."""
        if self.learn_from is None:
            return
        shot_at, sent, frame = self.learn_from
        self.learn_from = None
        late = self.watcher.changes_between(shot_at, min(shot_at + LEARN_WINDOW_S, now))
        if not late or not self.watcher.still_differs([box for _, box in late], frame):
            return
        hold = min(MAX_HOLD_S, late[0][0] - sent + LEARN_MARGIN_S)
        if hold > self.hold_s:
            self.hold_s = hold
            log.info("the screen changed %.0f ms after a screenshot and stayed so: requests "
                     "after input now leave no sooner than %.0f ms after it",
                     (late[0][0] - shot_at) * 1000, hold * 1000)

    def changed_since(self, at: float) -> float | None:
        """A change after `at` (the capture): the screenshot is out of date."""
        changed = self.watcher.last_change()
        return changed if changed is not None and changed > at else None

    def _settling(self, *, after_input: bool, now: float) -> Settling:
        if not (after_input and self.turn):
            return Settling(now, now, False)
        since = self.turn[-1][0]
        inputs = self.inputs_since(since) if self.inputs_since is not None else []
        return Settling(since, inputs[-1][0] if inputs else since, True, tuple(inputs))

    def _answered_late(self, step: Settling) -> float | None:
        """How long after the press the app's first change came, when that is too late for
        an app that answers at once; None when it answered at once or not at all."""
        if step.since in self.judged:
            return self.judged[step.since]
        # The answer to the action's first press (to its first input, without one), timed
        # from the newest press (or input) before it.
        began = step.inputs[0][0] if step.inputs else step.since
        presses = [at for at, is_press in step.inputs if is_press]
        origin = presses[0] if presses else began
        first = self.watcher.first_change_after(origin)
        if first is None:
            return None
        before = ([at for at in presses if at <= first]
                  or [at for at, _ in step.inputs if at <= first] or [origin])
        latency = first - before[-1]
        # Drawing already under way before the action's input (an animation, a page still
        # loading): its next frame says nothing of how soon the app answers. Late, the safe
        # side. (A change between the first input and the press, such as a button lit as
        # the pointer comes over it, is an answer, not drawing under way.)
        busy = self.watcher.first_change_after(
            max(began - BUSY_S, -1.0 if self.shot_at is None else self.shot_at),
            began) is not None
        # A paint 4-10 ms after the input: an app that answers at once on a busy machine, or
        # one that draws on a frame clock and caught a frame early; what most of the run's
        # apps did so far decides (a fresh run: late, the safe side).
        at_once = not busy and (latency <= SYNC_S or (
            latency <= LATE_S and self.answers["at once"] > self.answers["late"]))
        self.answers["at once" if at_once else "late"] += 1
        self.judged = {step.since: None if at_once else latency}
        if at_once:
            return None
        if not self.late_seen:
            self.late_seen = True
            log.info("the app answered %.0f ms after the input: it may answer a round trip "
                     "later, so requests after input are held %.0f ms", latency * 1000,
                     max(ASYNC_HOLD_S, self.hold_s) * 1000)
        return latency

    @property
    def mostly_late(self) -> bool:
        """Whether the run's apps have answered late at least as often as at once (one slow
        paint of an app that answers at once, on a busy machine, does not make it so)."""
        return self.answers["late"] > 0 and self.answers["late"] >= self.answers["at once"]

    def _window(self, late: float | None) -> float:
        """How long the screen must stay still after its last change."""
        if late is None:
            return self.quiet_s
        return max(self.quiet_s, LATE_QUIET_S, min(MAX_QUIET_S, LATENCY_FACTOR * late))

    def _due(self, step: Settling, after: float) -> float:
        """When a screenshot may leave whose screen last changed at `after` (`step.since`
        if it has not changed), provided nothing changes until then."""
        if not step.after_input:
            changed = self.watcher.first_change_after(step.since) is not None
            return after + self.quiet_s if changed else after
        if self.watcher.first_change_after(step.since) is None:
            hold = max(self.hold_s, ASYNC_HOLD_S if self.mostly_late else 0.0)
            return max(step.since + GRACE_S, step.sent + hold)
        late = self._answered_late(step)
        hold = self.hold_s if late is None else max(self.hold_s, ASYNC_HOLD_S)
        return max(after + self._window(late), step.sent + hold)

    def _ready(self, step: Settling, since: float, t0: float, *, early: bool) -> bool:
        """Wait until a capture is worth taking; False at the ceiling. `early`: the first
        capture after input, taken once the app's drawing pauses (checked after, in `_holds`);
        otherwise once the screen has been still for as long as the rule asks."""
        while True:
            now = self.clock()
            last = self.watcher.last_change()
            changed = last is not None and last >= since
            if early:
                if changed:
                    late = self._answered_late(step)
                    if now - last >= (CAPTURE_QUIET_S if late is None
                                      else self._window(late)):
                        return True
                elif now >= step.sent + LATE_S:  # an app that answers at once has drawn
                    return True
            elif now >= self._due(step, last if changed and last is not None else since):
                return True
            if now - t0 >= self.ceiling_s:
                return False
            self.sleep(POLL_S)

    def _holds(self, step: Settling, shot_at: float, last: float | None, t0: float
               ) -> tuple[float | None, bool]:
        """After an early capture (at `shot_at`, the screen having last changed at `last`):
        wait until it may leave; the change that outdated it, if one came first, and whether
        the wait ended before the ceiling."""
        after = last if last is not None and last >= step.since else step.since
        while True:
            now = self.clock()
            # caught up first: every change drawn by now is then known to changed_since
            caught_up = self.watcher.caught_up()
            changed = self.changed_since(shot_at)
            if changed is not None:
                return changed, True
            if caught_up and now >= self._due(step, after):
                return None, True
            if now - t0 >= self.ceiling_s:
                return None, False
            self.sleep(POLL_S)

    def screenshot(self, capture: Callable[[], Frame], make: Callable[[Frame], T], *,
                   before: Frame | None, after_input: bool, retake: bool = True) -> Shot[T]:
        """Settle, capture and `make` (scale and encode); after input, the first capture is
        taken early and made while the screen is watched for the rest of the wait. A change
        before the request may leave takes it again (at most MAX_RETAKES times)."""
        t0 = self.clock()
        step = self._settling(after_input=after_input, now=t0)
        since, early, captures = step.since, step.after_input and retake, 0
        while True:
            is_stable = self._ready(step, since, t0, early=early)
            last = self.watcher.last_change()
            shot_at = self.clock()
            frame = capture()
            captures += 1
            captured = self.clock()
            made = make(frame)
            ready = self.clock()
            changed = None
            if early:
                changed, held = self._holds(step, shot_at, last, t0)
                is_stable = is_stable and held
            elif retake:
                changed = self.changed_since(shot_at)
            log.debug("screenshot %d: waited %.1f ms, captured in %.1f, made in %.1f, then "
                      "watched %.1f ms; the app answered %s", captures, (shot_at - t0) * 1000,
                      (captured - shot_at) * 1000, (ready - captured) * 1000,
                      (self.clock() - ready) * 1000, "late" if self.judged.get(step.since)
                      else "at once or not at all")
            if changed is None or captures > MAX_RETAKES:
                break
            log.debug("the screen changed %.0f ms after its capture: taken again",
                      (changed - shot_at) * 1000)
            since = changed
        waited = self.clock() - t0
        if step.after_input:
            self.learn_from = (shot_at, step.sent, frame)
        found = self.found(before=before, after=frame, shot_at=shot_at)
        return Shot(frame, made, waited, captures, is_stable, found)

    def found(self, *, before: Frame | None, after: Frame, shot_at: float) -> Found:
        """What came and went up to the screenshot captured at `shot_at`; starts a new turn."""
        seen = self.watcher.take(shot_at)
        self.shots += 1
        transients = find_transients(seen, before=before, after=after,
                                     actions_at=[t for t, _ in self.turn] or [shot_at],
                                     shot_at=shot_at, space=self.space)
        ids = tuple(i for _, i in self.turn)
        self.shot_at, self.turn = shot_at, []
        pngs = tuple(None if t.image is None else encode_png(t.image) for t in transients)
        return Found(tuple(transients), pngs, ids)

    def restart(self, shot_at: float) -> None:
        """The first screenshot: what came before it is not news."""
        self.watcher.take(shot_at)
        self.shot_at, self.turn = shot_at, []

    def close(self) -> None:
        cpu = self.watcher.cpu_s()
        log.info("the watcher used %.0f ms of CPU in its thread for %d screenshots (%.2f ms "
                 "each)", cpu * 1000, self.shots, cpu * 1000 / max(self.shots, 1))
        if self.listener is not None:
            self.listener.close()
        self.watcher.close()


def open_between(desktop: object, *, space: ScreenSpace, ceiling_s: float,
                 clock: Callable[[], float], sleep: Callable[[float], None],
                 env: Mapping[str, str] = os.environ) -> Between | None:
    """A Between for `desktop` when it can be watched (an XDesktop with DAMAGE); None, said
    once in the log (cua -v), when it cannot, and the step settles by comparing captures."""
    watch = getattr(desktop, "watch", None)
    if watch is None:
        return None
    watcher, reason = watch()
    if watcher is None:
        log.info("not watching between screenshots (%s): settling by comparing captures, "
                 "and Claude is not told what came and went", reason)
        return None
    between = Between(watcher, space=space, ceiling_s=ceiling_s, clock=clock, sleep=sleep,
                      inputs_since=getattr(desktop, "inputs_since", None))
    listener, reason = open_listener(env, watcher.add_notice)
    if listener is None:
        log.debug("not listening for desktop notifications: %s", reason)
    between.listener = listener
    return between


def transient_name(step: int, index: int) -> str:
    """File name, in the run folder, of a step's `index`-th transient picture (from 1)."""
    return f"step-{step:03d}-transient-{index}.png"


def for_record(found: Found | None, step: int
               ) -> tuple[tuple[dict[str, object], ...], tuple[tuple[str, bytes], ...]]:
    """A step's transients as the record lists them, and their pictures (file name, PNG)."""
    if found is None:
        return (), ()
    records, pictures = [], []
    for t, png in zip(found.transients, found.pngs, strict=True):
        name = None
        if png is not None:
            name = transient_name(step, len(pictures) + 1)
            pictures.append((name, png))
        records.append(t.record(name))
    return tuple(records), tuple(pictures)
