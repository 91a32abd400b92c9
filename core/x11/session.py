"""A desktop session: the X display a run drives, held for the run and given back on every path.

`open_session` uses $DISPLAY or starts a private Xvfb with a window manager, takes the display
lock, connects an XDesktop, starts the `--app` program and waits for its first window, and
returns the environment that points `--app` and `--check` at that display. `cua run` and
`cua demo` open one; so can a batch runner. (`cua doctor` checks the same pieces one by one,
so that it can report every failure rather than stop at the first.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DesktopError

if TYPE_CHECKING:
    from ..vocab.desktop import Desktop

FAKE_DISPLAY = "fake"


@dataclass(frozen=True, slots=True)
class DesktopSession:
    desktop: Desktop
    display: str  # the DISPLAY name ("fake" for a FakeDesktop)
    env: Mapping[str, str]  # the caller's environment pointed at this display


APP_HOLD_S = 0.2  # how long a newly started app's window must stay unchanged to count as drawn


@contextmanager
def open_session(
    env: Mapping[str, str],
    *,
    virtual_display: str | None = None,
    app: Sequence[str] | None = None,
    monitor: int = 1,
    run_dir: str = "",
    wait_lock_s: float = 0.0,
    app_wait_s: float = 15.0,
    app_hold_s: float = APP_HOLD_S,
    fake: str | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Iterator[DesktopSession]:
    """The session; everything it started is stopped and the lock released when it closes.

    `virtual_display` is "WxH" for a private Xvfb; `run_dir` is named in the lock for a second
    run to report; `fake` is a FakeDesktop spec (tests), which needs no X server and no lock.
    `app_hold_s`: how long the --app window must stay unchanged before the session is ready (a
    replay, which waits for each step's screen to match anyway, needs none). `interrupt`
    raises to stop the desktop mid-way through typing (the run's Cancel.check).
    """
    with ExitStack() as stack:
        if fake is not None:
            yield _fake_session(env, fake, stack, virtual_display=virtual_display, app=app)
            return
        yield _x_session(env, stack, virtual_display=virtual_display, app=app,
                         monitor=monitor, run_dir=run_dir, wait_lock_s=wait_lock_s,
                         app_wait_s=app_wait_s, app_hold_s=app_hold_s, interrupt=interrupt)


def _x_session(env: Mapping[str, str], stack: ExitStack, *, virtual_display: str | None,
               app: Sequence[str] | None, monitor: int, run_dir: str, wait_lock_s: float,
               app_wait_s: float, app_hold_s: float,
               interrupt: Callable[[], None] | None = None) -> DesktopSession:
    # Imported here: keeps importing this module light (start-up time).
    from .lock import DisplayLock, lock_dir
    from .xdesktop import XDesktop
    from .xserver import VirtualDisplay, check_display, ensure_xauthority, parse_size

    display = None
    target = dict(env)
    if virtual_display:
        try:
            size = parse_size(virtual_display)
        except ValueError as exc:
            raise ConfigError(f"--virtual-display: {exc}") from exc
        # openbox comes up while cua connects (below); waited for before any window maps
        display = stack.enter_context(VirtualDisplay(size=size, wait_for_wm=False))
        target.update(display.env)
    name = display.display if display else check_display(target)
    stack.enter_context(DisplayLock(name, directory=lock_dir(env), run_dir=run_dir,
                                    wait_s=wait_lock_s))
    xauthority = ensure_xauthority(target)
    desktop = XDesktop(display=name, xauthority=xauthority, monitor=monitor,
                       interrupt=interrupt)
    stack.callback(desktop.close)
    if display is not None:
        display.wait_for_window_manager()
    target.update(DISPLAY=name, XAUTHORITY=str(xauthority))
    if app:
        _require_program(list(app), target)
        before = desktop.capture()
        if display is not None:
            proc = display.start_app(list(app))
        else:
            proc = _start_app(list(app), env, stack)
        _wait_for_app(desktop, before, proc, timeout_s=app_wait_s, hold_s=app_hold_s)
    return DesktopSession(desktop, name, target)


def _require_program(argv: list[str], env: Mapping[str, str]) -> None:
    """--app names a program that exists: fail now (exit 5), before any model call."""
    # Imported here: keeps importing this module light (start-up time).
    import os
    import shutil

    program = argv[0]
    found = (os.access(program, os.X_OK) and not os.path.isdir(program)) if "/" in program else (
        shutil.which(program, path=env.get("PATH")) is not None)
    if not found:
        raise DesktopError(f"cannot start --app {program!r}: No such file or directory")


def _wait_for_app(desktop: Any, before: Any, proc: Any, *, timeout_s: float,
                  hold_s: float) -> None:
    """Wait until the app has drawn something. An app that exits with an error before its
    window appears fails the run here (exit 5), before Claude is asked (and billed) anything;
    one that exits 0 (a launcher) is given the rest of the time to let its window appear."""
    # Imported here: keeps importing this module light (start-up time).
    import time

    from ..vocab.actions import wait_for_settle

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if desktop.capture().bgra != before.bgra:
            # A window manager frames the window, the server fills its background, and only
            # then does the app draw its widgets: on a busy machine those come tens of ms
            # apart, so "two frames alike" is not enough here. The first screenshot (the one
            # Claude sees, the one replay compares with) waits for the app to hold still.
            wait_for_settle(desktop.capture, hold_s=hold_s,
                            ceiling_s=min(3.0, max(0.0, deadline - time.monotonic())))
            return
        status = proc.poll()
        if status is not None and status != 0:
            raise DesktopError(f"the --app program exited with status {status} before its "
                               "window appeared; run it by hand to see why")
        time.sleep(0.05)  # the poll interval: the app's first frame can take seconds
    if proc.poll() is not None:
        raise DesktopError(f"the --app program exited (status {proc.poll()}) and no window "
                           f"appeared within {timeout_s:g} s")


def _fake_session(env: Mapping[str, str], spec: str, stack: ExitStack, *,
                  virtual_display: str | None, app: Sequence[str] | None) -> DesktopSession:
    # Imported here: keeps importing this module light (start-up time).
    from ..vocab.desktop import FakeDesktop

    if virtual_display or app:
        raise ConfigError("--desktop fake cannot be combined with --virtual-display or --app")
    desktop = FakeDesktop.from_spec(spec)
    stack.callback(desktop.close)
    return DesktopSession(desktop, FAKE_DISPLAY, {**env, "DISPLAY": FAKE_DISPLAY})


def _start_app(argv: list[str], env: Mapping[str, str], stack: ExitStack) -> Any:
    """--app on an existing display: started with the caller's environment, stopped after."""
    # Imported here: keeps importing this module light (start-up time).
    from .xserver import stop_process

    try:
        proc = subprocess.Popen(argv, env=dict(env), stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise DesktopError(f"cannot start --app {argv[0]!r}: {exc.strerror}") from exc
    stack.callback(stop_process, proc)
    return proc
