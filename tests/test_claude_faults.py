"""Faults of the API, before and after its stream started: the real SDK over real HTTP.

cua acts only on a reply that ended with message_stop and whose tool input is complete JSON as
sent; every transient fault is retried with one budget (max_retries) and backoff; a persistent
one ends the run with a ModelError that says what happened and what to do next.
"""

import json
import time

import pytest
from claude_cua.cli.demo.fakeapi import FAULTS, NO_ID, Broken, Error, Malformed, Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.errors import ModelError
from claude_cua.core.model.claude import MAX_RETRY_DELAY_S, ClaudeClient, backoff_s
from claude_cua.core.model.context import flavour_for
from claude_cua.core.vocab.desktop import FakeDesktop
from claude_cua.core.vocab.events import RunFinished

MODEL = "claude-sonnet-4-6"  # computer_20251124: the action sits in the input


def run(api, *, retries=0, initial_delay=0.5, desktop=None, deadline=600.0):
    """Run a task; returns (RunFinished or ModelError, desktop, waits asked for)."""
    desktop = desktop or FakeDesktop(1280, 800)
    waits: list[float] = []
    events: list[object] = []
    client = ClaudeClient(api_key="test-key", base_url=api.url, max_retries=retries,
                          initial_retry_delay_s=initial_delay, sleep=waits.append,
                          reply_deadline_s=deadline)
    config = LoopConfig(model=MODEL, flavour=flavour_for(MODEL), max_steps=5)
    try:
        outcome = run_task("fill the form", desktop=desktop, client=client, config=config,
                           on_event=events.append, sleep=lambda s: None)
    except ModelError as exc:
        outcome = exc
        assert isinstance(events[-1], RunFinished) and events[-1].status == "error"
    finally:
        client.close()
    return outcome, desktop, waits


def click(req):
    return Reply([text("clicking"), computer_call(req, "left_click", coordinate=[100, 200])])


def typing(req):
    return Reply([computer_call(req, "type", text="orders@antequip.example")])


SUCCESS = Reply([report("success", "done")])
# Replies a broken stream must not half-execute: an input action, and a run-ending report.
HALF_REPLIES = {
    "click": lambda: Reply([{"type": "tool_use", "name": "computer",
                             "input": {"action": "left_click", "coordinate": [100, 200]}}]),
    "type": lambda: Reply([{"type": "tool_use", "name": "computer",
                            "input": {"action": "type", "text": "orders@antequip.example"}}]),
    "report": lambda: SUCCESS,
}


def _event_counts():
    """How many SSE events each half reply streams (so every cut point can be tried)."""
    from claude_cua.cli.demo.fakeapi import message_json, stream_events

    counts = {}
    for name, make in HALF_REPLIES.items():
        message = message_json(make(), model=MODEL, usage={"input_tokens": 1})
        counts[name] = len(list(stream_events(message)))
    return counts


QUICK_FAULTS = [fault for fault in FAULTS if fault != "stall"]  # stall waits for a deadline
CUT_POINTS = [(name, fault, after) for name, total in _event_counts().items()
              for fault in QUICK_FAULTS for after in range(total)]


@pytest.mark.parametrize(("name", "fault", "after"), CUT_POINTS)
def test_a_reply_broken_anywhere_is_never_acted_on(api, name, fault, after):
    api.queue(Broken(HALF_REPLIES[name](), fault, after=after))
    outcome, desktop, _ = run(api)
    assert isinstance(outcome, ModelError), outcome
    assert desktop.calls == []
    assert "retries are off" in str(outcome)
    assert "test-key" not in str(outcome)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", sorted(HALF_REPLIES))
def test_a_broken_stream_is_retried_and_only_the_whole_reply_runs(api, fault, name):
    api.queue(Broken(HALF_REPLIES[name](), fault), click, SUCCESS)
    outcome, desktop, waits = run(api, retries=2, deadline=0.3)
    assert isinstance(outcome, RunFinished) and outcome.status == "success", outcome
    assert desktop.calls == [("click", (100, 200), "left", 1, None)]
    assert len(api.requests) == 3
    assert len(waits) == 1 and 0.375 <= waits[0] <= 0.5


INVALID_INPUT = [
    '{"action":"mouse_move","coordinate":[1, 2}',  # repaired by a partial-JSON parser
    '{"action": "left_click", "coordinate": [100, 2',  # cut short
    '{"action": "type", "text": "orders@antequip.e',
    '{"action": "left_click"} trailing',
    '{"action": "left_click", }',
    '{"action": "screenshot"}{"action": "left_click"}',  # two values
    "[",
]


@pytest.mark.parametrize("raw", INVALID_INPUT)
def test_tool_input_that_is_not_complete_json_is_a_fault_not_an_instruction(api, raw):
    bad = Reply([{"type": "tool_use", "name": "computer", "raw_input": raw}])
    api.queue(bad, bad)
    outcome, desktop, _ = run(api, retries=1)
    assert isinstance(outcome, ModelError)
    assert desktop.calls == []
    assert len(api.requests) == 2
    assert "not complete, valid JSON" in str(outcome) or "incomplete" in str(outcome)
    assert "on all 2 attempts" in str(outcome)


MALFORMED_IDS = [
    (42, "not a string"), ("", "not 1 to 256"), (NO_ID, "has no id"),
    ("x" * 10_000, "10,000 characters"), ("toolu_\u00e9\u4e2d", "not 1 to 256"),
    ("toolu_a\nb", "not 1 to 256"),
]


def clicks_with_id(call_id, second_id=None):
    def reply(req):
        first = computer_call(req, "left_click", coordinate=[100, 200])
        calls = [{**first, "id": call_id}]
        if second_id is not None:
            calls.append({**computer_call(req, "type", text="x"), "id": second_id})
        return Reply([text("clicking"), *calls])
    return reply


@pytest.mark.parametrize(("bad", "said"), MALFORMED_IDS)
def test_a_malformed_tool_use_id_is_retried_then_an_api_error_never_run(api, bad, said):
    api.queue(clicks_with_id(bad), clicks_with_id(bad))
    outcome, desktop, _ = run(api, retries=1)
    assert isinstance(outcome, ModelError), outcome
    assert desktop.calls == []
    assert len(api.requests) == 2
    assert "malformed" in str(outcome) and said in str(outcome)
    assert "on all 2 attempts" in str(outcome) and len(str(outcome)) < 600


def test_a_malformed_reply_retried_into_a_good_one_runs_only_the_good_one(api):
    api.queue(clicks_with_id("toolu_same", "toolu_same"), click, SUCCESS)
    outcome, desktop, _ = run(api, retries=1)
    assert isinstance(outcome, RunFinished) and outcome.status == "success", outcome
    assert desktop.calls == [("click", (100, 200), "left", 1, None)]
    body = json.loads(api.requests[-1].body)
    answered = [b["tool_use_id"] for b in body["messages"][-1]["content"]
                if b.get("type") == "tool_result"]
    sent = [b["id"] for b in body["messages"][-2]["content"] if b["type"] == "tool_use"]
    assert answered == sent and sent[0].startswith("toolu_")  # the id the API sent, answered


def test_an_id_from_an_earlier_turn_makes_the_reply_malformed(api):
    api.queue(clicks_with_id("toolu_first"), clicks_with_id("toolu_first"))
    outcome, desktop, _ = run(api, retries=0)
    assert isinstance(outcome, ModelError)
    assert "'toolu_first' is used twice" in str(outcome)
    assert desktop.calls == [("click", (100, 200), "left", 1, None)]  # the first turn only


def test_valid_raw_input_split_anywhere_is_read_exactly(api):
    raw = '{"action": "type", "text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\""}'
    api.queue(Reply([{"type": "tool_use", "name": "computer", "raw_input": raw}]), SUCCESS)
    outcome, desktop, _ = run(api)
    assert outcome.status == "success"
    assert desktop.calls == [("type", 'café 😀 "q"')]


def test_mid_stream_faults_and_http_errors_share_one_retry_budget(api):
    api.queue(Error(529), Broken(SUCCESS, "error"), Broken(SUCCESS, "cut"), SUCCESS)
    outcome, _, waits = run(api, retries=2)
    assert isinstance(outcome, ModelError)
    assert len(api.requests) == 3
    assert "on all 3 attempts" in str(outcome)
    assert "broke mid-reply" in str(outcome)
    assert len(waits) == 2


def test_persistent_faults_end_in_bounded_time_with_growing_capped_waits(api):
    api.queue(*[Broken(SUCCESS, "error")] * 8)
    outcome, _, waits = run(api, retries=7)
    assert isinstance(outcome, ModelError)
    assert len(api.requests) == 8
    assert len(waits) == 7
    assert all(0 < w <= MAX_RETRY_DELAY_S for w in waits)
    assert waits[0] <= 0.5 < waits[3]  # doubles
    assert sum(waits) <= 0.5 + 1 + 2 + 4 + 8 * 3
    message = str(outcome)
    assert "overloaded_error" in message and "mid-reply" in message
    assert "on all 8 attempts" in message and "try again" in message


def test_retry_after_is_honoured_within_bounds(api):
    api.queue(Error(529, headers={"retry-after": "3"}), Error(529, headers={"retry-after": "600"}),
              SUCCESS)
    outcome, _, waits = run(api, retries=2)
    assert outcome.status == "success"
    assert waits[0] == 3.0
    assert waits[1] <= 1.0  # 600 s is out of bounds: the backoff applies


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Error(400), "rejected the request (400)"),
        (Error(401), "ANTHROPIC_API_KEY"),
        (Error(404), "--model"),
        (Error(413), "too large"),
        (Error(529, headers={"x-should-retry": "false"}), "asked not to be retried"),
        (Broken(SUCCESS, "error", error={"type": "error", "error": {
            "type": "invalid_request_error", "message": "prompt is too long"}}),
         "invalid_request_error (prompt is too long)"),
    ],
)
def test_errors_that_retrying_cannot_fix_are_not_retried_nor_said_to_be(api, answer, words):
    api.queue(answer, SUCCESS)
    outcome, _, waits = run(api, retries=3)
    assert isinstance(outcome, ModelError)
    assert words in str(outcome)
    assert "retries did not help" not in str(outcome)
    assert "attempts" not in str(outcome)
    assert len(api.requests) == 1 and waits == []


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Error(529), "overloaded (529)"),
        (Error(429), "rate limited (429)"),
        (Error(500), "answered 500"),
        (Malformed(), "broke mid-reply"),
        (Malformed(body=b"event: message_start\ndata: {not json\n\n"), "could not read"),
        (Malformed(body=b'{"id": "msg_cut", "type": "message", "con'), "incomplete"),
        (Broken(SUCCESS, "end"), "before message_stop"),
        (Broken(SUCCESS, "garbage"), "could not read"),
        (Broken(SUCCESS, "error"), "overloaded_error"),
    ],
)
def test_each_transient_fault_is_retried_and_worded_after_what_happened(api, answer, words):
    api.queue(answer, answer)
    outcome, _, waits = run(api, retries=1)
    assert isinstance(outcome, ModelError)
    assert words in str(outcome)
    assert "on all 2 attempts" in str(outcome)
    assert len(api.requests) == 2 and len(waits) == 1


def test_every_retried_request_is_the_same_request(api):
    api.queue(click, Broken(SUCCESS, "cut"), Broken(SUCCESS, "end"), SUCCESS)
    outcome, _, _ = run(api, retries=2)
    assert outcome.status == "success"
    retried = [r.body for r in api.requests[1:]]
    assert retried[0] == retried[1] == retried[2]
    assert json.loads(retried[0])["messages"][-1]["content"][0]["type"] == "tool_result"


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap_with_jitter():
    assert [backoff_s(n, rng=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert [backoff_s(n, rng=lambda: 1.0) for n in range(3)] == [0.375, 0.75, 1.5]


def test_a_stream_kept_alive_with_pings_ends_at_the_reply_deadline(api):
    api.queue(Broken(SUCCESS, "stall", after=3), Broken(SUCCESS, "stall"))
    started = time.monotonic()
    outcome, desktop, waits = run(api, retries=1, deadline=0.4)
    elapsed = time.monotonic() - started
    assert isinstance(outcome, ModelError)
    assert "not finished after 0.4 s, on all 2 attempts" in str(outcome)
    assert elapsed < 5  # two deadlines and the (not slept) backoff, not forever
    assert desktop.calls == [] and len(waits) == 1


def test_a_call_cut_by_max_tokens_is_answered_with_an_error_and_the_run_goes_on(api):
    cut = {"type": "tool_use", "name": "computer",
           "raw_input": '{"action": "type", "text": "orders@antequip.e'}
    api.queue(Reply([cut], stop_reason="max_tokens"), SUCCESS)
    outcome, desktop, waits = run(api, retries=2)
    assert outcome.status == "success"
    assert desktop.calls == [] and waits == []
    assert len(api.requests) == 2
    result = api.requests[1].json["messages"][-1]["content"][0]
    assert result["is_error"] is True and "max_tokens" in result["content"][0]["text"]


def _sse_with_start_input(depth):
    """A whole reply whose tool input rides in content_block_start, nested `depth` lists deep."""
    deep = "[" * depth + "]" * depth
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ("content_block_start", "DEEP"),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 5},
                           "delta": {"stop_reason": "tool_use", "stop_sequence": None}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    start = ('{"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", '
             '"id": "toolu_deep", "name": "computer", "input": {"action": "left_click", '
             f'"coordinate": {deep}}}}}}}')
    return "".join(f"event: {kind}\ndata: {start if data == 'DEEP' else json.dumps(data)}\n\n"
                   for kind, data in events).encode()


@pytest.mark.parametrize("depth", [3_000, 100_000])
def test_input_nested_too_deep_for_the_sdk_to_decode_is_an_unreadable_reply(api, depth):
    api.queue(Malformed(body=_sse_with_start_input(depth)),
              Malformed(body=_sse_with_start_input(depth)))
    outcome, desktop, _ = run(api, retries=1)
    assert isinstance(outcome, ModelError), outcome
    assert "could not read" in str(outcome) and "on all 2 attempts" in str(outcome)
    assert desktop.calls == []


def test_input_nested_deep_but_decodable_is_answered_as_a_tool_error(api):
    api.queue(Malformed(body=_sse_with_start_input(500)), SUCCESS)
    outcome, desktop, _ = run(api)
    assert isinstance(outcome, RunFinished) and outcome.status == "success", outcome
    assert desktop.calls == []
    answer = json.loads(api.requests[-1].body)["messages"][-1]["content"][0]
    assert answer["tool_use_id"] == "toolu_deep" and answer["is_error"] is True
    assert "nested too deeply" in json.dumps(answer)
