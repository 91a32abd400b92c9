"""`cua run --replay` end to end: `cua` as a subprocess on its own Xvfb, the supplier form (and
its variants: fields moved, slow rendering, a dialog at step 3), the real SDK and the fake API.

One recording is made per module (the scripted Claude fills the form, typing a secret); every
test replays it. Where the screen is unchanged the fake API must receive no request at all.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from claude_cua.cli.demo import colours
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import (
    SUPPLIER_VALUES,
    computer_call,
    find_colour,
    latest_image,
    supplier_form_policy,
    to_model_space,
)

from .conftest import FORM, summary_of

pytestmark = pytest.mark.display

TASK = "fill the supplier form"
VALUES = {**SUPPLIER_VALUES, "notes": "pin {{PIN}}"}
RECORDED_PIN, REPLAY_PIN = "4711-recorded", "0815-replayed"
BASE = ["run", "--json", "--virtual-display", "1920x1080", "--secret", "PIN=VENDOR_PIN"]


def form(out: Path, *variant: str) -> str:
    return " ".join([*FORM, "--out", str(out), *variant])


def run_cua(home: Path, api: FakeMessagesAPI, *args: str, pin: str = REPLAY_PIN,
            **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ANTHROPIC_", "CUA_")) and k not in ("DISPLAY", "XAUTHORITY")}
    clean.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"),
                 ANTHROPIC_API_KEY="test-key-e2e", ANTHROPIC_BASE_URL=api.url,
                 CUA_MAX_RETRIES="0", VENDOR_PIN=pin, CUA_REPLAY_WAIT_S="4", **env)
    return subprocess.run([sys.executable, "-m", "claude_cua.cli", *args], capture_output=True,
                          text=True, env=clean, timeout=180, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """The recorded run folder of the scripted Claude filling the standard form."""
    home = tmp_path_factory.mktemp("recording")
    out = home / "submitted.json"
    with FakeMessagesAPI() as api:
        api.queue(*[supplier_form_policy(VALUES)] * 40)
        proc = run_cua(home, api, *BASE, "--yes", "--app", form(out), TASK, pin=RECORDED_PIN)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["notes"] == f"pin {RECORDED_PIN}"
    return Path(summary["run_dir"])


@pytest.fixture
def home(tmp_path):
    return tmp_path


def no_secret_anywhere(home: Path, api: FakeMessagesAPI, proc) -> None:
    needle = REPLAY_PIN.encode()
    assert all(needle not in r.body for r in api.requests)
    assert REPLAY_PIN not in proc.stdout + proc.stderr
    for path in (home / "data").rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_an_unchanged_form_replays_without_one_request(recording, home, api):
    out = home / "submitted.json"
    proc = run_cua(home, api, *BASE, "--yes", "--replay", str(recording), "--app", form(out),
                   TASK)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    assert api.requests == []
    assert summary["replay"] == {"from": recording.name, "steps_replayed": 12,
                                 "diverged_at": None, "reason": ""}
    # the secret came from this run's environment, typed into the right field, and only there
    assert json.loads(out.read_text()) == {**SUPPLIER_VALUES, "notes": f"pin {REPLAY_PIN}"}
    no_secret_anywhere(home, api, proc)
    steps = [json.loads(line) for line in
             (Path(summary["run_dir"]) / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == 12 and all(s["replayed"] for s in steps)
    assert min(s["match"] for s in steps) >= 0.97


def test_a_slow_form_is_waited_for_not_taken_for_a_divergence(recording, home, api):
    out = home / "submitted.json"
    proc = run_cua(home, api, *BASE, "--yes", "--replay", str(recording),
                   "--app", form(out, "--slow", "1.5"), TASK)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    assert api.requests == []
    assert summary["replay"]["diverged_at"] is None
    assert json.loads(out.read_text())["company"] == SUPPLIER_VALUES["company"]


def test_moved_fields_hand_over_to_claude_who_fills_the_form_correctly(recording, home, api):
    out = home / "submitted.json"
    api.queue(*[supplier_form_policy(VALUES)] * 40)
    proc = run_cua(home, api, *BASE, "--yes", "--replay", str(recording),
                   "--app", form(out, "--offset", "30,40"), TASK)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    # step 1 only took a screenshot; the first step that acts is where it stops
    assert summary["replay"]["diverged_at"] == 2
    assert summary["replay"]["steps_replayed"] == 1
    # nothing went into a wrong field: the form's own output is exactly what was asked for
    assert json.loads(out.read_text()) == {**SUPPLIER_VALUES, "notes": f"pin {REPLAY_PIN}"}
    first = api.requests[0].json["messages"][0]["content"]
    assert first[0]["text"] == TASK
    assert "Replay stopped before recorded step 2" in first[1]["text"]
    assert first[2]["type"] == "image"
    no_secret_anywhere(home, api, proc)
    # the repaired run is a recording: the next replay follows it without Claude
    again = home / "again.json"
    proc = run_cua(home, api, *BASE, "--yes", "--replay", "auto",
                   "--app", form(again, "--offset", "30,40"), TASK)
    summary2 = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    assert summary2["replay"]["from"] == summary["run_id"]
    assert summary2["replay"]["diverged_at"] is None
    assert json.loads(again.read_text())["company"] == SUPPLIER_VALUES["company"]


def dismiss_then(policy):
    """Claude after the handover: click the dialog's yellow OK if it shows, then fill."""

    def step(request):
        image = latest_image(request, search_back=True)
        point = find_colour(image, colours.DIALOG_OK) if image is not None else None
        if point is not None:
            where = to_model_space(point, image=image, request=request)
            return Reply([computer_call(request, "left_click", coordinate=where)])
        return policy(request)

    return step


def test_a_dialog_at_step_3_hands_over_at_step_3(recording, home, api):
    out = home / "submitted.json"
    api.queue(*[dismiss_then(supplier_form_policy(VALUES))] * 40)
    proc = run_cua(home, api, *BASE, "--yes", "--replay", str(recording),
                   "--app", form(out, "--dialog-after-clicks", "1"), TASK)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    assert (summary["replay"]["diverged_at"], summary["replay"]["steps_replayed"]) == (3, 2)
    assert json.loads(out.read_text()) == {**SUPPLIER_VALUES, "notes": f"pin {REPLAY_PIN}"}
    note = api.requests[0].json["messages"][0]["content"][1]["text"]
    assert "left_click at (" in note and "before recorded step 3" in note


def test_an_ask_during_an_unattended_replay_ends_needs_approval(recording, home, api):
    out = home / "submitted.json"
    proc = run_cua(home, api, *BASE, "--replay", str(recording), "--app", form(out), TASK)
    summary = summary_of(proc)
    assert proc.returncode == 4, proc.stderr
    assert summary["status"] == "needs_approval"
    assert summary["approval"]["rule"] == "secret-typed"
    assert api.requests == []
    assert not out.exists()  # the form was never submitted
    no_secret_anywhere(home, api, proc)


def replay_check(home: Path, recording: Path, display) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CUA_"))}
    env.update(HOME=str(home), CUA_DATA_DIR=str(home / "data"), **display.env)
    proc = subprocess.run([sys.executable, "-m", "claude_cua.cli", "replay-check", "--json",
                           str(recording)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_replay_check_says_whether_a_replay_would_start(recording, virtual_display, desktop,
                                                        home):
    from claude_cua.core.vocab.actions import frame_to_image
    from claude_cua.core.x11.xserver import stop_process
    from helpers import wait_until

    def verdict_when(wanted):
        """replay-check's answer, asked again until the app has drawn what `wanted` expects."""
        last = []

        def ask():
            answer = replay_check(home, recording, virtual_display)
            last[:] = [answer]
            return answer if wanted(answer) else None
        try:
            return wait_until(ask, 60, message="replay-check's verdict")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its last answer: {last}") from None

    app = virtual_display.start_app([*FORM, "--out", str(home / "out.json")])
    try:
        code, verdict = verdict_when(lambda answer: answer[0] == 0)
        assert verdict["would_replay"] and verdict["steps"] == 12
    finally:
        stop_process(app)
    moved = virtual_display.start_app([*FORM, "--out", str(home / "out.json"), "--offset=30,40"])
    try:
        wait_until(lambda: find_colour(frame_to_image(desktop.capture()), colours.SUBMIT), 60,
                   message="the moved form drawn")
        code, verdict = replay_check(home, recording, virtual_display)
        assert code == 1 and not verdict["would_replay"]
        assert "differs" in verdict["reason"]
    finally:
        stop_process(moved)


def test_run_dry_run_says_whether_a_replay_would_start_without_acting(recording, home, api):
    """`cua run --replay RUN --dry-run` sets the desktop up as the run would (its own Xvfb, the
    form started and drawn), judges recorded step 1, and does nothing: no request, no input
    (the form is never submitted), no run folder."""
    out = home / "submitted.json"
    dry = [*BASE, "--replay", str(recording), "--dry-run"]
    proc = run_cua(home, api, *dry, "--app", form(out), TASK)
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["would_replay"] and verdict["run_id"] == recording.name
    assert verdict["steps"] == 12
    proc = run_cua(home, api, *dry, "--app", form(out, "--offset=30,40"), TASK)
    assert proc.returncode == 1, proc.stderr
    verdict = json.loads(proc.stdout)
    assert not verdict["would_replay"] and "differs" in verdict["reason"]
    assert api.requests == [] and not out.exists()
    assert not (home / "data" / "runs").exists() or not any((home / "data" / "runs").iterdir())
