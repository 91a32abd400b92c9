"""Computer-tool actions: parse what Claude asked for, map it to screen pixels, perform it.

`parse_action` checks the input against the flavour's action set and turns model-space
coordinates into screen pixels through `ScreenSpace`; anything Claude can fix raises ActionError.
It is where every action's input is checked, once: every numeric field through one conversion
(`number`: a JSON number, bounded as it came, before any float arithmetic, so a 400-digit int,
NaN, Infinity or a boolean is an error and never a crash), every text field through one check
(`_string`: valid Unicode, no lone surrogate), chords and held modifiers by the key parser that
types them, and text by the keysyms that would type it. Messages quote values through
reply.shown, which never recurses into a list 100,000 deep. The desktop takes what it is given.

The screen the actions are aimed at: screen geometry, scaling between screen and model space,
PNG encoding and settle detection.

Everything here is pure except `wait_for_settle`, which polls a capture function it is given.
(Settling on the display's own events, where it can be watched, is core/x11/watcher.py's.)
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from ..errors import ActionError
from . import keys
from .desktop import Button, Desktop, Frame, ScrollDirection
from .words import shown

# Anthropic's guidance for computer-use screenshots on most models: the long edge at most 1568 px
# and about 1.15 megapixels. Larger images are rejected or downscaled server-side, which would
# break the coordinate mapping, so cua downscales first and declares exactly the size it sends.
DEFAULT_MAX_LONG_EDGE = 1568
DEFAULT_MAX_PIXELS = 1_150_000


@dataclass(frozen=True, slots=True)
class ScreenSpace:
    """The real screen size and the (smaller or equal) size Claude sees and answers in."""

    screen_w: int
    screen_h: int
    model_w: int
    model_h: int

    @property
    def is_scaled(self) -> bool:
        return (self.screen_w, self.screen_h) != (self.model_w, self.model_h)

    def to_screen(self, x: int, y: int) -> tuple[int, int]:
        """Map a model-space point to the screen pixel whose area contains it."""
        if not (0 <= x < self.model_w and 0 <= y < self.model_h):
            raise ActionError(
                f"coordinate ({x}, {y}) is outside the screen; x must be 0..{self.model_w - 1} "
                f"and y 0..{self.model_h - 1}"
            )
        sx = min(self.screen_w - 1, math.floor((x + 0.5) * self.screen_w / self.model_w))
        sy = min(self.screen_h - 1, math.floor((y + 0.5) * self.screen_h / self.model_h))
        return sx, sy

    def region_to_screen(self, region: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A model-space region [x0, y0, x1, y1] as the screen-pixel box (right and bottom
        exclusive) that zoom crops."""
        x0, y0, x1, y1 = region
        sx0, sy0 = self.to_screen(x0, y0)
        sx1, sy1 = self.to_screen(min(x1, self.model_w - 1), min(y1, self.model_h - 1))
        return sx0, sy0, sx1 + 1, sy1 + 1

    def to_model(self, sx: int, sy: int) -> tuple[int, int]:
        """Map a screen pixel to model space (used for cursor_position)."""
        x = min(self.model_w - 1, max(0, math.floor((sx + 0.5) * self.model_w / self.screen_w)))
        y = min(self.model_h - 1, max(0, math.floor((sy + 0.5) * self.model_h / self.screen_h)))
        return x, y


def fit_size(
    width: int,
    height: int,
    *,
    max_long_edge: int = DEFAULT_MAX_LONG_EDGE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """The largest size with (nearly) the same aspect ratio that fits both image limits."""
    scale = min(1.0, max_long_edge / max(width, height), math.sqrt(max_pixels / (width * height)))
    w = max(1, math.floor(width * scale))
    h = max(1, math.floor(height * scale))
    while w * h > max_pixels:  # floor rounding can leave a few pixels over the budget
        w, h = w - 1, max(1, round((w - 1) * height / width))
    return w, h


def space_for(
    width: int, height: int, *, max_long_edge: int, max_pixels: int
) -> ScreenSpace:
    """The ScreenSpace for a screen of this size under these image limits."""
    w, h = fit_size(width, height, max_long_edge=max_long_edge, max_pixels=max_pixels)
    return ScreenSpace(width, height, w, h)


def frame_to_image(frame: Frame) -> Image.Image:
    """An RGB Pillow image from a raw BGRA capture (no copy beyond the decode)."""
    return Image.frombuffer("RGB", (frame.width, frame.height), frame.bgra, "raw", "BGRX", 0, 1)


def scale_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Downscale (or upscale, for zoom) to exactly `size`."""
    if image.size == size:
        return image
    # BOX (area averaging) is the fastest filter that still anti-aliases a downscale: about
    # 13 ms for 1920x1080 → 1429x804 here, against 20 ms for BILINEAR and 38 ms for LANCZOS,
    # and UI text reads as well at these scales.
    return image.resize(size, Image.Resampling.BOX)


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes, tuned for speed: screenshots are re-encoded every step."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class PendingPng:
    """A screenshot encoded when it is first wanted, once, on whichever thread wants it first.

    A replayed step's screenshot goes to no model, only into the run record: the recorder
    encodes it beside the next step (Pillow lets go of the GIL while it compresses) instead of
    on the step's path, where the encode was most of a replayed step's cost."""

    def __init__(self, image: Image.Image) -> None:
        self._image: Image.Image | None = image
        self._png: bytes | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            if self._png is None:
                assert self._image is not None
                self._png, self._image = encode_png(self._image), None
            return self._png


def zoom_region(
    frame: Frame, space: ScreenSpace, region: tuple[int, int, int, int]
) -> Image.Image:
    """Crop a model-space region from the full-resolution capture and fit it to the image budget."""
    x0, y0, x1, y1 = region
    if not (x0 < x1 and y0 < y1):
        raise ActionError(f"zoom region {list(region)} must have x0 < x1 and y0 < y1")
    crop = frame_to_image(frame).crop(space.region_to_screen(region))
    scale = min(space.model_w / crop.width, space.model_h / crop.height)
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    return crop.resize(size, Image.Resampling.LANCZOS)


@dataclass(frozen=True, slots=True)
class Settled:
    """The frame the screen settled on, how long that took, and whether it really settled."""

    frame: Frame
    waited_s: float
    captures: int
    is_stable: bool


def crop_box(frame: Frame, box: tuple[int, int, int, int], margin: int = 60) -> Image.Image:
    """The full-resolution frame around `box` (x0, y0, x1, y1), with `margin` pixels of
    context and the box outlined in red, for a person judging text found on the screen."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    from PIL import ImageDraw

    left, top = max(box[0] - margin, 0), max(box[1] - margin, 0)
    right, bottom = min(box[2] + margin, frame.width), min(box[3] + margin, frame.height)
    image = frame_to_image(frame).crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    ImageDraw.Draw(image).rectangle((box[0] - left - 4, box[1] - top - 4, box[2] - left + 4,
                                     box[3] - top + 4), outline=(255, 0, 0), width=3)
    return image


def crop_around(frame: Frame, point: tuple[int, int], size: tuple[int, int] = (480, 320)
                ) -> Image.Image:
    """A `size` crop of the full-resolution frame centred on `point` (shifted to stay on screen),
    with the point marked by a red cross, for a person deciding whether to approve a click."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    from PIL import ImageDraw

    w, h = min(size[0], frame.width), min(size[1], frame.height)
    left = min(max(point[0] - w // 2, 0), frame.width - w)
    top = min(max(point[1] - h // 2, 0), frame.height - h)
    image = frame_to_image(frame).crop((left, top, left + w, top + h))
    x, y = point[0] - left, point[1] - top
    draw = ImageDraw.Draw(image)
    for dx, dy in ((12, 0), (0, 12)):
        draw.line((x - dx, y - dy, x + dx, y + dy), fill=(255, 0, 0), width=3)
    return image


def wait_for_settle(
    capture: Callable[[], Frame],
    *,
    baseline: Frame | None = None,
    interval_s: float = 0.02,
    ceiling_s: float = 2.0,
    quiet_grace_s: float = 0.1,
    hold_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Settled:
    """Capture until two consecutive frames are identical (and, with `hold_s`, the screen has
    not changed for that long), or until the ceiling.

    No fixed wait: comparing raw bytes is a memcmp (about a millisecond for 1920x1080), and a
    screen that changed and then held still for one interval is done. `baseline` is the screen
    before the action: while the screen still equals it, the program may simply not have
    repainted yet, so polling goes on for up to `quiet_grace_s` before calling it settled.
    Screens that never settle (animations) stop at the ceiling and the last frame is used.
    """
    start = clock()
    previous = capture()
    captures, changed_at = 1, start
    while True:
        sleep(interval_s)
        current = capture()
        captures += 1
        now = clock()
        elapsed = now - start
        if current.bgra == previous.bgra:
            is_unchanged = baseline is not None and current.bgra == baseline.bgra
            if (not is_unchanged or elapsed >= quiet_grace_s) and now - changed_at >= hold_s:
                return Settled(current, elapsed, captures, True)
        else:
            changed_at = now
        if elapsed >= ceiling_s:
            return Settled(current, elapsed, captures, False)
        previous = current


def wait_for_change(
    capture: Callable[[], Frame],
    baseline: Frame,
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Settled:
    """Wait until the screen differs from `baseline` (a program has drawn), then until it settles.

    Gives up quietly at the timeout: an app that draws nothing is still a valid start.
    """
    start = clock()
    while clock() - start < timeout_s:
        if capture().bgra != baseline.bgra:
            remaining = max(0.0, timeout_s - (clock() - start))
            return wait_for_settle(capture, interval_s=interval_s,
                                   ceiling_s=min(remaining, 3.0), clock=clock, sleep=sleep)
        sleep(interval_s)
    return Settled(baseline, clock() - start, 0, False)


@dataclass(frozen=True, slots=True)
class Target:
    """A point as Claude named it (model space) and where it lands on the screen."""

    api: tuple[int, int]
    screen: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Key:
    chord: str
    repeat: int = 1


@dataclass(frozen=True, slots=True)
class HoldKey:
    chord: str
    seconds: float


@dataclass(frozen=True, slots=True)
class TypeText:
    text: str


@dataclass(frozen=True, slots=True)
class MouseMove:
    at: Target


@dataclass(frozen=True, slots=True)
class Click:
    at: Target | None
    button: Button = "left"
    count: int = 1
    modifiers: str | None = None


@dataclass(frozen=True, slots=True)
class Drag:
    start: Target | None
    end: Target
    modifiers: str | None = None


@dataclass(frozen=True, slots=True)
class MouseButton:
    at: Target | None
    is_down: bool


@dataclass(frozen=True, slots=True)
class Scroll:
    at: Target | None
    direction: ScrollDirection
    amount: int
    modifiers: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class Screenshot:
    pass


@dataclass(frozen=True, slots=True)
class CursorPosition:
    pass


@dataclass(frozen=True, slots=True)
class Zoom:
    region: tuple[int, int, int, int]


Action = (
    Key | HoldKey | TypeText | MouseMove | Click | Drag | MouseButton | Scroll | Wait
    | Screenshot | CursorPosition | Zoom
)

ActionName = Literal[
    "key", "hold_key", "type", "cursor_position", "mouse_move", "left_mouse_down",
    "left_mouse_up", "left_click", "left_click_drag", "right_click", "middle_click",
    "double_click", "triple_click", "scroll", "wait", "screenshot", "zoom",
]

_CLICKS: dict[str, tuple[Button, int]] = {
    "left_click": ("left", 1),
    "right_click": ("right", 1),
    "middle_click": ("middle", 1),
    "double_click": ("left", 2),
    "triple_click": ("left", 3),
}
MAX_WAIT_S = 60
MAX_REPEAT = 100
MAX_SCROLL = 50
_COORDINATE_LIMIT = 2**31  # beyond any screen; to_screen then says where the screen ends


def parse_action(
    name: str,
    tool_input: Mapping[str, Any],
    *,
    allowed: frozenset[str],
    space: ScreenSpace,
    clicks_take_coordinate: bool = True,
) -> Action:
    """Turn one computer-tool call into an Action, or raise ActionError saying what is wrong."""
    if not isinstance(name, str) or name not in allowed:
        raise ActionError(
            f"unknown action {_shown(name)}; this tool version supports: "
            f"{', '.join(sorted(allowed))}"
        )
    if not isinstance(tool_input, Mapping):
        raise ActionError(f"the input of {name} must be an object, got {_shown(tool_input)}")
    if name in _CLICKS:
        button, count = _CLICKS[name]
        at = _optional_target(tool_input, "coordinate", space) if clicks_take_coordinate else None
        return Click(at, button, count, _modifiers(tool_input))
    return _PARSERS[name](tool_input, space)


def _key(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    chord = _text(inp, "text")
    keys.parse_chords(chord)  # an unknown or malformed key is Claude's to fix, before anything
    return Key(chord, _int_in(_given(inp, "repeat", 1), "repeat", 1, MAX_REPEAT))


def _hold_key(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    chord = _text(inp, "text")
    keys.parse_chord(chord)
    return HoldKey(chord, _seconds(inp, "duration"))


def _type(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    text = _text(inp, "text", allow_empty=True)
    keys.keysyms_for_text(text)  # control characters and lone surrogates cannot be typed
    return TypeText(text)


def _mouse_move(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    return MouseMove(_target(inp, "coordinate", space))


def _drag(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    start = _optional_target(inp, "start_coordinate", space)
    return Drag(start, _target(inp, "coordinate", space), _modifiers(inp))


def _mouse_down(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    return MouseButton(_optional_target(inp, "coordinate", space), is_down=True)


def _mouse_up(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    return MouseButton(_optional_target(inp, "coordinate", space), is_down=False)


_DIRECTIONS: tuple[ScrollDirection, ...] = ("up", "down", "left", "right")


def _scroll(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    direction = inp.get("scroll_direction")
    if not isinstance(direction, str) or not _is_unicode(direction) or (
            direction not in _DIRECTIONS):
        raise ActionError(
            f"scroll_direction must be up, down, left or right, not {_shown(direction)}")
    amount = _int_in(_given(inp, "scroll_amount", 3), "scroll_amount", 1, MAX_SCROLL)
    at = _optional_target(inp, "coordinate", space)
    return Scroll(at, direction, amount, _modifiers(inp))


def _wait(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    return Wait(_seconds(inp, "duration"))


def _zoom(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    region = inp.get("region")
    if not (isinstance(region, list | tuple) and len(region) == 4):  # len: never recurses
        raise ActionError(f"zoom needs region [x0, y0, x1, y1], got {_shown(region)}")
    top = max(space.model_w, space.model_h)
    x0, y0, x1, y1 = (_int_in(v, "region value", 0, top) for v in region)
    if x1 > space.model_w or y1 > space.model_h or x0 >= x1 or y0 >= y1:
        raise ActionError(
            f"zoom region {[x0, y0, x1, y1]} must satisfy 0 <= x0 < x1 <= {space.model_w} and "
            f"0 <= y0 < y1 <= {space.model_h}"
        )
    return Zoom((x0, y0, x1, y1))


_PARSERS = {
    "key": _key,
    "hold_key": _hold_key,
    "type": _type,
    "mouse_move": _mouse_move,
    "left_click_drag": _drag,
    "left_mouse_down": _mouse_down,
    "left_mouse_up": _mouse_up,
    "scroll": _scroll,
    "wait": _wait,
    "screenshot": lambda _inp, _space: Screenshot(),
    "cursor_position": lambda _inp, _space: CursorPosition(),
    "zoom": _zoom,
}


def _shown(value: object, limit: int = 60) -> str:
    """A short rendering of a model-sent value for an error message; never fails."""
    return shown(value, limit)


def _is_unicode(text: str) -> bool:
    """Whether `text` is valid Unicode text (no surrogate code point: UTF-8 can carry it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _given(inp: Mapping[str, Any], field: str, default: object) -> object:
    """An optional field's value; null counts as not given."""
    value = inp.get(field)
    return default if value is None else value


def _string(value: object, field: str, *, allow_empty: bool = False) -> str:
    """The one check of every text field from the wire: a string, of valid Unicode text.

    A lone surrogate (U+D800 to U+DFFF) is no character at all: it cannot be typed, encoded for
    the record or shown, so it is Claude's to fix, before anything reaches the desktop."""
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ActionError(f"{field!r} must be a non-empty string, got {_shown(value)}")
    if not _is_unicode(value):
        bad = next(ch for ch in value if 0xD800 <= ord(ch) <= 0xDFFF)
        raise ActionError(f"{field!r} holds a lone surrogate (U+{ord(bad):04X}), which is not "
                          "valid Unicode text; send the text again as valid Unicode")
    return value


def _text(inp: Mapping[str, Any], field: str, *, allow_empty: bool = False) -> str:
    return _string(inp.get(field), field, allow_empty=allow_empty)


def _modifiers(inp: Mapping[str, Any]) -> str | None:
    """The modifier keys to hold ('shift', 'ctrl+alt'): only modifiers, never other keys."""
    value = inp.get("text")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ActionError(f"'text' (the held modifier) must be a string, got {_shown(value)}")
    _string(value, "text")
    if not set(keys.parse_chord(value)) <= keys.modifier_keysyms():
        raise ActionError(f"'text' names the keys to hold while the mouse acts, which must be "
                          f"modifiers such as shift, ctrl, alt or super; got {_shown(value)}")
    return value


def number(value: object, field: str, low: float, high: float, *, whole: bool = True,
           what: str | None = None) -> int | float:
    """The one conversion of every numeric field from the wire, bounded before any arithmetic.

    Accepts a JSON number (not a boolean) between `low` and `high`, a whole one when `whole`;
    anything else raises ActionError naming the field. An int is compared with the bounds as
    an int, exactly, whatever its size (a 400-digit int never meets float()); a float must be
    finite (not NaN or Infinity). What it returns is small enough for any float arithmetic.
    `what` replaces the default wording of the range error ("must be between ...").
    """
    kind = "whole number" if whole else "number"
    problem = None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem = f"{field} must be a {kind}, got {_shown(value)}"
    elif isinstance(value, float) and not math.isfinite(value):
        problem = f"{field} must be a finite {kind}, got {_shown(value)}"
    elif whole and isinstance(value, float) and not value.is_integer():
        problem = f"{field} must be a whole number, got {_shown(value)}"
    elif not low <= value <= high:
        problem = f"{field} must be between {low} and {high}, got {_shown(value)}"
    if problem is not None:
        raise ActionError(what or problem)
    return int(value) if whole else float(value)


def _int_in(value: object, field: str, low: int, high: int) -> int:
    return int(number(value, field, low, high))


def _seconds(inp: Mapping[str, Any], field: str) -> float:
    value = inp.get(field)
    return float(number(value, field, 0, MAX_WAIT_S, whole=False, what=(
        f"{field} must be seconds from 0 to {MAX_WAIT_S}, got {_shown(value)}")))


def _target(inp: Mapping[str, Any], field: str, space: ScreenSpace) -> Target:
    value = inp.get(field)
    if value is None:
        raise ActionError(f"this action needs {field} [x, y]")
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ActionError(f"{field} must be [x, y], got {_shown(value)}")
    x, y = (_int_in(v, field, -_COORDINATE_LIMIT, _COORDINATE_LIMIT) for v in value)
    try:
        return Target((x, y), space.to_screen(x, y))
    except ActionError as exc:
        if field == "coordinate":
            raise
        raise ActionError(f"{field}: {exc}") from None


def _optional_target(inp: Mapping[str, Any], field: str, space: ScreenSpace) -> Target | None:
    return None if inp.get(field) is None else _target(inp, field, space)


def _xy(target: Target | None) -> tuple[int | None, int | None]:
    return (None, None) if target is None else target.screen


def perform(action: Action, desktop: Desktop) -> None:
    """Carry out an input action on the desktop (not screenshot, zoom, wait or cursor_position)."""
    match action:
        case Key(chord, repeat):
            desktop.key(chord, repeat=repeat)
        case HoldKey(chord, seconds):
            desktop.hold_key(chord, seconds=seconds)
        case TypeText(text):
            desktop.type_text(text)
        case MouseMove(at):
            desktop.move(*at.screen)
        case Click(at, button, count, modifiers):
            desktop.click(*_xy(at), button=button, count=count, modifiers=modifiers)
        case Drag(start, end, modifiers):
            origin = desktop.cursor_position() if start is None else start.screen
            desktop.drag(origin, end.screen, modifiers=modifiers)
        case MouseButton(at, is_down):
            if is_down:
                desktop.mouse_down(*_xy(at))
            else:
                desktop.mouse_up(*_xy(at))
        case Scroll(at, direction, amount, modifiers):
            desktop.scroll(*_xy(at), direction=direction, amount=amount, modifiers=modifiers)
        case _:
            raise TypeError(f"perform() does not handle {action!r}")


def describe(action: Action) -> dict[str, Any]:
    """A JSON-ready description for the live view and the run record."""
    out: dict[str, Any] = {"kind": type(action).__name__}
    for field in action.__dataclass_fields__:
        value = getattr(action, field)
        if isinstance(value, Target):
            out[field] = {"api": list(value.api), "screen": list(value.screen)}
        elif value is not None:
            out[field] = list(value) if isinstance(value, tuple) else value
    return out
