"""Cancel: how something outside a run (another thread, the process's signal handler, the run's
own deadline) ends it the way Ctrl-C does: input released, the record complete, the exit code
of what stopped it.

A run checks its Cancel where it can stop cleanly: at every event it reports (each step's start,
each streamed piece of Claude's text, each action), in every wait (`sleep`: settling, the
`wait` action, a retry's back-off), between batches of typed keys, and while it waits for
Claude's reply. The first `set` wins; once the run's ending has begun (`hold`), a later one is
noted and not raised, as a second Ctrl-C is.

Nothing here is process-wide: one Cancel belongs to one run (core/interrupts.py keeps the
process's list of runs in flight, for its signal handler).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .errors import DeadlineExceeded


class Cancel:
    """A thread-safe request to end one run; the run raises it at its next check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._error: Callable[[], BaseException] = KeyboardInterrupt
        self.reason: str | None = None
        self._holding = False
        self._raised = False
        self._aborts: list[Callable[[], None]] = []

    def set(self, reason: str = "cancelled", *,
            error: Callable[[], BaseException] | None = None, raised: bool = False) -> None:
        """End the run as Ctrl-C does. `error` makes the exception the run unwinds with
        (default KeyboardInterrupt(reason), exit 130; Terminated for SIGTERM, exit 143);
        `raised`: it has been raised on the run's thread already (a signal handler did)."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._raised = raised
            self._error = error or (lambda: KeyboardInterrupt(reason))
            self._event.set()
            aborts = list(self._aborts)
        for abort in aborts:  # wake what cannot check by itself (a model call in flight)
            with contextlib.suppress(Exception):
                abort()

    def expire(self, timeout_s: float) -> None:
        """The run's time budget is spent: it ends with status timeout (exit 3)."""
        self.set(f"the --timeout of {timeout_s:g} s ran out", error=DeadlineExceeded)

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise the cancellation if one came, the run is not yet ending, and it has not been
        raised before (once, as a signal is: the unwinding's own cleanup must not be cut)."""
        if self._event.is_set() and not self._holding and not self._raised:
            self._raised = True
            raise self._error()

    def hold(self) -> None:
        """The run's ending has begun: from now on nothing is raised (the record must finish)."""
        self._holding = True

    @property
    def holding(self) -> bool:
        return self._holding

    def sleep(self, seconds: float) -> None:
        """time.sleep that ends early, raising, when the run is cancelled."""
        if self._holding:
            time.sleep(max(0.0, seconds))
            return
        if self._event.wait(max(0.0, seconds)):
            self.check()

    def wait_for(self, done: threading.Event, poll_s: float = 0.05) -> None:
        """Wait until `done` is set, raising if the run is cancelled first."""
        while not done.wait(poll_s):
            self.check()
        self.check()

    @contextlib.contextmanager
    def aborting(self, abort: Callable[[], None]) -> Iterator[None]:
        """While the block runs, a `set` also calls `abort` (from the setting thread)."""
        with self._lock:
            self._aborts.append(abort)
        try:
            self.check()
            yield
        finally:
            with self._lock:
                self._aborts.remove(abort)

    def checking(self, sink: Callable[[Any], None]) -> Callable[[Any], None]:
        """`sink`, then a check: every event the run reports (a step starting, a piece of
        streamed text, an action done) is a point where it can stop cleanly."""

        def emit(event: Any) -> None:
            sink(event)
            self.check()

        return emit

    def checking_sleep(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """A caller's own sleep (a test's fake clock), with a check before and after."""

        def checked(seconds: float) -> None:
            self.check()
            sleep(seconds)
            self.check()

        return checked


class Deadline:
    """A run's --timeout as a timer thread that expires its Cancel: no SIGALRM, any thread."""

    def __init__(self, cancel: Cancel, timeout_s: float | None) -> None:
        self._timer: threading.Timer | None = None
        if timeout_s is not None:
            self._timer = threading.Timer(max(timeout_s, 0.001), cancel.expire, (timeout_s,))
            self._timer.daemon = True
            self._timer.name = "cua-deadline"

    def __enter__(self) -> Deadline:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
