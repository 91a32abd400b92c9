"""Run records are private whatever the umask: cua as a subprocess (its own umask, set before it
starts), the real SDK against the fake API, a fake desktop. Every folder cua creates for records
is 0700 and every file it writes there 0600: run.json, steps.jsonl, the PNGs, report.html, the
GIF, crash.txt, a --run-dir folder; `cua doctor` warns about a runs folder others can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report

UMASKS = [0o022, 0o000]


def cua(home: Path, api, *args: str, umask: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CUA_", "XDG_")) and k != "DISPLAY"}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data" / "cua"),
               ANTHROPIC_API_KEY="test-key-private", ANTHROPIC_BASE_URL=api.url,
               CUA_MAX_RETRIES="0", XDG_CONFIG_HOME=str(home / "config"))
    return subprocess.run([sys.executable, "-m", "claude_cua.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(umask))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(folder: Path) -> list[str]:
    """Every folder under (and including) `folder` 0700, every file 0600; the names seen."""
    assert mode(folder) == 0o700, folder
    names = []
    for path in sorted(folder.rglob("*")):
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, f"{path} is {oct(mode(path))}"
        names.append(path.name)
    return names


def click_then_succeed(api) -> None:
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[10, 10])]),
              Reply([report("success", "done")]))


@pytest.mark.parametrize("umask", UMASKS)
def test_a_run_record_report_and_gif_are_readable_by_their_owner_only(tmp_path, api, umask):
    click_then_succeed(api)
    proc = cua(tmp_path, api, "run", "--desktop", "fake:320x200", "--report", "click",
               umask=umask)
    assert proc.returncode == 0, proc.stderr
    data = tmp_path / "data" / "cua"
    assert mode(tmp_path / "data") == 0o700  # every folder cua created on the way
    names = assert_private(data)
    assert {"runs", "run.json", "steps.jsonl", "step-000.png", "step-001.png",
            "report.html"} <= set(names), names
    run_dir = next((data / "runs").iterdir())
    out = tmp_path / "out"
    out.mkdir()
    proc = cua(tmp_path, api, "runs", "report", run_dir.name, "-o", str(out / "r.html"),
               "--gif", str(out / "r.gif"), umask=umask)
    assert proc.returncode == 0, proc.stderr
    assert mode(out / "r.html") == 0o600 and mode(out / "r.gif") == 0o600
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("umask", UMASKS)
def test_a_run_dir_cua_creates_and_a_crash_record_are_private(tmp_path, api, umask):
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[10, 10])]))
    run_dir = tmp_path / "jobs" / "nightly" / "run-1"
    proc = cua(tmp_path, api, "run", "--desktop", "fake:320x200:crash=click", "--run-dir",
               str(run_dir), "--report", "click", umask=umask)
    assert proc.returncode == 70, proc.stderr
    assert mode(tmp_path / "jobs") == 0o700 and mode(tmp_path / "jobs" / "nightly") == 0o700
    names = assert_private(run_dir)
    assert {"run.json", "steps.jsonl", "crash.txt", "report.html"} <= set(names), names


def test_an_existing_folder_keeps_its_mode_and_doctor_says_how_to_close_it(tmp_path, api):
    runs = tmp_path / "data" / "cua" / "runs"
    runs.mkdir(parents=True, mode=0o755)
    runs.chmod(0o755)
    click_then_succeed(api)
    proc = cua(tmp_path, api, "run", "--desktop", "fake:320x200", "click", umask=0o022)
    assert proc.returncode == 0, proc.stderr
    assert mode(runs) == 0o755  # not the run's to change
    assert_private(next(runs.iterdir()))  # but its own folder is closed
    proc = cua(tmp_path, api, "doctor", umask=0o022)
    said = proc.stdout + proc.stderr
    assert f"chmod 700 {runs}" in said, said
    runs.chmod(0o700)
    proc = cua(tmp_path, api, "doctor", umask=0o022)
    assert "chmod 700" not in proc.stdout + proc.stderr
