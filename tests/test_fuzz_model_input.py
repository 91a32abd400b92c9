"""Property-based fuzzing of what the model sends, through the real loop: the real SDK over real
HTTP against the fake Messages API, on a FakeDesktop, with a real run recorder.

Whatever a reply holds (names that are null, numbers or lists; NaN, Infinity and 1e400; lone
surrogates; duplicate ids; unknown actions; every field of the wrong type, for all four tool
versions), the run must not crash, every tool call must get a tool_result, every request body
the server receives must be strict JSON (no NaN, no Infinity, valid UTF-8, no lone surrogate),
and steps.jsonl must hold strict JSON lines.
"""

import io
import json
import math
import re
import tempfile
from pathlib import Path

from claude_cua.cli.view import PlainView
from claude_cua.core.claude import ClaudeClient
from claude_cua.core.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.core.demo.policies import computer_call, report
from claude_cua.core.desktop import FakeDesktop
from claude_cua.core.events import RunFinished
from claude_cua.core.flavours import FLAVOURS
from claude_cua.core.loop import LoopConfig, run_task
from claude_cua.core.runs import RunRecorder, read_steps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

EXAMPLES = 300
ACTIONS = sorted(FLAVOURS["computer_toolset_20260801"].actions)
FIELDS = ("coordinate", "start_coordinate", "text", "repeat", "duration", "scroll_direction",
          "scroll_amount", "region")
_LONE = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")

nasty_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "\udbff\ud800", "+" * 3000, "ctrl+" * 40 + "a",
                     "alt+F4", "ctrl+W", "meta+q", "alt-F4", "\x00", "\x1b[2J", "Return",
                     "rm -rf /", "\u202e", "a " * 300, "{{PASSWORD}}", "x" * 5000]),
)
nasty_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2000), st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 10**300]),
    nasty_text,
)
json_value = st.recursive(
    nasty_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=10,
)
PLAUSIBLE = {
    "coordinate": st.lists(st.integers(-2, 330), min_size=2, max_size=2),
    "start_coordinate": st.lists(st.integers(0, 319), min_size=2, max_size=2),
    "text": st.sampled_from(["a", "hello", "ctrl+a", "shift", "Return", "ctrl+alt+Delete"]),
    "repeat": st.integers(0, 3),
    "duration": st.floats(0, 2),
    "scroll_direction": st.sampled_from(["up", "down", "left", "right", "sideways"]),
    "scroll_amount": st.integers(0, 5),
    "region": st.just([0, 0, 10, 10]),
}
field_values = st.fixed_dictionaries({}, optional={
    field: st.one_of(PLAUSIBLE[field], json_value) for field in FIELDS})
# Input sent as raw JSON text: valid JSON for Python's parser, not for the API's.
RAW_INPUTS = [
    '{"action": "left_click", "coordinate": [1e400, 5]}',
    '{"action": "key", "text": "a", "repeat": ' + "9" * 5000 + "}",
    '{"action": "type", "text": "\\ud800"}',
    '{"action": "scroll", "scroll_direction": "up", "scroll_amount": NaN}',
    '{"action": "zoom", "region": [0, 0, Infinity, -Infinity]}',
    '{"x": ' + "[" * 3000 + "]" * 3000 + "}",
    "[]", '"left_click"', "null", "12", "{}",
]


@st.composite
def tool_block(draw, toolset):
    names = [st.just("report_outcome"), st.just("request_approval"), json_value]
    if toolset:
        name = draw(st.one_of(st.sampled_from(ACTIONS), *names))
        tool_input = draw(field_values)
    else:
        name = draw(st.one_of(st.just("computer"), st.just("computer"), *names))
        action = draw(st.one_of(st.sampled_from(ACTIONS), json_value))
        tool_input = {"action": action, **draw(field_values)}
    if name == "report_outcome":
        tool_input = draw(st.fixed_dictionaries({}, optional={
            "status": st.one_of(st.sampled_from(["success", "failure", "maybe"]), json_value),
            "summary": json_value}))
    elif name == "request_approval":
        tool_input = draw(st.fixed_dictionaries({}, optional={"description": json_value}))
    block = {"type": "tool_use", "name": name, "input": tool_input}
    if toolset or draw(st.booleans()):
        block["toolset_name"] = draw(st.one_of(st.just("computer"), st.just("computer"),
                                               json_value))
    kind = draw(st.integers(0, 9))
    if kind == 0:
        block["input"] = draw(json_value)  # not an object at all
    elif kind == 1:
        block["raw_input"] = draw(st.sampled_from(RAW_INPUTS))
    block_id = draw(st.one_of(st.just("toolu_dup"), st.just("toolu_dup"), json_value,
                              st.none(), st.just("absent")))
    if block_id != "absent":
        block["id"] = block_id
    return block


@st.composite
def hostile_reply(draw):
    version = draw(st.sampled_from(sorted(FLAVOURS)))
    toolset = FLAVOURS[version].is_toolset
    blocks = draw(st.lists(st.one_of(
        tool_block(toolset), tool_block(toolset),
        st.builds(lambda t: {"type": "text", "text": t}, nasty_text),
    ), min_size=1, max_size=5))
    if not any(b["type"] == "tool_use" for b in blocks):
        blocks.append(draw(tool_block(toolset)))
    return version, blocks


def _strict_json(body: bytes):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    data = json.loads(body.decode("utf-8"), parse_constant=refuse)
    _no_lone_surrogates(data)
    return data


def _no_lone_surrogates(value):
    if isinstance(value, str):
        assert not _LONE.search(value), value[:80]
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_lone_surrogates(key)
            _no_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _no_lone_surrogates(item)


def _follow_up_with_a_reused_id(request):
    call = computer_call(request, "screenshot")
    return Reply([{**call, "id": "toolu_dup"}])


def _check_conversation(messages):
    """Every tool_use id is unique, a string, and answered by exactly one tool_result."""
    seen = set()
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        calls = [b for b in message["content"] if b["type"] == "tool_use"]
        for call in calls:
            assert isinstance(call["id"], str) and call["id"] not in seen
            assert isinstance(call["name"], str)
            assert isinstance(call["input"], dict)
            seen.add(call["id"])
        if calls and index + 1 < len(messages):
            answers = [b["tool_use_id"] for b in messages[index + 1]["content"]
                       if b.get("type") == "tool_result"]
            assert sorted(answers) == sorted(c["id"] for c in calls)


class Session:
    """One fake API and one client for every example; each example's requests are its own."""

    def __init__(self):
        self.script = []
        self.api = FakeMessagesAPI(default=self.answer).start()
        self.client = ClaudeClient(api_key="fuzz-key", base_url=self.api.url, max_retries=0)

    def close(self):
        self.client.close()
        self.api.stop()

    def answer(self, request):
        item = self.script.pop(0)
        return item(request) if callable(item) else item

    def run(self, version, blocks):
        config = LoopConfig(model="claude-fuzz", flavour=FLAVOURS[version], max_steps=4,
                            keep_images=1)
        self.script[:] = [Reply(blocks), _follow_up_with_a_reused_id,
                          Reply([report("success", "ok")])]
        before = len(self.api.requests)
        with tempfile.TemporaryDirectory() as folder:
            recorder = RunRecorder(Path(folder), meta={})
            # The view renders every event too, as on stderr (strict UTF-8, like a pipe).
            stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
            view = PlainView(Console(file=stderr, width=100), verbose=True)

            def sink(event):
                recorder(event)
                view(event)

            try:
                finished = run_task("fill in the form", desktop=FakeDesktop(320, 200),
                                    client=self.client, config=config, on_event=sink,
                                    sleep=lambda s: None, approver=lambda request: "deny")
            finally:
                recorder.close()
            assert isinstance(finished, RunFinished)
            assert finished.status in ("success", "failure", "unknown"), finished
            bodies = [_strict_json(r.body) for r in self.api.requests[before:]]
            assert bodies and len(bodies) == finished.steps
            _check_conversation(bodies[-1]["messages"])
            lines = (Path(folder) / "steps.jsonl").read_text(encoding="utf-8").split("\n")
            assert lines[-1] == ""  # every record ends with its newline
            for line in lines[:-1]:
                _strict_json(line.encode())
            assert len(read_steps(Path(folder))) == finished.steps


def test_hostile_replies_never_crash_every_call_is_answered_every_body_is_json():
    session = Session()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(reply=hostile_reply())
    def check(reply):
        session.run(*reply)

    try:
        check()
    finally:
        session.close()
