"""The terminal as a sink: whatever cua writes to stdout or stderr during a run (views, prompts,
errors, the JSON summary, log lines) passes one redactor first."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..core.redact import Redactor


class RedactingWriter:
    """A text stream that redacts each write before passing it to `inner`."""

    def __init__(self, inner: IO[str], redactor: Redactor) -> None:
        self._inner, self._redactor = inner, redactor

    def write(self, text: str) -> int:
        self._inner.write(self._redactor.redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # bytes written there would bypass the redactor
            raise AttributeError(name)
        return getattr(self._inner, name)


@contextmanager
def guarded_stdio(redactor: Redactor) -> Iterator[None]:
    """Route sys.stdout and sys.stderr through `redactor` while the block runs."""
    if not redactor:
        yield
        return
    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingWriter(sys.stdout, redactor)  # type: ignore[assignment]
    sys.stderr = RedactingWriter(sys.stderr, redactor)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
