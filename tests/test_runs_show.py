"""`cua runs show` reads like the live view; `latest`, ambiguous prefixes; `runs list` keeps
each run to one line of the terminal and writes it whole when piped; `runs prune`."""

import json
import re
import sys
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report, text
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
    counts = re.fullmatch(r"step 1: model \d+ ms, (\d+) tokens \((\d+) in, (\d+) cache write, "
                          r"(\d+) cache read, (\d+) out\), \$\d\.\d{4}\. clicking the field", step1)
    assert counts, step1
    total, *parts = map(int, counts.groups())
    # the live view's count: every token, cache writes included (the fake API writes them)
    assert total == sum(parts) and parts[1] > 0
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


@pytest.mark.parametrize("columns", [80, 120])
def test_runs_list_on_a_terminal_keeps_each_run_to_one_line(cua, api, columns):
    import os

    import pexpect

    a_run(cua, api, LONG_TASK)
    a_run(cua, api, "short task")
    env = {k: v for k, v in os.environ.items()}
    child = pexpect.spawn(sys.executable, ["-m", "claude_cua.cli", "runs", "list"], env=env,
                          encoding="utf-8", timeout=60, dimensions=(40, columns))
    child.expect(pexpect.EOF)
    lines = child.before.replace("\r\n", "\n").splitlines()
    assert len(lines) == 3, lines  # the heading and one line per run
    assert all(len(line) <= columns for line in lines), lines
    long_row = next(line for line in lines if "open the supplier" in line)
    assert long_row.endswith("…") and re.search(r" (claude-)?sonnet-5-5 ", long_row), long_row
    assert lines[1].endswith("short task")  # newest first


def _infos(tmp_path):
    from claude_cua.core.store.runs import RunInfo
    from claude_cua.core.vocab.record import RunHeader

    def info(run_id, model, status, task, steps=12):
        header = RunHeader(run_id=run_id, task=task, model=model, status=status, steps=steps,
                           started_at="2026-12-06T20:27:51.000+00:00", format=1)
        return RunInfo(run_id, tmp_path / run_id, header)

    return [info("20261206-202744-9090", "cua-demo-stand-in", "success", LONG_TASK),
            info("20261206-202801-1a2b", "claude-sonnet-4-6", "budget_exhausted", LONG_TASK, 50),
            info("20261206-202802-1a2c", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                 "error", "x", 0),
            info("20261206-202803-1a2d", "claude-opus-5-5", "success", "fill the form")]


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_runs_list_lines_fit_a_rich_console_of_any_width(tmp_path, width):
    import io

    from claude_cua.cli.runs import table_lines
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    lines = table_lines(_infos(tmp_path), width)
    for line in lines:
        console.print(line, markup=False, highlight=False)
    printed = out.getvalue().splitlines()
    assert printed == lines  # nothing wrapped: every line fits
    assert all(len(line) <= width for line in printed)
    body = "\n".join(printed)
    for model in ("sonnet-4-6", "opus-5-5"):  # model names whole, never broken
        assert re.search(rf"(?<![\w-])(claude-)?{model}(?![\w-])", body), body
    demo = next(line for line in printed if line.startswith("20261206-202744-9090"))
    assert " DEMO " in demo
    assert all(line.count("\n") == 0 for line in printed)
    cut = [line for line in printed[1:] if "open the supplier" in line]
    assert all(line.endswith("…") for line in cut) or width >= 200


def test_runs_list_piped_writes_each_cell_whole_and_limit_keeps_the_newest(cua, api):
    first, second = a_run(cua, api, "first task"), a_run(cua, api, "second task")
    code, out, err = cua("runs", "list", "--limit", "1")
    assert code == 0
    [heading, row] = out.splitlines()
    assert row.startswith(second["run_id"]) and row.endswith("second task")
    assert "STARTED" in heading and "claude-sonnet-5-5" in row
    assert "1 older run not shown" in err
    code, out, _ = cua("runs", "list", "--json", "--limit", "5")
    assert [r["run_id"] for r in json.loads(out)] == [second["run_id"], first["run_id"]]
    assert [r["demo"] for r in json.loads(out)] == [False, False]
    code, _, err = cua("runs", "list", "--limit", "0")
    assert code == 2 and "--limit" in err


def test_runs_prune_removes_only_old_finished_runs_and_says_what_it_freed(cua, api):
    import datetime

    from claude_cua.core.store.runs import folder_size
    from claude_cua.core.x11.lock import DisplayLock, lock_dir

    old, held, new = a_run(cua, api, "old"), a_run(cua, api, "held"), a_run(cua, api, "new")
    long_ago = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40)).isoformat()
    for summary in (old, held):
        path = Path(summary["run_dir"]) / "run.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "started_at": long_ago}))
    size = folder_size(Path(old["run_dir"]))
    code, out, err = cua("runs", "prune", "--older-than", "30d", "--dry-run")
    assert code == 0, err
    assert "would remove" in out and "nothing removed" in out
    assert all(Path(s["run_dir"]).exists() for s in (old, held, new))
    import os

    with DisplayLock(":97", directory=lock_dir(os.environ), run_dir=held["run_dir"]):
        code, out, err = cua("runs", "prune", "--older-than", "30d")
    assert code == 0, err
    assert not Path(old["run_dir"]).exists()
    assert Path(held["run_dir"]).exists() and Path(new["run_dir"]).exists()
    assert f"removed {old['run_id']}" in out and held["run_id"] not in out
    assert f"kept {held['run_id']}: it is still running" in err
    kib = f"{size / 1024:.1f} KiB"
    assert f"1 run older than 30d removed, {kib} freed" in out
    code, _, err = cua("runs", "prune", "--older-than", "30 days")
    assert code == 2 and "30d" in err


def test_runs_show_without_a_run_shows_the_latest(cua, api):
    a_run(cua, api, "first task")
    a_run(cua, api, "second task")
    code, out, _ = cua("runs", "show")
    assert code == 0 and out.splitlines()[0] == "second task"


def test_runs_show_json_is_still_the_whole_record(cua, api):
    summary = a_run(cua, api)
    code, out, _ = cua("runs", "show", summary["run_id"], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["run"]["run_id"] == summary["run_id"]
