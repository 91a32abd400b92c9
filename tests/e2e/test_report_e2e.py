"""`cua run --report` on Xvfb against the fake API: the report is written however the run ends,
and it renders in a real browser."""

import json
import signal
from pathlib import Path

import pytest
from browser import browser, require_browser
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report

from .conftest import summary_of

XTERM = "xterm -geometry 100x30+0+0"


def _renders(report_path: Path, steps: int) -> None:
    """Open the report headless: every recorded step is there, nothing else was asked for."""
    with browser() as open_page:
        page = open_page(report_path.as_uri())
        numbers = page.page.eval_on_selector_all(
            "section[data-step]", "els => els.map(e => Number(e.dataset.step))")
        status = page.page.inner_text("header.run .status")
        assert page.foreign_requests() == [] and page.console_errors == []
    assert numbers == list(range(1, steps + 1))
    return status


def test_a_run_stopped_for_approval_leaves_a_report(cua, api, tmp_path):
    require_browser()
    victim = tmp_path / "victim"
    victim.mkdir()
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[200, 150])]),
              lambda req: Reply([computer_call(req, "type", text=f"rm -rf {victim}\n")]),
              Reply([report("success", "typed it")]))
    proc = cua.run("run", "--json", "--report", "--virtual-display", "1280x800", "--app", XTERM,
                   "clean up")
    summary = summary_of(proc)
    assert (proc.returncode, summary["status"]) == (4, "needs_approval"), proc.stderr
    run_dir = Path(summary["run_dir"])
    page = (run_dir / "report.html").read_text()
    assert f"cua: report: {run_dir / 'report.html'}" in proc.stderr
    assert json.loads((run_dir / "run.json").read_text())["exit_code"] == 4
    assert "destructive-shell" in page and f"rm -rf {victim}" in page
    assert _renders(run_dir / "report.html", steps=2) == "needs_approval"


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_run_ended_by_a_signal_leaves_a_report(cua, api, hang, how):
    require_browser()
    api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[100, 100])]), hang)
    proc = cua.popen("run", "--json", "--report", "--virtual-display", "800x600", "look")
    api.wait_for_requests(2, timeout=30)
    proc.send_signal(getattr(signal, how))
    stdout, stderr = proc.communicate(timeout=60)
    code = {"SIGTERM": 143, "SIGINT": 130}[how]
    assert proc.returncode == code, stderr
    run_dir = Path(json.loads(stdout)["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["exit_code"] == code
    assert _renders(run_dir / "report.html", steps=1) == "interrupted"
