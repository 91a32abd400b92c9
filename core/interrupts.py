"""How a signal ends a run: promptly, wherever it lands, and never half-way through the cleanup.

While a run goes, SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, Terminated and HungUp
wherever the main thread is (a model call, a settle wait, inside an X request: the desktop
replaces a connection a signal interrupted), and the run unwinds: input released, the record
finished, the display stopped, exit 130, 143 or 129.

Once the run is ending -- after the first signal, or once run_task has started its own cleanup
however the run ended -- every further signal is held: noted (the `on_held` callback, once) and
not raised, so a second Ctrl-C cannot leave a half-written record or a key down. The ending is
bounded all the same: if the process has not finished `grace_s` after the first signal, it
exits at once with that signal's code (`on_overdue` says so first); the input watchdog
(core/x11/watchdog.py) releases keys and buttons then, as after SIGKILL.

`handling_signals` installs the handlers (the cli does, at the entry point, around `cua run`);
`run_ending` is what run_task calls as its cleanup starts. Without installed handlers (a library
caller, a test in another thread) both are no-ops and Python's defaults apply.
`for_this_process` is for the `cua` entry point: SIGTERM and SIGHUP end any command like
Ctrl-C, and after a run the three are ignored until the process has gone.

Several runs in one process (core.engine.run on threads): each registers its Cancel while it is
in flight (`in_flight`), and the entry point's handler cancels every one (`cancel_all`), so each
ends at its next check with the signal's exception and exit code. The only process-wide state
here is that registry and the handlers the entry point installed; a run itself sets none.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import termios
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .errors import HungUp, Terminated

if TYPE_CHECKING:
    from .cancel import Cancel

GRACE_S = 10.0  # the longest the cleanup after a signal may take before cua exits anyway

_RAISED: dict[int, Callable[[], BaseException]] = {
    signal.SIGINT: KeyboardInterrupt,
    signal.SIGTERM: lambda: Terminated("terminated by SIGTERM"),
    signal.SIGHUP: lambda: HungUp("hung up (SIGHUP): the terminal closed"),
}
_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


class SignalHandling:
    """The state of one run's handlers: the first signal, whether the run is ending, what was
    held."""

    def __init__(self, *, on_held: Callable[[int], None], on_overdue: Callable[[int], None],
                 grace_s: float, raise_here: bool = True) -> None:
        self._raise_here = raise_here
        self.thread = threading.get_ident()  # the entry point's (main) thread
        self.first: int | None = None
        self.held: list[int] = []
        self.ending = False
        self._on_held, self._on_overdue, self._grace_s = on_held, on_overdue, grace_s
        self._timer: threading.Timer | None = None
        self._exit_code: int | None = None
        self.arrivals = -1  # read end of the wakeup pipe: signal numbers in order of arrival

    def handle(self, signum: int, frame: object) -> None:
        was_ending, self.ending = self.ending, True  # from the first signal on: not again
        if self.first is None:
            # Python runs pending handlers in signal-number order: with SIGTERM and then
            # SIGINT both pending (the main thread was in a long C call), SIGINT's would run
            # first. The wakeup pipe has the order their C handlers ran in, which is the
            # order of arrival unless they came within a scheduling delay of each other.
            signum = self._first_arrived(signum)
            self.first = signum
            self._arm(_CODES[signum])
        if was_ending:
            self.held.append(signum)
            if len(self.held) == 1:
                self._on_held(signum)
            return
        if not self._raise_here:
            cancel_all(signum)  # the runs (on other threads) end at their next check
            return
        _raise(signum, frame)

    def _first_arrived(self, signum: int) -> int:
        try:
            arrived = os.read(self.arrivals, 4096) if self.arrivals >= 0 else b""
        except OSError:
            arrived = b""
        return next((number for number in arrived if number in _RAISED), signum)

    def exit_code_is(self, code: int) -> None:
        """The code this run ends with, once known (used if the ending overruns)."""
        self._exit_code = code

    def _arm(self, code: int) -> None:
        def overdue() -> None:
            with contextlib.suppress(Exception):
                self._on_overdue(self._exit_code if self._exit_code is not None else code)
            os._exit(self._exit_code if self._exit_code is not None else code)

        self._timer = threading.Timer(self._grace_s, overdue)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


_active: SignalHandling | None = None
_silenced = False  # a terminal of ours hung up, and fds 0-2 were pointed at /dev/null
_process_ends_after_run = False

# The process's runs in flight (their Cancels): a signal at the entry point ends every one.
_runs_lock = threading.Lock()
_runs: list[tuple[Cancel, int]] = []  # each run's Cancel and the thread it runs on


@contextlib.contextmanager
def in_flight(cancel: Cancel) -> Iterator[Cancel]:
    """Count `cancel`'s run (on this thread) among the process's runs in flight while the
    block runs."""
    entry = (cancel, threading.get_ident())
    with _runs_lock:
        _runs.append(entry)
    try:
        yield cancel
    finally:
        with _runs_lock:
            _runs.remove(entry)


def cancel_all(signum: int, *, raised_on: int | None = None) -> int:
    """End every run in flight as this signal ends a run (exit 130, 143 or 129); how many.
    A run on thread `raised_on` has had the exception raised already (by the handler)."""
    with _runs_lock:
        runs = list(_runs)
    for cancel, thread in runs:
        cancel_as_signal(cancel, signum, raised=thread == raised_on)
    return len(runs)


def cancel_as_signal(cancel: Cancel, signum: int, *, raised: bool = False) -> None:
    """End one run as `signum` ends a run (SIGINT, SIGTERM, SIGHUP: exit 130, 143, 129)."""
    cancel.set(signal_name(signum), error=_RAISED[signum], raised=raised)


def for_this_process() -> None:
    """For a process that is one `cua` command (the `cua` entry point): from now on SIGTERM
    and SIGHUP end it the way Ctrl-C does (exit 143, 129, not death by signal), and once a
    run's handlers are done (its record finished, its code decided) signals are ignored, so
    one landing in the last moments cannot change how the process ends."""
    global _process_ends_after_run
    _process_ends_after_run = True
    for number in _RAISED:
        signal.signal(number, _raise)
    # A parent may have blocked them, and a blocked mask is inherited: a Ray worker's thread
    # blocks SIGINT, so the `cua run` it started never saw the Ctrl-C it was sent.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(_RAISED))


def _raise(signum: int, frame: object) -> None:
    # Runs on other threads end at their next check; one on this thread unwinds from here.
    cancel_all(signum, raised_on=threading.get_ident())
    if signum == signal.SIGHUP:
        silence_hung_up_terminal()
    raise _RAISED[signum]()


@contextlib.contextmanager
def handling_signals(*, on_held: Callable[[int], None] = lambda signum: None,
                     on_overdue: Callable[[int], None] = lambda code: None,
                     grace_s: float = GRACE_S,
                     raise_here: bool = True) -> Iterator[SignalHandling | None]:
    """Install the run's SIGINT, SIGTERM and SIGHUP handlers (main thread only; elsewhere
    nothing is installed and None is yielded); the previous ones come back on exit.

    The first signal cancels every run in flight (runs on other threads end at their next
    check) and, with `raise_here` (a run on the main thread), raises in the main thread too;
    a caller whose main thread only waits for runs on other threads passes False."""
    global _active
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    state = SignalHandling(on_held=on_held, on_overdue=on_overdue, grace_s=grace_s,
                           raise_here=raise_here)
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
    state.arrivals = read_end
    previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    previous = {number: signal.signal(number, state.handle) for number in _RAISED}
    outer, _active = _active, state
    try:
        yield state
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_IGN if _process_ends_after_run else handler)
        signal.set_wakeup_fd(previous_wakeup)
        state.arrivals = -1
        os.close(read_end)
        os.close(write_end)
        _active = outer
        state.disarm()


def _own() -> SignalHandling | None:
    """The handlers installed at the entry point, if the run calling is the one they raise in
    (on the main thread); a run on another thread is ended through its Cancel instead."""
    active = _active
    if active is not None and active._raise_here and active.thread == threading.get_ident():
        return active
    return None


def run_ending() -> None:
    """The run's outcome is being decided and recorded: hold every signal from now on."""
    active = _own()
    if active is not None:
        active.ending = True


def terminal_hung_up(fds: tuple[int, ...] = (0, 1, 2), *, wait_s: float = 0.0) -> bool:
    """Whether any of `fds` is a terminal whose other side has gone. A pipe, a file or a live
    terminal is not. `wait_s`: how long a terminal that still looks alive may take to show it
    has gone (an end of input read from a closing pty can come a moment before the hang-up).
    A terminal this process found hung up and silenced stays hung up."""
    return _silenced or any(_is_hung_up(fd, wait_s) for fd in fds)


def _is_hung_up(fd: int, wait_s: float = 0.0) -> bool:
    """A terminal hung up answers every request with EIO; one whose other side has just closed
    (a pty's master) polls as HUP a moment before that (its reader is woken first, and sees an
    end of input that is no Ctrl-D)."""
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return bool(exc.args[0] == errno.EIO)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        # Returns at once on input or a hang-up; waits up to `wait_s` only on a quiet terminal.
        ready = poller.poll(int(wait_s * 1000))
    except (OSError, ValueError):
        return False
    if any(events & (select.POLLHUP | select.POLLERR) for _, events in ready):
        return True
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return bool(exc.args[0] == errno.EIO)
    return False


def terminal_lost(where: str) -> HungUp:
    """The error that ends a run whose terminal went away at `where` (a prompt): the same
    hang-up (exit 129) whether or not the kernel sent SIGHUP, which it does only when the
    terminal was cua's controlling terminal. The dead terminal is silenced first."""
    silence_hung_up_terminal()
    return HungUp(f"hung up: the terminal closed {where}")


def silence_hung_up_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null if they are a terminal that has hung up:
    every write to it fails (EIO), and the ending must not turn into a traceback for want of
    a screen nobody is looking at any more."""
    global _silenced
    devnull = -1
    try:
        for fd in (0, 1, 2):
            if not _is_hung_up(fd):
                continue  # a live terminal, a pipe, a file: it still works
            if devnull < 0:
                devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, fd)
            _silenced = True
    except OSError:
        return
    finally:
        if devnull >= 0:
            os.close(devnull)


def exit_code_is(code: int) -> None:
    """The code the current run ends with, once known (used if its ending overruns)."""
    active = _own()
    if active is not None:
        active.exit_code_is(code)


def ending() -> bool:
    """Whether the run is ending (see run_ending)."""
    active = _own()
    return active is not None and active.ending


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name
