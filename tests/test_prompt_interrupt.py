"""Ctrl-C at the approval prompt, on a real terminal (a pty read through the pyte terminal
emulator): the prompt's lines stay on the screen, and what follows starts below them."""

import os
import sys

import pexpect
import pyte
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call

COLUMNS, ROWS = 120, 40


def test_ctrl_c_at_the_approval_prompt_leaves_the_prompt_on_screen(isolated_environment):
    with FakeMessagesAPI() as api:
        api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]))
        env = {**os.environ, "CUA_DATA_DIR": str(isolated_environment / "data"),
               "ANTHROPIC_API_KEY": "sk-ant-prompt-test-0123456789",
               "ANTHROPIC_BASE_URL": api.url, "CUA_MAX_RETRIES": "0", "TERM": "xterm"}
        child = pexpect.spawn(sys.executable, [
            "-m", "claude_cua.cli", "run", "--desktop", "fake:window=XTerm/bash",
            "--model", "claude-sonnet-5-5", "list the files"],
            env=env, encoding="utf-8", timeout=60, dimensions=(ROWS, COLUMNS))
        child.expect_exact("Your choice [o/a/d/q]: ")
        shown = child.before + child.after
        child.sendintr()
        child.expect(pexpect.EOF)
        shown += child.before
        child.close()
    assert child.exitstatus == 130 or child.signalstatus is not None
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.Stream(screen).feed(shown.replace("\n", "\r\n") if "\r\n" not in shown else shown)
    lines = [line.rstrip() for line in screen.display]
    prompt = [i for i, line in enumerate(lines) if line.startswith("Your choice [o/a/d/q]:")]
    assert prompt, "\n".join(lines)
    assert any("terminal-command" in line for line in lines[:prompt[0]])  # the panel is intact
    after = [line for line in lines[prompt[0] + 1:] if line]
    assert any(line.startswith("cua: interrupted") for line in after), "\n".join(lines)
