"""A run record that cannot be written mid-run (disk full, file size limit) stops the run
cleanly: exit 5, one line on stderr with the reason, the same reason in the --json summary, no
traceback, and the mouse button Claude held released."""

import errno
import json
import os
import resource
import subprocess

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, text
from helpers import pointer_state

BUTTON1 = 256


def mount_tmpfs(folder, size="4m"):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the file-size-limit case runs anywhere")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def fill(folder):
    """Write to `folder` until its file system is full."""
    with open(folder / "filler", "wb") as out:
        chunk = b"\0" * 65536
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return True


@pytest.mark.parametrize("fault", ["disk full", "file size limit"])
def test_a_record_that_cannot_be_written_stops_the_run_with_exit_5(cua, api, tmp_path,
                                                                    virtual_display, fault):
    data = tmp_path / "data"
    data.mkdir()
    limit = None
    if fault == "file size limit":
        # Above the 8 MB shared-memory file a 1920x1080 capture uses; the next step's text,
        # and so its line of steps.jsonl, is past it.
        limit = 16 * 1024 * 1024
        breaker = lambda: True  # noqa: E731
        big = "x" * (limit + 1024)
    else:
        mount_tmpfs(data)
        breaker = lambda: fill(data)  # noqa: E731
        big = "and now a screenshot"
    api.queue(
        lambda r: Reply([computer_call(r, "left_mouse_down", coordinate=[300, 300])]),
        lambda r: breaker() and Reply([text(big), computer_call(r, "screenshot")]),
        lambda r: Reply([computer_call(r, "screenshot")]),
    )
    env = cua.env(DISPLAY=virtual_display.display, XAUTHORITY=str(virtual_display.xauthority),
                  CUA_DATA_DIR=str(data))

    def limit_file_size():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    try:
        proc = subprocess.run(cua.argv("run", "--json", "--yes", "hold the button"),
                              capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL, preexec_fn=limit_file_size)
    finally:
        if fault == "disk full":
            subprocess.run(["umount", str(data)], check=False)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("cua: cannot write") and "run record" in lines[-1], proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["exit_code"] == 5 and summary["status"] == "error"
    assert summary["error"].startswith("cannot write")
    assert pointer_state(virtual_display)[2] & BUTTON1 == 0, "button 1 is still held"
