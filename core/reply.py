"""Claude's reply as cua keeps it: assembled from the stream's events, and only when complete.

Pure: `ReplyBuilder` takes the Messages API's stream events as plain dicts (claude.py converts
the SDK's objects) and never trusts a half reply. The SDK's own accumulator parses tool input
with a partial-JSON parser after every delta, which "repairs" text that was cut short or is not
JSON at all (`{"coordinate": [1, 2}` becomes `[1, 2]`); here each tool input is parsed once,
from the JSON text exactly as it arrived, when the reply is over. A reply that never reached
`message_stop`, or carries tool input that is not complete JSON, raises `IncompleteReply`: an
API fault for claude.py to retry, never an instruction to carry out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .usage import Usage

_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


class IncompleteReply(Exception):
    """The stream did not deliver a whole, readable reply; the message says what was missing."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]
    toolset_name: str | None = None


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
        """Take one event; returns the text it streamed ("" for any other event)."""
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

    def reply(self) -> ModelReply:
        """The whole reply; raises IncompleteReply unless it ended with message_stop."""
        if not self._started:
            raise IncompleteReply("the reply stream ended before it started a message")
        if not self._stopped:
            raise IncompleteReply("the reply stream ended before message_stop")
        content: list[dict[str, Any]] = []
        texts: list[str] = []
        calls: list[ToolCall] = []
        for index, block in enumerate(self._blocks):
            kind = block.get("type")
            if kind in _TOOL_BLOCKS:
                block = {**block, "input": self._tool_input(index, block)}
            if kind == "text":
                texts.append(str(block.get("text", "")))
                kept = {"type": "text", "text": block.get("text", "")}
                if block.get("citations"):
                    kept["citations"] = block["citations"]
            elif kind == "tool_use":
                toolset = block.get("toolset_name")
                calls.append(ToolCall(block.get("id"), block.get("name"), block["input"],
                                      toolset))
                kept = {"type": "tool_use", "id": block.get("id"), "name": block.get("name"),
                        "input": block["input"]}
                if toolset:
                    kept["toolset_name"] = toolset
            else:  # thinking and other blocks go back to the API as they came
                kept = {k: v for k, v in block.items() if v is not None}
            content.append(kept)
        return ModelReply(content=content, text="\n".join(texts), tool_calls=tuple(calls),
                          stop_reason=self._stop_reason, usage=_usage(self._usage))

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
            return text
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

    def _tool_input(self, index: int, block: Mapping[str, Any]) -> Any:
        parts = self._json.get(index)
        if parts is None:  # no deltas: the input is the one content_block_start carried
            return block.get("input", {})
        text = "".join(parts)
        if not text.strip():
            return {}
        try:
            return json.loads(text, parse_int=_integer)
        except RecursionError:
            raise IncompleteReply("tool input is nested too deeply to read") from None
        except ValueError as exc:
            raise IncompleteReply(f"tool input is not complete, valid JSON ({exc})") from None


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
