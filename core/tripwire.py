"""The injection tripwire's reading: every screenshot Claude is sent is read (OCR) in the
background while Claude thinks, and judged by `injection.scan`.

One `Tripwire` per run (nothing here is global): `submit(frame)` queues the frame to a worker
thread of its own; `result(limit_s)` waits for the newest frame's findings, at most `limit_s`.
Only what changed since the last frame read is read again, when that is a smaller part of the
screen: lines outside the changed region are kept from before, lines touching it read anew.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image, ImageChops

from .desktop import Frame
from .injection import Box, Finding, TextLine, scan
from .screen import frame_to_image

WAIT_LIMIT_S = 20.0  # the longest a step waits for a scan after Claude's reply
PAD = 48  # pixels around a changed region, so a line it cuts is read whole
FULL_READ_SHARE = 0.5  # a changed region larger than this share of the screen: read it all


class Reader(Protocol):
    """An OCR engine: the lines in an image, boxes in its pixels."""

    name: str

    def read(self, image: Image.Image) -> list[TextLine]: ...


@dataclass(frozen=True, slots=True)
class Scan:
    """What reading one screenshot found, and what it cost."""

    findings: tuple[Finding, ...] = ()
    lines: int = 0  # lines of text on the screen
    region: Box | None = None  # what was read; None when nothing changed since the last frame
    scan_s: float = 0.0  # wall time of the reading
    cpu_s: float = 0.0  # CPU time of the reading (its thread, plus the engine's processes)
    error: str | None = None  # the engine failed (the frame counts as unread)
    lines_found: tuple[TextLine, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Waited:
    """A step's wait for the scan of the screenshot Claude answered."""

    scan: Scan | None  # None: not done within the limit, or nothing was submitted
    wait_s: float
    timed_out: bool = False

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.scan.findings if self.scan is not None else ()

    def to_dict(self) -> dict[str, object]:
        """The step record's `tripwire`."""
        s = self.scan
        return {
            "findings": [f.to_dict() for f in self.findings],
            "wait_s": round(self.wait_s, 4),
            "timed_out": self.timed_out,
            "scan_s": None if s is None else round(s.scan_s, 4),
            "cpu_s": None if s is None else round(s.cpu_s, 4),
            "region": None if s is None or s.region is None else list(s.region),
            "lines": None if s is None else s.lines,
            "error": None if s is None else s.error,
        }


def changed_region(before: Image.Image | None, after: Image.Image) -> Box | None:
    """The bounding box of what differs (padded, on screen); the whole image without `before`
    or on a size change; None when nothing changed."""
    full = (0, 0, after.width, after.height)
    if before is None or before.size != after.size:
        return full
    box = ImageChops.difference(before, after).getbbox()
    if box is None:
        return None
    x0, y0, x1, y1 = box
    padded = (max(x0 - PAD, 0), max(y0 - PAD, 0), min(x1 + PAD, after.width),
              min(y1 + PAD, after.height))
    area = (padded[2] - padded[0]) * (padded[3] - padded[1])
    return full if area > FULL_READ_SHARE * after.width * after.height else padded


def _touches(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class Tripwire:
    """Reads submitted frames in order on one worker thread of its own."""

    def __init__(self, reader: Reader, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.reader, self.clock = reader, clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cua-tripwire")
        self._latest: Future[Scan] | None = None
        self._image: Image.Image | None = None  # the last frame read (worker thread only)
        self._lines: tuple[TextLine, ...] = ()  # its lines (worker thread only)
        self._lock = threading.Lock()

    def submit(self, frame: Frame) -> None:
        """Queue `frame` (the screenshot just sent to Claude) to be read."""
        with self._lock:
            self._latest = self._pool.submit(self._read, frame)

    def result(self, limit_s: float = WAIT_LIMIT_S) -> Waited:
        """The newest submitted frame's scan, waiting at most `limit_s` for it."""
        with self._lock:
            latest = self._latest
        if latest is None:
            return Waited(None, 0.0)
        started = self.clock()
        try:
            found = latest.result(timeout=limit_s)
        except FutureTimeout:
            return Waited(None, self.clock() - started, timed_out=True)
        return Waited(found, self.clock() - started)

    def close(self) -> None:
        """Stop the worker; a read under way finishes on its own, queued ones are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, frame: Frame) -> Scan:
        t0, c0 = self.clock(), _cpu()
        image = frame_to_image(frame).convert("L")
        region = changed_region(self._image, image)
        if region is None:
            return Scan(tuple(scan(self._lines)), len(self._lines), None, self.clock() - t0,
                        _cpu() - c0, lines_found=self._lines)
        try:
            fresh = self.reader.read(image.crop(region))
        except Exception as exc:  # any engine failure leaves the frame unread
            self._image, self._lines = None, ()
            return Scan(region=region, scan_s=self.clock() - t0, cpu_s=_cpu() - c0,
                        error=f"{type(exc).__name__}: {exc}")
        dx, dy = region[0], region[1]
        moved = [TextLine(line.text, (line.box[0] + dx, line.box[1] + dy, line.box[2] + dx,
                                      line.box[3] + dy), line.confidence) for line in fresh]
        kept = [line for line in self._lines if not _touches(line.box, region)]
        # A whole frame keeps the engine's reading order; a region's lines are put among the
        # kept ones top to bottom.
        lines = tuple(moved) if not kept else tuple(
            sorted(kept + moved, key=lambda line: (line.box[1] // 8, line.box[0])))
        self._image, self._lines = image, lines
        return Scan(tuple(scan(lines)), len(lines), region, self.clock() - t0, _cpu() - c0,
                    lines_found=lines)


def _cpu() -> float:
    """This thread's CPU time plus what finished child processes (the engine's) used."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time() + children.ru_utime + children.ru_stime
