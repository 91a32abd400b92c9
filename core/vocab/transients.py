"""What flashed by between two screenshots: the watcher's raw events in, Claude's lines out.

Pure: core/x11/watcher.py records what the X server reported between two screenshots (windows
that were mapped and unmapped, damaged rectangles, small captures of them, desktop
notifications) as an `Observed`; `find_transients` decides which of those Claude could not
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageChops

from .desktop import Frame
from .screen import ScreenSpace
from .transient_text import transient_text

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


@dataclass(frozen=True, slots=True)
class Notice:
    """A desktop notification (org.freedesktop.Notifications.Notify)."""

    at: float
    app: str
    summary: str
    body: str = ""


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
