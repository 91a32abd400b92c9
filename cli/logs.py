"""Core's `logging` output on the console, at the level `-v` asks for.

Core only logs (`log = logging.getLogger(__name__)`) and never installs handlers; this is the one
place that shows those records. Without `-v` only warnings and errors show; `-v` adds info,
`-vv` debug. Records go through the same Rich console as the live view, so they print above it
instead of tearing it, and through the same redacting stderr as everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

_LEVELS = {0: logging.WARNING, 1: logging.INFO}
_STYLES = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.CRITICAL: "bold red"}
ROOT_LOGGER = "claude_cua"


class ConsoleHandler(logging.Handler):
    """`cua: warning: …` lines on a Rich console."""

    def __init__(self, console: Console, level: int) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            where = f" ({record.name.removeprefix(ROOT_LOGGER + '.')})" if record.levelno < (
                logging.WARNING) else ""
            self.console.print(f"cua: {record.levelname.lower()}{where}: {message}",
                               markup=False, highlight=False, style=_STYLES.get(record.levelno),
                               soft_wrap=not self.console.is_terminal)
        except Exception:
            self.handleError(record)


@contextmanager
def core_logging(console: Console, verbose: int) -> Iterator[None]:
    """Show claude_cua's log records on `console` while the block runs."""
    level = _LEVELS.get(verbose, logging.DEBUG)
    logger = logging.getLogger(ROOT_LOGGER)
    handler = ConsoleHandler(console, level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, previous) if previous else level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
