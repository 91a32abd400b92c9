"""The terminal as a sink: whatever cua writes to stdout or stderr during a run (views, prompts,
errors, the JSON summary, log lines) passes one redactor first, and one check: a write that fails
because the terminal has gone (EIO: its other side closed) ends the run as a hang-up (exit 129),
as SIGHUP does when the terminal was cua's controlling terminal, and as it must when it was only
its stdin and stdout (no signal comes then)."""

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
        try:
            self._inner.write(self._redactor.redact(text))
        except OSError:
            _lost_or_raise()
        return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except OSError:
            _lost_or_raise()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # bytes written there would bypass the redactor
            raise AttributeError(name)
        return getattr(self._inner, name)


def _lost_or_raise() -> None:
    """Called in an `except OSError`: a hang-up if the terminal has gone, else the error."""
    from ..core.interrupts import terminal_hung_up, terminal_lost

    if terminal_hung_up():
        raise terminal_lost("while cua showed the run") from None
    raise  # the OSError being handled: not a lost terminal


@contextmanager
def guarded_stdio(redactor: Redactor) -> Iterator[None]:
    """Route sys.stdout and sys.stderr through `redactor` (and the lost-terminal check) while
    the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingWriter(sys.stdout, redactor)  # type: ignore[assignment]
    sys.stderr = RedactingWriter(sys.stderr, redactor)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
