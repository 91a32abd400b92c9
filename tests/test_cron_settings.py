"""The `cua run` options a cron user fixes once — --non-interactive, --report, --policy — have a
config-file key and a CUA_* variable, resolved in the usual order, and `cua run` acts on them."""

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report
from claude_cua.core.errors import ConfigError
from claude_cua.core.settings import load_settings
from helpers import InProcessCli

KEY = "sk-ant-cron-settings-0123456789"
MODEL = ("--model", "claude-sonnet-5-5")
DENY_CLICKS = """
[[rule]]
name = "no-clicks-here"
action = ["left_click"]
verdict = "deny"
reason = "clicks are off in this test"
"""


def settings(tmp_path, env=None, flags=None, config=None):
    path = tmp_path / "config.toml"
    if config is not None:
        path.write_text(config)
    return load_settings({"XDG_CONFIG_HOME": str(tmp_path / "xdg"), **(env or {})},
                         path if config is not None else None, flags or {})


def test_each_key_from_the_config_file_with_policy_paths_relative_to_it(tmp_path):
    loaded = settings(tmp_path, config='non_interactive = true\nreport = true\n'
                                      'policy = ["rules.toml", "/etc/cua/site.toml"]\n')
    s = loaded.settings
    assert (s.non_interactive, s.report) == (True, True)
    assert s.policy == (str(tmp_path / "rules.toml"), "/etc/cua/site.toml")
    assert loaded.sources["policy"] == f"config {tmp_path / 'config.toml'}"
    one = settings(tmp_path, config='policy = "only.toml"\n').settings
    assert one.policy == (str(tmp_path / "only.toml"),)


@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("yes", True), ("TRUE", True), ("on", True),
    ("0", False), ("no", False), ("false", False), ("off", False), ("", False)])
def test_boolean_variables_take_the_usual_spellings(tmp_path, text, value):
    s = settings(tmp_path, env={"CUA_NON_INTERACTIVE": text, "CUA_REPORT": text}).settings
    assert (s.non_interactive, s.report) == (value, value)


def test_the_environment_beats_the_file_and_a_flag_beats_both(tmp_path):
    config = 'report = true\npolicy = ["from-file.toml"]\n'
    env = {"CUA_REPORT": "0", "CUA_POLICY": "a.toml:/abs/b.toml"}
    loaded = settings(tmp_path, env=env, config=config)
    assert loaded.settings.report is False
    assert loaded.settings.policy == ("a.toml", "/abs/b.toml")  # from the cwd, as typed
    assert loaded.sources["policy"] == "env CUA_POLICY"
    flagged = settings(tmp_path, env=env, config=config,
                       flags={"report": True, "policy": [Path("flag.toml")]}).settings
    assert (flagged.report, flagged.policy) == (True, ("flag.toml",))


@pytest.mark.parametrize(("env", "config", "message"), [
    ({"CUA_REPORT": "maybe"}, None,
     "environment variable CUA_REPORT: report must be true or false"),
    ({}, "non_interactive = 3\n", "non_interactive must be true or false"),
    ({}, "policy = [1, 2]\n", "policy must be a list of file paths"),
    ({}, 'policy = [""]\n', "policy must be a list of file paths"),
])
def test_bad_values_name_the_setting_and_where_it_came_from(tmp_path, env, config, message):
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, env=env, config=config)


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment):
    cli = InProcessCli.against(api, capsys, monkeypatch, isolated_environment, key=KEY)
    return lambda *argv: cli.json("run", "--json", *MODEL, "--desktop", "fake", *argv)


def test_cua_report_in_the_environment_writes_the_report_and_no_report_turns_it_off(
        cua, api, monkeypatch):
    monkeypatch.setenv("CUA_REPORT", "1")
    api.queue(Reply([report("success", "done")]))
    code, summary, err = cua("look")
    assert code == 0, err
    assert (Path(summary["run_dir"]) / "report.html").is_file()
    api.queue(Reply([report("success", "done")]))
    code, summary, err = cua("--no-report", "look")
    assert code == 0, err
    assert not (Path(summary["run_dir"]) / "report.html").exists()


def test_a_policy_file_named_in_the_config_file_judges_the_run(cua, api, monkeypatch,
                                                              tmp_path):
    (tmp_path / "rules.toml").write_text(DENY_CLICKS)
    (tmp_path / "config.toml").write_text('policy = ["rules.toml"]\n')
    monkeypatch.setenv("CUA_CONFIG", str(tmp_path / "config.toml"))
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[10, 10])]),
              Reply([report("success", "done")]))
    code, summary, err = cua("click once")
    assert code == 0, err
    result = json.loads(api.requests[1].body)["messages"][-1]["content"][0]
    assert result["is_error"] is True
    assert "clicks are off in this test" in json.dumps(result["content"])
    steps = (Path(summary["run_dir"]) / "steps.jsonl").read_text()
    assert "no-clicks-here" in steps


def test_non_interactive_from_the_config_file_never_prompts_on_a_terminal(
        isolated_environment, tmp_path):
    (tmp_path / "config.toml").write_text("non_interactive = true\n")
    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]))
        env = {**os.environ, "CUA_DATA_DIR": str(isolated_environment / "data"),
               "CUA_CONFIG": str(tmp_path / "config.toml"), "ANTHROPIC_API_KEY": KEY,
               "ANTHROPIC_BASE_URL": api.url, "CUA_MAX_RETRIES": "0", "TERM": "xterm"}
        child = pexpect.spawn(sys.executable, [
            "-m", "claude_cua.cli", "run", "--desktop", "fake:window=XTerm/bash", *MODEL,
            "list the files"], env=env, encoding="utf-8", timeout=60)
        index = child.expect_exact(["Your choice [o/a/d/q]: ", pexpect.EOF])
        shown = child.before
        child.close()
    assert index == 1, f"cua prompted on the terminal:\n{shown}"
    assert child.exitstatus == 4, shown
    assert "needs_approval" in shown
