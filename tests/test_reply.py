"""The one boundary for what the model sends (core/model/reply.py): whole replies only, and
whatever is kept can be sent back: valid JSON, valid Unicode, string names, unique tool-use ids."""

import json
import math

import pytest
from claude_cua.core.model.reply import INVALID_NAME, IncompleteReply, MalformedReply, ReplyBuilder


def events(*blocks, raw=None, stop=True):
    """The stream events of a reply of `blocks`; `raw` maps a block index to its input JSON."""
    raw = raw or {}
    out = [{"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [],
        "usage": {"input_tokens": 7, "output_tokens": 1}}}]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            out.append({"type": "content_block_start", "index": index,
                        "content_block": {"type": "text", "text": ""}})
            out.append({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": block["text"]}})
        else:
            start = {k: v for k, v in block.items() if k != "input"}
            out.append({"type": "content_block_start", "index": index,
                        "content_block": {**start, "input": {}}})
            text = raw.get(index, json.dumps(block.get("input", {})))
            for i in range(0, len(text), 5):
                out.append({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": text[i:i + 5]}})
        out.append({"type": "content_block_stop", "index": index})
    out.append({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 12}})
    if stop:
        out.append({"type": "message_stop"})
    return out


def build(stream, taken=()):
    builder = ReplyBuilder()
    for event in stream:
        builder.add(event)
    return builder.reply(taken_ids=taken)


def tool(name="computer", id="toolu_1", **inp):
    return {"type": "tool_use", "id": id, "name": name, "input": inp}


def resendable(content):
    """What the API needs of a message it is sent: strict JSON, encodable as UTF-8."""
    json.dumps(content, allow_nan=False, ensure_ascii=False).encode("utf-8")
    return True


CLICK = tool(action="left_click", coordinate=[10, 20])


def test_a_whole_reply_keeps_text_calls_usage_and_stop_reason():
    reply = build(events({"type": "text", "text": "hi"}, CLICK))
    assert reply.text == "hi"
    assert [(c.id, c.name, c.input, c.problem) for c in reply.tool_calls] == [
        ("toolu_1", "computer", {"action": "left_click", "coordinate": [10, 20]}, None)]
    assert reply.stop_reason == "tool_use"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (7, 12)


def test_no_prefix_of_a_reply_is_a_reply():
    stream = events({"type": "text", "text": "typing"},
                    tool(action="type", text="orders@antequip.example"), CLICK)
    for cut in range(len(stream)):
        with pytest.raises(IncompleteReply):
            build(stream[:cut])


def test_tool_input_json_is_read_as_sent_never_repaired():
    for raw in ['{"action":"mouse_move","coordinate":[1, 2}', '{"action": "type", "text": "ab',
                '{"action": "key"} {"x": 1}', "{'action': 'key'}"]:
        with pytest.raises(IncompleteReply, match="not complete, valid JSON"):
            build(events(tool(), raw={0: raw}))


@pytest.mark.parametrize(("name", "shown"), [
    (None, "None"), (5, "5"), (["computer"], "['computer']"), ({"a": 1}, "{'a': 1}"),
    ("", "''"), ("has space", "'has space'"), ("x" * 300, "'xxx"), (True, "True"),
])
def test_a_tool_name_that_is_not_a_name_is_kept_as_a_string_and_flagged(name, shown):
    block = {**CLICK, "name": name}
    reply = build(events(block))
    call = reply.tool_calls[0]
    assert call.name == INVALID_NAME
    assert reply.content[0]["name"] == INVALID_NAME
    assert call.problem is not None and shown in call.problem
    assert resendable(reply.content)


@pytest.mark.parametrize(("raw", "where"), [
    ('{"action": "left_click", "coordinate": [NaN, 2]}', "coordinate[0] is nan"),
    ('{"action": "left_click", "coordinate": [1, Infinity]}', "coordinate[1] is inf"),
    ('{"action": "scroll", "scroll_amount": -Infinity}', "scroll_amount is -inf"),
    ('{"action": "zoom", "region": [0, 0, 1e400, 5]}', "region[2] is inf"),
    ('{"action": "key", "repeat": ' + "9" * 5000 + "}", "repeat is inf"),
    ('{"action": "type", "text": "a\\ud800b"}', "text holds a lone surrogate (U+D800)"),
    ('{"action": "type", "text": "\\udc00"}', "U+DC00"),
    ('{"a\\ud800": 1}', "the key"),
    ('{"deep": ' + "[" * 40 + "]" * 40 + "}", "nested too deeply"),
    ('{"deep": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ("[1, 2]", "must be a JSON object, not an array"),
    ('"left_click"', "not a string"),
    ("null", "not null"),
])
def test_input_that_json_cannot_carry_is_flagged_and_kept_resendable(raw, where):
    reply = build(events(tool(), raw={0: raw}))
    call = reply.tool_calls[0]
    assert call.problem is not None
    assert where.replace("not a string", "a string") in call.problem
    assert resendable(reply.content)
    assert reply.content[0]["input"] == call.input


def test_numbers_that_are_finite_stay_as_they_are():
    raw = '{"a": 1e308, "b": -0.0, "c": 12345678901234567890, "d": 1.5}'
    call = build(events(tool(), raw={0: raw})).tool_calls[0]
    assert call.problem is None
    assert call.input == {"a": 1e308, "b": -0.0, "c": 12345678901234567890, "d": 1.5}


def test_surrogate_pairs_are_characters_and_lone_ones_in_text_are_replaced():
    reply = build(events({"type": "text", "text": "ok \ud83d\ude00 bad \ud800 end"}))
    assert reply.text == "ok 😀 bad \ufffd end"
    assert resendable(reply.content)
    raw = '{"action": "type", "text": "\\ud83d\\ude00"}'
    assert build(events(tool(), raw={0: raw})).tool_calls[0].input["text"] == "😀"


def test_streamed_text_is_valid_unicode():
    builder = ReplyBuilder()
    for event in events({"type": "text", "text": "a\ud800"})[:3]:
        streamed = builder.add(event)
    assert streamed == "a\ufffd"


MISSING = object()
BAD_IDS = [
    (7, "not a string"), ("", "not 1 to 256"), (MISSING, "has no id"), (None, "has no id"),
    ("t" * 10_000, "10,000 characters"), ("toolu_\u00e9t\u00e9", "not 1 to 256"),
    ("toolu_a\nb", "not 1 to 256"), ("bad id!", "not 1 to 256"), (["toolu_a"], "not a string"),
    (True, "not a string"), ("toolu_\ud800", "not 1 to 256"),
]


@pytest.mark.parametrize(("bad", "said"), BAD_IDS)
def test_a_tool_use_id_not_of_the_api_shape_makes_the_reply_malformed(bad, said):
    block = tool(id=bad)
    if bad is MISSING:
        del block["id"]
    with pytest.raises(MalformedReply, match=said) as info:
        build(events(CLICK, block))
    assert len(str(info.value)) < 200
    str(info.value).encode("utf-8")


def test_an_id_used_twice_in_a_reply_or_the_conversation_makes_the_reply_malformed():
    with pytest.raises(MalformedReply, match="'toolu_a' is used twice"):
        build(events(tool(id="toolu_a"), tool(id="toolu_a")))
    with pytest.raises(MalformedReply, match="'toolu_old' is used twice"):
        build(events(tool(id="toolu_new"), tool(id="toolu_old")), taken={"toolu_old"})
    reply = build(events(tool(id="toolu_a"), tool(id="toolu_b")), taken={"toolu_old"})
    assert [c.id for c in reply.tool_calls] == ["toolu_a", "toolu_b"]  # as sent, never made up


def test_a_toolset_name_that_is_not_a_name_is_flagged():
    call = build(events({**CLICK, "toolset_name": ["computer"]})).tool_calls[0]
    assert call.toolset_name is None and "toolset_name" in call.problem


def test_a_non_string_stop_reason_or_usage_does_not_get_through():
    stream = events(CLICK)
    stream[-2] = {"type": "message_delta", "delta": {"stop_reason": ["x"]},
                  "usage": {"output_tokens": math.inf}}
    reply = build(stream)
    assert reply.stop_reason is None and reply.usage.output_tokens == 0


@pytest.mark.parametrize("event", [
    {"type": "content_block_delta", "index": 9, "delta": {"type": "text_delta", "text": "x"}},
    {"type": "content_block_start", "index": 5, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": None}},
    {"type": "content_block_start", "index": 1, "content_block": "text"},
    {"type": "message_start", "message": {"content": []}},
])
def test_events_out_of_order_or_of_the_wrong_shape_are_an_incomplete_reply(event):
    stream = events({"type": "text", "text": "x"})
    with pytest.raises(IncompleteReply):
        build([*stream[:3], event, *stream[3:]])


def test_input_cut_by_max_tokens_is_answered_not_retried():
    stream = events(CLICK, tool(id="toolu_2"), raw={1: '{"action": "type", "text": "half'})
    stream[-2] = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
                  "usage": {"output_tokens": 4096}}
    reply = build(stream)
    first, cut = reply.tool_calls
    assert first.problem is None and first.input["action"] == "left_click"
    assert cut.input == {} and "max_tokens" in cut.problem
    assert resendable(reply.content)
