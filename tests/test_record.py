"""The run record as types: what a run writes loads back into the same values, old records
(written before the format field) still load, and the file names the record gives exist."""

import json
import re

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import approval_request, computer_call, report, text
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import flavour_for
from claude_cua.core.safety.policy import approve_all
from claude_cua.core.safety.secrets import Secrets
from claude_cua.core.store.runs import RunRecorder, load_run
from claude_cua.core.vocab.actions import Click, Drag, Key, Scroll, Target, TypeText, Zoom
from claude_cua.core.vocab.desktop import FakeDesktop, Window
from claude_cua.core.vocab.events import ActionPerformed, StepFinished
from claude_cua.core.vocab.record import (
    FORMAT,
    ActionRecord,
    ApprovalRecord,
    CheckRecord,
    PolicyRecord,
    ReplayRecord,
    RunHeader,
    StepRecord,
    ToolCallRecord,
    Usage,
    price_for,
)

MODEL = "claude-sonnet-4-6"  # computer_20251124: zoom on, priced

ACTIONS = [
    ActionRecord("left_click", {"coordinate": [10, 20]}, Click(Target((10, 20), (13, 27))),
                 None, 0.01, None, "toolu_1", "", False, Window("Tk", "form", "Form"),
                 ((13, 27),)),
    ActionRecord("left_click_drag", {"start_coordinate": [1, 2], "coordinate": [3, 4]},
                 Drag(Target((1, 2), (1, 3)), Target((3, 4), (4, 5)), "shift"),
                 points=((1, 3), (4, 5))),
    ActionRecord("scroll", {"scroll_direction": "down", "scroll_amount": 5},
                 Scroll(None, "down", 5), points=((7, 7),)),
    ActionRecord("type", {"text": "pw {{PASSWORD}}\n"}, TypeText("pw {{PASSWORD}}\n"),
                 policy=PolicyRecord("ask", "secret-typed", "why", "built-in", "once", "--yes")),
    ActionRecord("key", {"text": "ctrl+s", "repeat": 2}, Key("ctrl+s", 2), result="",
                 is_error=False),
    ActionRecord("zoom", {"region": [0, 0, 100, 50]}, Zoom((0, 0, 100, 50)),
                 result="zoomed into [0, 0, 100, 50] at 800x400", region=(0, 0, 135, 67)),
    ActionRecord("left_click", {"coordinate": [5000, 1]}, None, "outside the screen",
                 result="outside the screen", is_error=True),
    ActionRecord("request_approval", {"description": "submit"}, None, None, 0.0,
                 PolicyRecord("ask", "claude-requested", "r", "built-in", "once", "terminal"),
                 description="submit", approval_picture="approval-step-003-1.png"),
]


@pytest.mark.parametrize("record", ACTIONS, ids=lambda r: r.name)
def test_an_action_record_survives_json(record):
    assert ActionRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_a_step_record_and_a_header_survive_json():
    step = StepRecord(3, "clicking", "tool_use",
                      (ToolCallRecord("toolu_1", "computer", {"action": "left_click"}),),
                      tuple(ACTIONS), Usage(1, 2, 3, 4), 0.0123, 1.5, 0.04, 0.02, 3, True,
                      "step-003.png", "step-002.png", None)
    assert StepRecord.from_dict(json.loads(json.dumps(step.to_dict()))) == step
    header = RunHeader(
        "20261201-1200-abcd", "log in with {{PASSWORD}}", MODEL, "computer_20251124",
        (1920, 1080), (1429, 804), 50, ":7", "0.1.0", "2.12.0", "3.11.2", "1920x1080",
        ("xterm",), ("PASSWORD",), ("p.toml",), 60.0, "test -s x", "needs_approval",
        "2026-12-01T12:00:00.000+00:00", "2026-12-01T12:01:00.000+00:00", "stopped", 3,
        Usage(1, 2, 3, 4), 60.0, 0.5,
        ApprovalRecord(3, "type", ACTIONS[3], ACTIONS[3].policy, Window("XTerm", "", "bash"),
                       "/runs/x/approval-step-003-1.png"),
        CheckRecord("test -s x", 1, 0.2, "", False))
    again = RunHeader.from_dict(json.loads(json.dumps(header.to_dict())))
    # the approval keeps what the summary shows of the action and the window
    assert again == header.__class__(**{
        **{f: getattr(header, f) for f in header.__dataclass_fields__},
        "approval": ApprovalRecord.from_dict(header.approval.to_dict())})
    assert again.approval.action.action == TypeText("pw {{PASSWORD}}\n")
    assert again.approval.window.wm_class == "XTerm"


def test_replay_fields_survive_json():
    step = StepRecord(4, replayed=True, match=0.9875, screenshot_before="step-003.png")
    assert StepRecord.from_dict(json.loads(json.dumps(step.to_dict()))) == step
    replay = ReplayRecord("20261201-1200-abcd", 2, 3, "the target of step 3 moved")
    header = RunHeader("r", "t", replay=replay)
    data = json.loads(json.dumps(header.to_dict()))
    assert data["replay"] == {"from": "20261201-1200-abcd", "steps_replayed": 2,
                              "diverged_at": 3, "reason": "the target of step 3 moved"}
    assert RunHeader.from_dict(data).replay == replay
    assert RunHeader.from_dict({"task": "t"}).replay is None
    assert StepRecord.from_dict({"step": 1}).replayed is False


def test_records_written_before_the_format_field_still_load(tmp_path):
    """A run folder exactly as cua wrote it before record.py existed."""
    (tmp_path / "run.json").write_text(json.dumps({
        "cua_version": "0.1.0", "display": ":9", "check": "true", "status": "success",
        "started_at": "2026-11-30T10:00:00.000+00:00", "run_id": "old", "task": "t",
        "model": MODEL, "tool_version": "computer_20251124", "screen_size": [1920, 1080],
        "model_size": [1429, 804], "max_steps": 50, "summary": "ok", "steps": 2,
        "usage": {"input_tokens": 5, "output_tokens": 6, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0}, "duration_s": 1.2, "cost_usd": None,
        "finished_at": "2026-11-30T10:00:01.200+00:00", "some_future_key": [1]}))
    lines = [
        {"step": 1, "model_s": 0.5, "stop_reason": "tool_use", "text": "hi",
         "usage": {"input_tokens": 5, "output_tokens": 6}, "cost_usd": None,
         "tool_calls": [{"id": "t1", "name": "computer",
                         "input": {"action": "left_click", "coordinate": [714, 402]}}],
         "actions": [{"name": "left_click", "action": {
             "kind": "Click", "at": {"api": [714, 402], "screen": [960, 540]},
             "button": "left", "count": 1}, "error": None, "action_s": 0.01},
             {"name": "key", "action": {"input": {"text": ""}}, "error": "bad key",
              "action_s": 0.0}],
         "overhead_s": 0.05, "settle_s": 0.02, "settle_captures": 3, "is_stable": True,
         "screenshot": "step-001.png"},
        {"step": 2, "model_s": 0.4, "stop_reason": "tool_use", "text": "",
         "usage": {}, "cost_usd": None, "tool_calls": [], "overhead_s": 0.0},
    ]
    (tmp_path / "steps.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines) + '{"step": 3, "torn')
    run = load_run(tmp_path.parent, str(tmp_path))
    assert run.header.format == 0 and run.header.status == "success"
    assert run.header.check_command == "true" and run.header.check is None
    assert run.header.screen_size == (1920, 1080) and run.header.usage.output_tokens == 6
    assert run.header.extra == {"some_future_key": [1]}
    assert run.header.to_dict()["some_future_key"] == [1]
    first, second = run.steps
    assert first.format == 0 and first.screenshot == "step-001.png"
    click, bad = first.actions
    assert click.action == Click(Target((714, 402), (960, 540)))
    assert (click.error, click.is_error, click.policy) == (None, False, None)
    assert bad.action is None and bad.input == {"text": ""} and bad.is_error
    assert second.actions == () and second.settle_s is None


def test_what_a_run_emits_is_what_load_run_reads_back(api, tmp_path):
    desktop = FakeDesktop(1920, 1080)
    desktop.window = Window("XTerm", "xterm", "bash")
    api.queue(
        lambda req: Reply([text("clicking"), computer_call(req, "left_click",
                                                           coordinate=[714, 402]),
                           computer_call(req, "type", text="ls\n")]),
        lambda req: Reply([computer_call(req, "left_click_drag", start_coordinate=[10, 10],
                                         coordinate=[100, 100]),
                           computer_call(req, "scroll", scroll_direction="up",
                                         scroll_amount=4)]),
        lambda req: Reply([computer_call(req, "zoom", region=[0, 0, 714, 402]),
                           computer_call(req, "cursor_position")]),
        lambda req: Reply([approval_request("submit the form"),
                           computer_call(req, "key", text="Return")]),
        Reply([report("success", "done")]),
    )
    events = []
    recorder = RunRecorder(tmp_path, meta={"display": ":5", "app": ["xterm"]})

    def sink(event):
        recorder(event)
        events.append(event)

    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    config = LoopConfig(model=MODEL, flavour=flavour_for(MODEL), max_steps=8,
                        price=price_for(MODEL), secrets=Secrets())
    try:
        result = run_task("do it", desktop=desktop, client=client, config=config,
                          on_event=sink, run_dir=str(tmp_path), approver=approve_all,
                          sleep=lambda s: None, run_id="r1")
    finally:
        client.close()
        recorder.close()
    assert result.status == "success"
    emitted = [e.record for e in events if isinstance(e, StepFinished)]
    run = load_run(tmp_path.parent, str(tmp_path))
    assert run.steps == tuple(emitted)
    assert all(s.format == FORMAT for s in run.steps) and run.header.format == FORMAT
    assert run.header.app == ("xterm",) and run.header.display == ":5"
    assert run.header.status == "success" and run.header.steps == 5
    assert run.header.cost_usd == pytest.approx(sum(s.cost_usd for s in run.steps), abs=1e-6)
    # actions as performed are the ones recorded
    performed = [e.record for e in events if isinstance(e, ActionPerformed)]
    assert performed == [a for s in run.steps for a in s.actions]

    one, two, three, four, five = run.steps
    assert one.text == "clicking" and one.screenshot_before == "step-000.png"
    click, typed = one.actions
    assert click.points == ((960, 540),) and click.window.wm_class == "XTerm"
    assert click.policy is None
    assert typed.action == TypeText("ls\n") and typed.window.wm_class == "XTerm"
    assert typed.policy.rule == "terminal-command" and typed.policy.answered_by == "--yes"
    assert one.screenshot == "step-001.png" and two.screenshot_before == "step-001.png"
    drag, scroll = two.actions
    drag_call = next(c for c in desktop.calls if c[0] == "drag")
    scroll_call = next(c for c in desktop.calls if c[0] == "scroll")
    assert drag.points == (drag_call[1], drag_call[2]) == (drag.action.start.screen,
                                                          drag.action.end.screen)
    assert scroll.action.direction == "up" and scroll.action.amount == 4
    assert scroll.points == (scroll_call[1],) == (drag_call[2],)  # no coordinate: the pointer
    zoom, cursor = three.actions
    assert zoom.region[:2] == (0, 0) and abs(zoom.region[2] - 960) <= 1
    assert abs(zoom.region[3] - 540) <= 1 and zoom.result.startswith("zoomed into")
    assert cursor.result == "X=100,Y=100" and three.screenshot is None
    assert four.screenshot_before == "step-002.png"
    approval, key = four.actions
    assert approval.description == "submit the form" and approval.policy.answer == "once"
    assert key.action == Key("Return") and key.policy.rule == "terminal-command"
    assert five.outcome == "success" and five.actions == ()
    for step in run.steps:
        for name in (step.screenshot, step.screenshot_before):
            if name is not None:
                assert run.file(name).read_bytes().startswith(b"\x89PNG")
    assert [c.id for c in one.tool_calls] == [a.tool_use_id for a in one.actions]


def test_the_readme_documents_every_field_of_the_record():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Run records"):readme.index("## Safety")]
    documented = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            documented.update(re.findall(r"`(\w+)`", row.split(" | ")[0]))
    for cls in (RunHeader, StepRecord, ActionRecord):
        keys = set(cls().to_dict() if cls is RunHeader else
                   cls.from_dict({}).to_dict())
        assert keys <= documented, (cls.__name__, keys - documented)


def test_a_screenshot_handed_over_unencoded_is_in_the_record_once_the_run_finishes(tmp_path):
    """A replayed step's screenshot is encoded beside the next step; the record that says the
    run finished has the picture, the same PNG an ordinary step would have written."""
    from claude_cua.core.vocab.actions import PendingPng, encode_png
    from claude_cua.core.vocab.events import RunFinished, RunStarted
    from PIL import Image

    image = Image.new("RGB", (64, 48), (10, 200, 30))
    recorder = RunRecorder(tmp_path)
    recorder(RunStarted("r1", str(tmp_path), "t", MODEL, "computer_20251124", (64, 48),
                        (64, 48), 5))
    recorder(StepFinished(1, StepRecord(1, screenshot="step-001.png"), PendingPng(image)))
    recorder(RunFinished("success", "done", 1, Usage(), 0.1))
    assert (tmp_path / "step-001.png").read_bytes() == encode_png(image)
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "success"
    recorder.close()


def test_a_screenshot_written_in_the_background_that_fails_stops_the_record(tmp_path):
    from claude_cua.core.errors import RecordError
    from claude_cua.core.vocab.events import RunFinished, RunStarted

    recorder = RunRecorder(tmp_path)
    recorder(RunStarted("r1", str(tmp_path), "t", MODEL, "computer_20251124", (64, 48),
                        (64, 48), 5))
    # the picture's folder does not exist: the write fails on the recorder's thread
    recorder(StepFinished(1, StepRecord(1, screenshot="gone/step-001.png"), lambda: b"png"))
    with pytest.raises(RecordError, match=r"step-001\.png"):
        recorder(RunFinished("success", "done", 1, Usage(), 0.1))
    assert recorder.failure is not None
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    recorder.close()
