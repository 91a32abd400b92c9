"""What a person sees on stderr: the per-action line, -v, core's logs, retries, colour and
wrapping. In-process (`run_cli` with `--desktop fake`, the real SDK against the fake API) or
straight through the view on a Rich console of the test's own."""

import io
import logging
import re

import pytest
from claude_cua.cli.demo.fakeapi import Error, Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.cli.logs import core_logging
from claude_cua.cli.view import PlainView, outcome_style
from claude_cua.core.vocab.events import RunFinished, RunStarted, Usage
from helpers import InProcessCli
from rich.console import Console

MODEL = ("--desktop", "fake", "--model", "claude-sonnet-5-5")


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment):
    cli = InProcessCli.against(api, capsys, monkeypatch, isolated_environment,
                               key="sk-ant-view-test-0123456789")
    return lambda *argv: cli("run", *argv)


def click_then_report(api):
    api.queue(lambda req: Reply([text("clicking"), computer_call(req, "left_click",
                                                                 coordinate=[714, 402]),
                                 computer_call(req, "type", text="a\tb\n")]),
              Reply([report("success", "clicked")]))


def test_default_view_shows_each_action_its_target_and_its_time(cua, api):
    click_then_report(api)
    code, _, err = cua(*MODEL, "click")
    assert code == 0
    lines = err.splitlines()
    click = next(line for line in lines if line.startswith("  left_click"))
    assert re.fullmatch(r"  left_click \(714, 402\) → screen \(960, 540\)  \d+ ms", click), click
    typed = next(line for line in lines if line.startswith("  type"))
    assert re.fullmatch(r'  type "a\\tb\\n"  \d+ ms', typed), typed  # escaped, visible
    assert not [line for line in lines if "settle" in line or "overhead" in line]


def test_verbose_adds_every_field_and_settling(cua, api):
    click_then_report(api)
    code, _, err = cua("-v", *MODEL, "click")
    assert code == 0
    assert "  left_click (714, 402) → screen (960, 540) button=left count=1  " in err
    assert re.search(r"^  settle \d+ ms \(\d+ captures\), overhead \d+ ms$", err, re.M)


def test_retries_show_in_the_view_and_the_final_error_says_what_to_do(cua, api, monkeypatch):
    monkeypatch.setenv("CUA_MAX_RETRIES", "2")
    overloaded = Error(529, headers={"retry-after-ms": "1"})
    api.queue(overloaded, overloaded, Reply([report("success", "done")]))
    code, _, err = cua(*MODEL, "x")
    assert code == 0
    assert re.search(r"^  retrying \(1/2\) in 1 ms after the API is overloaded \(529\).*…$",
                     err, re.M), err
    assert re.search(r"^  retrying \(2/2\) in 1 ms after ", err, re.M)
    api.queue(overloaded, overloaded, overloaded)
    code, _, err = cua(*MODEL, "x")
    assert code == 6
    assert "on all 3 attempts" in err and "try again" in err and "raise max_retries" in err


def test_a_malformed_reply_ends_with_exit_6_saying_what_was_wrong(cua, api, monkeypatch):
    monkeypatch.setenv("CUA_MAX_RETRIES", "1")

    def twice_the_same_id(req):
        call = computer_call(req, "left_click", coordinate=[714, 402])
        return Reply([{**call, "id": "toolu_twin"}, {**call, "id": "toolu_twin"}])

    api.queue(twice_the_same_id, twice_the_same_id)
    code, _, err = cua(*MODEL, "x")
    assert code == 6
    assert "malformed" in err and "'toolu_twin' is used twice" in err
    assert "on all 2 attempts" in err and "left_click (714, 402)" not in err


def test_verbose_shows_cores_info_logs_and_quiet_default_does_not(cua, api, monkeypatch):
    monkeypatch.setenv("CUA_MAX_RETRIES", "1")
    overloaded = Error(529, headers={"retry-after-ms": "1"})
    api.queue(overloaded, Reply([report("success", "done")]))
    _, _, err = cua(*MODEL, "x")
    assert "cua: info" not in err
    api.queue(overloaded, Reply([report("success", "done")]))
    _, _, err = cua("-v", *MODEL, "x")
    assert re.search(r"^cua: info \(core\.model\.claude\): the API is overloaded \(529\).*"
                     r"; retry 1 of 1",
                     err, re.M), err


@pytest.mark.parametrize(("verbose", "shown"), [
    (0, ["warning"]), (1, ["info", "warning"]), (2, ["debug", "info", "warning"])])
def test_core_logs_reach_the_console_at_the_level_asked(verbose, shown):
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    log = logging.getLogger("claude_cua.core.somewhere")
    with core_logging(console, verbose):
        log.debug("a debug line")
        log.info("an info line")
        log.warning("a warning line")
    log.warning("after: not shown")
    levels = re.findall(r"^cua: (\w+)", out.getvalue(), re.M)
    assert sorted(levels) == sorted(shown)
    assert "after" not in out.getvalue()


def started(task):
    return RunStarted("20261201-120000-abcd", "/home/someone/.local/share/cua/runs/"
                      "20261201-120000-abcd", task, "claude-opus-5-5",
                      "computer_toolset_20260801", (1920, 1080), (1429, 804), 50)


TASK = ("open the supplier portal, log in with the stored credentials, download every invoice "
        "from November and rename each file after its invoice number before filing it")


@pytest.mark.parametrize("width", [100, 120, 160])
def test_on_a_terminal_lines_wrap_at_word_boundaries_to_the_real_width(width):
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    PlainView(console)(started(TASK))
    lines = out.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line) <= width for line in lines)
    words = set(re.findall(r"\S+", out.getvalue()))
    for word in TASK.split():
        assert any(word in w for w in words), f"{word!r} was broken across lines"


def test_piped_lines_are_written_whole_not_wrapped_at_80():
    out = io.StringIO()
    console = Console(file=out, width=80)  # what Rich assumes for a pipe
    PlainView(console)(started(TASK))
    assert len(out.getvalue().splitlines()) == 1
    assert TASK in out.getvalue()


@pytest.mark.parametrize(("status", "colour"), [
    ("success", "32"), ("failure", "31"), ("error", "31"), ("unknown", "31"),
    ("check_failed", "31"), ("budget_exhausted", "33"), ("needs_approval", "33")])
def test_the_outcome_is_coloured_on_a_terminal(status, colour):
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system="standard")
    PlainView(console)(RunFinished(status, "s", 3, Usage(), 1.0))
    assert f"\x1b[1;{colour}mfinished: {status}" in out.getvalue()
    assert outcome_style(status).endswith({"32": "green", "31": "red", "33": "yellow"}[colour])
    plain = io.StringIO()
    PlainView(Console(file=plain, width=120))(RunFinished(status, "s", 3, Usage(), 1.0))
    assert "\x1b[" not in plain.getvalue()


def test_the_status_bars_time_and_the_final_line_agree():
    """The bar counts from the run's start, as the final line's duration does, not from
    before the display and the app were started."""
    from claude_cua.cli.view import LiveView

    now = [100.0]
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    view = LiveView(console, clock=lambda: now[0])
    now[0] += 2.0  # Xvfb and --app starting: not the run's time
    view(RunStarted("id", "/tmp/x", "the task", "claude-sonnet-5-5", "computer_20250124",
                    (1920, 1080), (1280, 720), 50))
    now[0] += 1.4
    bar = Console(file=io.StringIO(), width=120, color_system=None)
    bar.print(view._renderable())
    shown = re.search(r"(\d+\.\d) s", bar.file.getvalue())
    view(RunFinished("success", "done", 1, Usage(), 1.4))
    assert shown and shown.group(1) == "1.4"
    assert "finished: success after 1 step in 1.4 s" in out.getvalue()
