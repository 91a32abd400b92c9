"""`--replay` in process: a recorded run replayed on a FakeDesktop, with the real loop, the real
gate and a real SDK against the fake API for the recording and for any handover."""

import sys

from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.engine.replay import Replayer, find_recording, handover_note, replay_problem
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import flavour_for
from claude_cua.core.safety.policy import approve_all, refuse_all
from claude_cua.core.safety.secrets import Secrets
from claude_cua.core.store.runs import RunRecorder, list_runs, load_run
from claude_cua.core.vocab.desktop import FakeDesktop, Window
from claude_cua.core.vocab.events import HandedOver
from PIL import Image, ImageDraw

MODEL = "claude-sonnet-4-6"
XTERM = Window("XTerm", "xterm", "bash")


class NoModel:
    """A ModelClient that fails the test if replay asks Claude anything."""

    def send(self, request, *, on_text, on_retry=None):
        raise AssertionError("replay called the model on an unchanged screen")


def scripted(api):
    api.queue(
        lambda req: Reply([text("looking"), computer_call(req, "screenshot")]),
        lambda req: Reply([computer_call(req, "left_click", coordinate=[714, 402])]),
        lambda req: Reply([computer_call(req, "type", text="pw {{PW}}"),
                           computer_call(req, "key", text="Return")]),
        Reply([report("success", "logged in")]),
    )


def run(root, name, *, client, desktop, secrets=None, replay=None, approver=approve_all,
        max_steps=10):
    folder = root / name
    folder.mkdir(parents=True)
    recorder = RunRecorder(folder)
    events = []

    def sink(event):
        recorder(event)
        events.append(event)

    config = LoopConfig(model=MODEL, flavour=flavour_for(MODEL), max_steps=max_steps,
                        secrets=secrets or Secrets(), settle_interval_s=0.001)
    try:
        result = run_task("log in", desktop=desktop, client=client, config=config,
                          on_event=sink, run_id=name, run_dir=str(folder), approver=approver,
                          replay=replay, sleep=lambda s: None)
    finally:
        recorder.close()
    return result, events, load_run(root, str(folder))


def record(api, root, desktop):
    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    try:
        return run(root, "rec", client=client, desktop=desktop,
                   secrets=Secrets.from_specs(["PW"], {"PW": "hunter2"}))
    finally:
        client.close()


def xterm_desktop():
    desktop = FakeDesktop(1920, 1080)
    desktop.window = XTERM
    ImageDraw.Draw(desktop.image).rectangle((800, 480, 1120, 600), fill=(236, 0, 140))
    return desktop


def test_an_unchanged_screen_replays_every_step_without_the_model(api, tmp_path):
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    assert replay_problem(recording) is None
    desktop = xterm_desktop()
    result, events, again = run(tmp_path, "replay", client=NoModel(), desktop=desktop,
                                secrets=Secrets.from_specs(["PW"], {"PW": "s3cret"}),
                                replay=Replayer(recording, wait_s=0.05))
    assert (result.status, result.summary) == ("success", "logged in")
    assert [c for c in desktop.calls] == [("click", (960, 540), "left", 1, None),
                                          ("type", "pw s3cret"), ("key", "Return", 1)]
    assert result.replay.to_dict() == {"from": "rec", "steps_replayed": 4, "diverged_at": None,
                                       "reason": ""}
    assert again.header.replay == result.replay
    assert all(s.replayed and s.match == 1.0 for s in again.steps)
    # the replay is itself a recording: the next replay can follow it
    assert replay_problem(again) is None
    assert "s3cret" not in (tmp_path / "replay" / "steps.jsonl").read_text()
    assert not [e for e in events if isinstance(e, HandedOver)]


def test_a_dialog_over_the_target_hands_over_to_claude_at_that_step(api, tmp_path):
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    desktop = xterm_desktop()
    ImageDraw.Draw(desktop.image).rectangle((860, 500, 1060, 580), fill=(255, 255, 255))
    api.queue(Reply([report("failure", "a dialog is in the way")]))
    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    try:
        result, events, again = run(tmp_path, "replay", client=client, desktop=desktop,
                                    secrets=Secrets.from_specs(["PW"], {"PW": "s3cret"}),
                                    replay=Replayer(recording, wait_s=0.05))
    finally:
        client.close()
    assert result.status == "failure"
    assert desktop.calls == []  # nothing was clicked at the covered target
    assert result.replay.diverged_at == 2 and result.replay.steps_replayed == 1
    assert "around the target at screen (960, 540)" in result.replay.reason
    request = api.requests[-1].json
    content = request["messages"][0]["content"]
    assert [b["type"] for b in content] == ["text", "text", "image"]
    assert content[0]["text"] == "log in"
    assert "Replay stopped before recorded step 2" in content[1]["text"]
    handed = next(e for e in events if isinstance(e, HandedOver))
    assert (tmp_path / "replay" / handed.screenshot).is_file()
    assert again.steps[-1].replayed is False


def test_typing_goes_only_into_the_recorded_window(api, tmp_path):
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    desktop = xterm_desktop()
    desktop.window = Window("Firefox", "Navigator", "Bank")
    api.queue(Reply([report("failure", "wrong window")]))
    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    try:
        result, _, _ = run(tmp_path, "replay", client=client, desktop=desktop,
                           secrets=Secrets.from_specs(["PW"], {"PW": "s3cret"}),
                           replay=Replayer(recording, wait_s=0.05))
    finally:
        client.close()
    assert [c[0] for c in desktop.calls] == ["click"]
    assert result.replay.diverged_at == 3
    assert "'Firefox'" in result.replay.reason
    note = api.requests[-1].json["messages"][0]["content"][1]["text"]
    assert "left_click at (714, 402)" in note


def test_an_ask_during_an_unattended_replay_needs_approval(api, tmp_path):
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    desktop = xterm_desktop()
    result, _, again = run(tmp_path, "replay", client=NoModel(), desktop=desktop,
                           secrets=Secrets.from_specs(["PW"], {"PW": "s3cret"}),
                           replay=Replayer(recording, wait_s=0.05), approver=refuse_all)
    assert result.status == "needs_approval"
    assert result.approval.policy.decision == "ask"
    assert again.header.replay.diverged_at is None
    assert [c[0] for c in desktop.calls] == ["click"]  # the typing was not carried out


def test_auto_finds_the_newest_success_with_the_same_task_and_screen(api, tmp_path):
    scripted(api)
    record(api, tmp_path, xterm_desktop())
    runs = list_runs(tmp_path)

    def load(info):
        return load_run(tmp_path, str(info.path))
    found = find_recording(runs, task="log in", screen_size=(1920, 1080), monitor=1, load=load)
    assert found is not None and found.run_id == "rec"
    assert find_recording(runs, task="log in", screen_size=(1280, 800), monitor=1,
                          load=load) is None
    assert find_recording(runs, task="other", screen_size=(1920, 1080), monitor=1,
                          load=load) is None


def test_a_replay_without_a_model_call_does_not_import_the_sdk(api, tmp_path):
    scripted(api)
    record(api, tmp_path, xterm_desktop())
    probe = f"""
import sys
from pathlib import Path
from claude_cua.core.vocab.desktop import FakeDesktop, Window
from claude_cua.core.model.context import flavour_for
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.engine.replay import Replayer
from claude_cua.core.store.runs import load_run
from claude_cua.core.safety.secrets import Secrets
from PIL import Image, ImageDraw
d = FakeDesktop(1920, 1080); d.window = Window("XTerm", "xterm", "bash")
ImageDraw.Draw(d.image).rectangle((800, 480, 1120, 600), fill=(236, 0, 140))
rec = load_run(Path({str(tmp_path)!r}), "rec")
class NoModel:
    def send(self, request, *, on_text, on_retry=None): raise AssertionError
cfg = LoopConfig(model={MODEL!r}, flavour=flavour_for({MODEL!r}),
                 secrets=Secrets.from_specs(["PW"], {{"PW": "x"}}))
from claude_cua.core.safety.policy import approve_all
r = run_task("log in", desktop=d, client=NoModel(), config=cfg, on_event=lambda e: None,
             replay=Replayer(rec, wait_s=0.05), approver=approve_all)
assert r.status == "success", r
print(sorted(m for m in ("anthropic", "httpx2") if m in sys.modules))
"""
    import subprocess
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_handover_note_lists_what_was_replayed_in_claudes_coordinates(api, tmp_path):
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    done = [(s.step, a) for s in recording.steps for a in s.actions if a.name != "screenshot"]
    note = handover_note(recording, done, 4, "the screen differs")
    assert "1. step 2: left_click at (714, 402)" in note
    assert "2. step 3: type 'pw {{PW}}'" in note
    assert "3. step 3: key Return" in note
    assert "hunter2" not in note
    assert "before recorded step 4: the screen differs" in note


def test_a_step_that_only_looked_need_not_match_its_screenshot(api, tmp_path):
    """Its recorded screenshot may have been taken mid-repaint; nothing is done on it."""
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    with Image.open(recording.file("step-000.png")) as shot:
        size = shot.size
    FakeDesktop(1920, 1080).image.resize(size).save(recording.file("step-000.png"))
    desktop = xterm_desktop()
    result, _, again = run(tmp_path, "replay", client=NoModel(), desktop=desktop,
                           secrets=Secrets.from_specs(["PW"], {"PW": "s3cret"}),
                           replay=Replayer(recording, wait_s=0.05))
    assert result.status == "success" and result.replay.diverged_at is None
    assert again.steps[0].match < 0.99 and again.steps[1].match == 1.0


class LateDesktop(FakeDesktop):
    """The xterm desktop, shown blank for its first `late` captures: an app still drawing."""

    def __init__(self, late):
        super().__init__(1920, 1080)
        self.window = XTERM
        self.blank = super().capture()
        ImageDraw.Draw(self.image).rectangle((800, 480, 1120, 600), fill=(236, 0, 140))
        self.late = late

    def capture(self):
        if self.late > 0:
            self.late -= 1
            return self.blank
        return super().capture()


def test_a_replay_records_the_screen_it_waited_for_so_a_replay_of_it_replays(api, tmp_path):
    """The app was still drawing when the replay's first screenshots were taken (the cron
    pattern replays last night's replay next): the step that waited records the screen that
    matched as what it acted on, so the replay of the replay compares with a drawn screen."""
    scripted(api)
    _, _, recording = record(api, tmp_path, xterm_desktop())
    secrets = Secrets.from_specs(["PW"], {"PW": "s3cret"})
    result, _, replayed = run(tmp_path, "replay", client=NoModel(), desktop=LateDesktop(4),
                              secrets=secrets, replay=Replayer(recording, wait_s=5))
    assert result.status == "success" and result.replay.diverged_at is None
    looked, clicked = replayed.steps[:2]
    with Image.open(replayed.file(looked.screenshot)) as shot:
        assert shot.getpixel((714, 402)) != (236, 0, 140)  # caught before the app drew
    assert clicked.screenshot_before == "step-002-matched.png"
    with Image.open(replayed.file(clicked.screenshot_before)) as shot:
        assert shot.getpixel((714, 402)) == (236, 0, 140)
    assert replay_problem(replayed) is None
    result, events, _ = run(tmp_path, "again", client=NoModel(), desktop=xterm_desktop(),
                            secrets=secrets, replay=Replayer(replayed, wait_s=0.05))
    assert result.status == "success" and result.replay.diverged_at is None
    assert not [e for e in events if isinstance(e, HandedOver)]
