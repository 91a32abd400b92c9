"""The X environment: which display to use, its Xauthority file, and a private Xvfb when asked.

Xlib is imported lazily, inside functions: importing this module never touches a display.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from ..errors import DesktopError

log = logging.getLogger(__name__)

_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")
_MAX_SIDE = 32767  # X11 coordinates are 16-bit signed
_FIRST_DISPLAY = 10  # leave :0-:9 to real sessions and other tools that pick low numbers
_DISPLAY_ATTEMPTS = 50
_STOP_TIMEOUT_S = 5.0
_CONNECT_TIMEOUT_S = 5.0
_FAMILY_LOCAL, _FAMILY_WILD = 256, 65535  # Xauthority address families


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' → (1920, 1080); ValueError with the expected form otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"expected a screen size like 1920x1080, got {text!r}")
    width, height = int(match[1]), int(match[2])
    if not (1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE):
        raise ValueError(f"screen size {text!r} is out of range: each side must be 1-{_MAX_SIDE}")
    return width, height


def check_display(env: Mapping[str, str]) -> str:
    """The DISPLAY to use, after checking that an X server answers on it."""
    display = env.get("DISPLAY", "").strip()
    if not display and env.get("WAYLAND_DISPLAY"):
        raise DesktopError(
            "this is a Wayland session without X11 (WAYLAND_DISPLAY is set, DISPLAY is not); "
            "cua drives X11 only: enable XWayland so DISPLAY is set, log into an X11 session, "
            "or run on a private Xvfb (`cua run --virtual-display 1920x1080`)"
        )
    if not display:
        raise DesktopError(
            "DISPLAY is not set; run inside an X session, "
            "or run on a private Xvfb (`cua run --virtual-display 1920x1080`)"
        )
    _probe_display(display, env.get("XAUTHORITY"))
    return display


def _probe_display(display: str, xauthority: str | None) -> None:
    """Open and close one connection, so a dead or forbidden display fails early and clearly."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    import Xlib.display
    import Xlib.error

    _check_listening(display)
    try:
        # python-xlib reads XAUTHORITY from the process environment only.
        with x_authority(xauthority), stdout_to_log():
            connection = Xlib.display.Display(display)
    except (Xlib.error.DisplayError, OSError) as exc:
        raise DesktopError(
            f"cannot open X display {display!r} ({exc}); check that the X server is running "
            "and that XAUTHORITY grants access, or pass --virtual-display 1920x1080"
        ) from exc
    connection.close()


@contextlib.contextmanager
def stdout_to_log() -> Iterator[None]:
    """Keep third-party prints off stdout, which carries cua's results (`--json`).

    python-xlib prints "Xlib.xauth: warning, no xauthority details available" to stdout on every
    connection when the Xauthority file is empty, as the one ensure_xauthority creates is. Its
    module's `print` is pointed at the debug log (once), rather than swapping sys.stdout,
    which would swallow what other threads write meanwhile.
    """
    # Imported here: slow to import; only this path pays for it (start-up time).
    import Xlib.xauth

    if getattr(Xlib.xauth, "print", None) is not _xlib_print:
        Xlib.xauth.print = _xlib_print  # type: ignore[attr-defined]
    yield


def _xlib_print(*args: object, **kwargs: object) -> None:
    log.debug("output of X libraries: %s", " ".join(str(a) for a in args).strip())


def _check_listening(display: str) -> None:
    """Connect a plain socket first: python-xlib leaks its socket when the connection fails."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    import Xlib.error
    from Xlib.support import connect

    try:
        _, protocol, host, number, _ = connect.get_display(display)
    except Xlib.error.DisplayNameError as exc:
        raise DesktopError(f"DISPLAY {display!r} is not a valid X display name, such as :0"
                           ) from exc
    tcp_only = bool(host) and host != "unix" and protocol != "unix"
    attempts: list[tuple[socket.AddressFamily, Any]] = []
    if not tcp_only:
        path = f"/tmp/.X11-unix/X{number}"
        attempts += [(socket.AF_UNIX, path), (socket.AF_UNIX, "\0" + path)]
    if tcp_only or not (protocol or host):
        attempts.append((socket.AF_INET, (host or "localhost", 6000 + number)))
    errors = []
    for family, address in attempts:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(_CONNECT_TIMEOUT_S)
                probe.connect(address)
            return
        except OSError as exc:
            errors.append(exc.strerror or str(exc))
    raise DesktopError(
        f"cannot connect to X display {display!r} ({errors[-1]}); check that the X server is "
        "running, or pass --virtual-display 1920x1080 to use a private Xvfb"
    )


_CONNECTING = threading.Lock()


@contextlib.contextmanager
def x_authority(xauthority: str | os.PathLike[str] | None) -> Iterator[None]:
    """Open X connections (python-xlib's, mss's) with this Xauthority file.

    Both libraries read the file's name only from the process environment, at the moment they
    connect, so each connection is made under one lock with XAUTHORITY set for just that long;
    the connection itself, and everything done over it, belongs to its run alone. Nothing
    else of cua reads XAUTHORITY from the process environment (programs it starts are given
    their environment explicitly)."""
    with _CONNECTING:
        if xauthority is None:
            yield
            return
        previous = os.environ.get("XAUTHORITY")
        os.environ["XAUTHORITY"] = str(xauthority)
        try:
            yield
        finally:
            if previous is None:
                del os.environ["XAUTHORITY"]
            else:
                os.environ["XAUTHORITY"] = previous


def ensure_xauthority(env: Mapping[str, str]) -> Path:
    """The Xauthority file X clients will read, created empty (0600) when it does not exist yet.

    Old python-xlib releases fail at import without one.
    """
    if env.get("XAUTHORITY"):
        path = Path(env["XAUTHORITY"])
    elif env.get("HOME"):
        path = Path(env["HOME"]) / ".Xauthority"
    else:
        raise DesktopError("neither XAUTHORITY nor HOME is set; set XAUTHORITY to a file path")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if not os.access(path, os.R_OK):
            raise DesktopError(
                f"cannot read the Xauthority file {path}; fix its permissions or set XAUTHORITY"
            ) from None
        return path
    except OSError as exc:
        raise DesktopError(
            f"cannot create the Xauthority file {path} ({exc.strerror}); "
            "set XAUTHORITY to a writable path"
        ) from exc
    os.close(fd)
    return path


# openbox's stock configuration binds Alt/Super + mouse buttons (move, resize, lower),
# Ctrl+Alt+arrows, Alt+Tab, Super+d and more: such presses reach the X server and never the app
# Claude drives. cua's window manager is there only to map, place and focus windows, so its
# configuration binds click-to-focus on a window and its title bar, without modifiers, and no
# keys at all; one desktop, no root menu. Empty <keyboard>/<mouse> sections replace the defaults.
_FOCUS_ON_PRESS = (
    '<mousebind button="{}" action="Press"><action name="Focus"/><action name="Raise"/>'
    "</mousebind>")
OPENBOX_CONFIG = f"""\
<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy></placement>
  <desktops><number>1</number></desktops>
  <keyboard></keyboard>
  <mouse>
    <context name="Client">
      {"".join(_FOCUS_ON_PRESS.format(b) for b in ("Left", "Middle", "Right"))}
    </context>
    <context name="Titlebar">{_FOCUS_ON_PRESS.format("Left")}</context>
  </mouse>
  <menu></menu>
</openbox_config>
"""


class VirtualDisplay:
    """A private Xvfb (plus openbox when installed) for headless runs and tests.

    Use as a context manager; `stop()` ends everything it started, by pid, even after errors.
    """

    def __init__(self, *, size: tuple[int, int] = (1920, 1080),
                 base_env: Mapping[str, str] | None = None, window_manager: bool = True,
                 start_timeout: float = 15.0, wait_for_wm: bool = True) -> None:
        """`wait_for_wm=False`: start() returns once Xvfb answers, with openbox still coming up,
        so the caller can connect meanwhile; call wait_for_window_manager() before mapping
        windows."""
        self._size = size
        self._wait_for_wm = wait_for_wm
        self._wm_deadline: float | None = None
        # Children inherit this environment plus DISPLAY/XAUTHORITY; the cli passes its own.
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._want_wm = window_manager
        self._start_timeout = start_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._wm: subprocess.Popen[bytes] | None = None
        self._apps: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._display: str | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def display(self) -> str:
        """The display name, such as ':12'."""
        if self._display is None:
            raise DesktopError("the virtual display is not running; call start() first")
        return self._display

    @property
    def xauthority(self) -> Path:
        """The private Xauthority file holding this Xvfb's cookie (only its holders may connect)."""
        if self._tmp is None:
            raise DesktopError("the virtual display is not running; call start() first")
        return Path(self._tmp.name) / "Xauthority"

    @property
    def window_manager_pid(self) -> int | None:
        """The pid of the window manager this display started (None without one)."""
        return self._wm.pid if self._wm is not None and self._wm.poll() is None else None

    @property
    def env(self) -> dict[str, str]:
        """Variables to add to a child's environment so it draws on this display."""
        return {"DISPLAY": self.display, "XAUTHORITY": str(self.xauthority)}

    def start(self) -> None:
        """Start Xvfb on a free display number, wait until it answers, then start openbox."""
        if self._xvfb is not None:
            return
        xvfb = shutil.which("Xvfb", path=self._base_env.get("PATH"))
        if xvfb is None:
            raise DesktopError("Xvfb is not installed; install it with `apt-get install xvfb`")
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="cua-xvfb-")
            self._start_xvfb(xvfb)
            if self._want_wm:
                self._start_wm()
                if self._wait_for_wm:
                    self.wait_for_window_manager()
        except BaseException:
            self.stop()
            raise

    def _start_xvfb(self, xvfb: str) -> None:
        deadline = time.monotonic() + self._start_timeout
        for number in _free_display_numbers():
            log_name = f"xvfb-{number}"
            _write_xauthority(self.xauthority, number, cookie=secrets.token_bytes(16))
            proc, ready = _launch_xvfb(_tied_to_us([xvfb], self._base_env), number, self._size,
                                       self.xauthority, self._log(log_name), deadline)
            if ready:
                self._xvfb, self._display = proc, f":{number}"
                return
            stop_process(proc)
            output = self._tmp_path(log_name).read_text(errors="replace")
            # Another process took this number between our check and Xvfb's start (its lock
            # file, or with -displayfd its listening socket, decides): try the next one.
            taken = "already active" in output or "already running" in output
            if not taken or time.monotonic() > deadline:
                raise DesktopError(f"Xvfb :{number} did not start: {output.strip()[-500:]!r}")
        raise DesktopError("found no free X display number for Xvfb")

    def _start_wm(self) -> None:
        openbox = shutil.which("openbox", path=self._base_env.get("PATH"))
        if openbox is None:
            log.info("openbox is not installed; running without a window manager")
            return
        config = Path(self._tmp_dir()) / "openbox-rc.xml"
        config.write_text(OPENBOX_CONFIG, encoding="utf-8")
        self._wm = self._spawn([openbox, "--sm-disable", "--config-file", str(config)],
                               log_name="openbox")
        self._wm_deadline = time.monotonic() + self._start_timeout

    def wait_for_window_manager(self) -> None:
        """Wait until openbox has announced itself (_NET_SUPPORTING_WM_CHECK on the root), so
        a window mapped now is managed and focused; at once without one, or the second time."""
        deadline, self._wm_deadline = self._wm_deadline, None
        if deadline is not None and not _poll(lambda: self._wm_ready(), deadline):
            log.warning("openbox did not announce itself; continuing anyway")

    def _wm_ready(self) -> bool:
        if self._wm is not None and self._wm.poll() is not None:
            return True  # it died: nothing to wait for (logged in the openbox log)
        return _root_has_property(self.display, self.xauthority, "_NET_SUPPORTING_WM_CHECK")

    def start_app(self, argv: list[str], *, env: Mapping[str, str] | None = None
                  ) -> subprocess.Popen[bytes]:
        """Start a program on this display (argv, no shell); `stop()` ends it."""
        proc = self._spawn(argv, log_name=Path(argv[0]).name, extra_env=env)
        self._apps.append(proc)
        return proc

    def _spawn(self, argv: list[str], *, log_name: str,
               extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {**self._base_env, **self.env, **(extra_env or {})}
        log_file = self._log(log_name)
        # A new session keeps Ctrl-C in the terminal from killing the display before the
        # agent has released its keys; stop() ends these processes explicitly.
        return subprocess.Popen(_tied_to_us(argv, self._base_env), env=env,
                                stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def _log(self, name: str) -> IO[bytes]:
        log_file = open(self._tmp_path(name), "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log_file)
        return log_file

    def _tmp_dir(self) -> str:
        assert self._tmp is not None
        return self._tmp.name

    def _tmp_path(self, name: str) -> Path:
        return Path(self._tmp_dir()) / f"{name}.log"

    def stop(self) -> None:
        """End the apps and the window manager (told together, then waited for), then Xvfb.
        Safe to call twice."""
        clients = [*reversed(self._apps), *([self._wm] if self._wm is not None else [])]
        for proc in clients:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in clients:
            stop_process(proc)  # kills one that lingers, reaps every one
        self._apps, self._wm, self._wm_deadline = [], None, None
        if self._xvfb is not None:
            stop_process(self._xvfb)
            self._xvfb = None
        self._display = None
        while self._logs:
            self._logs.pop().close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _free_display_numbers() -> Iterator[int]:
    """Display numbers with neither a socket nor a lock file: likely free (Xvfb's lock decides)."""
    for number in range(_FIRST_DISPLAY, _FIRST_DISPLAY + _DISPLAY_ATTEMPTS):
        socket, lock = Path(f"/tmp/.X11-unix/X{number}"), Path(f"/tmp/.X{number}-lock")
        if not socket.exists() and not lock.exists():
            yield number


def _write_xauthority(path: Path, number: int, *, cookie: bytes) -> None:
    """An Xauthority file with one MIT-MAGIC-COOKIE-1 for display :number.

    One entry for this host (what python-xlib looks for) and one wildcard (what libX11/xcb
    accept anywhere), in the xauth binary format: big-endian length-prefixed fields.
    """
    def entry(family: int, address: bytes) -> bytes:
        fields = (address, str(number).encode(), b"MIT-MAGIC-COOKIE-1", cookie)
        return struct.pack(">H", family) + b"".join(
            struct.pack(">H", len(field)) + field for field in fields)

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(entry(_FAMILY_LOCAL, socket.gethostname().encode()) + entry(_FAMILY_WILD, b""))


def _tied_to_us(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """Have the kernel SIGTERM the program when this process dies, even by SIGKILL.

    Children run in their own session (see _spawn), so nothing else would end them if cua were
    killed; util-linux's setpriv sets PR_SET_PDEATHSIG and execs the program in place (same pid).
    """
    setpriv = shutil.which("setpriv", path=env.get("PATH"))
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _launch_xvfb(xvfb: list[str], number: int, size: tuple[int, int], xauthority: Path,
                 log_file: IO[bytes], deadline: float) -> tuple[subprocess.Popen[bytes], bool]:
    """Start Xvfb on :number; ready once it writes its number to -displayfd, i.e. it listens."""
    read_fd, write_fd = os.pipe()
    # -noreset: by default an X server resets when its last client disconnects, and a client
    # connecting during the reset is dropped ("Display connection closed by server"). A
    # private display sees its last client go often (a probe, a window manager not yet up).
    argv = [*xvfb, f":{number}", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp",
            "-noreset", "-auth", str(xauthority), "-displayfd", str(write_fd)]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, pass_fds=(write_fd,),
                                start_new_session=True)
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise DesktopError(f"cannot start Xvfb ({exc}); install it with `apt-get install xvfb`"
                           ) from exc
    os.close(write_fd)
    try:
        return proc, _read_display_number(read_fd, deadline) == number
    finally:
        os.close(read_fd)


def _read_display_number(fd: int, deadline: float) -> int | None:
    """Read 'N\\n' from -displayfd; None when Xvfb exits first (EOF) or the deadline passes."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 64)
        if not chunk:
            return None
        data += chunk
    return int(data)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate a child we started, then kill it if it lingers; always reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def _poll(predicate: Callable[[], bool], deadline: float, interval: float = 0.01) -> bool:
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _root_has_property(display: str, xauthority: Path, name: str) -> bool:
    # Imported here: slow to import; only this path pays for it (start-up time).
    import Xlib.display

    with x_authority(xauthority), stdout_to_log():
        connection = Xlib.display.Display(display)
    try:
        root = connection.screen().root
        return root.get_full_property(connection.intern_atom(name), 0) is not None
    finally:
        connection.close()
