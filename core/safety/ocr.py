"""Reading text off a screenshot, offline: the one module that touches the OCR engine.

The engine is Tesseract, called in this process through `tesserocr` (its wheel carries the
library), which comes with the `ocr` extra (`pip install 'claude-cua[ocr]'`, or
`CUA_EXTRAS=ocr sh scripts/setup.sh`); the language data are Debian's `tesseract-ocr-eng` and,
for Chinese, `tesseract-ocr-chi-sim` (setup.sh installs them). Why Tesseract and not an ONNX
engine, and why in process rather than a `tesseract` program per read: benchmarks/ocr_engines.py
and benchmarks/tripwire.py, and the README's Safety section, give the figures.

`find_engine()` returns an engine, or None and the reason (the tripwire is then off); `read`
returns the lines found, each with its box in the image's pixels.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .injection import TextLine

INSTALL_HINT = ("apt-get install tesseract-ocr tesseract-ocr-eng, then "
                "pip install 'claude-cua[ocr]' (or: CUA_EXTRAS=ocr sh scripts/setup.sh)")
# Languages read when their data is installed; English is required. CUA_OCR_LANGS ("eng",
# "eng+chi_sim") picks them instead.
LANGUAGES = ("eng", "chi_sim")
MIN_CONFIDENCE = 30.0  # Tesseract's per-word confidence, 0-100; below it a "word" is noise
SOURCE_DPI = 70  # the resolution Tesseract is told the screenshot has (see read)
# Where Debian, other distributions and Homebrew put the language data; CUA_TESSDATA or
# Tesseract's own TESSDATA_PREFIX names another folder.
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                 "/usr/share/tessdata", "/usr/local/share/tessdata",
                 "/opt/homebrew/share/tessdata")


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """Whether OCR can run here, what it reads, and what to do when it cannot."""

    available: bool
    detail: str  # "tesseract 5.5.4 (eng, chi_sim)" or why not
    languages: tuple[str, ...] = ()
    tessdata: str = ""  # the folder the language data are read from


def _tessdata(env: Mapping[str, str]) -> Path | None:
    named = env.get("CUA_TESSDATA") or env.get("TESSDATA_PREFIX")
    if named:
        return Path(named)
    return next((Path(d) for d in TESSDATA_DIRS if Path(d, "eng.traineddata").is_file()), None)


def status(*, env: Mapping[str, str] = os.environ) -> EngineStatus:
    """What find_engine would find, without reading anything."""
    try:
        import tesserocr  # the optional `ocr` extra: whether it is installed is the question
    except ImportError:
        return EngineStatus(False, f"tesserocr is not installed; {INSTALL_HINT}")
    folder = _tessdata(env)
    if folder is None or not folder.is_dir():
        where = f"{folder} is not a folder" if folder is not None else "no tessdata folder found"
        return EngineStatus(False, f"Tesseract's language data are not installed ({where}); "
                            f"{INSTALL_HINT}")
    installed = {p.name.removesuffix(".traineddata") for p in folder.glob("*.traineddata")}
    wanted = tuple(x for x in env.get("CUA_OCR_LANGS", "").replace(",", "+").split("+") if x)
    languages = tuple(lang for lang in wanted or LANGUAGES if lang in installed)
    if wanted and len(languages) < len(wanted):
        missing = ", ".join(lang for lang in wanted if lang not in installed)
        return EngineStatus(False, f"CUA_OCR_LANGS names languages Tesseract does not have in "
                            f"{folder}: {missing}; apt-get install tesseract-ocr-LANG (e.g. "
                            "tesseract-ocr-chi-sim)")
    if "eng" not in languages:
        return EngineStatus(False, f"Tesseract has no English data in {folder}; apt-get "
                            "install tesseract-ocr-eng")
    first = tesserocr.tesseract_version().splitlines()
    name = first[0].strip() if first else "tesseract"
    return EngineStatus(True, f"{name} ({', '.join(languages)})", languages, str(folder))


class TesseractEngine:
    """Tesseract in this process, shared by every run in it (a batch's tasks, an MCP server's
    calls): at most `readers` engines are loaded (Tesseract's models are most of what the
    tripwire costs in memory, 70-85 MB each with Chinese, benchmarks/tripwire.py --parts
    memory), each lent to one read at a time. Tesseract lets go of Python's lock while it
    reads, so two reads run on two cores at once; more readers than cores would only hold more
    models, since reading is all CPU. Nothing of a run is kept here: an engine holds no image
    or text once its read is done."""

    name = "tesseract"

    def __init__(self, tessdata: str, languages: tuple[str, ...], *,
                 readers: int | None = None) -> None:
        self.tessdata, self.languages = tessdata, languages
        self.readers = readers or max(1, min(2, os.cpu_count() or 1))
        self._free: queue.LifoQueue[Any] = queue.LifoQueue()
        self._lock = threading.Lock()
        self.loaded = 0  # engines made so far (at most `readers`)

    def _borrow(self) -> Any:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            make = self.loaded < self.readers
            if make:
                self.loaded += 1
        if not make:
            return self._free.get()  # every engine is reading: wait for the first one back
        try:
            return self._new_api()
        except BaseException:
            with self._lock:
                self.loaded -= 1
            raise

    def _new_api(self) -> Any:
        # Imported here: an optional extra, needed only on this path.
        import tesserocr

        # Page segmentation 3 (automatic), not 11 (sparse text): 11 cut lines at colons
        # and misread the cut words, and missed 2 of 43 hostile screens that 3 finds, at
        # the same CPU time (benchmarks/tripwire.py).
        return tesserocr.PyTessBaseAPI(path=self.tessdata.rstrip("/") + "/",
                                       lang="+".join(self.languages), psm=tesserocr.PSM.AUTO)

    def read(self, image: Image.Image) -> list[TextLine]:
        api = self._borrow()
        try:
            return self._read(api, image)
        finally:
            api.Clear()  # the image and its results go now, not at the engine's next read
            self._free.put(api)

    def _read(self, api: Any, image: Image.Image) -> list[TextLine]:
        # Imported here: an optional extra, needed only on this path.
        from tesserocr import RIL, iterate_level

        api.SetImage(image if image.mode == "L" else image.convert("L"))
        # A fixed resolution, not Tesseract's guess from the text it sees: the guess changes
        # with what a crop holds, and on a dark pop-up it left the page's title unread. At 70
        # every word the display tests look for was read on every scene, 99.5% of our
        # screens' words (11-pixel fonts too), every hostile screen flagged.
        api.SetSourceResolution(SOURCE_DPI)
        api.Recognize()
        words: list[tuple[str, tuple[int, int, int, int], float, int]] = []
        line = 0
        iterator = api.GetIterator()
        if iterator is None:  # nothing on the image
            return []
        for word in iterate_level(iterator, RIL.WORD):
            if word.IsAtBeginningOf(RIL.TEXTLINE):
                line += 1
            try:
                text = word.GetUTF8Text(RIL.WORD)
            except RuntimeError:  # an element with no text (a picture, a rule): skipped
                continue
            box = word.BoundingBox(RIL.WORD)
            if text and box is not None:
                words.append((text, box, word.Confidence(RIL.WORD), line))
        return _lines(words)


def _lines(words: list[tuple[str, tuple[int, int, int, int], float, int]]) -> list[TextLine]:
    """Tesseract's words grouped into its lines, in reading order; words below
    MIN_CONFIDENCE dropped."""
    grouped: dict[int, list[tuple[str, tuple[int, int, int, int], float]]] = {}
    for text, box, confidence, line in words:
        text = text.strip()
        if text and confidence >= MIN_CONFIDENCE:
            grouped.setdefault(line, []).append((text, box, confidence))
    lines = []
    for found in grouped.values():
        boxes = [b for _, b, _ in found]
        lines.append(TextLine(" ".join(w for w, _, _ in found),
                              (min(b[0] for b in boxes), min(b[1] for b in boxes),
                               max(b[2] for b in boxes), max(b[3] for b in boxes)),
                              round(sum(c for _, _, c in found) / len(found) / 100, 3)))
    return lines


# One engine per data folder and languages, for the whole process (see TesseractEngine).
_ENGINES: dict[tuple[str, tuple[str, ...]], TesseractEngine] = {}
_ENGINES_LOCK = threading.Lock()


def find_engine(*, env: Mapping[str, str] = os.environ) -> tuple[TesseractEngine | None, str]:
    """The engine, with a description; or None and why the tripwire is off. Runs that read
    the same languages from the same folder share one engine."""
    found = status(env=env)
    if not found.available:
        return None, found.detail
    key = (found.tessdata, found.languages)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = TesseractEngine(found.tessdata, found.languages)
    return engine, found.detail
