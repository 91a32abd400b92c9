"""Secrets through every path that can echo input, in the real loop: the real SDK over HTTP
against the fake Messages API, a scripted Claude that sends each hostile value in each encoding
and in each place an error can quote it, the run recorder writing to disk and the plain view
rendering every event. Nothing may contain any form of any value: request bodies, files in the
run folder, what the terminal would show, the outcome."""

import io
import shlex

import pytest
from claude_cua.cli.demo.fakeapi import Error, Reply
from claude_cua.cli.demo.policies import approval_request, report, text
from claude_cua.cli.view import PlainView
from claude_cua.core.engine.check import run_check
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.errors import ModelError
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import FLAVOURS
from claude_cua.core.safety.policy import approve_all
from claude_cua.core.safety.secrets import Secrets
from claude_cua.core.store.runs import RunRecorder
from claude_cua.core.vocab import keys
from claude_cua.core.vocab.desktop import FakeDesktop, Window
from rich.console import Console
from secret_forms import ENCODINGS, SECRET_VALUES, encoded, hostile, leaks, leaks_in_tree

NAMES = [f"S{i}" for i in range(len(SECRET_VALUES))]
ENV = {f"VAR{i}": v for i, v in enumerate(SECRET_VALUES)}


class CheckingDesktop(FakeDesktop):
    """A FakeDesktop that checks key chords with cua's real key parser, as XDesktop does."""

    def key(self, chord, *, repeat=1):
        keys.parse_chords(chord)
        super().key(chord, repeat=repeat)


def echoes(value):
    """Script items: each way a value can come back from Claude, one per step."""
    everything = " | ".join(encoded(value, how) for how in ENCODINGS)
    return [
        lambda r: Reply([hostile(r, "key", text=value)]),                      # unknown key
        lambda r: Reply([hostile(r, "key", text=f"ctrl+{value}+{value}")]),   # in a chord
        lambda r: Reply([hostile(r, value)]),                                   # unknown action
        lambda r: Reply([hostile(r, "scroll", coordinate=[5, 5], scroll_direction=value,
                                 scroll_amount=1)]),                            # bad direction
        lambda r: Reply([hostile(r, "zoom", region=[value, 0, 10, 10])]),      # zoom region
        lambda r: Reply([hostile(r, "left_click", coordinate=[value, 3])]),    # coordinates
        lambda r: Reply([hostile(r, "left_click", coordinate=[1, 2], **{value: value})]),
        lambda r: Reply([text(f"I can read {everything} on the screen"),        # Claude's text
                         hostile(r, "type", text=encoded(value, "json"))]),     # typed back
        lambda r: Reply([approval_request(f"may I send {everything}?")]),      # approval panel
    ]


def run(api, tmp_path, flavour, script_end, *, check=None):
    secrets = Secrets.from_specs([f"{n}=VAR{i}" for i, n in enumerate(NAMES)], ENV)
    desktop = CheckingDesktop()
    desktop.window = Window("Tk", "form", f"title {SECRET_VALUES[0]}")
    script = [item for value in SECRET_VALUES for item in echoes(value)]
    api.queue(*script, *script_end)
    terminal = io.StringIO()
    view = PlainView(Console(file=terminal, width=200))
    recorder = RunRecorder(tmp_path, meta={}, redactor=secrets.redactor)
    events = []

    def sink(event):
        events.append(event)
        recorder(event)
        view(event)

    client = ClaudeClient(api_key="test-key", base_url=api.url, max_retries=0)
    config = LoopConfig(model="claude-sonnet-5-5", flavour=FLAVOURS[flavour],
                        max_steps=len(script) + 5, secrets=secrets)
    try:
        result = run_task(f"log in; the password is {SECRET_VALUES[1]}", desktop=desktop,
                          client=client, config=config, on_event=sink, run_dir=str(tmp_path),
                          approver=approve_all, check=check, sleep=lambda s: None)
    finally:
        client.close()
        recorder.close()
    return result, desktop, events, terminal.getvalue()


@pytest.mark.parametrize("flavour", ["computer_toolset_20260801", "computer_20251124"])
def test_no_form_of_any_secret_leaves_the_loop_by_any_path(api, tmp_path, flavour):
    summary = " ".join(encoded(v, how) for v in SECRET_VALUES for how in ENCODINGS)
    check = lambda: run_check("printf '%s\\n' " + " ".join(  # noqa: E731
        shlex.quote(encoded(v, how)) for v in SECRET_VALUES for how in ENCODINGS) + "; exit 3",
        env={"PATH": "/usr/bin:/bin"})
    result, desktop, events, terminal = run(api, tmp_path, flavour,
                                            [Reply([report("success", summary)])], check=check)
    assert result.status == "check_failed"
    requests = api.requests
    assert len(requests) == len(SECRET_VALUES) * 9 + 1
    # Every error that quotes its input went back to Claude, with a placeholder in it.
    errors = [b for req in requests for b in req.json["messages"][-1]["content"]
              if b.get("type") == "tool_result" and b.get("is_error")]
    assert len(errors) >= len(SECRET_VALUES) * 6
    assert any("unknown key" in str(b) and "{{S" in str(b) for b in errors)
    # The values themselves were typed: the desktop got them, nothing else did.
    assert [c[1] for c in desktop.calls if c[0] == "type"] == list(SECRET_VALUES)
    for i, req in enumerate(requests):
        assert leaks(req.body) == [], f"request {i}"
    assert leaks_in_tree(tmp_path) == []
    assert leaks(terminal.encode()) == []
    assert leaks(repr(events).encode()) == []
    assert {p.name for p in tmp_path.iterdir()} >= {"run.json", "steps.jsonl", "check.txt"}


def test_an_api_error_that_quotes_a_secret_is_redacted_everywhere(api, tmp_path):
    message = "invalid request: " + " ".join(encoded(v, "json") for v in SECRET_VALUES)
    with pytest.raises(ModelError) as caught:
        run(api, tmp_path, "computer_toolset_20260801",
            [Error(400, body={"type": "error", "error": {
                "type": "invalid_request_error", "message": message}})])
    assert leaks(str(caught.value).encode()) == []
    assert "{{S" in str(caught.value)
    assert leaks_in_tree(tmp_path) == []
