"""Property-based fuzzing of what the model sends, through the real loop: the real SDK over real
HTTP against the fake Messages API, on a FakeDesktop, with a real run recorder.

Whatever a reply holds (names that are null, numbers or lists; NaN, Infinity and 1e400; 400-digit
and negative integers; booleans; lists nested 3,000 and 100,000 deep in every list field; lone
surrogates in every text field; unknown actions; every field of the wrong type; tool-use ids of
every malformed shape, for all four tool versions), the run must not crash, no call whose input
is invalid may be carried out, every tool call of a conversation that goes on must get a
tool_result, every request body the server receives must be strict JSON (no NaN, no Infinity,
valid UTF-8, no lone surrogate), and steps.jsonl must hold strict JSON lines. A reply with a
malformed tool-use id (missing, not a string, empty, 10,000 characters, Unicode, a newline,
twice in one reply, or an earlier turn's) ends the run with the API error cua raises for a
malformed reply, having carried out nothing from it.

Set FUZZ_EXAMPLES=N for more examples, and FUZZ_STATS_FILE=path to have the counts (calls,
crashed runs, invalid calls executed, unanswered calls, malformed replies) written there as JSON.
"""

import io
import json
import math
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

from claude_cua.cli.demo.fakeapi import NO_ID, FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report
from claude_cua.cli.view import PlainView
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.errors import ModelError
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import FLAVOURS
from claude_cua.core.store.runs import RunRecorder, read_steps
from claude_cua.core.vocab.desktop import FakeDesktop
from claude_cua.core.vocab.events import RunFinished
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))  # more on demand, for figures
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
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 10**300, 10**400,
                     -(10**400), -1, -(2**63)]),
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


LIST_FIELDS = ("coordinate", "start_coordinate", "region")
NUMBER_FIELDS = ("repeat", "duration", "scroll_amount")
HUGE = "9" * 400


@st.composite
def raw_hostile_input(draw, toolset):
    """Input JSON text a server could send but Python cannot build and dump: a list nested
    3,000 or 100,000 deep, NaN/Infinity or a 400-digit integer, in any list or number field."""
    action = draw(st.sampled_from(ACTIONS))
    head = "{" if toolset else f'{{"action": "{action}", '
    field = draw(st.sampled_from(LIST_FIELDS + NUMBER_FIELDS))
    depth = draw(st.sampled_from([3_000, 100_000]))
    bad = draw(st.sampled_from(["deep", "NaN", "Infinity", "-Infinity", HUGE, "-" + HUGE,
                                "true", "-5"]))
    if bad == "deep":
        value = "[" * depth + "]" * depth
        if field in LIST_FIELDS and draw(st.booleans()):
            value = f"[{value}, 1]"
    elif field in LIST_FIELDS:
        value = f"[{bad}, 1, 2, 3]" if field == "region" else f"[{bad}, 1]"
    else:
        value = bad
    text = draw(st.sampled_from(["", ', "text": "a"', ', "scroll_direction": "up"']))
    return head + f'"{field}": {value}{text}}}'


# Tool-use ids: mostly the API's shape (unique), else each malformed shape the API never sends.
MALFORMED_IDS = ("int", "empty", "missing", "null", "long", "unicode", "newline", "twin",
                 "earlier")


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
    elif kind in (2, 3):
        block["raw_input"] = draw(raw_hostile_input(toolset))
    shape = draw(st.one_of(st.just("valid"), st.just("valid"), st.just("valid"),
                           st.sampled_from(MALFORMED_IDS)))
    block["id"] = {"int": 7, "empty": "", "missing": NO_ID, "null": None, "long": "t" * 10_000,
                   "unicode": "toolu_\u00e9\u4e2d", "newline": "toolu_a\nb",
                   "twin": "toolu_twin", "earlier": "toolu_earlier"}.get(shape, shape)
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
    for number, block in enumerate([b for b in blocks if b["type"] == "tool_use"]):
        if block["id"] == "valid":
            block["id"] = f"toolu_fuzz{number}"
        elif block["id"] == "toolu_twin":  # twice in this reply
            blocks.append({**block, "id": "toolu_twin", "raw_input": "{}"})
    follow_up = draw(st.sampled_from(["fresh", "reuse"]))
    return version, blocks, follow_up


def malformed(blocks) -> bool:
    """Whether the reply breaks the API's id rules (the oracle, written apart from cua's)."""
    ids = [b.get("id") for b in blocks if b["type"] == "tool_use"]
    shaped = [i for i in ids if isinstance(i, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,256}", i)]
    return (len(shaped) < len(ids) or len(set(ids)) < len(ids)
            or "toolu_earlier" in ids)


# The fields each action reads (the oracle below judges only those).
USED = {
    "key": ("text", "repeat"), "hold_key": ("text", "duration"), "type": ("text",),
    "mouse_move": ("coordinate",), "left_click_drag": ("coordinate", "start_coordinate", "text"),
    "left_mouse_down": ("coordinate",), "left_mouse_up": ("coordinate",),
    "scroll": ("coordinate", "scroll_direction", "scroll_amount", "text"),
    "wait": ("duration",), "zoom": ("region",),
    **{name: ("coordinate", "text") for name in ("left_click", "right_click", "middle_click",
                                                 "double_click", "triple_click")},
}


def _bad(value, depth=0) -> bool:
    if isinstance(value, bool) or depth > 30:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int):
        return abs(value) > 2**31
    if isinstance(value, str):
        return bool(_LONE.search(value))
    if isinstance(value, list):
        return any(_bad(v, depth + 1) for v in value)
    return False


def invalid(block, flavour) -> bool:
    """Whether a call carries a value no action may be carried out with, in a field its action
    reads: a boolean, NaN/Infinity, an integer past 2**31, a lone surrogate, a list nested
    deeper than any field takes (the oracle, written apart from cua's parser)."""
    tool_input = block.get("input")
    if isinstance(block.get("raw_input"), str):
        try:
            tool_input = json.loads(block["raw_input"])
        except (ValueError, RecursionError):
            return True
    if not isinstance(tool_input, dict):
        return True
    action = block.get("name") if flavour.is_toolset else tool_input.get("action")
    fields = USED.get(action, ()) if isinstance(action, str) else ()
    if not flavour.clicks_take_coordinate and action in (
            "left_click", "right_click", "middle_click", "double_click", "triple_click"):
        fields = ("text",)
    return any(_bad(tool_input[field]) for field in fields if field in tool_input)


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


def _follow_up(how):
    def reply(request):
        call = computer_call(request, "screenshot")
        return Reply([{**call, "id": "toolu_fuzz0" if how == "reuse" else "toolu_next"}])
    return reply


STATS: Counter = Counter()


def _check_conversation(messages):
    """Every tool_use id is unique, a string, and answered by exactly one tool_result; returns
    how many calls went unanswered in a conversation that goes on."""
    seen = set()
    unanswered = 0
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
            unanswered += len({c["id"] for c in calls} - set(answers))
            assert sorted(answers) == sorted(c["id"] for c in calls)
    return unanswered


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

    def run(self, version, blocks, follow_up):
        config = LoopConfig(model="claude-fuzz", flavour=FLAVOURS[version], max_steps=4,
                            keep_images=1)
        earlier = "toolu_earlier" in [b.get("id") for b in blocks]
        # A reply that reuses "toolu_earlier" gets a turn before it that uses it first.
        self.script[:] = ([_screenshot_with_id("toolu_earlier")] if earlier else []) + [
            Reply(blocks), _follow_up(follow_up), Reply([report("success", "ok")])]
        before = len(self.api.requests)
        desktop = FakeDesktop(320, 200)
        STATS["runs"] += 1
        STATS["calls"] += sum(b["type"] == "tool_use" for b in blocks)
        with tempfile.TemporaryDirectory() as folder:
            recorder = RunRecorder(Path(folder), meta={})
            # The view renders every event too, as on stderr (strict UTF-8, like a pipe).
            stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
            view = PlainView(Console(file=stderr, width=100), verbose=True)

            def sink(event):
                recorder(event)
                view(event)

            try:
                finished = run_task("fill in the form", desktop=desktop, client=self.client,
                                    config=config, on_event=sink, sleep=lambda s: None,
                                    approver=lambda request: "deny")
            except ModelError as exc:
                finished = exc
            except BaseException:
                STATS["crashed"] += 1
                raise
            finally:
                recorder.close()
            bodies = [_strict_json(r.body) for r in self.api.requests[before:]]
            steps = read_steps(Path(folder))
            hostile_step = 2 if earlier else 1  # the step that carried out the hostile reply
            executed = [a for step in steps if step.step == hostile_step
                        for a in step.actions if not a.is_error]
            by_id = {b["id"]: b for b in blocks if b["type"] == "tool_use"
                     and isinstance(b.get("id"), str)}
            wrong = [a for a in executed if a.tool_use_id in by_id
                     and invalid(by_id[a.tool_use_id], config.flavour)]
            STATS["invalid_executed"] += len(wrong)
            assert not wrong, wrong
            if isinstance(finished, ModelError):
                STATS["malformed_replies"] += 1
                assert "malformed" in str(finished), finished
                if malformed(blocks):  # nothing of the malformed reply was carried out
                    assert not any(a.tool_use_id in by_id for a in executed), executed
                    assert len(desktop.calls) == 0
                else:  # the follow-up reused an id of the first reply
                    assert follow_up == "reuse", finished
                return
            assert not malformed(blocks), blocks
            assert isinstance(finished, RunFinished)
            assert finished.status in ("success", "failure", "unknown"), finished
            assert bodies and len(bodies) == finished.steps
            unanswered = _check_conversation(bodies[-1]["messages"])
            STATS["unanswered"] += unanswered
            assert unanswered == 0
            lines = (Path(folder) / "steps.jsonl").read_text(encoding="utf-8").split("\n")
            assert lines[-1] == ""  # every record ends with its newline
            for line in lines[:-1]:
                _strict_json(line.encode())
            assert len(steps) == finished.steps


def _screenshot_with_id(call_id):
    def reply(request):
        return Reply([{**computer_call(request, "screenshot"), "id": call_id}])
    return reply


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
        if os.environ.get("FUZZ_STATS_FILE"):
            Path(os.environ["FUZZ_STATS_FILE"]).write_text(json.dumps(dict(STATS)))
