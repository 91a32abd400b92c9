"""SIGINT, SIGTERM and SIGHUP end a run promptly wherever they land: `cua run` as a subprocess on
a shared Xvfb, the signal sent once a condition shows where the run is (the probe app received N
characters, the model call is waiting, Xvfb is starting, the run is ending). Then: the exit
code, one JSON summary, a complete run record, and nothing pressed or remapped, asked of the X
server itself. Further signals during the ending are held: they change none of that."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call
from helpers import keyboard_mapping, keys_down, pointer_state, running_probe, wait_until

from .conftest import summary_of

pytestmark = pytest.mark.display

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
BUTTONS = 0x1F00


@pytest.fixture
def shared_display(virtual_display):
    return {"DISPLAY": virtual_display.display, "XAUTHORITY": str(virtual_display.xauthority)}


def long_text(kind: str, length: int = 200_000) -> str:
    rng = random.Random(3)
    if kind == "ascii":
        return "".join(rng.choice("abcdefghij klmnopqrstuvwxyz ABCDEF.,") for _ in range(length))
    return "".join(rng.choice([*"abc ", *(chr(0x4E00 + i) for i in range(500)), "é", "🙂"])
                   for _ in range(length))


def type_into(probe, text: str):
    """Claude's script: click into the probe's text box, then type `text`."""
    x, y, w, h = probe.ready["text_widget"]
    return [lambda req: Reply([computer_call(req, "left_click", coordinate=[x + w // 2,
                                                                            y + h // 2])]),
            lambda req: Reply([computer_call(req, "type", text=text)])]


def ended(proc, code: int, stop: float):
    """The run ended within a bound after the signal, with `code`, one JSON summary and a
    finished record. Returns the summary."""
    try:
        stdout, stderr = proc.communicate(timeout=30)  # a hang shows as a timeout here
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("cua was still running 30 s after the signal") from None
    took = time.monotonic() - stop
    assert proc.returncode == code, stderr
    proc.stdout, proc.stderr = stdout, stderr
    summary = summary_of(proc)
    assert (summary["status"], summary["exit_code"]) == ("interrupted", code)
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["exit_code"] == code
    assert any(line.startswith(("cua: interrupted", "cua: terminated", "cua: hung up"))
               for line in stderr.splitlines()), stderr
    assert all(line.strip() != "cua:" for line in stderr.splitlines())
    assert "Traceback" not in stderr and "took over" not in stderr, stderr
    return summary, took


def input_released(screen) -> bool:
    return keys_down(screen) == [] and pointer_state(screen)[2] & BUTTONS == 0


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
@pytest.mark.parametrize("kind", ["ascii", "unicode"])
def test_a_signal_while_typing_a_long_text_ends_the_run_and_releases_input(
        cua, api, virtual_display, shared_display, tmp_path, hang, signum, code, kind):
    before = keyboard_mapping(virtual_display)
    with running_probe(virtual_display, tmp_path / "probe.jsonl") as probe:
        api.queue(*type_into(probe, long_text(kind)), hang)
        proc = cua.popen("run", "--json", "type a lot", **shared_display)
        # Well into the text: cua is inside XTest requests when the signal lands.
        wait_until(lambda: len(probe.text()) >= 300, 60, message="300 characters typed")
        proc.send_signal(signum)
        stop = time.monotonic()
        _, took = ended(proc, code, stop)
    wait_until(lambda: input_released(virtual_display), 5, message="input to be released")
    assert keyboard_mapping(virtual_display) == before
    assert took < 10, took  # 2 s on an idle machine; this one is shared


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_while_the_model_thinks_ends_the_run(cua, api, virtual_display, shared_display,
                                                      hang, signum, code):
    api.queue(lambda req: Reply([computer_call(req, "left_mouse_down", coordinate=[300, 300])]),
              hang)
    proc = cua.popen("run", "--json", "hold and wait", **shared_display)
    api.wait_for_requests(2, timeout=30)  # the button is down; the model never answers
    assert pointer_state(virtual_display)[2] & 0x100
    proc.send_signal(signum)
    ended(proc, code, time.monotonic())
    wait_until(lambda: input_released(virtual_display), 5, message="input to be released")


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_while_the_screen_settles_ends_the_run(cua, api, virtual_display,
                                                        shared_display, tmp_path, hang, signum,
                                                        code):
    # A terminal that never stops scrolling: after each action cua waits for the screen to
    # settle, up to the ceiling (a minute here), so that is where the signal lands.
    ticker = virtual_display.start_app(
        ["xterm", "-geometry", "80x24+600+400", "-e", "sh", "-c",
         "while :; do date +%s%N; done"])
    try:
        with running_probe(virtual_display, tmp_path / "probe.jsonl") as probe:
            x, y = probe.canvas_point(200, 200)
            api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[x, y])]),
                      hang)
            proc = cua.popen("run", "--json", "click", CUA_SETTLE_CEILING_S="60",
                             **shared_display)
            probe.wait_for("release", timeout=60)  # the click is done: cua is settling now
            proc.send_signal(signum)
            ended(proc, code, time.monotonic())
            assert len(api.requests) == 1  # it never got to ask again
    finally:
        ticker.terminate()
        ticker.wait(timeout=10)


def children_named(pid: int, name: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            ppid = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and comm == name:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_while_xvfb_starts_leaves_no_folder_without_a_record(cua, api, tmp_path,
                                                                      signum, code):
    proc = cua.popen("run", "--json", "--virtual-display", "1024x768", "x")
    xvfb = wait_until(lambda: children_named(proc.pid, "Xvfb"), 30, message="Xvfb to start")
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("cua was still running 30 s after the signal") from None
    assert proc.returncode == code, stderr
    assert all(line.strip() != "cua:" for line in stderr.splitlines())
    runs = tmp_path / "data" / "runs"
    folders = list(runs.iterdir()) if runs.is_dir() else []
    assert all((folder / "run.json").is_file() for folder in folders), folders
    for folder in folders:
        assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    wait_until(lambda: not Path(f"/proc/{xvfb[0]}").exists() or
               "Z" in Path(f"/proc/{xvfb[0]}/stat").read_text().rsplit(")", 1)[1][:3], 10,
               message="Xvfb to stop")


def test_ctrl_c_names_what_happened(cua, api, hang):
    api.queue(hang)
    proc = cua.popen("run", "--desktop", "fake", "wait")
    api.wait_for_requests(1, timeout=30)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("cua: interrupted"), stderr


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_parent_that_blocked_the_signals_does_not_make_cua_deaf_to_them(cua, api, hang,
                                                                         signum, code):
    # A blocked signal mask is inherited: a Ray worker's thread blocks SIGINT, and the `cua run`
    # it started ignored the Ctrl-C it was sent.
    api.queue(hang)
    proc = subprocess.Popen(
        cua.argv("run", "--json", "--desktop", "fake", "wait"), env=cua.env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [s for s, _ in SIGNALS]))
    try:
        api.wait_for_requests(1, timeout=30)
        proc.send_signal(signum)
        ended(proc, code, time.monotonic())
    finally:
        if proc.poll() is None:
            proc.kill()


def recorded_as_ended(home: Path) -> bool:
    for record in (home / "data" / "runs").glob("*/run.json"):
        try:
            return json.loads(record.read_text())["status"] != "running"
        except (OSError, ValueError, KeyError):
            return False
    return False


@pytest.mark.parametrize(("first", "code"), SIGNALS)
def test_signals_during_the_ending_are_held_and_change_nothing(
        cua, api, virtual_display, shared_display, tmp_path, hang, first, code):
    # A storm: the first signal mid-typing (borrowed keycodes to restore), then one every few
    # ms, of every kind, until cua has gone. The ending is not cut short by any of them.
    before = keyboard_mapping(virtual_display)
    rng = random.Random(first)
    with running_probe(virtual_display, tmp_path / "probe.jsonl") as probe:
        api.queue(*type_into(probe, long_text("unicode")), hang)
        proc = cua.popen("run", "--json", "type a lot", **shared_display)
        wait_until(lambda: len(probe.text()) >= 100, 60, message="100 characters typed")
        stop = time.monotonic()
        # The same signal until the record says the run ended (two signals within a scheduling
        # delay of each other have no order), then any signal, until cua has gone.
        while proc.poll() is None and time.monotonic() - stop < 30:
            proc.send_signal(first if not recorded_as_ended(tmp_path) else
                             rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP]))
            time.sleep(0.005)  # the storm's pace, not a wait for anything
        ended(proc, code, stop)
    assert "noted; still releasing input and finishing the run record" in proc.stderr
    wait_until(lambda: input_released(virtual_display), 5, message="input to be released")
    assert keyboard_mapping(virtual_display) == before


def drain(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


def test_a_terminal_that_hangs_up_ends_the_run_with_129(cua, api, virtual_display,
                                                        shared_display, tmp_path, hang):
    # The terminal itself goes away (its master side closes): the kernel sends SIGHUP, and
    # every later write to the terminal fails. The record and the JSON are complete all the same.
    import pexpect

    api.queue(lambda req: Reply([computer_call(req, "left_mouse_down", coordinate=[300, 300])]),
              hang)
    out = tmp_path / "summary.json"
    command = f"exec {shlex.join(cua.argv('run', '--json', 'hold and wait'))} > {out}"
    child = pexpect.spawn("/bin/sh", ["-c", command], env=cua.env(TERM="xterm", **shared_display),
                          timeout=60)
    screen = threading.Thread(target=drain, args=(child.child_fd,), daemon=True)
    screen.start()  # the terminal is read, as a person's would be, until it goes
    api.wait_for_requests(2, timeout=30)  # the button is down; the model never answers
    assert pointer_state(virtual_display)[2] & 0x100
    child.ptyproc.fileobj.close()  # the terminal hangs up
    stop = time.monotonic()
    status = wait_until(lambda: child.ptyproc.isalive() is False and child.ptyproc.exitstatus,
                        30, message="cua to exit after the hang-up")
    assert status == 129, (status, child.ptyproc.signalstatus)
    assert time.monotonic() - stop < 30
    summary = json.loads(out.read_text())
    assert (summary["status"], summary["exit_code"]) == ("interrupted", 129)
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert (meta["status"], meta["exit_code"]) == ("interrupted", 129)
    wait_until(lambda: input_released(virtual_display), 5, message="input to be released")


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_display_that_cannot_release_input_does_not_change_how_a_signal_ends_the_run(
        cua, api, hang, signum, code):
    # The display went with the signal (or broke): releasing fails, and the run still ends as
    # the signal says, with its record complete -- not as an environment error (exit 5).
    api.queue(hang)
    proc = cua.popen("run", "--json", "--desktop", "fake:fail=release_all", "wait")
    api.wait_for_requests(1, timeout=30)
    proc.send_signal(signum)
    ended(proc, code, time.monotonic())
    assert "could not release input after the interruption" in proc.stderr
