"""`cua run --replay` and `cua runs list` in-process, on the hidden fake desktop."""

import json

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.store.runs import load_run
from helpers import InProcessCli

RUN = ("run", "--json", "--desktop", "fake", "--model", "claude-sonnet-5-5")


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment):
    return InProcessCli.against(api, capsys, monkeypatch, isolated_environment,
                                key="sk-ant-replay-0123456789")


TASK = "click the middle"


def record(cua, api):
    api.queue(lambda req: Reply([text("clicking"), computer_call(req, "left_click",
                                                                 coordinate=[714, 402])]),
              Reply([report("success", "clicked it")]))
    code, summary, _ = cua.json(*RUN, TASK)
    assert code == 0
    return summary


@pytest.mark.parametrize("spec", ["latest", "auto", "id"])
def test_replay_asks_the_api_nothing_and_reports_replay(cua, api, spec, monkeypatch):
    recorded = record(cua, api)
    sent = len(api.requests)
    monkeypatch.delenv("ANTHROPIC_API_KEY")  # a replay that needs no handover needs no key
    code, summary, err = cua.json(*RUN, "--replay",
                                  recorded["run_id"] if spec == "id" else spec, TASK)
    assert code == 0, err
    assert len(api.requests) == sent
    assert (summary["status"], summary["summary"]) == ("success", "clicked it")
    assert summary["replay"] == {"from": recorded["run_id"], "steps_replayed": 2,
                                 "diverged_at": None, "reason": ""}
    assert "replay 1/2 ✓" in err
    run = load_run(cua.data / "runs", summary["run_id"])
    assert run.header.replay.from_run == recorded["run_id"]
    assert [s.replayed for s in run.steps] == [True, True]
    code, out, _ = cua("runs", "show", summary["run_id"])
    assert code == 0
    assert f"replay of {recorded['run_id']}: 2 steps, replayed to the end" in out
    assert "step 1: replayed (no model call), match 1.000." in out
    # the live view: each replayed step's heading comes before its actions
    lines = err.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("replay 1/2 ✓"))
    click = next(i for i, line in enumerate(lines) if line.startswith("  left_click"))
    assert heading < click < next(i for i, line in enumerate(lines)
                                  if line.startswith("replay 2/2 ✓"))


def test_cua_replay_env_sets_it_and_auto_without_a_recording_is_an_ordinary_run(
        cua, api, monkeypatch):
    monkeypatch.setenv("CUA_REPLAY", "auto")
    api.queue(Reply([report("success", "nothing to do")]))
    code, summary, err = cua.json(*RUN, "a task never run before")
    assert code == 0
    assert summary["replay"]["from"] is None
    assert "ordinary run" in summary["replay"]["reason"] and "ordinary run" in err
    assert len(api.requests) == 1


def test_a_run_that_cannot_be_replayed_is_a_usage_error(cua, api):
    api.queue(Reply([report("failure", "no")]))
    _, failed, _ = cua.json(*RUN, TASK)
    code, summary, err = cua.json(*RUN, "--replay", failed["run_id"], TASK)
    assert code == 2
    assert "cannot be replayed" in err or "cannot be replayed" in summary.get("error", "")


def test_runs_list_marks_replayable_runs(cua, api):
    recorded = record(cua, api)
    api.queue(Reply([report("failure", "no")]))
    cua.json(*RUN, "other")
    code, out, _ = cua("runs", "list", "--json")
    rows = {r["run_id"]: r["replayable"] for r in json.loads(out)}
    assert rows[recorded["run_id"]] is True and list(rows.values()).count(True) == 1
    code, out, _ = cua("runs", "list")
    assert code == 0
    assert "REPLAY" in out.splitlines()[0]
    line = next(x for x in out.splitlines() if x.startswith(recorded["run_id"]))
    assert " yes " in line


PROBE = """
import sys
from claude_cua.cli.main import run_cli
code = run_cli({argv!r})
sys.stderr.write("MODULES=" + repr(sorted(m for m in ("anthropic", "httpx2") if m in sys.modules))
                 + "\\n")
sys.exit(code)
"""


def test_a_replay_from_the_command_line_never_imports_the_sdk(cua, api):
    import os
    import subprocess
    import sys

    record(cua, api)
    argv = [*RUN, "--replay", "latest", TASK]
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True,
                          text=True, env=dict(os.environ), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "MODULES=[]" in proc.stderr
    assert json.loads(proc.stdout)["replay"]["steps_replayed"] == 2


def test_replay_check_judges_the_first_step_that_acts_not_a_look_taken_mid_draw(cua, api):
    """Step 1 only looked, and its screenshot caught the app half drawn (here: black): a
    replay would not stop there, so neither does replay-check's verdict."""
    from claude_cua.core.engine.replay import first_step_verdict
    from claude_cua.core.vocab.desktop import FakeDesktop
    from PIL import Image

    api.queue(lambda req: Reply([computer_call(req, "screenshot")]),
              lambda req: Reply([computer_call(req, "left_click", coordinate=[714, 402])]),
              Reply([report("success", "clicked it")]))
    code, summary, _ = cua.json(*RUN, TASK)
    assert code == 0
    run = load_run(cua.data / "runs", summary["run_id"])
    first = run.file(run.steps[0].screenshot_before)
    with Image.open(first) as image:
        size = image.size
    Image.new("RGB", size).save(first)
    assert first_step_verdict(load_run(cua.data / "runs", summary["run_id"]),
                              FakeDesktop.from_spec("fake")).is_match
    # the step that acts is still checked: spoil its picture and the verdict says so
    Image.new("RGB", size).save(run.file(run.steps[1].screenshot_before))
    assert not first_step_verdict(load_run(cua.data / "runs", summary["run_id"]),
                                  FakeDesktop.from_spec("fake")).is_match


def run_folders(cua):
    root = cua.data / "runs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("spec", ["latest", "auto"])
def test_dry_run_says_the_replay_would_start_and_does_nothing(cua, api, spec, monkeypatch):
    recorded = record(cua, api)
    sent, folders = len(api.requests), run_folders(cua)
    monkeypatch.delenv("ANTHROPIC_API_KEY")  # nothing is asked, so no key is needed
    code, verdict, _ = cua.json(*RUN, "--replay", spec, "--dry-run", TASK)
    assert code == 0
    assert verdict == {"run_id": recorded["run_id"], "steps": 2, "would_replay": True,
                       "match": 1.0, "reason": ""}
    assert len(api.requests) == sent and run_folders(cua) == folders
    code, out, _ = cua("run", *RUN[2:], "--replay", spec, "--dry-run", TASK)  # same model
    assert code == 0
    assert out == f"would replay {recorded['run_id']} (2 steps): the screen matches its first " \
                  "step that acts (match 1.000)\n"


def test_dry_run_on_another_screen_says_claude_would_take_over(cua, api):
    recorded = record(cua, api)
    folders = run_folders(cua)
    code, verdict, _ = cua.json("run", "--json", "--desktop", "fake:1280x800", "--replay",
                                recorded["run_id"], "--dry-run", TASK)
    assert code == 1 and not verdict["would_replay"]
    assert "1280x800" in verdict["reason"] and run_folders(cua) == folders
    # auto looks for a recording of this task on this screen: there is none
    code, verdict, _ = cua.json("run", "--json", "--desktop", "fake:1280x800", "--replay",
                                "auto", "--dry-run", TASK)
    assert code == 1 and verdict["run_id"] is None
    assert "an ordinary run would start" in verdict["reason"]
    assert run_folders(cua) == folders


def test_dry_run_judges_the_scale_of_this_runs_model_as_the_replay_does(cua, api):
    """Recorded with one model, replayed with another that sees the screen at another size:
    the dry run says the replay would not start, in the words the replay itself uses."""
    recorded = record(cua, api)
    other = ("run", "--json", "--desktop", "fake", "--model", "claude-opus-5-5")
    code, verdict, _ = cua.json(*other, "--replay", "latest", "--dry-run", TASK)
    assert code == 1 and not verdict["would_replay"]
    header = load_run(cua.data / "runs", recorded["run_id"]).header
    recorded_scale = f"{header.model_size[0]}x{header.model_size[1]}"
    assert f"the recording's seen as {recorded_scale}" in verdict["reason"]
    assert "--model claude-sonnet-5-5" in verdict["reason"]
    assert "(" + str(header.model_size[0]) + "," not in verdict["reason"]  # no tuples
    api.queue(Reply([report("success", "done by Claude")]))
    code, summary, _ = cua.json(*other, "--replay", "latest", TASK)
    assert code == 0
    assert summary["replay"]["diverged_at"] == 1
    assert summary["replay"]["reason"] == verdict["reason"]  # one judge for both


def test_replay_latest_is_the_latest_run_that_can_be_replayed(cua, api):
    recorded = record(cua, api)
    api.queue(Reply([report("failure", "could not")]))
    assert cua.json(*RUN, TASK)[0] == 1  # the newest run failed: it cannot be replayed
    code, verdict, _ = cua.json(*RUN, "--replay", "latest", "--dry-run", TASK)
    assert code == 0 and verdict["run_id"] == recorded["run_id"]


def test_replay_latest_with_nothing_replayable_says_so(cua, api):
    api.queue(Reply([report("failure", "could not")]))
    cua.json(*RUN, TASK)
    code, _, err = cua("run", "--desktop", "fake", "--replay", "latest", TASK)
    assert code == 2 and "can be replayed" in err and "REPLAY column" in err


def test_dry_run_without_replay_is_a_usage_error(cua, api):
    code, out, err = cua("run", "--desktop", "fake", "--dry-run", TASK)
    assert code == 2 and out == ""
    assert "--dry-run" in err and "--replay" in err
    assert api.requests == []
