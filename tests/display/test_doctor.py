"""`cua doctor` as a user runs it: a subprocess, real Xvfb, real folders, a real lock holder."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_cua.core.engine.doctor import run_checks
from claude_cua.core.x11.xserver import VirtualDisplay
from helpers import randr_monitor, require_xvfb

display = pytest.mark.display

FAKE_KEY = "sk-ant-doctor-FAKE-9f8e7d6c5b4a"
CHECKS = ["display", "x11", "xauthority", "screen", "provider", "api_key", "model", "tripwire",
          "data_dir", "records_private", "config_dir", "display_lock"]

HOLDER = """
import sys, time
from pathlib import Path
from claude_cua.core.x11.lock import DisplayLock, lock_dir
import os

lock = DisplayLock(sys.argv[1], directory=lock_dir(os.environ), run_dir=sys.argv[2])
lock.acquire()
print("locked", flush=True)
time.sleep(60)  # holding the lock is the point; the test kills this process
"""


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment whose folders all live under tmp_path, with a fake API key."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    (tmp_path / "home").mkdir()
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(runtime),
            "CUA_DATA_DIR": str(tmp_path / "data"), "ANTHROPIC_API_KEY": FAKE_KEY}


@pytest.fixture
def display_env(base_env: dict[str, str], virtual_display: VirtualDisplay) -> dict[str, str]:
    return {**base_env, **virtual_display.env}


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claude_cua.cli", "doctor", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def doctor_json(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    proc = doctor(env, "--json")
    checks = json.loads(proc.stdout)
    assert [c["name"] for c in checks] == CHECKS
    assert_key_not_shown(proc.stdout + proc.stderr)
    for check in checks:
        assert_fix_names_real_options(check["fix"])
        assert check["status"] == ("skipped" if check["skipped"] else
                                   "ok" if check["ok"] else "FAIL")
    return proc.returncode, {c["name"]: c for c in checks}


_RUN_HELP: list[str] = []


def assert_fix_names_real_options(fix: str) -> None:
    """Every option a fix names is an option of the command it names (`cua run`)."""
    options = re.findall(r"(?<![\w-])--[a-z][a-z-]*", fix)
    if not options:
        return
    assert "`cua run --" in fix, fix
    if not _RUN_HELP:
        _RUN_HELP.append(subprocess.run([sys.executable, "-m", "claude_cua.cli", "run", "--help"],
                                        capture_output=True, text=True, timeout=60).stdout)
    for option in options:
        assert re.search(rf"(?<![\w-]){option}\b", _RUN_HELP[0]), f"{option} in {fix!r}"


def assert_key_not_shown(text: str) -> None:
    """Neither the key nor any 6-character piece of it (a redacted tail, say) is in the output."""
    assert not [FAKE_KEY[i:i + 6] for i in range(len(FAKE_KEY) - 5) if FAKE_KEY[i:i + 6] in text]


def failed(checks: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, check in checks.items() if check["status"] == "FAIL"]


def skipped(checks: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, check in checks.items() if check["status"] == "skipped"]


# -- all is well -----------------------------------------------------------------------------------

@display
def test_every_check_passes_on_a_working_display_and_the_key_never_shows(
        display_env: dict[str, str], virtual_display: VirtualDisplay) -> None:
    proc = doctor(display_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_key_not_shown(proc.stdout + proc.stderr)
    assert "FAIL" not in proc.stdout and "fix:" not in proc.stdout
    rows = [line.split()[:2] for line in proc.stdout.splitlines()]
    assert rows == [[name, "ok"] for name in CHECKS]

    code, checks = doctor_json(display_env)
    assert code == 0
    assert failed(checks) == []
    assert checks["display"]["detail"] == f"X server answers on DISPLAY={virtual_display.display}"
    assert checks["screen"]["detail"].startswith("1920x1080 (mss) = 1920x1080 (XTest) -> ")
    assert checks["api_key"]["detail"] == "ANTHROPIC_API_KEY is set"
    assert checks["data_dir"]["detail"].startswith(display_env["CUA_DATA_DIR"])
    assert checks["display_lock"]["detail"].startswith(f"{virtual_display.display} is free")


@display
def test_screen_check_shows_the_scale_for_the_configured_model(
        display_env: dict[str, str]) -> None:
    _, checks = doctor_json({**display_env, "CUA_MODEL": "claude-sonnet-4-6"})
    detail = checks["screen"]["detail"]
    assert " for claude-sonnet-4-6, scale 0." in detail
    size = detail.split(" -> ")[1].split()[0]
    width, height = map(int, size.split("x"))
    assert width <= 1568 and width * height <= 1_150_000


# -- what fails, and what it says to do ------------------------------------------------------------

def test_without_display_exits_5_and_says_how_to_get_one(base_env: dict[str, str]) -> None:
    proc = doctor(base_env)
    assert proc.returncode == 5
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["display", "FAIL"]
    assert lines[1].startswith("  fix: ") and "`cua run --virtual-display" in lines[1]
    shown = {line.split()[0]: line.split()[1] for line in lines if not line.startswith(" ")}
    assert (shown["screen"], shown["display_lock"]) == ("skipped", "skipped")
    assert "\033[" not in proc.stdout  # no colour codes when stdout is not a terminal
    code, checks = doctor_json(base_env)
    assert code == 5
    assert failed(checks) == ["display"]
    assert skipped(checks) == ["screen", "display_lock"]
    assert checks["display"]["detail"] == "DISPLAY is not set"
    # the status says skipped; the detail says why, without saying skipped again
    assert checks["screen"]["detail"] == checks["display_lock"]["detail"] == "no display"
    screen_line = next(line for line in lines if line.startswith("screen "))
    assert screen_line.split()[1:] == ["skipped", "no", "display"]


@display
@pytest.mark.parametrize("wayland", [{"WAYLAND_DISPLAY": "wayland-0"},
                                     {"XDG_SESSION_TYPE": "wayland"}])
def test_a_wayland_session_fails_even_with_an_x_display(
        display_env: dict[str, str], wayland: dict[str, str]) -> None:
    code, checks = doctor_json({**display_env, **wayland})
    assert code == 5
    assert failed(checks) == ["x11"]
    assert "Wayland" in checks["x11"]["detail"]
    assert "X11" in checks["x11"]["fix"] and "--virtual-display" in checks["x11"]["fix"]


@display
@pytest.mark.parametrize(("variable", "check"), [("CUA_DATA_DIR", "data_dir"),
                                                 ("XDG_CONFIG_HOME", "config_dir")])
def test_a_folder_that_cannot_be_created_fails(
        display_env: dict[str, str], tmp_path: Path, variable: str, check: str) -> None:
    # A path under a regular file can never be a folder, even for root.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, checks = doctor_json({**display_env, variable: str(blocker / "cua")})
    assert code == 5
    assert failed(checks) == [check]
    assert str(blocker) in checks[check]["detail"]
    assert checks[check]["fix"]


def test_missing_api_key_fails_and_the_key_is_never_echoed(base_env: dict[str, str]) -> None:
    code, checks = doctor_json({**base_env, "ANTHROPIC_API_KEY": "  "})
    assert code == 5
    assert checks["api_key"] == {"name": "api_key", "ok": False,
                                 "detail": "ANTHROPIC_API_KEY is not set",
                                 "fix": checks["api_key"]["fix"], "skipped": False,
                                 "status": "FAIL"}
    assert "cron" in checks["api_key"]["fix"]


def test_a_missing_xauthority_file_is_reported_and_not_created(
        base_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "fresh-xauthority"
    _, checks = doctor_json({**base_env, "XAUTHORITY": str(path)})
    assert checks["xauthority"] == {"name": "xauthority", "ok": True,
                                    "detail": f"{path} does not exist yet; a run creates it "
                                              "(empty)", "fix": "",
                                    "skipped": False, "status": "ok"}
    assert not path.exists()  # a check changes nothing
    home = Path(base_env["HOME"])
    doctor_json(base_env)
    assert not (home / ".Xauthority").exists()
    path.write_bytes(b"")
    _, again = doctor_json({**base_env, "XAUTHORITY": str(path)})
    assert again["xauthority"]["detail"] == f"{path} (empty)"


@pytest.mark.parametrize("columns", [60, 80])
def test_doctor_wraps_details_and_fixes_at_word_boundaries(base_env: dict[str, str],
                                                           columns: int) -> None:
    from claude_cua.cli.doctor import doctor_lines

    checks = run_checks({**base_env, "ANTHROPIC_API_KEY": ""})
    lines = doctor_lines(checks, lambda status, width: f"{status:<{width}}", columns)
    # a line is longer only when it holds one word longer than the room (a path)
    assert all(len(line) <= columns or len(line.split()[-1]) > columns - 24
               for line in lines), lines
    assert any(line.startswith("       ") for line in lines)  # a fix went on to a second line
    words = " ".join(line.strip() for line in lines).split()
    for check in checks:  # every word of every detail and fix is there whole
        for text in (check.detail, check.fix if check.status == "FAIL" else ""):
            for word in text.split():
                assert word in words, (word, lines)


def test_an_xauthority_file_that_cannot_exist_fails_with_a_fix(
        base_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _, checks = doctor_json({**base_env, "XAUTHORITY": str(blocker / "Xauthority")})
    assert not checks["xauthority"]["ok"]
    assert "XAUTHORITY" in checks["xauthority"]["fix"]


@pytest.fixture
def lock_holder(display_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the display's lock, as a running cua would; killed after."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, display_env["DISPLAY"],
                             "/data/runs/20260102-other"], env=display_env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


@display
def test_a_display_held_by_another_run_fails_naming_its_pid(
        display_env: dict[str, str], lock_holder: subprocess.Popen[str]) -> None:
    code, checks = doctor_json(display_env)
    assert code == 5
    assert failed(checks) == ["display_lock"]
    detail = checks["display_lock"]["detail"]
    assert f"pid {lock_holder.pid}" in detail and "/data/runs/20260102-other" in detail
    assert "--wait-lock" in checks["display_lock"]["fix"]
    lock_holder.kill()
    lock_holder.wait()
    code, checks = doctor_json(display_env)
    assert code == 0, checks["display_lock"]  # the dead holder's lock file holds nothing


@display
def test_a_monitor_smaller_than_the_screen_is_a_mismatch_with_a_fix(
        base_env: dict[str, str]) -> None:
    require_xvfb()
    with VirtualDisplay(size=(1920, 1080), window_manager=False) as screen, randr_monitor(
            screen, left=0, top=0, width=1280, height=720):
        code, checks = doctor_json({**base_env, **screen.env})
    assert code == 5
    assert failed(checks) == ["screen"]
    assert checks["screen"]["detail"].startswith("1280x720 (mss) != 1920x1080 (XTest)")
    assert "--monitor" in checks["screen"]["fix"]


# -- the library entry point -----------------------------------------------------------------------

def test_run_checks_display_argument_overrides_the_environment(
        base_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # platformdirs reads it
    env = {**base_env, "DISPLAY": ":0", "XAUTHORITY": str(tmp_path / "auth")}
    checks = {c.name: c for c in run_checks(env, display=":987")}
    assert not checks["display"].ok
    assert "':987'" in checks["display"].detail
    assert checks["display"].fix  # what to do, split from what happened
    assert checks["display_lock"].ok and checks["display_lock"].detail.startswith(":987 is free")


@display
def test_on_a_terminal_fail_is_red_ok_green_and_skipped_dim(base_env: dict[str, str]) -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "claude_cua.cli", "doctor"], env=base_env,
                          encoding="utf-8", timeout=60, dimensions=(40, 200))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
    out = child.before
    assert "\033[1;31mFAIL" in out and "\033[32mok" in out and "\033[2mskipped" in out
    plain = pexpect.spawn(sys.executable, ["-m", "claude_cua.cli", "doctor"],
                          env={**base_env, "NO_COLOR": "1"}, encoding="utf-8", timeout=60)
    plain.expect(pexpect.EOF)
    assert "\033[" not in plain.before
