"""`cua run --report` in-process (the hidden `--desktop fake…`, the real SDK against the fake
API): the report is written however the run ends, and run.json records the exit code."""

import json
import threading
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report
from claude_cua.cli.main import run_cli
from helpers import InProcessCli

KEY = "sk-ant-report-exits-0123456789"
MODEL = ("--model", "claude-sonnet-5-5")


@pytest.fixture
def run(api, capsys, monkeypatch, isolated_environment):
    cli = InProcessCli.against(api, capsys, monkeypatch, isolated_environment, key=KEY)
    return lambda *argv: cli.json("run", "--json", "--report", *MODEL, *argv)


def click(req):
    return Reply([computer_call(req, "left_click", coordinate=[100, 100])])


def _report_of(summary, err):
    run_dir = Path(summary["run_dir"])
    path = run_dir / "report.html"
    assert f"cua: report: {path}" in err
    header = json.loads((run_dir / "run.json").read_text())
    return path.read_text(), header


@pytest.mark.parametrize(("desktop", "code", "status", "shown"), [
    ("fake:fail=click@1", 5, "error", "the fake desktop&#x27;s click failed (as asked)"),
    ("fake:crash=click@1", 70, "error", "RuntimeError: the fake desktop&#x27;s click crashed"),
    ("fake:window=XTerm", 4, "needs_approval", "terminal-command"),
])
def test_the_report_is_written_whatever_ends_the_run(run, api, desktop, code, status, shown):
    api.queue(click, lambda req: Reply([computer_call(req, "type", text="ls -l\n")])
              if "XTerm" in desktop else click(req), Reply([report("success", "done")]))
    got, summary, err = run("--desktop", desktop, "click twice")
    assert (got, summary["status"]) == (code, status), err
    page, header = _report_of(summary, err)
    assert header["exit_code"] == code and header["status"] == status
    assert '<span class="status s-' in page and f">{status}</span>" in page
    assert shown in page
    assert page.count('<section class="step"') == len(
        (Path(summary["run_dir"]) / "steps.jsonl").read_text().splitlines())
    assert KEY not in page


def test_a_timeout_leaves_a_report(run, api):
    released = threading.Event()

    def hang(request):
        released.wait(30)
        return Reply([report("failure", "too late")])

    api.queue(click, hang)
    try:
        got, summary, err = run("--desktop", "fake", "--timeout", "1.5", "wait for it")
    finally:
        released.set()
    assert (got, summary["status"]) == (3, "timeout")
    page, header = _report_of(summary, err)
    assert header["exit_code"] == 3 and 'data-step="1"' in page and ">timeout</span>" in page


def test_without_report_only_the_exit_code_is_added(run, api, capsys):
    api.queue(Reply([report("success", "nothing to do")]))
    capsys.readouterr()
    code = run_cli(["run", "--json", *MODEL, "--desktop", "fake", "x"])
    summary = json.loads(capsys.readouterr().out)
    run_dir = Path(summary["run_dir"])
    assert code == 0 and not (run_dir / "report.html").exists()
    assert json.loads((run_dir / "run.json").read_text())["exit_code"] == 0
