"""Screen geometry, scaling between screen and model space, PNG encoding and settle detection.

Everything here is pure except `wait_for_settle`, which polls a capture function it is given.
(Settling on the display's own events, where it can be watched, is core/x11/between.py's.)
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from ..errors import ActionError
from .desktop import Frame

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
