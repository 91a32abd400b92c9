"""DisplayLock against real processes: a second python holds the lock, or held it and died."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from claude_cua.core.errors import DesktopError
from claude_cua.core.x11.lock import DisplayLock, Holder, LockBusy, lock_dir, lock_path

# Takes the lock, says "locked <child pid>", holds it for HOLD_S seconds, then releases it.
HOLDER = """
import subprocess, sys, time
from pathlib import Path
from claude_cua.core.x11.lock import DisplayLock

display, directory, run_dir, hold_s, extra = sys.argv[1:6]
lock = DisplayLock(display, directory=Path(directory), run_dir=run_dir)
lock.acquire()
child = None
if extra == "child":
    # close_fds=False: only close-on-exec keeps the lock's descriptor out of the child.
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
if extra == "garbage":
    lock.path.write_bytes(b"\\x00{not json")
print("locked", child.pid if child else 0, flush=True)
time.sleep(float(hold_s))  # holding the lock is the point of this process
lock.release()
"""


class Running:
    """A holder process and the pid of the child it started (0 when none)."""

    def __init__(self, proc: subprocess.Popen[str], child_pid: int) -> None:
        self.proc, self.child_pid = proc, child_pid

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.contextmanager
def holding(directory: Path, *, display: str = ":7", run_dir: str = "/runs/holder-run",
            hold_s: float = 60.0, extra: str = "") -> Iterator[Running]:
    """Run HOLDER until it has the lock; kill it (and its child) by pid afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, display, str(directory), run_dir, str(hold_s), extra],
        stdout=subprocess.PIPE, text=True)
    child_pid = 0
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("locked"), f"the holder did not take the lock: {line!r}"
        child_pid = int(line.split()[1])
        yield Running(proc, child_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        if child_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid, signal.SIGKILL)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- busy, waiting, taking over ------------------------------------------------------------------

def test_held_lock_raises_lock_busy_quickly_naming_the_holder(tmp_path: Path) -> None:
    with holding(tmp_path, run_dir="/data/runs/20260101-x") as holder:
        lock = DisplayLock(":7", directory=tmp_path, run_dir="/data/runs/mine")
        started = time.monotonic()
        with pytest.raises(LockBusy) as caught:
            lock.acquire()
        assert time.monotonic() - started < 1.0
    message = str(caught.value)
    assert f"pid {holder.pid}" in message
    assert "/data/runs/20260101-x" in message
    assert "--wait-lock SECONDS" in message
    assert caught.value.holder is not None
    assert caught.value.holder.pid == holder.pid
    assert isinstance(caught.value, DesktopError)  # exit 5, like every environment problem


def test_waiting_acquire_succeeds_once_the_holder_exits(tmp_path: Path) -> None:
    with holding(tmp_path, hold_s=0.5) as holder:
        lock = DisplayLock(":7", directory=tmp_path, run_dir="/runs/waiter", wait_s=3,
                           poll_s=0.02)
        started = time.monotonic()
        with lock:
            waited = time.monotonic() - started
            mine = lock.holder()
            assert mine is not None and (mine.pid, mine.run_dir) == (os.getpid(), "/runs/waiter")
        assert holder.proc.wait(timeout=5) == 0
    assert 0.2 < waited < 2.9


def test_wait_polls_until_wait_s_is_spent_then_gives_up(tmp_path: Path) -> None:
    fake = FakeTime()
    with holding(tmp_path):
        lock = DisplayLock(":7", directory=tmp_path, run_dir="", wait_s=1.0, poll_s=0.25,
                           clock=fake.clock, sleep=fake.sleep)
        with pytest.raises(LockBusy, match="after waiting 1 s"):
            lock.acquire()
    assert fake.sleeps == [0.25, 0.25, 0.25, 0.25]


def test_without_waiting_one_quick_retry_rides_over_a_look_by_doctor(tmp_path: Path) -> None:
    fake = FakeTime()
    with holding(tmp_path):
        lock = DisplayLock(":7", directory=tmp_path, run_dir="", clock=fake.clock,
                           sleep=fake.sleep)
        with pytest.raises(LockBusy):
            lock.acquire()
    assert fake.sleeps == [0.01]


def test_lock_file_of_a_sigkilled_holder_is_taken_over(tmp_path: Path) -> None:
    with holding(tmp_path) as holder:
        holder.proc.send_signal(signal.SIGKILL)
        holder.proc.wait()
        path = lock_path(":7", tmp_path)
        assert json.loads(path.read_text())["pid"] == holder.pid  # the stale record is still there
        lock = DisplayLock(":7", directory=tmp_path, run_dir="/runs/next")
        assert lock.holder() is None
        with lock:
            record = json.loads(path.read_text())
            assert (record["pid"], record["run_dir"]) == (os.getpid(), "/runs/next")


def test_garbage_in_a_free_lock_file_is_replaced(tmp_path: Path) -> None:
    path = lock_path(":7", tmp_path)
    path.write_bytes(b"\xff\xfe garbage {{{")
    with DisplayLock(":7", directory=tmp_path, run_dir="/runs/mine"):
        seen = DisplayLock(":7", directory=tmp_path, run_dir="").holder()
        assert seen is not None
        assert (seen.pid, seen.run_dir) == (os.getpid(), "/runs/mine")


def test_held_lock_with_garbage_details_is_still_busy(tmp_path: Path) -> None:
    with holding(tmp_path, extra="garbage"):
        lock = DisplayLock(":7", directory=tmp_path, run_dir="")
        assert lock.holder() == Holder(pid=0, run_dir="", started="")
        with pytest.raises(LockBusy, match="does not say which") as caught:
            lock.acquire()
    assert "--wait-lock SECONDS" in str(caught.value)


# -- which displays share a lock -------------------------------------------------------------------

@pytest.mark.parametrize(("first", "second"), [
    (":0", ":0.0"), (":0", "unix:0"), (":0", "unix:0.1"), (":12.0", ":12"),
    ("localhost:10.0", "localhost:10"), ("Host:0", "host:0.0"), ("tcp/remote:1", "remote:1"),
])
def test_names_of_one_display_share_a_lock_file(first: str, second: str) -> None:
    assert lock_path(first, Path("/locks")) == lock_path(second, Path("/locks"))


@pytest.mark.parametrize(("first", "second"), [
    (":0", ":1"), (":0", "localhost:0"), (":1", ":10"), ("remote:0", "other:0"),
    ("a-b:1", "a:1"), ("::1:0", ":0"),
])
def test_other_displays_and_hosts_get_their_own_lock_file(first: str, second: str) -> None:
    assert lock_path(first, Path("/locks")) != lock_path(second, Path("/locks"))


@pytest.mark.parametrize("display", [":0", "localhost:10.0", "::1:0", "/tmp/launch/x:0", "junk/"])
def test_lock_file_names_are_plain_file_names(display: str) -> None:
    path = lock_path(display, Path("/locks"))
    assert path.parent == Path("/locks")
    assert "/" not in path.name and ":" not in path.name
    assert path.name.endswith(".lock")


def test_screen_numbers_share_the_real_lock_and_other_displays_do_not(tmp_path: Path) -> None:
    with holding(tmp_path, display=":0.0"):
        with pytest.raises(LockBusy):
            DisplayLock(":0", directory=tmp_path, run_dir="").acquire()
        with DisplayLock(":1", directory=tmp_path, run_dir="") as other:
            assert other.holder() is not None


# -- what outlives the holder ----------------------------------------------------------------------

@pytest.mark.parametrize("ending", ["killed", "released"])
def test_a_child_of_the_holder_does_not_keep_the_lock(tmp_path: Path, ending: str) -> None:
    with holding(tmp_path, extra="child", hold_s=60 if ending == "killed" else 0.2) as holder:
        assert is_alive(holder.child_pid)
        if ending == "killed":
            holder.proc.send_signal(signal.SIGKILL)
        holder.proc.wait(timeout=10)
        assert is_alive(holder.child_pid)  # the child lives on ...
        lock = DisplayLock(":7", directory=tmp_path, run_dir="/runs/after")
        assert lock.holder() is None  # ... without holding the display
        with lock:
            pass


def test_release_is_idempotent_and_frees_the_lock_for_others(tmp_path: Path) -> None:
    lock = DisplayLock(":7", directory=tmp_path, run_dir="/runs/a")
    lock.release()  # never acquired: nothing to do
    lock.acquire()
    lock.acquire()  # already held: nothing to do
    lock.release()
    lock.release()
    assert lock.holder() is None
    assert lock_path(":7", tmp_path).read_bytes() == b""  # no stale details left behind
    with holding(tmp_path) as holder:
        seen = lock.holder()
    assert seen is not None and seen.pid == holder.pid


def test_a_failed_acquire_leaves_nothing_held(tmp_path: Path) -> None:
    with holding(tmp_path, hold_s=0.3) as holder:
        lock = DisplayLock(":7", directory=tmp_path, run_dir="")
        with pytest.raises(LockBusy):
            lock.acquire()
        lock.release()  # harmless after a failed acquire
        holder.proc.wait(timeout=5)
    with DisplayLock(":7", directory=tmp_path, run_dir=""):
        pass


def test_holder_reports_the_start_time_as_iso(tmp_path: Path) -> None:
    from datetime import datetime

    with holding(tmp_path):
        seen = DisplayLock(":7", directory=tmp_path, run_dir="").holder()
    assert seen is not None
    assert abs(time.time() - datetime.fromisoformat(seen.started).timestamp()) < 60


# -- where lock files live -------------------------------------------------------------------------

def test_lock_dir_is_a_private_folder_in_xdg_runtime_dir(tmp_path: Path) -> None:
    directory = lock_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert directory == tmp_path / "cua"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize("runtime", ["", "missing", "file"])
def test_lock_dir_falls_back_to_a_private_temp_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: str) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "file").write_text("not a folder")
    env = {"XDG_RUNTIME_DIR": str(tmp_path / runtime)} if runtime else {}
    directory = lock_dir(env)
    assert directory == tmp_path / f"cua-{os.getuid()}"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_lock_dir_tightens_an_open_folder_of_ours(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    open_folder = tmp_path / f"cua-{os.getuid()}"
    open_folder.mkdir(mode=0o777)
    open_folder.chmod(0o777)
    assert lock_dir({}) == open_folder
    assert stat.S_IMODE(open_folder.stat().st_mode) == 0o700


def test_lock_dir_refuses_a_planted_symlink_in_the_temp_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"cua-{os.getuid()}").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DesktopError, match="not a folder owned by you"):
        lock_dir({})


def test_acquire_in_a_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    lock = DisplayLock(":7", directory=tmp_path / "missing", run_dir="")
    with pytest.raises(DesktopError, match="XDG_RUNTIME_DIR"):
        lock.acquire()
    assert lock.holder() is None
