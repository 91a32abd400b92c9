"""`cua` in-process: the real command line, the real SDK over HTTP against the fake Messages
API, and the hidden `--desktop fake…` instead of an X display. What is checked is what a user
sees: the exit code, the one JSON object on stdout, the lines on stderr, the run folder."""

import json
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Error, Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.store.runs import load_run
from helpers import InProcessCli

KEY = "sk-ant-inprocess-0123456789"


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment):
    return InProcessCli.against(api, capsys, monkeypatch, isolated_environment, key=KEY)


RUN = ("run", "--json", "--desktop", "fake", "--model", "claude-sonnet-5-5")


def test_success_prints_one_summary_and_records_the_run(cua, api):
    api.queue(lambda req: Reply([text("clicking"), computer_call(req, "left_click",
                                                                 coordinate=[714, 402])]),
              Reply([report("success", "clicked it")]))
    code, summary, err = cua.json(*RUN, "click the middle")
    assert code == 0 and summary["exit_code"] == 0
    assert (summary["status"], summary["summary"], summary["steps"]) == (
        "success", "clicked it", 2)
    assert summary["model"] == "claude-sonnet-5-5"
    assert summary["tool_version"] == "computer_toolset_20260801"
    assert summary["usage"]["input_tokens"] > 0 and summary["cost_usd"] > 0
    assert "  left_click (714, 402) → screen (960, 540)  " in err
    assert KEY not in err
    run = load_run(cua.data / "runs", summary["run_id"])
    assert run.header.status == "success" and run.header.display == "fake"
    assert run.steps[0].actions[0].points == ((960, 540),)
    assert str(run.path) == summary["run_dir"]


@pytest.mark.parametrize(("reply", "code", "status"), [
    (Reply([report("failure", "no such form")]), 1, "failure"),
    (Reply([text("done, I think")]), 1, "unknown"),  # nudged once, then unknown
])
def test_claude_giving_up_exits_1(cua, api, reply, code, status):
    api.queue(reply, reply)
    got, summary, _ = cua.json(*RUN, "find the form")
    assert (got, summary["status"], summary["exit_code"]) == (code, status, code)


def test_the_step_budget_exits_3(cua, api):
    api.queue(*[lambda req: Reply([computer_call(req, "screenshot")])] * 3)
    code, summary, _ = cua.json(*RUN, "--max-steps", "2", "look")
    assert (code, summary["status"], summary["steps"]) == (3, "budget_exhausted", 2)
    assert len(api.requests) == 2


def test_an_ask_with_nobody_at_a_terminal_exits_4_naming_the_rule(cua, api):
    api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]))
    code, summary, _ = cua.json("run", "--json", "--desktop", "fake:window=XTerm/bash",
                                "--model", "claude-sonnet-5-5", "list files")
    assert (code, summary["status"]) == (4, "needs_approval")
    approval = summary["approval"]
    assert approval["rule"] == "terminal-command" and approval["answer"] == "stop"
    assert approval["answered_by"] == "nobody"
    assert approval["window"]["wm_class"] == "XTerm"
    assert Path(approval["crop"]).is_file()


def test_yes_lets_the_ask_run(cua, api):
    api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]),
              Reply([report("success", "listed")]))
    code, summary, _ = cua.json("run", "--json", "--yes", "--desktop", "fake:window=XTerm",
                                "--model", "claude-sonnet-5-5", "list files")
    assert (code, summary["status"]) == (0, "success")
    [step, _] = load_run(cua.data / "runs", summary["run_id"]).steps
    assert step.actions[0].policy.answered_by == "--yes"


def test_a_desktop_failing_mid_run_exits_5_and_keeps_the_record(cua, api):
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[10, 10])]),
              lambda req: Reply([computer_call(req, "left_click", coordinate=[20, 20])]))
    code, summary, err = cua.json("run", "--json", "--desktop", "fake:fail=click@1",
                                  "--model", "claude-sonnet-5-5", "click twice")
    assert (code, summary["status"], summary["exit_code"]) == (5, "error", 5)
    assert "click failed" in summary["error"] and "click failed" in err
    run = load_run(cua.data / "runs", summary["run_id"])
    assert run.header.status == "error"
    assert [s.step for s in run.steps] == [1]  # the step that failed never finished


@pytest.mark.parametrize(("answer", "message"), [(Error(401), "ANTHROPIC_API_KEY"),
                                                 (Error(400), "400")])
def test_api_errors_exit_6(cua, api, answer, message):
    api.queue(answer)
    code, summary, err = cua.json(*RUN, "anything")
    assert (code, summary["status"], summary["exit_code"]) == (6, "error", 6)
    assert message in err and KEY not in err + json.dumps(summary)


def test_a_run_whose_first_request_fails_ran_no_step(cua, api):
    api.queue(Error(400))
    code, summary, err = cua.json(*RUN, "anything")
    assert (code, summary["steps"]) == (6, 0)
    assert "finished: error after 0 steps in " in err
    run = load_run(cua.data / "runs", summary["run_id"])
    assert (run.header.steps, run.steps) == (0, ())
    code, out, _ = cua("runs", "show", summary["run_id"])
    assert "finished: error after 0 steps" in out


def test_one_step_is_counted_as_one_step(cua, api):
    api.queue(Reply([report("success", "nothing to do")]))
    code, summary, err = cua.json(*RUN, "anything")
    assert (code, summary["steps"]) == (0, 1)
    assert "finished: success after 1 step in " in err


def test_every_bad_setting_and_the_missing_key_are_reported_at_once(cua, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, summary, err = cua.json("run", "--json", "--virtual-display", "1920",
                                  "--max-steps", "0", "--timeout", "-1", "x")
    assert code == 2 and summary["exit_code"] == 2
    assert "4 problems:" in err
    for named in ("--virtual-display", "--max-steps", "--timeout", "ANTHROPIC_API_KEY"):
        assert named in err and named in summary["error"]


@pytest.mark.parametrize(("args", "message"), [
    (("--policy", "/nonexistent/policy.toml"), "policy"),
    (("--secret", "NOT_SET_ANYWHERE"), "NOT_SET_ANYWHERE"),
    (("--desktop", "fake:axb"), "--desktop"),
    (("--max-steps", "0"), "max-steps"),
])
def test_configuration_errors_exit_2(cua, args, message):
    code, _out, err = cua("run", "--json", "--desktop", "fake", *args, "x")
    assert code == 2
    assert message in err


def test_missing_key_exits_2_and_names_the_variable(cua, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, summary, err = cua.json(*RUN, "x")
    assert (code, summary["exit_code"]) == (2, 2)
    assert "ANTHROPIC_API_KEY" in err


def test_plain_view_and_quiet(cua, api):
    api.queue(lambda req: Reply([text("typing"), computer_call(req, "type", text="hi")]),
              Reply([report("success", "typed")]))
    code, out, err = cua("run", "--desktop", "fake", "--model", "claude-sonnet-5-5", "type hi")
    assert code == 0 and out == "success: typed\n"
    lines = err.splitlines()
    assert lines[0].startswith("cua: 'type hi' with claude-sonnet-5-5")
    assert any(line.startswith("step 1: model") and line.endswith("typing") for line in lines)
    assert any(line.startswith('  type "hi"  ') for line in lines)
    assert lines[-1].startswith("finished: success after 2 steps")
    api.queue(Reply([report("success", "quiet")]))
    assert cua("run", "-q", "--desktop", "fake", "--model", "claude-sonnet-5-5", "q") == (
        0, "", "")


def test_runs_list_and_show_read_what_the_run_wrote(cua, api):
    api.queue(lambda req: Reply([text("moving"), computer_call(req, "mouse_move",
                                                               coordinate=[100, 100])]),
              Reply([report("success", "moved")]))
    _, summary, _ = cua.json(*RUN, "move")
    code, out, _ = cua("runs", "list", "--json")
    [row] = json.loads(out)
    assert code == 0 and row["run_id"] == summary["run_id"] and row["status"] == "success"
    code, out, _ = cua("runs", "show", summary["run_id"][:15], "--json")
    shown = json.loads(out)
    assert [s["step"] for s in shown["steps"]] == [1, 2]
    moved = shown["steps"][0]["actions"][0]
    assert moved["points"] == [moved["action"]["at"]["screen"]] == [[135, 135]]
    code, out, _ = cua("runs", "show", summary["run_id"])
    assert code == 0 and "step 1" in out and "mouse_move" in out


def config_rows(cua):
    """`cua config show --json`, by setting name."""
    code, out, _ = cua("config", "show", "--json")
    assert code == 0
    return {r["name"]: r for r in json.loads(out)}


def test_config_show_names_each_value_and_its_source(cua, monkeypatch, isolated_environment):
    config = isolated_environment / "cua.toml"
    config.write_text('max_steps = 12\ntimeout_s = 600\nwait_lock_s = 30\n')
    monkeypatch.setenv("CUA_CONFIG", str(config))
    monkeypatch.setenv("CUA_KEEP_IMAGES", "5")
    rows = config_rows(cua)
    assert (rows["max_steps"]["value"], rows["max_steps"]["source"]) == (12, f"config {config}")
    assert (rows["timeout_s"]["value"], rows["wait_lock_s"]["value"]) == (600.0, 30.0)
    assert (rows["keep_images"]["value"], rows["keep_images"]["source"]) == (
        5, "env CUA_KEEP_IMAGES")
    assert rows["model"]["source"] == "default" and rows["timeout_s"]["env"] == "CUA_TIMEOUT_S"
    code, out, _ = cua("config", "show")
    assert code == 0 and any(line.split()[:2] == ["max_steps", "12"] for line in out.splitlines())


def test_virtual_display_and_app_come_from_the_config_file_or_the_environment(
        cua, monkeypatch, isolated_environment):
    config = isolated_environment / "cua.toml"
    config.write_text('virtual_display = "1024x768"\napp = "xterm -geometry 80x24"\n')
    monkeypatch.setenv("CUA_CONFIG", str(config))
    monkeypatch.setenv("CUA_APP", "xedit notes.txt")
    rows = config_rows(cua)
    assert (rows["virtual_display"]["value"], rows["virtual_display"]["source"]) == (
        "1024x768", f"config {config}")
    assert (rows["app"]["value"], rows["app"]["source"]) == ("xedit notes.txt", "env CUA_APP")
    # The values reach the run: the fake desktop refuses an --app, from wherever it came.
    code, summary, _ = cua.json(*RUN, "anything")
    assert code == 2 and summary["run_id"] is None and "app" in (summary["error"] or "")


def test_timeout_from_the_environment_stops_the_run(cua, api, monkeypatch):
    monkeypatch.setenv("CUA_TIMEOUT_S", "0.001")
    api.queue(*[lambda req: Reply([computer_call(req, "wait", duration=1)])] * 3)
    code, summary, _ = cua.json(*RUN, "wait")
    assert (code, summary["status"]) == (3, "timeout")


def test_a_bad_timeout_in_the_config_file_is_a_configuration_error(cua, monkeypatch,
                                                                    isolated_environment):
    config = isolated_environment / "cua.toml"
    config.write_text("timeout_s = 0\n")
    monkeypatch.setenv("CUA_CONFIG", str(config))
    code, _out, err = cua("run", "--desktop", "fake", "x")
    assert code == 2 and "timeout_s" in err
