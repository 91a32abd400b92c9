"""`cua doctor`: checks that an unattended (cron) run would find what it needs.

Each check says what it found and, when it fails, how to fix it. A check that cannot run because
an earlier one failed is reported as skipped (not passed, not failed: the earlier failure is what
to fix). Fixes name `cua run` options, since doctor checks for a run. X libraries are imported
inside the checks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ..checks import Check, check_api_key
from ..errors import DesktopError

__all__ = ["Check", "check_api_key", "run_checks"]

_VIRTUAL = "`cua run --virtual-display 1920x1080`"
_EMPTY_XAUTHORITY = Path("(empty)")  # stands for the empty file a run would create


def run_checks(env: Mapping[str, str], *, display: str | None = None,
               provider: str | None = None, region: str | None = None,
               project: str | None = None, model: str | None = None) -> list[Check]:
    """Run every check in order. `display` overrides $DISPLAY; `provider` (else CUA_PROVIDER,
    else the Anthropic API) picks the credential checks, which never call the network;
    `model` is the resolved setting (else CUA_MODEL, else the default)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..model.providers import doctor_checks

    if display is not None:
        env = {**env, "DISPLAY": display}
    name = env.get("DISPLAY", "").strip()
    reachable = check_display(env)
    xauthority, found = check_xauthority(env)
    if not reachable.ok:
        screen = _skipped("screen", "no display")
    elif found is None:
        screen = _skipped("screen", "no Xauthority file")
    elif found is _EMPTY_XAUTHORITY:  # what a run would create: an empty file, here a temporary one
        with tempfile.NamedTemporaryFile(prefix="cua-doctor-xauth-") as empty:
            screen = check_screen(name, xauthority=Path(empty.name),
                                  model=model or env.get("CUA_MODEL", ""))
    else:
        screen = check_screen(name, xauthority=found, model=model or env.get("CUA_MODEL", ""))
    return [
        reachable,
        check_session(env),
        xauthority,
        screen,
        *doctor_checks(env, provider=provider or env.get("CUA_PROVIDER") or "anthropic",
                       region=region, project=project, model=model),
        check_tripwire(env),
        check_data_dir(env),
        check_records_private(env),
        check_config_dir(),
        check_lock(env, name) if name else _skipped("display_lock", "no display"),
    ]


def check_display(env: Mapping[str, str]) -> Check:
    """$DISPLAY is set and an X server answers there."""
    # Imported here: keeps importing this module light (start-up time).
    from ..x11 import xserver

    try:
        name = xserver.check_display(env)
    except DesktopError as exc:
        detail, _ = _split_advice(str(exc))
        return Check("display", False, detail,
                     "run inside an X session with DISPLAY set (a cron line must set DISPLAY "
                     f"and XAUTHORITY itself), or use {_VIRTUAL} for a private Xvfb")
    return Check("display", True, f"X server answers on DISPLAY={name}")


def check_tripwire(env: Mapping[str, str]) -> Check:
    """The injection tripwire's OCR engine is installed (or the tripwire is turned off)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..safety.tripwire import status

    if env.get("CUA_TRIPWIRE", "").strip().lower() in ("off", "0", "no", "false"):
        return Check("tripwire", True, "off (CUA_TRIPWIRE=off): screen text is not checked for "
                     "prompt injection")
    found = status(env=env)
    if not found.available:
        detail, _, fix = found.detail.partition("; ")
        return Check("tripwire", False, f"the injection tripwire would be off: {detail}",
                     fix or "see the README's Safety section")
    return Check("tripwire", True, f"screen text is read with {found.detail}")


def check_session(env: Mapping[str, str]) -> Check:
    """An X11 session, not Wayland: cua's input and screenshots reach X11 windows only."""
    kind = env.get("XDG_SESSION_TYPE", "").strip().lower()
    wayland = env.get("WAYLAND_DISPLAY", "").strip()
    if kind == "wayland" or wayland:
        why = "XDG_SESSION_TYPE=wayland" if kind == "wayland" else f"WAYLAND_DISPLAY={wayland}"
        return Check("x11", False,
                     f"a Wayland session ({why}): cua sees and drives only X11 windows there",
                     f"log into an X11 (Xorg) session, or use {_VIRTUAL} for a private Xvfb")
    return Check("x11", True, f"XDG_SESSION_TYPE={kind}" if kind else "no Wayland session")


def check_xauthority(env: Mapping[str, str]) -> tuple[Check, Path | None]:
    """The Xauthority file a run would use: readable, or missing where a run can create it
    (doctor itself creates nothing); and the path to open the display with."""
    # Imported here: keeps importing this module light (start-up time).
    from ..x11.xserver import ensure_xauthority

    home = env.get("HOME")
    expected = env.get("XAUTHORITY") or (str(Path(home) / ".Xauthority") if home else "")
    if expected and not os.path.lexists(expected):
        parent = Path(expected).parent
        if os.access(parent, os.W_OK | os.X_OK):
            return Check("xauthority", True, f"{expected} does not exist yet; a run creates it "
                                             "(empty)"), _EMPTY_XAUTHORITY
        return Check("xauthority", False, f"{expected} does not exist and {parent} is not "
                                          "writable", "set XAUTHORITY to a writable path"), None
    try:
        path = ensure_xauthority(env)
    except DesktopError as exc:
        detail, fix = _split_advice(str(exc))
        return Check("xauthority", False, detail, fix or "set XAUTHORITY to a readable file"), None
    size = path.stat().st_size
    return Check("xauthority", True, f"{path} ({size} bytes)" if size else f"{path} (empty)"), path


def check_screen(display: str, *, xauthority: Path, model: str = "") -> Check:
    """The screen size as mss and XTest see it, and what Claude gets after scaling."""
    # Imported here: keeps importing this module light (start-up time).
    from ..model.context import DEFAULT_MODEL, image_limits_for
    from ..vocab.actions import space_for

    model = model or DEFAULT_MODEL
    try:
        captured, driven = _screen_sizes(display, xauthority)
    except DesktopError as exc:
        return Check("screen", False, str(exc), "check that the X server supports XTEST and "
                     f"RandR, or use {_VIRTUAL}")
    limits = image_limits_for(model)
    space = space_for(*captured, max_long_edge=limits.max_long_edge,
                      max_pixels=limits.max_pixels)
    same = "=" if captured == driven else "!="
    detail = (f"{_size(captured)} (mss) {same} {_size(driven)} (XTest) -> "
              f"{space.model_w}x{space.model_h} for {model}, "
              f"scale {space.model_w / space.screen_w:.3f}")
    if captured != driven:
        return Check("screen", False, detail,
                     "the captured monitor is not the whole X screen (several monitors, or HiDPI "
                     "scaling): choose the monitor to drive with `cua run --monitor N`")
    return Check("screen", True, detail)


def _screen_sizes(display: str, xauthority: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(mss's primary monitor, the X screen the pointer moves over), opened exactly as a run
    opens them."""
    # Imported here: keeps importing this module light (start-up time).
    from ..x11.xdesktop import XDesktop

    desktop = XDesktop(display=display, xauthority=xauthority)
    try:
        return desktop.size(), desktop.root_size()
    finally:
        desktop.close()


def check_data_dir(env: Mapping[str, str]) -> Check:
    """The run records' folder can be created (private, 0700) and written."""
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import private_dir, runs_root

    return _check_writable("data_dir", runs_root(env),
                           "set CUA_DATA_DIR to a writable folder, or fix its permissions",
                           make=private_dir)


def check_records_private(env: Mapping[str, str]) -> Check:
    """The runs folder is not open to other users: its screenshots show the user's screen.
    A warning, not a failure: new run folders are 0700 whatever this folder's mode."""
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import runs_root

    runs = runs_root(env)
    try:
        mode = runs.stat().st_mode & 0o777
    except OSError:
        return Check("records_private", True, f"{runs} does not exist yet (made 0700)")
    if mode & 0o077 == 0:
        return Check("records_private", True, f"{runs} is private (mode {mode:o})")
    return Check("records_private", True,
                 f"other users can open {runs} (mode {mode:o}): records made before cua "
                 "kept them private show screenshots of this screen",
                 f"chmod 700 {runs} (and chmod -R go= {runs} for the records already in it)",
                 warning=True)


def check_config_dir() -> Check:
    """The config folder (~/.config/cua) can be created and written."""
    # Imported here: keeps importing this module light (start-up time).
    from ..paths import config_dir

    return _check_writable("config_dir", config_dir(),
                           "set XDG_CONFIG_HOME to a writable folder, or fix its permissions")


def check_lock(env: Mapping[str, str], display: str) -> Check:
    """No other cua run holds this display."""
    # Imported here: keeps importing this module light (start-up time).
    from ..x11.lock import DisplayLock, lock_dir

    try:
        lock = DisplayLock(display, directory=lock_dir(env), run_dir="")
        holder = lock.holder()
    except DesktopError as exc:
        detail, fix = _split_advice(str(exc))
        return Check("display_lock", False, detail,
                     fix or "set XDG_RUNTIME_DIR to a private writable folder")
    if holder is None:
        return Check("display_lock", True, f"{display} is free ({lock.path})")
    if holder.pid:
        detail = (f"{display} is held by pid {holder.pid} (run folder "
                  f"{holder.run_dir or 'unknown'}, since {holder.started or 'unknown'})")
        stop = f"stop it (kill {holder.pid})"
    else:
        detail = f"{display} is held by a process that {lock.path} does not name"
        stop = "stop it"
    return Check("display_lock", False, detail,
                 f"wait for that run to finish, use `cua run --wait-lock SECONDS`, or {stop}")


def _check_writable(name: str, path: Path, fix: str,
                    make: Callable[[Path], object] | None = None) -> Check:
    existed = path.is_dir()
    try:
        if make is not None:
            make(path)
        else:
            path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".cua-doctor-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return Check(name, False, f"cannot write to {path}: {exc.strerror or exc}", fix)
    return Check(name, True, f"{path} (writable)" if existed else f"{path} (created, writable)")


def _skipped(name: str, reason: str) -> Check:
    """A check that could not run; its status says `skipped`, its detail why."""
    return Check(name, False, reason, skipped=True)


def _split_advice(message: str) -> tuple[str, str]:
    """'what happened; what to do' → (what happened, what to do); cua's messages read so."""
    happened, sep, advice = message.rpartition("; ")
    return (happened, advice) if sep else (message, "")


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
