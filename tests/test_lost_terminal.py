"""A terminal that goes away while cua waits at a prompt, on a real pty: as cua's controlling
terminal (the kernel sends SIGHUP) and as a pty that is only its stdin, stdout and stderr (as
under some wrappers and harnesses: no signal, only reads and writes that fail). Either way the
run ends as a hang-up, exit 129, the action not carried out, the record complete; never 120
(Python failing to flush at exit) or 70 (an input/output error taken for a bug)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call

PROMPT = b"Your choice [o/a/d/q]: "


def take_terminal() -> None:
    """In the child, after setsid: make the pty on fd 0 its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} on the terminal; it showed: {seen[-2000:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            assert chunk, f"the terminal closed before {wanted!r}: {seen[-2000:]!r}"
            seen += chunk
    return seen


def cua_on_a_terminal(home, api, *args, controlling):
    """`cua run ARGS` with a pseudo-terminal for stdin, stdout and stderr (its controlling
    terminal if `controlling`); the process and the terminal's master end."""
    env = {**os.environ, "CUA_DATA_DIR": str(home / "data"),
           "ANTHROPIC_API_KEY": "sk-ant-lost-terminal-0123456789",
           "ANTHROPIC_BASE_URL": api.url, "CUA_MAX_RETRIES": "0", "TERM": "xterm"}
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "claude_cua.cli", "run", "--model", "claude-sonnet-5-5", *args],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        preexec_fn=take_terminal if controlling else None)
    os.close(slave)
    return child, master


@pytest.mark.parametrize("controlling", [True, False], ids=["controlling", "stdio-only"])
def test_a_terminal_lost_at_the_approval_prompt_ends_as_a_hang_up(isolated_environment,
                                                                   controlling):
    run_dir = isolated_environment / "run"
    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]))
        child, master = cua_on_a_terminal(isolated_environment, api, "--desktop",
                                          "fake:window=XTerm/bash", "--run-dir", str(run_dir),
                                          "list the files", controlling=controlling)
        try:
            read_until(master, PROMPT, timeout=60)
        finally:
            os.close(master)  # the terminal goes away while cua waits for an answer
        code = child.wait(timeout=30)
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert code == 129, (meta["status"], meta["summary"], meta.get("approval"))
    assert (meta["status"], meta["exit_code"]) == ("interrupted", 129)
    assert "terminal" in meta["summary"] and meta["finished_at"]
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    typed = [a for s in steps for a in s["actions"] if a["name"] == "type"]
    assert all(a["is_error"] for a in typed)  # not carried out
    assert not (run_dir / "crash.txt").exists()


def test_end_of_input_at_the_prompt_is_nobody_there_to_answer(isolated_environment):
    """Ctrl-D (end of input, the terminal still there) is not a hang-up: nobody answered, so
    the run stops as needing approval (exit 4), as with no terminal at all."""
    run_dir = isolated_environment / "run"
    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]))
        child, master = cua_on_a_terminal(isolated_environment, api, "--desktop",
                                          "fake:window=XTerm/bash", "--run-dir", str(run_dir),
                                          "list the files", controlling=True)
        try:
            read_until(master, PROMPT, timeout=60)
            os.write(master, b"\x04")  # Ctrl-D at the start of a line: end of input
            shown = b""
            while child.poll() is None:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        shown += os.read(master, 65536)
                    except OSError:
                        break
            code = child.wait(timeout=30)
        finally:
            os.close(master)
    assert code == 4, shown
    meta = json.loads(Path(run_dir / "run.json").read_text(encoding="utf-8"))
    assert (meta["status"], meta["exit_code"]) == ("needs_approval", 4)


@pytest.mark.parametrize("controlling", [True, False], ids=["controlling", "stdio-only"])
def test_a_terminal_lost_while_the_run_shows_its_progress_ends_as_a_hang_up(
        isolated_environment, controlling):
    """Not at a prompt: the terminal goes while Claude thinks; the next line cua shows fails."""
    run_dir = isolated_environment / "run"
    released = threading.Event()

    def slow_click(req):
        released.wait(30)
        return Reply([computer_call(req, "left_click", coordinate=[10, 10])])

    with FakeMessagesAPI() as api:
        api.queue(slow_click, slow_click)
        child, master = cua_on_a_terminal(isolated_environment, api, "--desktop",
                                          "fake:320x200", "--run-dir", str(run_dir), "click",
                                          controlling=controlling)
        try:
            api.wait_for_requests(1, timeout=60)
            read_until(master, b"tokens", timeout=30)  # the live status line is up
        finally:
            os.close(master)
            released.set()
        try:
            code = child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert code == 129
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert (meta["status"], meta["exit_code"]) == ("interrupted", 129)
    assert not (run_dir / "crash.txt").exists()
