"""One cua run per display: an flock on a small file named after the display.

flock is released by the kernel when the last descriptor of the lock file closes, so a run that
dies (even by SIGKILL) frees its display at once, and a stale file from a dead run is simply
locked again. The descriptor is close-on-exec: programs cua starts (Xvfb, --app) would otherwise
keep the lock alive after cua itself has gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from ..errors import DesktopError

_DISPLAY_NAME = re.compile(r"(?:(?P<protocol>[^/:]*)/)?(?P<host>.*):(?P<number>\d+)(?:\.\d+)?")
_LOCAL_HOSTS = ("", "unix")
_HOLDER_READS = 3  # a holder writes its details right after locking: allow a moment for that
_HOLDER_READ_PAUSE_S = 0.01
_RETRY_S = 0.01


class LockBusy(DesktopError):
    """Another cua run holds the display; the message names it and says what to do."""

    def __init__(self, message: str, *, holder: Holder | None = None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a display lock, as the holder wrote it into the lock file."""

    pid: int
    run_dir: str
    started: str  # ISO 8601 time


def lock_dir(env: Mapping[str, str]) -> Path:
    """Where lock files live: $XDG_RUNTIME_DIR/cua, else a private folder in the temp dir."""
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK | os.X_OK):
        directory = Path(runtime) / "cua"
        with contextlib.suppress(OSError):
            directory.mkdir(mode=0o700, exist_ok=True)
            return _private(directory)
    return _private(Path(tempfile.gettempdir()) / f"cua-{os.getuid()}", create=True)


def _private(directory: Path, *, create: bool = False) -> Path:
    """Check that `directory` is a real folder of ours, closed to others (shared /tmp)."""
    try:
        if create:
            directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError as exc:
        raise DesktopError(f"cannot create the lock folder {directory} ({exc.strerror}); "
                           "set XDG_RUNTIME_DIR to a private writable folder") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DesktopError(f"{directory} is not a folder owned by you, so cua cannot keep its "
                           "display locks there; remove it or set XDG_RUNTIME_DIR")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)
    return directory


def lock_path(display: str, directory: Path) -> Path:
    """The lock file for a display; ':0', ':0.0' and 'unix:0' share one, other hosts do not.

    'localhost:0' stays apart from ':0': it goes over TCP, and with ssh X forwarding
    'localhost:10' is a remote server while ':10' may be a local Xvfb.
    """
    match = _DISPLAY_NAME.fullmatch(display.strip())
    if match is None:
        return directory / f"name-{quote(display, safe='')}.lock"
    host = match["host"].lower()
    if host in _LOCAL_HOSTS and match["protocol"] in (None, "", "unix"):
        return directory / f"display-{int(match['number'])}.lock"
    host = host or "localhost"  # 'tcp/:0'
    return directory / f"display-{quote(host, safe='')}-{int(match['number'])}.lock"


class DisplayLock:
    """Holds one display for one run; use as a context manager or acquire()/release()."""

    def __init__(self, display: str, *, directory: Path, run_dir: str, wait_s: float = 0.0,
                 poll_s: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.display = display
        self.path = lock_path(display, directory)
        self._run_dir = run_dir
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting up to wait_s for its holder to finish; else raise LockBusy."""
        if self._fd is not None:
            return
        fd = self._open()
        try:
            self._wait_for_lock(fd)
            self._write_holder(fd)
        except BaseException:
            os.close(fd)  # closing drops the lock too, if we got it
            raise
        self._fd = fd

    def _wait_for_lock(self, fd: int) -> None:
        deadline = self._clock() + self._wait_s
        attempts = 0
        while not _try_flock(fd, fcntl.LOCK_EX):
            attempts += 1
            remaining = deadline - self._clock()
            # A second try even with wait_s=0: holder() (`cua doctor`) takes the lock shared
            # for a few microseconds to look, and must not make a starting run fail.
            if remaining <= 0 and attempts > 1:
                raise self._busy(fd)
            self._sleep(min(self._poll_s, max(remaining, _RETRY_S)))

    def _write_holder(self, fd: int) -> None:
        record = {"pid": os.getpid(), "run_dir": self._run_dir, "display": self.display,
                  "started": datetime.now(UTC).isoformat(timespec="seconds")}
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    def release(self) -> None:
        """Give the lock back. Safe to call twice, and when acquire() failed.

        The file stays: removing it could split the lock in two, as a process that opened the
        old file just before the unlink would lock a file no one else can see any more.
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # while still locked, so no one reads our details as current
        except OSError:
            pass
        finally:
            os.close(fd)

    def holder(self) -> Holder | None:
        """Who holds the lock now, or None when it is free. Does not take it."""
        if self._fd is not None:
            return _read_holder(self._fd)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DesktopError(f"cannot read the lock file {self.path} ({exc.strerror})") from exc
        try:
            if _try_flock(fd, fcntl.LOCK_SH):
                return None
            return self._read_holder_patiently(fd)
        finally:
            os.close(fd)

    def _read_holder_patiently(self, fd: int) -> Holder:
        holder = _read_holder(fd)
        for _ in range(_HOLDER_READS - 1):
            if holder.pid:
                break
            self._sleep(_HOLDER_READ_PAUSE_S)
            holder = _read_holder(fd)
        return holder

    def _open(self) -> int:
        # os.open makes descriptors non-inheritable already; O_CLOEXEC says so explicitly.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise DesktopError(f"cannot open the display lock {self.path} ({exc.strerror}); "
                               "set XDG_RUNTIME_DIR to a private writable folder") from exc

    def _busy(self, fd: int) -> LockBusy:
        holder = self._read_holder_patiently(fd)
        if holder.pid:
            who = (f"another cua run (pid {holder.pid}, run folder {holder.run_dir or 'unknown'}, "
                   f"started {holder.started or 'at an unknown time'})")
            stop = f"stop that run (kill {holder.pid})"
        else:
            who = f"another process (its lock file {self.path} does not say which)"
            stop = "stop that run"
        waited = f" after waiting {self._wait_s:g} s" if self._wait_s > 0 else ""
        return LockBusy(f"{who} is using display {self.display}{waited}; wait for it with "
                        f"--wait-lock SECONDS, or {stop}", holder=holder)


def _try_flock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_holder(fd: int) -> Holder:
    """The holder's details from the file; pid 0 when they are missing or garbage."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        pid = data["pid"]
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError(pid)
        return Holder(pid=pid, run_dir=str(data.get("run_dir", "")),
                      started=str(data.get("started", "")))
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError):
        return Holder(pid=0, run_dir="", started="")


def held_run_dirs(directory: Path) -> set[str]:
    """The run folders of the runs holding a display lock in `directory` now (runs in
    progress); taking no lock."""
    held: set[str] = set()
    try:
        paths = sorted(directory.glob("*.lock"))
    except OSError:
        return held
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not _try_flock(fd, fcntl.LOCK_SH):
                holder = _read_holder(fd)
                if holder.run_dir:
                    held.add(os.path.realpath(holder.run_dir))
        finally:
            os.close(fd)
    return held
