"""core.engine.run, the composition root, called as a library would call it: from another
thread, with a Cancel, with a --timeout, on the fake desktop (no X server)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report
from claude_cua.core.engine.root import Cancel, RunHooks, RunRequest, run
from claude_cua.core.exits import SUMMARY_KEYS
from claude_cua.core.settings import Settings
from claude_cua.core.vocab.events import Event, ModelReplied, StepStarted
from helpers import wait_until


def request(api: FakeMessagesAPI, run_dir: Path, **extra: object) -> RunRequest:
    return RunRequest(task="click twice", settings=Settings(model="claude-sonnet-4-6"),
                      env=dict(os.environ), base_url=api.url, api_key="sk-ant-engine",
                      desktop="fake", run_dir=run_dir, **extra)  # type: ignore[arg-type]


def test_a_run_ends_with_its_summary_and_record(tmp_path: Path) -> None:
    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "left_click", coordinate=[10, 10])]),
                  Reply([report("success", "done")]))
        events: list[Event] = []
        outcome = run(request(api, tmp_path / "run"), RunHooks(on_event=events.append))
    assert (outcome.exit_code, outcome.error) == (0, None)
    assert list(outcome.summary) == list(SUMMARY_KEYS)
    assert (outcome.summary["status"], outcome.summary["steps"]) == ("success", 2)
    header = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert (header["status"], header["exit_code"]) == ("success", 0)
    assert [e.step for e in events if isinstance(e, StepStarted)] == [1, 2]


def test_cancel_from_another_thread_ends_a_model_call_at_once(tmp_path: Path) -> None:
    with FakeMessagesAPI(reply_delay_s=30) as api:  # Claude takes its time on every reply
        api.queue(Reply([report("success", "never seen")]))
        cancel = Cancel()
        events: list[Event] = []
        result: list[object] = []
        thread = threading.Thread(target=lambda: result.append(
            run(request(api, tmp_path / "run"), RunHooks(on_event=events.append,
                                                          cancel=cancel))))
        thread.start()
        wait_until(lambda: len(api.requests) == 1, 30, message="the first request")
        started = time.monotonic()
        cancel.set("stopped by the batch")
        thread.join(timeout=20)
        took = time.monotonic() - started
    outcome = result[0]
    assert took < 5, took  # not the 30 s the reply would have taken
    assert (outcome.exit_code, outcome.summary["status"]) == (130, "interrupted")
    assert outcome.summary["summary"] == "stopped by the batch"
    assert isinstance(outcome.error, KeyboardInterrupt)
    assert not any(isinstance(e, ModelReplied) for e in events)
    header = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert (header["status"], header["exit_code"]) == ("interrupted", 130)


def test_the_timeout_holds_off_the_main_thread_during_a_model_call(tmp_path: Path) -> None:
    with FakeMessagesAPI(reply_delay_s=30) as api:
        api.queue(Reply([report("success", "never seen")]))
        result: list[object] = []
        thread = threading.Thread(target=lambda: result.append(
            run(request(api, tmp_path / "run", timeout_s=1.0), RunHooks())))
        started = time.monotonic()
        thread.start()
        thread.join(timeout=20)
        took = time.monotonic() - started
    outcome = result[0]
    assert took < 10, took
    assert (outcome.exit_code, outcome.summary["status"]) == (3, "timeout")
    header = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert (header["status"], header["exit_code"]) == ("timeout", 3)


def test_the_cli_plan_carries_every_field_of_the_core_request():
    """`cua run`'s RunPlan hands core a RunRequest field by field, by name: each field core
    takes is one the plan has, so none is dropped on the way (--scope-window once was)."""
    from dataclasses import fields

    from claude_cua.cli.session import RunPlan
    from claude_cua.core.engine.root import RunRequest

    assert {f.name for f in fields(RunRequest)} <= {f.name for f in fields(RunPlan)}
