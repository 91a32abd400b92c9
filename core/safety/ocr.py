"""Reading text off a screenshot, offline: the one module that touches the OCR engine.

The engine is Tesseract (Debian's `tesseract-ocr`, with `tesseract-ocr-eng` and, for Chinese,
`tesseract-ocr-chi-sim`), called through `pytesseract`, which comes with the `ocr` extra
(`pip install 'claude-cua[ocr]'`, or `CUA_EXTRAS=ocr sh scripts/setup.sh`, which also installs
the Debian packages). Why Tesseract and not an ONNX engine: benchmarks/ocr_engines.py, and the
README's Safety section, give the figures.

`find_engine()` returns an engine, or None and the reason (the tripwire is then off); `read`
returns the lines found, each with its box in the image's pixels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

from .injection import TextLine

INSTALL_HINT = ("apt-get install tesseract-ocr tesseract-ocr-eng, then "
                "pip install 'claude-cua[ocr]' (or: CUA_EXTRAS=ocr sh scripts/setup.sh)")
# Languages read when their data is installed; English is required. CUA_OCR_LANGS ("eng",
# "eng+chi_sim") picks them instead: Chinese costs ~70% more CPU per frame
# (benchmarks/ocr_engines.py).
LANGUAGES = ("eng", "chi_sim")
MIN_CONFIDENCE = 30.0  # Tesseract's per-word confidence, 0-100; below it a "word" is noise


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """Whether OCR can run here, what it reads, and what to do when it cannot."""

    available: bool
    detail: str  # "tesseract 5.3.0 (eng, chi_sim)" or why not
    languages: tuple[str, ...] = ()


def _which(name: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(name, path=env.get("PATH", os.defpath))


def status(*, env: Mapping[str, str] = os.environ,
           which: Callable[[str, Mapping[str, str]], str | None] = _which) -> EngineStatus:
    """What find_engine would find, without reading anything."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return EngineStatus(False, f"pytesseract is not installed; {INSTALL_HINT}")
    binary = env.get("CUA_TESSERACT") or which("tesseract", env)
    if not binary:
        return EngineStatus(False, f"the tesseract program is not installed; {INSTALL_HINT}")
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True,
                                timeout=10, check=False)
        version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return EngineStatus(False, f"cannot run {binary}: {exc}; {INSTALL_HINT}")
    installed = {line.strip() for line in listed.stdout.splitlines()[1:]}
    wanted = tuple(x for x in env.get("CUA_OCR_LANGS", "").replace(",", "+").split("+") if x)
    languages = tuple(lang for lang in wanted or LANGUAGES if lang in installed)
    if wanted and len(languages) < len(wanted):
        missing = ", ".join(lang for lang in wanted if lang not in installed)
        return EngineStatus(False, f"CUA_OCR_LANGS names languages Tesseract does not have: "
                            f"{missing}; apt-get install tesseract-ocr-LANG (e.g. "
                            "tesseract-ocr-chi-sim)")
    if "eng" not in languages:
        return EngineStatus(False, "Tesseract has no English data; apt-get install "
                            "tesseract-ocr-eng")
    first = (version.stdout or version.stderr).splitlines()
    name = first[0].strip() if first else "tesseract"
    return EngineStatus(True, f"{name} ({', '.join(languages)})", languages)


class TesseractEngine:
    """Tesseract through pytesseract: one `tesseract` process per read, single-threaded (so a
    scan takes one core of two while the model call waits on the network)."""

    name = "tesseract"

    def __init__(self, binary: str, languages: tuple[str, ...]) -> None:
        self.binary, self.languages = binary, languages
        # OpenMP threads spin on a busy 2-core machine: one thread reads a 1920x1080 frame in
        # a third of the CPU time (benchmarks/ocr_engines.py). pytesseract passes os.environ to
        # tesseract, so this is where it can be said; a value the user set stands.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    def read(self, image: Image.Image) -> list[TextLine]:
        # Imported here: an optional extra, needed only on this path.
        import pytesseract

        pytesseract.pytesseract.tesseract_cmd = self.binary
        grey = ImageOps.grayscale(image)
        data = pytesseract.image_to_data(
            grey, lang="+".join(self.languages), config="--psm 3",
            output_type=pytesseract.Output.DICT)
        return _lines(data)


def _lines(data: Mapping[str, list[Any]]) -> list[TextLine]:
    """Tesseract's words grouped into lines (block, paragraph, line), in reading order.

    Page segmentation mode 3 (automatic), not 11 (sparse text): 11 cut lines at colons and
    misread the cut words, and missed 2 of 43 hostile screens that 3 finds, at the same CPU
    time (benchmarks/tripwire.py)."""
    grouped: dict[tuple[int, int, int], list[tuple[str, tuple[int, int, int, int], float]]] = {}
    for i, word in enumerate(data["text"]):
        word = str(word).strip()
        confidence = float(data["conf"][i])
        if not word or confidence < MIN_CONFIDENCE:
            continue
        x, y, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        grouped.setdefault(key, []).append((word, (x, y, x + w, y + h), confidence))
    lines = []
    for words in grouped.values():
        boxes = [b for _, b, _ in words]
        lines.append(TextLine(" ".join(w for w, _, _ in words),
                              (min(b[0] for b in boxes), min(b[1] for b in boxes),
                               max(b[2] for b in boxes), max(b[3] for b in boxes)),
                              round(sum(c for _, _, c in words) / len(words) / 100, 3)))
    return lines  # Tesseract's reading order: blocks, then their lines


def find_engine(*, env: Mapping[str, str] = os.environ) -> tuple[TesseractEngine | None, str]:
    """The engine, with a description; or None and why the tripwire is off."""
    found = status(env=env)
    if not found.available:
        return None, found.detail
    binary = env.get("CUA_TESSERACT") or _which("tesseract", env) or "tesseract"
    return TesseractEngine(binary, found.languages), found.detail
