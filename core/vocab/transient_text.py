"""One transient (core/vocab/transients.py) as one line of text, from its record form: what Claude
is told, what the live view, `cua runs show` and the report show. No Pillow here: `cua runs`
commands read records without it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
