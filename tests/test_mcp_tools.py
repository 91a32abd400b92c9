"""`cua mcp`'s tool arguments, address and texts (pure); and the command without its extra."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import typer
from claude_cua.cli.main import run_cli
from claude_cua.cli.mcp import parse_address
from claude_cua.cli.mcp_tools import (
    BadArguments,
    answer_for,
    approval_question,
    result_text,
    task_args,
)
from claude_cua.core.safety.policy import Verdict
from claude_cua.core.vocab.desktop import Window


def test_run_task_arguments_become_cua_run_settings() -> None:
    args = task_args({"task": "fill the form", "max_steps": 7, "timeout_s": 30,
                      "secrets": ["PW", "TOKEN=API_TOKEN"], "virtual_display": "800x600"})
    assert args.settings_flags() == {"max_steps": 7, "timeout_s": 30}
    assert args.secrets == ("PW", "TOKEN=API_TOKEN")


@pytest.mark.parametrize(("arguments", "names"), [
    ({}, "'task' is a required property"),
    ({"task": "   "}, "task: say what to do"),
    ({"task": "x", "max_steps": 0}, "max_steps: 0 is less than the minimum of 1"),
    ({"task": "x", "virtual_display": "big"}, "virtual_display: 'big' does not match"),
    ({"task": "x", "secrets": ["PW=hunter2!"]}, "secrets.0: give a secret's name, NAME or"),
    ({"task": "x", "api_key": "sk-ant-1"}, "'api_key' was unexpected"),
    ({"task": "x", "timeout_s": 0}, "timeout_s: 0 is less than or equal to the minimum of 0"),
])
def test_bad_arguments_say_what_to_change(arguments, names) -> None:
    with pytest.raises(BadArguments) as caught:
        task_args(arguments)
    assert names in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("8765", ("127.0.0.1", 8765)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:9000", ("::1", 9000)), ("localhost:80", ("localhost", 80)),
])
def test_http_addresses_are_loopback(text, expected) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["0.0.0.0:8765", "192.168.1.4:80", "example.com:80", "1:x",
                                  "127.0.0.1:70000"])
def test_other_http_addresses_are_refused(text) -> None:
    with pytest.raises(typer.BadParameter):
        parse_address(text)


@pytest.mark.parametrize(("action", "content", "answer"), [
    ("accept", {"remember": False}, "once"), ("accept", {}, "once"),
    ("accept", {"remember": True}, "always"), ("decline", None, "stop"), ("cancel", None, "stop"),
])
def test_an_elicitation_result_is_a_gate_answer(action, content, answer) -> None:
    assert answer_for(action, content) == answer


def test_the_approval_question_shows_what_the_terminal_prompt_shows() -> None:
    request = SimpleNamespace(
        step=3, name="type", action={"kind": "type", "text": "rm -rf /\n"},
        verdict=Verdict("ask", "destructive-shell", "it deletes files", "built-in"),
        window=Window("XTerm", "xterm", "bash\u200b"), crop_path="/runs/x/approval-step-003-1.png")
    question = approval_question(request)
    assert 'action: type  text "rm -rf /\\n"' in question
    assert 'window: XTerm "bash\\u200b"' in question  # invisible characters written out
    assert "rule: destructive-shell (built-in): it deletes files" in question
    assert "/runs/x/approval-step-003-1.png" in question


def test_the_result_text_names_status_figures_and_run() -> None:
    text = result_text({"status": "needs_approval", "summary": "", "steps": 2, "duration_s": 3.25,
                        "cost_usd": 0.0123, "run_id": "20261206-1", "error": None,
                        "approval": {"rule": "terminal-command", "reason": "a shell"}})
    assert text.splitlines() == ["cua run needs_approval (2 steps, 3.2 s, $0.0123)",
                                 "stopped for approval: terminal-command: a shell",
                                 "run 20261206-1 (show_run for its steps)"]


def test_without_the_extra_cua_mcp_names_the_install_command(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    monkeypatch.setitem(sys.modules, "mcp.server", None)
    assert run_cli(["mcp"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'claude-cua[mcp]'" in err and "CUA_EXTRAS=mcp" in err


@pytest.mark.parametrize(("args", "named"), [
    (["--max-concurrent", "0"], "--max-concurrent"), (["--approval-timeout", "0.5"],
                                                      "--approval-timeout"),
    (["--http", "0.0.0.0:8765"], "not a loopback address")])
def test_bad_options_exit_2_naming_them(args, named, capsys) -> None:
    assert run_cli(["mcp", *args]) == 2
    assert named in capsys.readouterr().err
