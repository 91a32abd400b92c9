"""The injection tripwire's reading: every screenshot Claude is sent is read (OCR) in the
background while Claude thinks, and judged by `injection.scan`.

One `Tripwire` per run (nothing here is global): `submit(frame)` queues the frame to a worker
thread of its own; `submit_zoom(image, box)` queues an image the zoom action sends Claude (read
whole, its findings in screen pixels); `result(limit_s)` waits for the newest frame's findings
and those of the zooms since it, at most `limit_s`.
Only what changed since the last frame read is read again, when that is a smaller part of the
screen: the changes are cut into horizontal bands (a new dialog, a title bar repainted as focus
moves), each band is read on its own, and lines outside every band are kept from before.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Protocol

from PIL import Image, ImageChops

from ..vocab.desktop import Frame
from ..vocab.screen import frame_to_image
from .injection import Box, Finding, TextLine, scan

WAIT_LIMIT_S = 20.0  # the longest a step waits for a scan after Claude's reply
PAD = 48  # pixels around a changed region, so a line it cuts is read whole
FULL_READ_SHARE = 0.5  # changed regions larger than this share of the screen: read it all
STRIP = 16  # rows per strip when finding the changed bands
# A changed region (not the whole screen) taller than this is read as two halves at once, one
# reading thread each: on two free cores in about half the wall time, for the same CPU time.
SPLIT_HEIGHT = 400
OVERLAP = 48  # rows the halves share where no quiet row is found (see _pieces)
SEARCH = 120  # rows either side of the middle searched for a quiet row to cut at
QUIET_SHARE = 0.02  # a quiet row: at most this share of its pixels unlike its commonest shade


class Reader(Protocol):
    """An OCR engine: the lines in an image, boxes in its pixels."""

    name: str

    def read(self, image: Image.Image) -> list[TextLine]: ...


@dataclass(frozen=True, slots=True)
class Scan:
    """What reading one screenshot found, and what it cost."""

    findings: tuple[Finding, ...] = ()
    lines: int = 0  # lines of text on the screen
    regions: tuple[Box, ...] = ()  # what was read; () when nothing changed since the last frame
    scan_s: float = 0.0  # wall time of the reading
    cpu_s: float = 0.0  # CPU time of the reading (its thread, plus the engine's processes)
    error: str | None = None  # the engine failed (the frame counts as unread)
    zooms: int = 0  # zoom pictures read with it (their findings included)
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
            "regions": None if s is None else [list(r) for r in s.regions],
            "lines": None if s is None else s.lines,
            "error": None if s is None else s.error,
            **({"zooms": s.zooms} if s is not None and s.zooms else {}),
        }


def changed_regions(before: Image.Image | None, after: Image.Image) -> tuple[Box, ...]:
    """The parts of `after` that differ from `before`: bands of changed rows, each as wide as
    its changes, padded by PAD; the whole image without `before`, on a size change, or when
    the bands cover more than FULL_READ_SHARE of it; () when nothing changed."""
    w, h = after.size
    full = ((0, 0, w, h),)
    if before is None or before.size != after.size:
        return full
    diff = ImageChops.difference(before, after)
    if diff.getbbox() is None:
        return ()
    bands: list[list[int]] = []  # [x0, y0, x1, y1] of runs of changed strips
    for top in range(0, h, STRIP):
        box = diff.crop((0, top, w, min(top + STRIP, h))).getbbox()
        if box is None:
            continue
        x0, y0, x1, y1 = box[0], top + box[1], box[2], top + box[3]
        if bands and y0 - bands[-1][3] <= PAD:
            band = bands[-1]
            band[0], band[2], band[3] = min(band[0], x0), max(band[2], x1), y1
        else:
            bands.append([x0, y0, x1, y1])
    regions = tuple((max(x0 - PAD, 0), max(y0 - PAD, 0), min(x1 + PAD, w), min(y1 + PAD, h))
                    for x0, y0, x1, y1 in bands)
    area = sum((r[2] - r[0]) * (r[3] - r[1]) for r in regions)
    return full if area > FULL_READ_SHARE * w * h else regions


def _touches(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class Tripwire:
    """Reads submitted frames in order on one worker thread of its own."""

    def __init__(self, reader: Reader, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.reader, self.clock = reader, clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cua-tripwire")
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cua-ocr")
        self._latest: Future[Scan] | None = None
        self._zooms: list[Future[Scan]] = []  # zooms not yet in a result
        self._zooms_seen: list[Future[Scan]] = []  # in a result since the newest frame
        self._image: Image.Image | None = None  # the last frame read (worker thread only)
        self._lines: tuple[TextLine, ...] = ()  # its lines (worker thread only)
        self._lock = threading.Lock()

    def submit(self, frame: Frame) -> None:
        """Queue `frame` (the screenshot about to be sent to Claude) to be read. A frame still
        queued is dropped: a newer one took its place (a screenshot taken again because the
        screen changed under it)."""
        with self._lock:
            if self._latest is not None:
                self._latest.cancel()  # only when not yet started
            self._latest = self._pool.submit(self._read, frame)
            self._zooms_seen = []  # a zoom counts until a newer screenshot replaces it

    def submit_zoom(self, image: Image.Image, box: Box) -> None:
        """Queue `image`, the zoom action's picture of the screen's `box` (screen pixels), to
        be read whole; its findings join every result until the next screenshot."""
        with self._lock:
            self._zooms.append(self._pool.submit(self._read_zoom, image.copy(), box))

    def result(self, limit_s: float = WAIT_LIMIT_S) -> Waited:
        """The newest submitted frame's scan, waiting at most `limit_s` for it."""
        with self._lock:
            latest = self._latest
            self._zooms_seen += self._zooms
            zooms, self._zooms = list(self._zooms_seen), []
        if latest is None and not zooms:
            return Waited(None, 0.0)
        started = self.clock()
        try:
            scans = [f.result(timeout=max(limit_s - (self.clock() - started), 0))
                     for f in ([latest] if latest is not None else []) + zooms]
        except FutureTimeout:
            return Waited(None, self.clock() - started, timed_out=True)
        found = scans[0] if latest is not None else Scan()
        for zoom in scans[1:] if latest is not None else scans:
            found = replace(found, findings=found.findings + zoom.findings,
                            scan_s=found.scan_s + zoom.scan_s, cpu_s=found.cpu_s + zoom.cpu_s,
                            error=found.error or zoom.error, zooms=found.zooms + 1)
        return Waited(found, self.clock() - started)

    def close(self) -> None:
        """Stop the worker; a read under way finishes on its own, queued ones are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._readers.shutdown(wait=False, cancel_futures=True)

    def _read(self, frame: Frame) -> Scan:
        t0, c0 = self.clock(), _cpu()
        image = frame_to_image(frame).convert("L")
        regions = changed_regions(self._image, image)
        if not regions:
            return Scan(tuple(scan(self._lines)), len(self._lines), (), self.clock() - t0,
                        _cpu() - c0, lines_found=self._lines)
        # The whole screen is read as one page: Tesseract's layout analysis needs all of it
        # (cut in two, it lost a line of a dark notification; benchmarks/tripwire.py, hostile).
        whole = regions == ((0, 0, image.width, image.height),)
        pieces = ([(regions[0], 0, image.height)] if whole else
                  [piece for region in regions for piece in _pieces(image, region)])
        try:
            read = list(self._readers.map(lambda piece: self._read_piece(image, *piece),
                                          pieces))
            fresh = [line for lines, _ in read for line in lines]
        except Exception as exc:  # any engine failure leaves the frame unread
            self._image, self._lines = None, ()
            return Scan(regions=regions, scan_s=self.clock() - t0, cpu_s=_cpu() - c0,
                        error=f"{type(exc).__name__}: {exc}")
        c0 -= sum(cpu for _, cpu in read)  # the reading threads' CPU time
        kept = [line for line in self._lines
                if not any(_touches(line.box, region) for region in regions)]
        # A whole frame keeps the engine's reading order; new lines are put among the kept
        # ones top to bottom.
        lines = tuple(fresh) if not kept else tuple(
            sorted(kept + fresh, key=lambda line: (line.box[1] // 8, line.box[0])))
        self._image, self._lines = image, lines
        return Scan(tuple(scan(lines)), len(lines), regions, self.clock() - t0, _cpu() - c0,
                    lines_found=lines)


    def _read_zoom(self, image: Image.Image, box: Box) -> Scan:
        t0, c0 = self.clock(), _cpu()
        grey = image.convert("L")
        pieces = _pieces(grey, (0, 0, grey.width, grey.height))
        try:
            read = list(self._readers.map(lambda piece: self._read_piece(grey, *piece),
                                          pieces))
        except Exception as exc:  # any engine failure leaves the zoom unread
            return Scan(regions=(box,), scan_s=self.clock() - t0, cpu_s=_cpu() - c0,
                        error=f"{type(exc).__name__}: {exc}", zooms=1)
        sx, sy = (box[2] - box[0]) / grey.width, (box[3] - box[1]) / grey.height
        lines = tuple(TextLine(line.text, (box[0] + int(line.box[0] * sx),
                                           box[1] + int(line.box[1] * sy),
                                           box[0] + math.ceil(line.box[2] * sx),
                                           box[1] + math.ceil(line.box[3] * sy)),
                               line.confidence)
                      for lines_read, _ in read for line in lines_read)
        findings = tuple(replace(f, seen_in="zoom") for f in scan(lines))
        return Scan(findings, len(lines), (box,), self.clock() - t0,
                    _cpu() - c0 + sum(cpu for _, cpu in read), zooms=1)

    def _read_piece(self, image: Image.Image, box: Box, lo: int, hi: int
                    ) -> tuple[list[TextLine], float]:
        """The lines read in `box`, in screen pixels, whose middle row is in [lo, hi); and the
        CPU time it took (on a reading thread)."""
        c0 = _cpu()
        x0, y0 = box[0], box[1]
        out = []
        for line in self.reader.read(image.crop(box)):
            moved = (line.box[0] + x0, line.box[1] + y0, line.box[2] + x0, line.box[3] + y0)
            if lo <= (moved[1] + moved[3]) // 2 < hi:
                out.append(TextLine(line.text, moved, line.confidence))
        return out, _cpu() - c0


def _pieces(image: Image.Image, region: Box) -> list[tuple[Box, int, int]]:
    """How a region is read: (the box read, the rows whose lines it keeps) for each piece.
    A tall region is cut in two at the quietest row near its middle (the gap between two
    lines of text), so neither half reads a line twice; where no row is quiet (a picture),
    the halves overlap by OVERLAP rows instead."""
    x0, y0, x1, y1 = region
    if y1 - y0 <= SPLIT_HEIGHT:
        return [(region, y0, y1)]
    middle = (y0 + y1) // 2
    cut = _quiet_row(image, x0, x1, middle)
    if cut is not None:
        return [((x0, y0, x1, cut), y0, cut), ((x0, cut, x1, y1), cut, y1)]
    return [((x0, y0, x1, min(middle + OVERLAP, y1)), y0, middle),
            ((x0, max(middle - OVERLAP, y0), x1, y1), middle, y1)]


def _quiet_row(image: Image.Image, x0: int, x1: int, middle: int) -> int | None:
    """The row within SEARCH rows of `middle` with the fewest pixels unlike its commonest
    shade (text crossing it), nearest the middle among equals; None when even that row has
    more than QUIET_SHARE of its width unlike it."""
    best: tuple[int, int, int] | None = None  # (ink, distance, row)
    for row in range(max(middle - SEARCH, 1), min(middle + SEARCH, image.height - 1)):
        counts = image.crop((x0, row, x1, row + 1)).histogram()
        ink = (x1 - x0) - max(counts)
        candidate = (ink, abs(row - middle), row)
        if best is None or candidate < best:
            best = candidate
    if best is None or best[0] > QUIET_SHARE * (x1 - x0):
        return None
    return best[2]


def _cpu() -> float:
    """This thread's CPU time (the engine reads in the thread that calls it)."""
    return time.thread_time()
