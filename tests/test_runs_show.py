"""`cua runs show` reads like the live view; `latest`, ambiguous prefixes; `runs list` wraps
the task at word boundaries on a terminal and writes it whole when piped."""

import json
import re
import sys

import pytest
from claude_cua.core.demo.fakeapi import Reply
from claude_cua.core.demo.policies import computer_call, report, text
from helpers import InProcessCli

RUN = ("run", "--json", "--desktop", "fake:window=XTerm/bash", "--model", "claude-sonnet-5-5")
LONG_TASK = ("open the supplier portal, log in with the stored credentials, download every "
             "invoice from November and rename each file after its invoice number")


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment):
    return InProcessCli.against(api, capsys, monkeypatch, isolated_environment,
                                key="sk-ant-show-test-0123456789")


def a_run(cua, api, task="click and type"):
    api.queue(lambda req: Reply([text("clicking the field"),
                                 computer_call(req, "left_click", coordinate=[714, 402]),
                                 computer_call(req, "type", text="ls -l\n")]),
              Reply([report("success", "typed it")]))
    code, out, _ = cua(*RUN, "--yes", task)
    assert code == 0, out
    return json.loads(out)


def test_runs_show_latest_reads_like_the_live_view(cua, api):
    summary = a_run(cua, api)
    code, out, err = cua("runs", "show", "latest")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "click and type"
    assert f"run {summary['run_id']} with claude-sonnet-5-5 (computer_toolset_20260801)" in out
    assert "first screenshot (sent with the task): " in out and "step-000.png" in out
    step1 = next(line for line in lines if line.startswith("step 1: "))
    assert re.fullmatch(r"step 1: model \d+ ms, \d+ in / \d+ out / \d+ cached tokens, "
                        r"\$\d\.\d{4}\. clicking the field", step1), step1
    assert re.search(r"^  left_click \(714, 402\) → screen \(960, 540\)  \d+ ms$", out, re.M)
    typed = next(line for line in lines if line.startswith("  type "))
    assert re.fullmatch(r'  type "ls -l\\n"  \d+ ms  \[ask: terminal-command, approved once\]',
                        typed), typed
    assert re.search(r"^  screenshot: .*step-001\.png$", out, re.M)
    assert "  reported success" in out
    assert re.search(r"^finished: success after 2 steps in [\d.]+ s, \d+ tokens, \$[\d.]+",
                     out, re.M)
    assert "summary: typed it" in out
    assert "{" not in out  # no raw JSON


def test_runs_show_marks_denied_actions_and_names_the_rule(cua, api, tmp_path):
    policy = tmp_path / "deny.toml"
    policy.write_text('[[rule]]\nname = "no typing here"\nverdict = "deny"\naction = "type"\n')
    api.queue(lambda req: Reply([computer_call(req, "type", text="hi")]),
              Reply([report("failure", "blocked")]))
    code, _, _ = cua(*RUN, "--policy", str(policy), "type hi")
    assert code == 1
    code, out, _ = cua("runs", "show", "latest")
    assert re.search(r'^  type "hi"  \d+ ms  \[deny: no typing here\]  error: ', out, re.M), out


def test_an_ambiguous_prefix_lists_the_matching_runs(cua, api):
    first, second = a_run(cua, api, "first task"), a_run(cua, api, "second task")
    code, out, err = cua("runs", "show", first["run_id"][:4])
    assert code == 2 and out == ""
    assert "2 runs match" in err
    assert first["run_id"] in err and second["run_id"] in err
    assert "first task" in err and "second task" in err
    code, _, err = cua("runs", "show", "nothing-like-this")
    assert code == 2 and "no run matching 'nothing-like-this'" in err and "latest" in err


def test_runs_list_writes_the_whole_task_on_one_line_when_piped(cua, api):
    a_run(cua, api, LONG_TASK)
    code, out, _ = cua("runs", "list")
    assert code == 0
    [row] = [line for line in out.splitlines()[1:]]
    assert row.endswith(LONG_TASK)


@pytest.mark.parametrize("columns", [100, 130])
def test_runs_list_on_a_terminal_wraps_the_task_at_word_boundaries(cua, api, columns):
    import os

    import pexpect

    a_run(cua, api, LONG_TASK)
    env = {k: v for k, v in os.environ.items()}
    child = pexpect.spawn(sys.executable, ["-m", "claude_cua.cli", "runs", "list"], env=env,
                          encoding="utf-8", timeout=60, dimensions=(40, columns))
    child.expect(pexpect.EOF)
    lines = child.before.replace("\r\n", "\n").splitlines()
    assert all(len(line) <= columns for line in lines), lines
    pieces = [line.strip() for line in lines[1:]]
    pieces[0] = pieces[0].split("claude-sonnet-5-5", 1)[1].strip()
    assert " ".join(p for p in pieces if p) == LONG_TASK  # every word whole, in order


def test_runs_show_json_is_still_the_whole_record(cua, api):
    summary = a_run(cua, api)
    code, out, _ = cua("runs", "show", summary["run_id"], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["run"]["run_id"] == summary["run_id"]
