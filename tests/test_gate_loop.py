"""The policy gate, secrets, --timeout and --check inside the loop: the real SDK over HTTP
against the fake Messages API, on a FakeDesktop whose focused window the tests set."""

import json
import time

import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import approval_request, computer_call, report, text
from claude_cua.core.engine.check import CheckResult, run_check
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import flavour_for
from claude_cua.core.safety.policy import BUILTIN_RULES, ApprovalRequest, approve_all, refuse_all
from claude_cua.core.safety.policy_file import effective_rules
from claude_cua.core.safety.secrets import Secrets
from claude_cua.core.store.runs import RunRecorder
from claude_cua.core.vocab.desktop import FakeDesktop, Window
from claude_cua.core.vocab.events import ActionPerformed, CheckFinished, RunFinished, StepFinished
from claude_cua.core.vocab.record import PolicyRecord

MODEL = "claude-sonnet-5-5"
XTERM = Window("XTerm", "xterm", "bash")
EDITOR = Window("Xedit", "xedit", "notes.txt")


def run(api, *, desktop=None, approver=refuse_all, rules=BUILTIN_RULES, secrets=None,
        timeout_s=None, check=None, run_dir=None, task="do the thing", sleep=lambda s: None):
    desktop = desktop or FakeDesktop(1920, 1080)
    events = []
    sink = events.append
    recorder = None
    if run_dir is not None:
        recorder = RunRecorder(run_dir, meta={})

        def sink(event):
            events.append(event)
            recorder(event)

    client = ClaudeClient(api_key="test-key", base_url=api.url, max_retries=0)
    config = LoopConfig(model=MODEL, flavour=flavour_for(MODEL, None), max_steps=6,
                        rules=tuple(rules), secrets=secrets or Secrets(), timeout_s=timeout_s)
    try:
        result = run_task(task, desktop=desktop, client=client, config=config, on_event=sink,
                          approver=approver, check=check, run_dir=str(run_dir or ""),
                          sleep=sleep)
    finally:
        client.close()
        if recorder is not None:
            recorder.close()
    return result, desktop, events


def typed(desktop):
    return [call[1] for call in desktop.calls if call[0] == "type"]


def last_tool_results(api):
    return [b for b in api.requests[-1].json["messages"][-1]["content"]
            if b["type"] == "tool_result"]


def result_text(block):
    return " ".join(c["text"] for c in block["content"] if c["type"] == "text")


class Answers:
    """An approver that replays answers and remembers what it was asked."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    def __call__(self, request):
        self.asked.append(request)
        return self.answers.pop(0)


def test_nobody_to_ask_stops_before_a_terminal_command_runs(api, tmp_path):
    desktop = FakeDesktop()
    desktop.window = XTERM
    api.queue(lambda req: Reply([computer_call(req, "type", text="rm -rf ~/work\n")]))
    result, desktop, _ = run(api, desktop=desktop, run_dir=tmp_path)
    assert result.status == "needs_approval"
    assert typed(desktop) == []
    approval = result.details["approval"]
    assert approval["rule"] == "destructive-shell"
    assert approval["decision"] == "ask" and approval["answer"] == "stop"
    assert approval["action"]["text"] == "rm -rf ~/work\n"
    assert approval["window"]["wm_class"] == "XTerm"
    assert "destructive-shell" in result.summary and "--yes" in result.summary
    assert (tmp_path / approval["crop"]).exists() or approval["crop"].startswith(str(tmp_path))
    run_json = json.loads((tmp_path / "run.json").read_text())
    assert run_json["status"] == "needs_approval"
    assert run_json["approval"]["rule"] == "destructive-shell"
    assert len(api.requests) == 1  # nothing more was sent


def test_yes_approves_an_ask_and_the_action_runs(api):
    desktop = FakeDesktop()
    desktop.window = XTERM
    api.queue(lambda req: Reply([computer_call(req, "type", text="ls\n")]),
              Reply([report("success", "listed")]))
    result, desktop, events = run(api, desktop=desktop, approver=approve_all)
    assert result.status == "success"
    assert typed(desktop) == ["ls\n"]
    performed = [e for e in events if isinstance(e, ActionPerformed)]
    assert performed[0].policy == PolicyRecord("ask", "terminal-command",
                                               performed[0].policy.reason, "built-in", "once",
                                               "--yes")


def test_a_deny_rule_blocks_even_with_yes_and_claude_is_told(api, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nname = "no-terminal"\nverdict = "deny"\n'
                      'reason = "terminals are off limits"\nwindow_class = "xterm"\n')
    desktop = FakeDesktop()
    desktop.window = XTERM
    api.queue(lambda req: Reply([computer_call(req, "type", text="ls"),
                                 computer_call(req, "left_click", coordinate=[10, 10])]),
              Reply([report("failure", "blocked")]))
    result, desktop, _ = run(api, desktop=desktop, approver=approve_all,
                             rules=effective_rules([policy]))
    assert result.status == "failure"
    assert desktop.calls == []  # neither the typing nor the click after it
    blocked, skipped = last_tool_results(api)
    assert blocked["is_error"] is True
    assert "no-terminal" in result_text(blocked) and "off limits" in result_text(blocked)
    assert "Not executed" in result_text(skipped)


def test_each_answer_does_what_it_says(api):
    desktop = FakeDesktop()
    desktop.window = XTERM
    approver = Answers("deny", "always", "abort")
    api.queue(
        lambda req: Reply([computer_call(req, "type", text="make install\n")]),  # denied
        lambda req: Reply([computer_call(req, "type", text="make\n")]),  # approved for the run
        lambda req: Reply([computer_call(req, "type", text="make test\n")]),  # same kind: not asked
        lambda req: Reply([computer_call(req, "key", text="alt+F4")]),  # another rule: abort
    )
    result, desktop, _ = run(api, desktop=desktop, approver=approver)
    assert [r.action["text"] for r in approver.asked[:2]] == ["make install\n", "make\n"]
    assert [r.verdict.rule for r in approver.asked] == [
        "terminal-command", "terminal-command", "close-or-logout-keys"]
    assert typed(desktop) == ["make\n", "make test\n"]
    assert ("key", "alt+F4", 1) not in desktop.calls
    denied = api.requests[1].json["messages"][-1]["content"][0]
    assert denied["is_error"] is True and "denied" in result_text(denied)
    assert result.status == "aborted"
    assert result.details["approval"]["answer"] == "abort"


def test_claude_asks_before_a_consequential_step(api):
    approver = Answers("once")
    api.queue(Reply([approval_request("click Submit to send the vendor form")]),
              Reply([report("success", "sent")]))
    result, _, _ = run(api, approver=approver)
    assert result.status == "success"
    (asked,) = approver.asked
    assert asked.verdict.rule == "claude-requested"
    assert "click Submit" in asked.verdict.reason
    (answer,) = last_tool_results(api)
    assert "is_error" not in answer
    assert result_text(answer).startswith("Approved")
    tools = {t.get("name") for t in api.requests[0].json["tools"]}
    assert "request_approval" in tools
    assert "request_approval" in api.requests[0].json["system"][0]["text"]


def test_claude_asking_with_nobody_there_stops_the_run(api):
    api.queue(Reply([approval_request("delete the old invoices")]))
    result, _, _ = run(api)
    assert result.status == "needs_approval"
    assert result.details["approval"]["rule"] == "claude-requested"
    assert result.details["approval"]["action"]["description"] == "delete the old invoices"


def test_plain_actions_are_not_asked_and_carry_no_policy(api):
    desktop = FakeDesktop()
    desktop.window = EDITOR
    approver = Answers()
    api.queue(lambda req: Reply([computer_call(req, "type", text="rm notes\n"),
                                 computer_call(req, "key", text="ctrl+s")]),
              Reply([report("success", "saved")]))
    result, desktop, events = run(api, desktop=desktop, approver=approver)
    assert result.status == "success" and approver.asked == []
    assert typed(desktop) == ["rm notes\n"]
    assert all(e.policy is None for e in events if isinstance(e, ActionPerformed))


SECRET = "hunter2-Zq9!secret"


def test_a_secret_is_typed_but_never_sent_shown_or_recorded(api, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nverdict = "allow"\nsecret = "PASSWORD"\n'
                      'window_title = "Sign in"\n')
    desktop = FakeDesktop()
    desktop.window = Window("Tk", "login", "Sign in")
    secrets = Secrets.from_specs(["PASSWORD=PORTAL_PW"], {"PORTAL_PW": SECRET})
    api.queue(
        lambda req: Reply([computer_call(req, "type", text="{{PASSWORD}}\n")]),
        # Claude read the value off the screen and repeats it: it must not go back out.
        Reply([text(f"I can see {SECRET} in the field"), report("success", f"typed {SECRET}")]),
    )
    result, desktop, events = run(api, desktop=desktop, secrets=secrets, run_dir=tmp_path,
                                  rules=effective_rules([policy]),
                                  task=f"sign in (the password is not {SECRET})")
    assert result.status == "success"
    assert typed(desktop) == [SECRET + "\n"]
    needle = SECRET.encode()
    for request in api.requests:
        assert needle not in request.body
    assert "{{PASSWORD}}" in api.requests[0].json["system"][0]["text"]
    assert "{{PASSWORD}}" in api.requests[0].json["messages"][0]["content"][0]["text"]
    for path in tmp_path.rglob("*"):
        assert needle not in path.read_bytes(), path
    assert SECRET not in result.summary
    assert SECRET not in repr(events) and SECRET not in repr(secrets)


def test_a_secret_typed_where_no_rule_allows_it_is_asked(api):
    desktop = FakeDesktop()
    desktop.window = Window("Firefox", "Navigator", "evil.example")
    secrets = Secrets.from_specs(["PASSWORD"], {"PASSWORD": SECRET})
    api.queue(lambda req: Reply([computer_call(req, "type", text="pw: {{PASSWORD}}")]))
    result, desktop, _ = run(api, desktop=desktop, secrets=secrets)
    assert result.status == "needs_approval"
    assert result.details["approval"]["rule"] == "secret-typed"
    assert typed(desktop) == []


def test_timeout_between_steps(api):
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    api.queue(*[lambda req: Reply([computer_call(req, "wait", duration=2)])] * 5)
    desktop = FakeDesktop()
    client = ClaudeClient(api_key="k", base_url=api.url, max_retries=0)
    config = LoopConfig(model=MODEL, flavour=flavour_for(MODEL, None), max_steps=10,
                        timeout_s=5.0)
    try:
        result = run_task("wait", desktop=desktop, client=client, config=config,
                          on_event=lambda e: None, clock=lambda: now[0], sleep=sleep)
    finally:
        client.close()
    assert result.status == "timeout"
    assert result.steps == 3  # 0 s, 2 s, 4 s start; the fourth would start at 6 s
    assert "--timeout of 5 s" in result.summary


def test_timeout_interrupts_a_model_call_that_hangs():
    t0 = time.monotonic()
    with FakeMessagesAPI(reply_delay_s=5.0) as api:
        api.queue(Reply([report("success", "too late")]))
        result, desktop, events = run(api, timeout_s=0.5)
    assert result.status == "timeout"
    assert time.monotonic() - t0 < 3
    assert desktop.released_all >= 1
    assert isinstance(events[-1], RunFinished) and events[-1].status == "timeout"


@pytest.mark.parametrize(("command", "status"), [("test -s done.txt", "success"),
                                                 ("echo missing >&2; exit 3", "check_failed")])
def test_check_decides_whether_success_stands(api, tmp_path, command, status):
    (tmp_path / "done.txt").write_text("yes")
    (tmp_path / "run").mkdir()
    api.queue(Reply([report("success", "done")]))
    check = lambda: run_check(f"cd {tmp_path} && {command}", env={"PATH": "/usr/bin:/bin"})  # noqa: E731
    result, _, events = run(api, check=check, run_dir=tmp_path / "run")
    assert result.status == status
    record = result.details["check"]
    assert record["passed"] is (status == "success")
    assert record["exit_code"] == (0 if status == "success" else 3)
    assert [e for e in events if isinstance(e, CheckFinished)]
    if status == "check_failed":
        assert "missing" in (tmp_path / "run" / "check.txt").read_text()
        assert "exited 3" in result.summary


def test_check_is_not_run_when_claude_reports_failure(api):
    ran = []
    api.queue(Reply([report("failure", "could not")]))
    result, _, _ = run(api, check=lambda: ran.append(1) or CheckResult("x", 0, "", 0.0))
    assert result.status == "failure" and ran == []


def test_check_output_is_recorded_with_secrets_redacted(api, tmp_path):
    secrets = Secrets.from_specs(["TOKEN"], {"TOKEN": SECRET})
    api.queue(Reply([report("success", "done")]))
    check = lambda: run_check(f"echo {SECRET}; exit 1", env={"PATH": "/usr/bin:/bin"})  # noqa: E731
    result, _, _ = run(api, check=check, secrets=secrets, run_dir=tmp_path)
    assert result.status == "check_failed"
    assert "{{TOKEN}}" in (tmp_path / "check.txt").read_text()
    assert SECRET not in json.dumps(result.details)


def test_steps_jsonl_records_the_policy_decision(api, tmp_path):
    desktop = FakeDesktop()
    desktop.window = XTERM
    api.queue(lambda req: Reply([computer_call(req, "key", text="Return")]),
              Reply([report("success", "ran")]))
    result, _, events = run(api, desktop=desktop, approver=approve_all, run_dir=tmp_path)
    assert result.status == "success"
    step = json.loads((tmp_path / "steps.jsonl").read_text().splitlines()[0])
    assert step["actions"][0]["policy"]["rule"] == "terminal-command"
    assert step["actions"][0]["policy"]["answer"] == "once"
    assert [e for e in events if isinstance(e, StepFinished)]


def test_approving_a_destructive_command_for_the_run_covers_only_that_text(api):
    desktop = FakeDesktop()
    desktop.window = EDITOR
    approver = Answers("always", "deny")
    api.queue(
        lambda req: Reply([computer_call(req, "type", text="rm -rf build")]),
        lambda req: Reply([computer_call(req, "type", text="rm -rf build")]),  # same: not asked
        lambda req: Reply([computer_call(req, "type", text="rm -rf ~")]),  # another: asked
        Reply([report("success", "done")]),
    )
    result, desktop, _ = run(api, desktop=desktop, approver=approver)
    assert result.status == "success"
    assert [r.action["text"] for r in approver.asked] == ["rm -rf build", "rm -rf ~"]
    assert typed(desktop) == ["rm -rf build", "rm -rf build"]


def test_a_desktop_error_while_typing_a_secret_never_carries_the_value(api, tmp_path):
    from claude_cua.core.errors import DesktopError

    desktop = FakeDesktop()
    desktop.window = Window("Tk", "login", "Sign in")
    desktop.fail("type_text", DesktopError(f"cannot type {SECRET!r}: keymap full"))
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nverdict = "allow"\nsecret = "PASSWORD"\n')
    secrets = Secrets.from_specs(["PASSWORD"], {"PASSWORD": SECRET})
    api.queue(lambda req: Reply([computer_call(req, "type", text="{{PASSWORD}}")]))
    (tmp_path / "run").mkdir()
    with pytest.raises(DesktopError) as caught:
        run(api, desktop=desktop, secrets=secrets, rules=effective_rules([policy]),
            run_dir=tmp_path / "run")
    assert SECRET not in str(caught.value) and "keymap full" in str(caught.value)
    for path in (tmp_path / "run").rglob("*"):
        assert SECRET.encode() not in path.read_bytes(), path


class SlowPerson:
    """Answers 'once' after `seconds` on a clock of the test's own (no real waiting)."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds = clock, seconds

    def __call__(self, request):
        self.clock.now += self.seconds
        return "once"


class ManualClock:
    """Moves 1 ms per reading (so settling's polls end), and as far as a test moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 0.001
        return self.now


def test_time_at_the_approval_prompt_is_recorded_apart_from_the_action_time(api, tmp_path):
    desktop = FakeDesktop()
    desktop.window = XTERM
    clock = ManualClock()
    api.queue(lambda req: Reply([computer_call(req, "key", text="Return"),
                                 approval_request("submit the form")]),
              Reply([report("success", "ran")]))
    client = ClaudeClient(api_key="test-key", base_url=api.url, max_retries=0)
    recorder = RunRecorder(tmp_path, meta={})
    events = []

    def sink(event):
        events.append(event)
        recorder(event)

    try:
        run_task("do it", desktop=desktop, client=client,
                 config=LoopConfig(model=MODEL, flavour=flavour_for(MODEL, None), max_steps=3),
                 on_event=sink, approver=SlowPerson(clock, 42.5), clock=clock,
                 sleep=lambda s: None, run_dir=str(tmp_path))
    finally:
        client.close()
        recorder.close()
    step = json.loads((tmp_path / "steps.jsonl").read_text().splitlines()[0])
    key, approval = step["actions"]
    assert key["name"] == "key" and approval["name"] == "request_approval"
    assert 42.5 <= key["approval_s"] < 42.6 and 42.5 <= approval["approval_s"] < 42.6
    assert key["action_s"] < 1 and approval["action_s"] < 1
    performed = [e.record for e in events if isinstance(e, ActionPerformed)]
    assert [r.approval_s for r in performed] == [key["approval_s"], approval["approval_s"]]
