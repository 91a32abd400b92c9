"""Claude's reply as cua keeps it: assembled from the stream's events, and only when complete.

Pure: `ReplyBuilder` takes the Messages API's stream events as plain dicts (claude.py converts
the SDK's objects) and never trusts a half reply. The SDK's own accumulator parses tool input
with a partial-JSON parser after every delta, which "repairs" text that was cut short or is not
JSON at all (`{"coordinate": [1, 2}` becomes `[1, 2]`); here each tool input is parsed once,
from the JSON text exactly as it arrived, when the reply is over. A reply that never reached
`message_stop`, or carries tool input that is not complete JSON, raises `IncompleteReply`: an
API fault for claude.py to retry, never an instruction to carry out.

It is also the one boundary for what the model sends: whatever is kept (and so re-sent with the
next request) is valid JSON and valid Unicode, with string tool names. A tool-use id that is not
the API's shape or not unique in the conversation makes the reply malformed (MalformedReply,
retried like an incomplete one): an id is never made up, so every tool_result answers a call
Claude made. A tool call that cannot be used as it came (a name that is not a string,
input that is not an object, NaN or 1e400 in it, a lone surrogate) carries a `problem`, which
the step answers with an `is_error` tool_result; the action parser checks the rest.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..vocab.record import Usage
from ..vocab.words import clean_text, counted, shown

_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# Names and ids as the API's tool definitions and tool_use ids spell them.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LONE_SURROGATE = re.compile(
    "[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")
MAX_INPUT_DEPTH = 32  # far deeper than any tool's input; bounds every walk over it
INVALID_NAME = "invalid_tool_name"


class IncompleteReply(Exception):
    """The stream did not deliver a whole, readable reply; the message says what was missing."""


class MalformedReply(IncompleteReply):
    """The reply arrived whole but breaks the API's own rules (a tool-use id that is missing,
    not a string, not of [A-Za-z0-9_-], or not unique in the conversation): handled like an
    incomplete one, never carried out."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]
    toolset_name: str | None = None
    problem: str | None = None  # why the call cannot be used as it came; None when it can


@dataclass(frozen=True, slots=True)
class ModelReply:
    """Claude's reply: `content` is ready to be sent back as the assistant turn."""

    content: list[dict[str, Any]]
    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str | None
    usage: Usage


class ReplyBuilder:
    """Accumulates one streamed reply; `add` each event in order, then take `reply()`."""

    def __init__(self) -> None:
        self._started = False
        self._stopped = False
        self._blocks: list[dict[str, Any]] = []
        self._json: dict[int, list[str]] = {}  # tool input JSON text per block, as sent
        self._stop_reason: str | None = None
        self._usage: dict[str, Any] = {}

    def add(self, event: Mapping[str, Any]) -> str:
        """Take one event; returns the text it streamed, as valid Unicode ("" for others)."""
        kind = event.get("type")
        if kind == "ping" or self._stopped:
            return ""
        if kind == "message_start":
            self._start(event)
        elif not self._started:
            raise IncompleteReply(f"the reply stream sent {kind!r} before message_start")
        elif kind == "content_block_start":
            self._block_start(event)
        elif kind == "content_block_delta":
            return self._delta(event)
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self._stopped = True
        return ""  # content_block_stop, and kinds newer than this code, change nothing here

    def reply(self, *, taken_ids: Iterable[str] = ()) -> ModelReply:
        """The whole reply, made re-sendable; raises IncompleteReply unless it ended with
        message_stop. `taken_ids` are the tool-use ids already in the conversation."""
        if not self._started:
            raise IncompleteReply("the reply stream ended before it started a message")
        if not self._stopped:
            raise IncompleteReply("the reply stream ended before message_stop")
        used = set(taken_ids)
        content: list[dict[str, Any]] = []
        texts: list[str] = []
        calls: list[ToolCall] = []
        for index, block in enumerate(self._blocks):
            kind = block.get("type")
            if kind == "tool_use":
                call = _tool_call(block, *self._tool_input(index, block), used=used)
                calls.append(call)
                content.append(_tool_use_block(call))
                continue
            if kind in _TOOL_BLOCKS:
                block = {**block, "input": self._tool_input(index, block)[0]}
            kept = _clean(block, (), [])
            if kind == "text":
                text = kept.get("text")
                text = text if isinstance(text, str) else ""
                texts.append(text)
                kept = {"type": "text", "text": text,
                        **({"citations": kept["citations"]} if kept.get("citations") else {})}
            else:  # thinking and other blocks go back to the API as they came
                kept = {k: v for k, v in kept.items() if v is not None}
            content.append(kept)
        stop_reason = self._stop_reason if isinstance(self._stop_reason, str) else None
        return ModelReply(content=content, text="\n".join(texts), tool_calls=tuple(calls),
                          stop_reason=stop_reason, usage=_usage(self._usage))

    # -- events ---------------------------------------------------------------------------------

    def _start(self, event: Mapping[str, Any]) -> None:
        if self._started:
            raise IncompleteReply("the reply stream started a second message")
        message = _mapping(event.get("message"), "message_start's message")
        self._started = True
        self._usage = dict(_mapping(message.get("usage") or {}, "usage"))
        for block in message.get("content") or []:
            self._blocks.append(dict(_mapping(block, "a content block")))

    def _block_start(self, event: Mapping[str, Any]) -> None:
        if event.get("index") != len(self._blocks):
            raise IncompleteReply(
                f"the reply stream started block {event.get('index')!r} out of order "
                f"(expected {len(self._blocks)})")
        self._blocks.append(dict(_mapping(event.get("content_block"), "content_block_start")))

    def _delta(self, event: Mapping[str, Any]) -> str:
        index = event.get("index")
        if not isinstance(index, int) or not 0 <= index < len(self._blocks):
            raise IncompleteReply(f"the reply stream sent a delta for unknown block {index!r}")
        block = self._blocks[index]
        delta = _mapping(event.get("delta"), "content_block_delta's delta")
        kind = delta.get("type")
        if kind == "text_delta":
            text = _string(delta.get("text"), "text_delta")
            block["text"] = str(block.get("text", "")) + text
            return clean_text(text)
        if kind == "input_json_delta":
            self._json.setdefault(index, []).append(
                _string(delta.get("partial_json"), "input_json_delta"))
        elif kind == "thinking_delta":
            block["thinking"] = (str(block.get("thinking", ""))
                                 + _string(delta.get("thinking"), "thinking_delta"))
        elif kind == "signature_delta":
            block["signature"] = _string(delta.get("signature"), "signature_delta")
        elif kind == "citations_delta":
            block["citations"] = [*(block.get("citations") or []), delta.get("citation")]
        return ""

    def _message_delta(self, event: Mapping[str, Any]) -> None:
        delta = _mapping(event.get("delta") or {}, "message_delta's delta")
        self._stop_reason = delta.get("stop_reason")
        # Usage on message_delta is cumulative: present fields overwrite those of message_start.
        usage = _mapping(event.get("usage") or {}, "message_delta's usage")
        self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _tool_input(self, index: int, block: Mapping[str, Any]) -> tuple[Any, str | None]:
        """The tool input exactly as sent, and why it cannot be read (None if it can)."""
        parts = self._json.get(index)
        if parts is None:  # no deltas: the input is the one content_block_start carried
            return block.get("input", {}), None
        text = "".join(parts)
        if not text.strip():
            return {}, None
        try:
            return json.loads(text, parse_int=_integer), None
        except RecursionError:  # valid JSON, but no tool takes input nested this deep
            return {}, "the tool input is nested too deeply"
        except ValueError as exc:
            if self._stop_reason == "max_tokens":  # the model ran out of tokens mid-call: its
                # own doing, and a retry would end the same way; the call is answered instead
                return {}, ("the reply reached max_tokens in the middle of this call's input, "
                            "so the input is incomplete; send the call again")
            raise IncompleteReply(f"tool input is not complete, valid JSON ({exc})") from None


def _tool_call(block: Mapping[str, Any], raw_input: Any, unreadable: str | None, *,
               used: set[str]) -> ToolCall:
    """One tool_use block as a ToolCall that can be kept and answered, whatever it held."""
    problems = [unreadable] if unreadable else []
    call_id = _checked_id(block.get("id"), used)
    used.add(call_id)
    name = block.get("name")
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        problems.append(f"the tool name {shown(name)} is not a tool's name")
        name = INVALID_NAME
    toolset = block.get("toolset_name")
    if toolset is not None and not (isinstance(toolset, str) and _NAME.fullmatch(toolset)):
        problems.append(f"the toolset_name {shown(toolset)} is not a toolset's name")
        toolset = None
    if isinstance(raw_input, Mapping):
        tool_input = _clean(raw_input, (), problems)
    else:
        problems.append(f"the tool input must be a JSON object, not {_json_kind(raw_input)}")
        tool_input = {}
    problem = None
    if problems:
        more = f" (and {counted(len(problems) - 3, 'more problem')})" if len(problems) > 3 else ""
        problem = ("Not executed: " + "; ".join(problems[:3]) + more
                   + ". Send the call again with valid input.")
    return ToolCall(call_id, name, tool_input, toolset or None, problem)


def _tool_use_block(call: ToolCall) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "tool_use", "id": call.id, "name": call.name,
                             "input": call.input}
    if call.toolset_name:
        entry["toolset_name"] = call.toolset_name
    return entry


def _checked_id(call_id: object, used: set[str]) -> str:
    """The tool-use id as sent, or MalformedReply saying what is wrong with it.

    The API sends ids of [A-Za-z0-9_-], unique in the conversation. One that breaks this cannot
    be answered: a tool_result must name the id it answers, and answering an id cua made up (or
    one already answered) would pair it with a call Claude never made. So the reply is
    malformed, like a truncated one: nothing in it is carried out, and claude.py retries it.
    """
    if not isinstance(call_id, str):
        what = "has no id" if call_id is None else f"has the id {shown(call_id)}, not a string"
        raise MalformedReply(f"a tool call {what}")
    if not _ID.fullmatch(call_id):
        length = f" ({len(call_id):,} characters)" if len(call_id) > 40 else ""
        raise MalformedReply(f"a tool call has the id {shown(call_id)}{length}, not 1 to 256 "
                             "of A-Z, a-z, 0-9, _ and -")
    if call_id in used:
        raise MalformedReply(f"the tool-use id {shown(call_id)} is used twice (in this reply or "
                             "an earlier one); ids must be unique in the conversation")
    return call_id


def _where(path: tuple[str | int, ...]) -> str:
    """`coordinate[0]`, `a.b`: where in the input a value sits (for messages)."""
    if not path:
        return "the input"
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return shown(text.lstrip("."), 40)[1:-1]


def _clean(value: Any, path: tuple[str | int, ...], problems: list[str], depth: int = 0
           ) -> Any:
    """A JSON-safe copy of `value`; each thing that had to change is added to `problems`."""
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            code = ord(_LONE_SURROGATE.search(value).group(0))  # type: ignore[union-attr]
            problems.append(f"{_where(path)} holds a lone surrogate (U+{code:04X}), which is "
                            "not valid Unicode")
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        problems.append(f"{_where(path)} is {value!r}, not a finite number")
        return None
    if depth >= MAX_INPUT_DEPTH:
        problems.append(f"{_where(path)} is nested too deeply")
        return None
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = clean_text(str(key))
            if name != key:
                problems.append(f"the key {shown(key)} is not valid Unicode")
            out[name] = _clean(item, (*path, name), problems, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_clean(item, (*path, i), problems, depth + 1) for i, item in enumerate(value)]
    problems.append(f"{_where(path)} is a {type(value).__name__}, which JSON cannot carry")
    return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _integer(digits: str) -> int | float:
    # Python refuses to turn more than 4,300 digits into an int; such a number is still JSON,
    # and as far out of range as infinity for anything cua does with it.
    if len(digits.lstrip("-")) > 400:
        return float("-inf") if digits.startswith("-") else float("inf")
    return int(digits)


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise IncompleteReply(f"the reply stream sent {what} that is not an object")
    return value


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise IncompleteReply(f"the reply stream sent a {what} without its text")
    return value


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _usage(usage: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=_count(usage.get("input_tokens")),
        output_tokens=_count(usage.get("output_tokens")),
        cache_read_input_tokens=_count(usage.get("cache_read_input_tokens")),
        cache_creation_input_tokens=_count(usage.get("cache_creation_input_tokens")),
    )
