"""`cua run` end to end: real Xvfb, real Tk form and xterm, real SDK, fake Messages API."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Broken, Error, Reply
from claude_cua.cli.demo.policies import (
    SUPPLIER_VALUES,
    computer_call,
    report,
    supplier_form_policy,
    text,
)

from .conftest import FORM, summary_of

pytestmark = pytest.mark.display
FAST_RETRY = {"retry-after-ms": "1"}  # a retry-after of 0 is ignored (out of bounds)
CUT_SUCCESS = Reply([report("success", "this report is cut short")])


def form_app(out: Path) -> str:
    return " ".join([*FORM, "--out", str(out)])


def pointer_clicks(policy):
    """For computer_20241022, whose clicks take no coordinate: move there, then click."""

    def wrapped(request):
        reply = policy(request)
        blocks = []
        for block in reply.content:
            inp = block.get("input", {})
            if inp.get("action") == "left_click" and "coordinate" in inp:
                blocks.append(computer_call(request, "mouse_move", coordinate=inp["coordinate"]))
                blocks.append(computer_call(request, "left_click"))
            else:
                blocks.append(block)
        return Reply(blocks)

    return wrapped


@pytest.mark.parametrize(
    ("model", "version"),
    [
        ("claude-sonnet-4-6", "computer_20241022"),
        ("claude-sonnet-4-5", None),
        ("claude-sonnet-4-6", None),
        ("claude-sonnet-5-5", None),
    ],
)
def test_each_flavour_fills_the_form_from_the_screenshot(cua, api, tmp_path, model, version):
    out = tmp_path / "submitted.json"
    policy = supplier_form_policy()
    if version == "computer_20241022":
        policy = pointer_clicks(policy)
    api.queue(*[policy] * 40)
    args = ["run", "--json", "--virtual-display", "1920x1080", "--app", form_app(out),
            "--model", model, "fill the supplier form"]
    if version:
        args[1:1] = ["--tool-version", version]
    proc = cua.run(*args)
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == SUPPLIER_VALUES
    assert summary["status"] == "success"
    assert summary["exit_code"] == 0
    assert summary["model"] == model
    assert summary["tool_version"] == (version or {
        "claude-sonnet-4-5": "computer_20250124", "claude-sonnet-4-6": "computer_20251124",
        "claude-sonnet-5-5": "computer_toolset_20260801"}[model])
    assert summary["steps"] == 12
    assert summary["cost_usd"] > 0
    assert set(summary["usage"]) == {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                     "cache_creation_input_tokens"}
    tool = api.requests[0].json["tools"][0]
    if tool["type"] != "computer_toolset_20260801":
        assert (tool["display_width_px"], tool["display_height_px"]) == (1429, 804)
    run_dir = Path(summary["run_dir"])
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == 12
    assert sum(s["cost_usd"] for s in steps) == pytest.approx(summary["cost_usd"], abs=1e-5)
    assert (run_dir / "step-002.png").is_file()
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "success"
    assert meta["screen_size"] == [1920, 1080] and meta["model_size"] == [1429, 804]


def test_the_first_screenshot_waits_for_an_app_that_draws_in_two_parts(cua, api, tmp_path):
    """The form shows its window, then its fields a moment later (as a slow app, or any app
    on a busy machine, does): the screenshot sent with the task, taken as soon as the app is
    up, must already show every field. It is also what a replay of this run compares with."""
    from claude_cua.cli.demo import colours
    from claude_cua.cli.demo.policies import find_colour, latest_image
    from claude_cua.core.x11.session import APP_HOLD_S

    def fields_seen(request):
        image = latest_image(request)
        missing = [name for name in ("COMPANY", "EMAIL", "COUNTRY", "NOTES", "SUBMIT")
                   if image is None or find_colour(image, getattr(colours, name)) is None]
        return Reply([report("failure", f"not drawn: {missing}") if missing else
                      report("success", "every field")])

    api.queue(fields_seen)
    app = " ".join([*FORM, "--out", str(tmp_path / "out.json"), "--slow",
                    f"{APP_HOLD_S * 0.6:.3f}"])
    proc = cua.run("run", "--json", "--virtual-display", "1920x1080", "--app", app,
                   "--model", "claude-sonnet-4-6", "look at the form")
    summary = summary_of(proc)
    assert (proc.returncode, summary["summary"]) == (0, "every field"), proc.stderr


def test_xterm_runs_what_claude_types(cua, api, tmp_path):
    marker = tmp_path / "marker.txt"
    api.queue(
        lambda req: Reply([computer_call(req, "left_click", coordinate=[200, 150])]),
        lambda req: Reply([computer_call(req, "type", text=f"echo 'héllo <wörld>' > {marker}\n")]),
        Reply([report("success", "typed")]),
    )
    proc = cua.run("run", "--json", "--yes", "--virtual-display", "1280x800",
                   "--app", "xterm -geometry 100x30+0+0", "echo into a file")
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text(encoding="utf-8") == "héllo <wörld>\n"


def test_budget_exhaustion_exits_3(cua, api):
    api.queue(*[lambda req: Reply([text("looking"), computer_call(req, "screenshot")])] * 3)
    proc = cua.run("run", "--json", "--virtual-display", "800x600", "--max-steps", "3", "look")
    summary = summary_of(proc)
    assert proc.returncode == 3
    assert (summary["status"], summary["steps"], summary["exit_code"]) == ("budget_exhausted", 3, 3)


def test_task_failure_exits_1(cua, api):
    api.queue(Reply([report("failure", "no such form")]))
    proc = cua.run("run", "--json", "--virtual-display", "800x600", "find the form")
    assert proc.returncode == 1
    assert summary_of(proc)["summary"] == "no such form"


@pytest.mark.parametrize(
    ("answers", "code", "message"),
    [
        ([Error(401)], 6, "ANTHROPIC_API_KEY"),
        ([Error(400)], 6, "400"),
        ([Error(529, headers=FAST_RETRY)] * 3, 6, "529"),
        ([Broken(CUT_SUCCESS, "error")] * 3, 6,
         "overloaded_error mid-reply (Overloaded), on all 3 attempts"),
        ([Broken(CUT_SUCCESS, "end")] * 3, 6, "before message_stop, on all 3 attempts"),
    ],
)
def test_api_errors_exit_6_with_a_clear_message(cua, api, answers, code, message):
    api.queue(*answers)
    proc = cua.run("run", "--json", "--virtual-display", "800x600", "anything",
                   CUA_MAX_RETRIES="2")
    assert proc.returncode == code
    assert message in proc.stderr
    assert "test-key-e2e" not in proc.stderr + proc.stdout
    summary = summary_of(proc)
    assert (summary["status"], summary["exit_code"]) == ("error", code)


def test_overload_then_success_is_retried(cua, api):
    api.queue(Error(529, headers=FAST_RETRY), Error(429, headers=FAST_RETRY),
              Reply([report("success", "fine")]))
    proc = cua.run("run", "--json", "--virtual-display", "800x600", "anything",
                   CUA_MAX_RETRIES="2")
    assert proc.returncode == 0, proc.stderr
    assert len(api.requests) == 3


@pytest.mark.parametrize("fault", ["error", "cut", "end", "garbage"])
def test_a_broken_reply_is_retried_and_never_acted_on(cua, api, fault):
    api.queue(Broken(CUT_SUCCESS, fault), Reply([report("failure", "the retried reply")]))
    proc = cua.run("run", "--json", "--virtual-display", "800x600", "anything",
                   CUA_MAX_RETRIES="1")
    assert proc.returncode == 1, proc.stderr
    assert summary_of(proc)["summary"] == "the retried reply"
    assert len(api.requests) == 2


def test_missing_key_exits_2_and_names_the_variable(cua):
    proc = cua.run("run", "--json", "--virtual-display", "800x600", "x", ANTHROPIC_API_KEY=None)
    assert proc.returncode == 2
    assert "ANTHROPIC_API_KEY" in proc.stderr
    assert summary_of(proc)["exit_code"] == 2


def test_no_display_exits_5_with_what_to_do(cua):
    proc = cua.run("run", "--json", "x")
    assert proc.returncode == 5
    assert "DISPLAY" in proc.stderr and "--virtual-display" in proc.stderr
    summary = summary_of(proc)
    assert (summary["status"], summary["exit_code"]) == ("error", 5)
    assert "DISPLAY" in summary["error"]


def test_ctrl_c_stops_cleanly_and_exits_130(cua, api, hang):
    api.queue(lambda req: Reply([computer_call(req, "left_mouse_down", coordinate=[10, 10])]),
              hang)
    proc = cua.popen("run", "--json", "--virtual-display", "800x600", "hold it")
    api.wait_for_requests(2, timeout=30)  # the second request hangs
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout)
    assert (summary["status"], summary["exit_code"]) == ("interrupted", 130)
    meta = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert meta["status"] == "interrupted"


def test_a_killed_run_leaves_a_readable_record(cua, api):
    api.queue(*[lambda req: Reply([text("step"), computer_call(req, "screenshot")])] * 2)
    proc = cua.popen("run", "--virtual-display", "800x600", "keep looking")
    api.wait_for_requests(3, timeout=30)
    proc.kill()
    proc.communicate(timeout=30)
    runs = subprocess.run(cua.argv("runs", "list", "--json"), capture_output=True, text=True,
                          env=cua.env(), timeout=60)
    [run] = json.loads(runs.stdout)
    assert run["status"] == "running"
    show = subprocess.run(cua.argv("runs", "show", run["run_id"], "--json"), capture_output=True,
                          text=True, env=cua.env(), timeout=60)
    steps = json.loads(show.stdout)["steps"]
    assert [s["step"] for s in steps] == [1, 2]
    assert all((Path(run["path"]) / s["screenshot"]).is_file() for s in steps)


def test_demo_fills_its_form_offline(cua):
    proc = cua.run("demo", "--json", "-v", "--report", ANTHROPIC_API_KEY=None,
                   ANTHROPIC_BASE_URL=None, CUA_TRIPWIRE="on")  # as a user runs it
    assert proc.returncode == 0, proc.stderr
    summary = summary_of(proc)
    assert summary["status"] == "success"
    assert "not Claude" in proc.stderr
    assert "warning" not in proc.stderr  # the stand-in is not taken for a mistyped model
    assert "settle" in proc.stderr  # -v: the settling time of each step
    assert f"cua: report: {Path(summary['run_dir']) / 'report.html'}" in proc.stderr
    assert '"country": "Österreich"' in proc.stderr
    # Nothing a library writes on its own lands among cua's lines (Leptonica, inside the
    # tripwire's OCR, printed "Error in boxClipToRectangle: ..." on the terminal).
    assert [line for line in proc.stderr.splitlines()
            if line.startswith(("Error in ", "Warning in ", "Warning: ", "Empty page"))] == []


def test_demo_replay_records_a_demo_run_first_then_replays_it_offline(cua):
    proc = cua.run("demo", "--replay", "--json", ANTHROPIC_API_KEY=None,
                   ANTHROPIC_BASE_URL=None)
    assert proc.returncode == 0, proc.stderr
    summary = summary_of(proc)  # one JSON object: the replay's
    assert "No demo run to replay yet: recording one first." in proc.stderr
    assert "waiting for the form's window" in proc.stderr  # says what the start-up waits for
    runs = json.loads(cua.run("runs", "list", "--json").stdout)
    [replayed, recorded] = runs
    assert replayed["run_id"] == summary["run_id"] and all(r["demo"] for r in runs)
    assert summary["status"] == "success"
    assert summary["replay"] == {"from": recorded["run_id"], "steps_replayed": recorded["steps"],
                                 "diverged_at": None, "reason": ""}
    assert sum(summary["usage"].values()) == 0  # no model call at all
    assert f"Replaying demo run {recorded['run_id']} ({recorded['steps']} steps)" in proc.stderr
    assert '"country": "Österreich"' in proc.stderr.split("Replaying demo run")[1]


def test_help_documents_exit_codes(cua):
    proc = cua.run("run", "--help", COLUMNS="200")
    assert proc.returncode == 0
    assert "130 interrupted" in proc.stdout and "--virtual-display" in proc.stdout
    assert sys.executable  # the help ran through the same interpreter
