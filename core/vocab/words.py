"""Words for messages: counted nouns (`1 step`, `2 steps`, never `1 steps`), and model-sent values
shown short, valid and safe (`shown`), however deep or large they are."""

from __future__ import annotations

import math
import re
import reprlib


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun plural unless the count is one: counted(1, "step")."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` as valid Unicode: surrogate pairs joined, lone surrogates replaced by U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class _BoundedRepr(reprlib.Repr):
    """repr for messages about model-sent values: a few levels deep, never a huge int's digits,
    always valid Unicode. Plain repr recurses once per nesting level (a list 100,000 deep is a
    RecursionError) and refuses ints past 4,300 digits (ValueError); this one does neither."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 3, 4, 4, 4
        self.maxstring, self.maxother, self.maxlong = 60, 40, 40

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            digits = int(x.bit_length() * math.log10(2)) + 1
            return f"{'-' if x < 0 else ''}<an integer of about {digits} digits>"
        return repr(x)

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(clean_text(x), level)


_REPR = _BoundedRepr()


def shown(value: object, limit: int = 60) -> str:
    """A short, printable, valid-Unicode rendering of a model-sent value, for messages; never
    fails, however deep or large the value."""
    try:
        text = _REPR.repr(value)
    except Exception:  # an object whose own repr fails: its type is enough
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
