"""Confirmation, secrets and unattended runs, end to end: `cua run` as a subprocess on Xvfb, a
real xterm or Tk form, and a scripted Claude served by the fake Messages API."""

import json
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import (
    SUPPLIER_VALUES,
    computer_call,
    report,
    supplier_form_policy,
    text,
)
from helpers import pointer_state, wait_until

from .conftest import FORM, summary_of

XTERM = "xterm -geometry 100x30+0+0"


def in_xterm(command):
    """Claude's script: click into the xterm, type `command` and Return, then report."""
    return [lambda req: Reply([computer_call(req, "left_click", coordinate=[200, 150])]),
            lambda req: Reply([computer_call(req, "type", text=command + "\n")]),
            Reply([report("success", "typed it")])]


@pytest.fixture
def victim(tmp_path):
    """A folder with a file in it that a destructive command would remove."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "marker.txt").write_text("still here")
    return folder


def test_without_a_terminal_a_destructive_command_never_runs(cua, api, victim):
    api.queue(*in_xterm(f"rm -rf {victim}"))
    proc = cua.run("run", "--json", "--virtual-display", "1280x800", "--app", XTERM, "clean up")
    summary = summary_of(proc)
    assert proc.returncode == 4, proc.stderr
    assert (summary["status"], summary["exit_code"]) == ("needs_approval", 4)
    approval = summary["approval"]
    assert approval["rule"] == "destructive-shell"
    assert approval["action"]["text"] == f"rm -rf {victim}\n"
    assert approval["window"]["wm_class"] == "XTerm"
    assert Path(approval["crop"]).is_file()
    time.sleep(0.5)  # had the command been typed, xterm would have run it by now
    assert (victim / "marker.txt").read_text() == "still here"
    assert len(api.requests) == 2  # the click went through; nothing after the refusal


def test_yes_lets_a_harmless_ask_run(cua, api, tmp_path):
    marker = tmp_path / "made-by-xterm.txt"
    api.queue(*in_xterm(f"echo ok > {marker}"))
    proc = cua.run("run", "--json", "--yes", "--virtual-display", "1280x800", "--app", XTERM,
                   "write a file")
    assert proc.returncode == 0, proc.stderr
    wait_until(marker.exists, 5, message="xterm never ran the command")
    assert marker.read_text() == "ok\n"
    step = [json.loads(line) for line in
            (Path(summary_of(proc)["run_dir"]) / "steps.jsonl").read_text().splitlines()][1]
    assert step["actions"][0]["policy"]["rule"] == "terminal-command"
    assert step["actions"][0]["policy"]["answer"] == "once"


def test_a_deny_rule_blocks_even_with_yes(cua, api, tmp_path, victim):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nname = "no-rm"\nverdict = "deny"\ntext = "\\\\brm\\\\b"\n'
                      'reason = "nothing is deleted in this job"\n')
    api.queue(*in_xterm(f"rm -rf {victim}")[:2], Reply([report("failure", "blocked")]))
    proc = cua.run("run", "--json", "--yes", "--policy", str(policy), "--virtual-display",
                   "1280x800", "--app", XTERM, "clean up")
    assert proc.returncode == 1, proc.stderr
    assert summary_of(proc)["summary"] == "blocked"
    blocked = api.requests[2].json["messages"][-1]["content"][0]
    assert blocked["is_error"] is True
    assert "no-rm" in blocked["content"][0]["text"]
    time.sleep(0.5)
    assert (victim / "marker.txt").read_text() == "still here"


def test_a_bad_policy_file_is_a_configuration_error(cua, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nverdict = "allow"\n\n[[rule]]\nverdict = "maybe"\n')
    proc = cua.run("run", "--json", "--policy", str(policy), "--virtual-display", "800x600", "x")
    assert proc.returncode == 2
    assert f"{policy}:5" in proc.stderr


def spawn(cua, *args, **extra_env):
    # Wide enough that the long tmp paths in the prompt do not wrap.
    env = cua.env(COLUMNS="300", LINES="40", TERM="xterm", **extra_env)
    return pexpect.spawn(sys.executable, ["-m", "claude_cua.cli", *args], env=env,
                         encoding="utf-8", timeout=60, dimensions=(40, 300))


@pytest.mark.parametrize(("answer", "runs", "status"), [
    ("o", True, "success"),
    ("d", False, "failure"),
    ("q", False, "aborted"),
])
def test_on_a_terminal_cua_asks_and_each_answer_does_what_it_says(cua, api, victim, answer, runs,
                                                                   status):
    api.queue(*in_xterm(f"rm -rf {victim}")[:2],
              Reply([report("success" if runs else "failure", "done")]))
    child = spawn(cua, "run", "--virtual-display", "1280x800", "--app", XTERM, "clean up")
    child.expect("Approve step 2")
    child.expect(r"victim\\n")  # typed text shown escaped
    child.expect("destructive-shell")
    child.expect(r"approval-step-002-1\.png")
    child.expect_exact("Your choice [o/a/d/q]: ")
    child.sendline(answer)
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert child.exitstatus == {"success": 0, "failure": 1, "aborted": 4}[status]
    assert child.before.rstrip().splitlines()[-1].startswith(f"{status}:")
    if runs:
        wait_until(lambda: not victim.exists(), 5, message="the approved command did not run")
    else:
        time.sleep(0.5)
        assert (victim / "marker.txt").exists()
    if answer == "d":
        denied = api.requests[2].json["messages"][-1]["content"][0]
        assert denied["is_error"] is True and "denied" in denied["content"][0]["text"]


def test_approving_for_the_run_does_not_ask_again(cua, api, tmp_path):
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    api.queue(*in_xterm(f"echo 1 > {first}")[:2],
              lambda req: Reply([computer_call(req, "type", text=f"echo 2 > {second}\n")]),
              Reply([report("success", "both")]))
    child = spawn(cua, "run", "--virtual-display", "1280x800", "--app", XTERM, "two files")
    child.expect_exact("Your choice [o/a/d/q]: ")
    child.sendline("a")
    index = child.expect_exact(["Your choice [o/a/d/q]: ", pexpect.EOF], timeout=60)
    child.close()
    assert index == 1, "asked a second time"
    assert child.exitstatus == 0
    wait_until(second.exists, 5, message="the second command did not run")


SECRET = "s3cr3t-Vendor!pw"


def test_a_secret_reaches_the_form_and_nowhere_else(cua, api, tmp_path):
    out = tmp_path / "submitted.json"
    values = {**SUPPLIER_VALUES, "notes": "pin {{PASSWORD}}"}
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nverdict = "allow"\nsecret = "PASSWORD"\n'
                      'window_title = "^Supplier form$"\nreason = "the vendor portal"\n')
    api.queue(*[supplier_form_policy(values)] * 40)
    form = " ".join([*FORM, "--out", str(out)])
    proc = cua.run("run", "--json", "--secret", "PASSWORD=VENDOR_PW", "--policy", str(policy),
                   "--virtual-display", "1920x1080", "--app", form, "fill the form",
                   VENDOR_PW=SECRET)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["notes"] == f"pin {SECRET}"
    needle = SECRET.encode()
    assert api.requests and all(needle not in r.body for r in api.requests)
    assert any(b"{{PASSWORD}}" in r.body for r in api.requests)
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_the_live_view_on_a_terminal_never_shows_a_secret(cua, api, tmp_path):
    out = tmp_path / "submitted.json"
    values = {**SUPPLIER_VALUES, "company": "{{PASSWORD}}"}
    api.queue(*[supplier_form_policy(values)] * 40)
    form = " ".join([*FORM, "--out", str(out)])
    child = spawn(cua, "run", "--yes", "--secret", "PASSWORD=VENDOR_PW", "--virtual-display",
                  "1920x1080", "--app", form, "fill the form", VENDOR_PW=SECRET)
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert child.exitstatus == 0, child.before
    assert json.loads(out.read_text())["company"] == SECRET
    assert "{{PASSWORD}}" in child.before  # the live view showed the typing, as a placeholder
    assert SECRET not in child.before


def test_a_missing_secret_variable_is_a_configuration_error(cua):
    proc = cua.run("run", "--secret", "PASSWORD", "--virtual-display", "800x600", "x")
    assert proc.returncode == 2
    assert "PASSWORD" in proc.stderr and "export" in proc.stderr


def test_timeout_stops_a_run_waiting_on_the_model(tmp_path, cua):
    with FakeMessagesAPI(reply_delay_s=30) as slow:
        cua.api = slow
        t0 = time.monotonic()
        proc = cua.run("run", "--json", "--timeout", "2", "--virtual-display", "800x600", "x")
    assert proc.returncode == 3, proc.stderr
    summary = summary_of(proc)
    assert (summary["status"], summary["exit_code"]) == ("timeout", 3)
    assert time.monotonic() - t0 < 20
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert meta["status"] == "timeout"


@pytest.mark.parametrize(("exists", "code", "status"), [(True, 0, "success"),
                                                        (False, 1, "check_failed")])
def test_check_decides_whether_success_stands(cua, api, tmp_path, exists, code, status):
    target = tmp_path / "invoice.pdf"
    if exists:
        target.write_text("%PDF")
    api.queue(Reply([report("success", "downloaded")]))
    proc = cua.run("run", "--json", "--check", f"ls {target} && echo found",
                   "--virtual-display", "800x600", "download the invoice")
    summary = summary_of(proc)
    assert proc.returncode == code, proc.stderr
    assert summary["status"] == status
    assert summary["check"]["command"] == f"ls {target} && echo found"
    check_txt = (Path(summary["run_dir"]) / "check.txt").read_text()
    assert ("found" in check_txt) is exists


def test_the_check_sees_the_run_display(cua, api):
    api.queue(Reply([report("success", "ok")]))
    proc = cua.run("run", "--json", "--check", "xdpyinfo >/dev/null && echo $DISPLAY",
                   "--virtual-display", "800x600", "x")
    assert proc.returncode == 0, proc.stderr
    assert summary_of(proc)["check"]["output"].startswith(":")


@pytest.fixture
def shared_display(virtual_display):
    """Environment for cua runs that share one externally started display."""
    return {"DISPLAY": virtual_display.display, "XAUTHORITY": str(virtual_display.xauthority)}


def test_a_second_run_on_the_same_display_waits_then_exits_5(cua, api, shared_display, tmp_path,
                                                             hang):
    lock_env = {**shared_display, "XDG_RUNTIME_DIR": str(tmp_path / "runtime")}
    (tmp_path / "runtime").mkdir(mode=0o700)
    api.queue(hang)
    holder = cua.popen("run", "--json", "hold the display", **lock_env)
    try:
        api.wait_for_requests(1, timeout=30)  # the holder is mid-run; its model never answers
        t0 = time.monotonic()
        second = cua.run("run", "--json", "--wait-lock", "1", "me too", **lock_env)
        waited = time.monotonic() - t0
        assert second.returncode == 5, second.stderr
        assert str(holder.pid) in second.stderr
        assert "--wait-lock" in second.stderr
        assert waited >= 1
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
    # The holder is gone: the lock is free again.
    api.queue(Reply([report("success", "done")]))
    third = cua.run("run", "--json", "third", **lock_env)
    assert third.returncode == 0, third.stderr


def test_a_stale_lock_is_taken_over(cua, api, shared_display, tmp_path):
    runtime = tmp_path / "runtime"
    (runtime / "cua").mkdir(parents=True, mode=0o700)
    dead = _dead_pid()
    display = shared_display["DISPLAY"]
    from claude_cua.core.x11.lock import lock_path

    lock_path(display, runtime / "cua").write_text(
        json.dumps({"pid": dead, "run_dir": "/gone", "started": "2026-01-01T00:00:00"}))
    api.queue(Reply([report("success", "done")]))
    proc = cua.run("run", "--json", "x", XDG_RUNTIME_DIR=str(runtime), **shared_display)
    assert proc.returncode == 0, proc.stderr


def _dead_pid():
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_sigterm_releases_input_and_finishes_the_record(cua, api, virtual_display,
                                                        shared_display, hang):
    api.queue(lambda req: Reply([text("pressing"),
                                 computer_call(req, "left_mouse_down", coordinate=[300, 300])]),
              hang)
    proc = cua.popen("run", "--json", "press and hold", **shared_display)
    api.wait_for_requests(2, timeout=30)  # the button is down; the model never answers again
    assert pointer_state(virtual_display)[2] & 0x100  # Button1Mask: really held
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    summary = json.loads(stdout)
    assert (summary["status"], summary["exit_code"]) == ("interrupted", 143)
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["summary"] == "terminated by SIGTERM"
    assert pointer_state(virtual_display)[2] & 0x100 == 0


def test_sigterm_stops_the_virtual_display(cua, api, hang):
    api.queue(lambda req: Reply([computer_call(req, "screenshot")]), hang)
    proc = cua.popen("run", "--json", "--virtual-display", "800x600", "look")
    api.wait_for_requests(2, timeout=30)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143
    meta = json.loads((Path(json.loads(stdout)["run_dir"]) / "run.json").read_text())
    number = meta["display"].lstrip(":")
    wait_until(lambda: not Path(f"/tmp/.X11-unix/X{number}").exists(), 10,
               message="Xvfb is still running after SIGTERM")
