"""A stdlib fake of the Anthropic Messages API: scripted replies over real HTTP, as JSON or SSE.

Tests point the real SDK at it, and `cua demo` uses it as an offline stand-in for Claude. The wire
format follows anthropic 2.12.0: the SDK skips SSE events without an `event:` line, and its stream
accumulator needs `message_start` before any content block.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import math
import secrets
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, TypeAlias, get_args
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Block: TypeAlias = dict[str, Any]

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"

_ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "The request is not valid."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_TOOL_INPUT_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")
# A tool block may carry its input as raw JSON text under this key, sent exactly as written, so
# tests can send input that is not valid JSON (or NaN, 1e400, "\ud800") the way a server could.
RAW_INPUT = "raw_input"
# A tool block whose "id" is NO_ID goes out with no id at all (the fake fills in a missing one).
# Any other id is sent exactly as given (a number, "", 10,000 characters, a reused id), so tests
# can send the malformed replies cua must refuse.
NO_ID: Any = type("NoId", (), {"__repr__": lambda self: "NO_ID"})()
_UNKNOWN_IMAGE_TOKENS = 1600  # what the API charges for an image at its largest size
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The API bills a few tokens after the last breakpoint (the assistant turn's start), so even a
# fully cached prompt reports a small, non-zero input_tokens.
_TURN_TOKENS = 3


@dataclass(frozen=True, slots=True)
class Reply:
    """One assistant message: its content blocks, and optionally a forced stop_reason or usage."""

    content: Sequence[Block]
    stop_reason: str | None = field(default=None, kw_only=True)
    usage: Mapping[str, int] | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Error:
    """An HTTP error in the API's shape.

    Args:
        body: None for the standard `{"type": "error", ...}` body of `status`; a dict is sent as
            JSON, str or bytes as they are.
        in_stream: for a streaming request, answer 200 and send the error as an SSE `error` event
            after `message_start`, as the API does when it overloads mid-reply.
    """

    status: int
    body: object = None
    headers: Mapping[str, str] | None = None
    in_stream: bool = field(default=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Malformed:
    """A 200 the SDK cannot use.

    A JSON request gets `body` (default: JSON cut short). A streaming request gets `body` as the
    whole SSE body if given, else the first `events` events of a text reply, and then the
    connection drops in the middle of the chunked body.
    """

    body: bytes | None = None
    events: int = 3


Fault: TypeAlias = Literal["cut", "end", "error", "garbage", "stall"]
FAULTS: tuple[Fault, ...] = get_args(Fault)


@dataclass(frozen=True, slots=True)
class Broken:
    """A reply whose stream breaks: the first `after` of its SSE events, then `fault`.

    Faults: `cut` drops the connection in the middle of the chunked body; `end` closes the body
    cleanly (a reply without `message_stop`); `error` sends an SSE `error` event (`error`, by
    default an overloaded_error) and ends; `garbage` sends an event whose data is not JSON;
    `stall` keeps the stream alive with a `ping` every 50 ms and never finishes it.
    `after=None` sends every event but `message_stop`. A JSON (non-streaming) request gets the
    reply's JSON body cut in half, whatever the fault.
    """

    reply: Reply
    fault: Fault = "cut"
    after: int | None = None
    error: Mapping[str, Any] | None = None


Answer: TypeAlias = Reply | Error | Malformed | Broken
Policy: TypeAlias = Callable[[dict[str, Any]], Answer]
_ANSWERS = (Reply, Error, Malformed, Broken)
ScriptItem: TypeAlias = Answer | Policy


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request as the fake received it; `json` is None when the body is not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


def new_id(prefix: str) -> str:
    """Return an id shaped like the API's, e.g. `toolu_01…` (24 random characters)."""
    return f"{prefix}01{secrets.token_hex(11)}"


def error_body(status: int, *, message: str | None = None) -> dict[str, Any]:
    """Return the API's error JSON for `status`, with a default message for the common kinds."""
    kind, default_message = _ERROR_KINDS.get(status, ("api_error", "Internal server error"))
    return {"type": "error", "error": {"type": kind, "message": message or default_message}}


# --- usage estimates -----------------------------------------------------------------------------


def png_size(data_b64: str) -> tuple[int, int] | None:
    """Read a base64 PNG's width and height from its IHDR chunk, without decoding the image."""
    try:
        head = base64.b64decode(data_b64[:32], validate=True)
    except (binascii.Error, ValueError):
        return None
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _raw_tokens(value: object) -> float:
    # The API's rules of thumb: about 4 characters per token, and width*height/750 per image.
    if isinstance(value, str):
        return len(value) / 4
    if isinstance(value, list):
        return sum(_raw_tokens(item) for item in value)
    if not isinstance(value, dict):
        return 0.0
    if value.get("type") == "image":
        size = png_size(str((value.get("source") or {}).get("data", "")))
        return size[0] * size[1] / 750 if size else _UNKNOWN_IMAGE_TOKENS
    return sum(_raw_tokens(item) for key, item in value.items() if key != "cache_control")


def estimate_tokens(value: object) -> int:
    """Estimate the tokens of a request or content: text chars/4, each PNG width*height/750."""
    return math.ceil(_raw_tokens(value))


def _strip(value: object) -> object:
    # A moved breakpoint must not change the prefix it caches, so cache_control is left out.
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "cache_control"}
    return value


def _is_breakpoint(value: object) -> bool:
    return isinstance(value, dict) and bool(value.get("cache_control"))


def _prompt_segments(request: Mapping[str, Any]) -> list[tuple[object, bool]]:
    """The prompt in cache order (tools, system, message blocks), breakpoints marked True."""
    segments = [(_strip(tool), _is_breakpoint(tool)) for tool in request.get("tools") or []]
    system = request.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        segments.append((_strip(block), _is_breakpoint(block)))
    for message in request.get("messages") or []:
        content = message.get("content")
        for block in [content] if isinstance(content, str) else content or []:
            value = {"role": message.get("role"), "block": _strip(block)}
            segments.append((value, _is_breakpoint(block)))
    if request.get("cache_control") and segments:  # automatic caching: a breakpoint at the end
        segments[-1] = (segments[-1][0], True)
    return segments


class PromptCache:
    """Remembers prompt prefixes seen at cache breakpoints, to fill the cache_* usage fields.

    A simplification of the API: a prefix written at a breakpoint is read back by any later request
    that starts with it, and nothing expires.
    """

    def __init__(self, *, min_tokens: int = 1024) -> None:
        self._min_tokens = min_tokens
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, request: Mapping[str, Any]) -> dict[str, int]:
        """Return input_tokens, cache_creation_input_tokens and cache_read_input_tokens."""
        digest, running, marks = hashlib.sha256(), 0.0, []
        for value, is_breakpoint in _prompt_segments(request):
            digest.update(json.dumps(value, sort_keys=True).encode())
            running += _raw_tokens(value)
            marks.append((digest.hexdigest(), math.ceil(running), is_breakpoint))
        total = math.ceil(running) + _TURN_TOKENS
        breakpoints = [
            i for i, (_, tokens, is_bp) in enumerate(marks) if is_bp and tokens >= self._min_tokens
        ]
        if not breakpoints:
            return _usage(input_tokens=max(1, total))
        last = breakpoints[-1]
        with self._lock:
            read = max((t for d, t, _ in marks[: last + 1] if d in self._seen), default=0)
            self._seen.update(marks[i][0] for i in breakpoints)
        prefix = marks[last][1]
        return _usage(input_tokens=total - prefix, created=prefix - read, read=read)


def _usage(*, input_tokens: int, created: int = 0, read: int = 0) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
    }


# --- rendering replies ---------------------------------------------------------------------------


def message_json(reply: Reply, *, model: str, usage: Mapping[str, int]) -> dict[str, Any]:
    """Return the Message the API would send for `reply`, with ids filled in and usage estimated."""
    content = [dict(b) for b in reply.content]
    for block in content:
        if block.get("type") in _TOOL_INPUT_BLOCKS:
            block.setdefault("id", new_id("toolu_"))
            if block["id"] is NO_ID:
                del block["id"]
            block.setdefault("input", {})
    has_tool_use = any(b.get("type") == "tool_use" for b in content)
    output_tokens = max(1, estimate_tokens(json.dumps(content, ensure_ascii=False)))
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason or ("tool_use" if has_tool_use else "end_turn"),
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": output_tokens, **(reply.usage or {})},
    }


def _input_json(block: Block) -> str:
    """A tool block's input as JSON text: its `raw_input` exactly as given, if it has one."""
    raw = block.get(RAW_INPUT)
    if isinstance(raw, str):
        return raw
    return _dumps(block.get("input", {}))


def _dumps(value: object) -> str:
    # Non-ASCII goes out as it is, as the API sends it; a lone surrogate cannot be UTF-8, so a
    # payload carrying one is escaped (`\ud800`), as a hostile JSON text would carry it.
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


def message_bytes(message: Mapping[str, Any]) -> bytes:
    """The JSON body of a (non-streamed) message, with any `raw_input` spliced in as sent."""
    raws: list[str] = []
    content = []
    for block in message.get("content", []):
        if isinstance(block, Mapping) and isinstance(block.get(RAW_INPUT), str):
            marker = f"\u0000raw{len(raws)}\u0000"
            raws.append(block[RAW_INPUT])
            block = {k: v for k, v in block.items() if k != RAW_INPUT} | {"input": marker}
        content.append(block)
    text = _dumps({**message, "content": content})
    for number, raw in enumerate(raws):
        text = text.replace(_dumps(f"\u0000raw{number}\u0000"), raw, 1)
    return text.encode()


def _split(text: str, parts: int) -> list[str]:
    """Cut `text` into about `parts` pieces, so a stream shows up piece by piece."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _start(index: int, block: Block) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: Block) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _block_events(index: int, block: Block, parts: int) -> Iterator[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        yield _start(index, {"type": "text", "text": ""})
        for piece in _split(str(block.get("text", "")), parts):
            yield _delta(index, {"type": "text_delta", "text": piece})
    elif kind in _TOOL_INPUT_BLOCKS:
        # toolset_name and any other keys ride on the start event; only input arrives as deltas.
        start = {k: v for k, v in block.items() if k != RAW_INPUT}
        yield _start(index, {**start, "input": {}})
        for piece in _split(_input_json(block), parts):
            yield _delta(index, {"type": "input_json_delta", "partial_json": piece})
    elif kind == "thinking":
        yield _start(index, {"type": "thinking", "thinking": "", "signature": ""})
        for piece in _split(str(block.get("thinking", "")), parts):
            yield _delta(index, {"type": "thinking_delta", "thinking": piece})
        yield _delta(index, {"type": "signature_delta", "signature": block.get("signature", "")})
    else:
        yield _start(index, block)
    yield {"type": "content_block_stop", "index": index}


def stream_events(message: Mapping[str, Any], *, parts: int = 3) -> Iterator[dict[str, Any]]:
    """Yield the SSE event payloads that stream `message`, in the order the API sends them."""
    usage = dict(message["usage"])
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    yield {"type": "message_start", "message": start}
    yield {"type": "ping"}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block, parts)
    yield {
        "type": "message_delta",
        "usage": usage,
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    yield {"type": "message_stop"}


def encode_event(payload: Mapping[str, Any]) -> bytes:
    """Encode one SSE event; the SDK ignores events whose `event:` line is missing."""
    return f"event: {payload['type']}\ndata: {_dumps(payload)}\n\n".encode()


def _error_bytes(error: Error) -> bytes:
    if error.body is None:
        return json.dumps(error_body(error.status)).encode()
    if isinstance(error.body, bytes):
        return error.body
    if isinstance(error.body, str):
        return error.body.encode()
    return json.dumps(error.body, ensure_ascii=False).encode()


_CUT_REPLY = Reply([{"type": "text", "text": "This reply stops before the connection drops"}])


# --- the server ----------------------------------------------------------------------------------


class FakeMessagesAPI:
    """A fake Messages API on 127.0.0.1 that answers from a script, then from a default policy.

    Args:
        default: answers whenever the script queue is empty, consulted anew for each request;
            without one, such requests get a 500 "fake API script exhausted".
        reply_delay_s: wait this long before each answer, to look like a slow model.
        event_delay_s: wait this long between SSE events, so a demo's streaming is visible.
        stream_parts: how many deltas each streamed text or tool input is cut into.
        cache_min_tokens: the shortest prompt prefix the usage estimate treats as cacheable.
    """

    def __init__(
        self,
        *,
        default: Policy | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        reply_delay_s: float = 0.0,
        event_delay_s: float = 0.0,
        stream_parts: int = 3,
        cache_min_tokens: int = 1024,
    ) -> None:
        self._default = default
        self._address = (host, port)
        self._reply_delay_s = reply_delay_s
        self._event_delay_s = event_delay_s
        self._stream_parts = stream_parts
        self._cache = PromptCache(min_tokens=cache_min_tokens)
        self._script: deque[ScriptItem] = deque()
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeMessagesAPI:
        """Bind the port and serve on a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self._address, fake=self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-messages-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and join every thread this server started."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # cuts reply delays short
        server.shutdown()
        server.close_connections()
        server.server_close()  # joins the handler threads (daemon_threads is off)
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeMessagesAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the SDK, e.g. `http://127.0.0.1:41234`."""
        if self._server is None:
            raise RuntimeError("FakeMessagesAPI is not started; call start() or use it in a with")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # scripting and inspection

    def queue(self, *items: ScriptItem) -> None:
        """Append answers to the script; each request consumes one, first in first out."""
        with self._changed:
            self._script.extend(items)

    @property
    def pending(self) -> int:
        """How many scripted answers are still queued."""
        with self._changed:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._changed:
            return list(self._requests)

    def wait_for_requests(self, count: int, *, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until `count` requests have arrived; raise TimeoutError after `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"got {len(self._requests)} of {count} requests in {timeout}s")
            return list(self._requests)

    # serving (called on handler threads)

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _next_answer(self, request_json: dict[str, Any]) -> Answer:
        with self._changed:
            item: ScriptItem | None = self._script.popleft() if self._script else self._default
        if item is None:
            return Error(500, error_body(500, message="fake API script exhausted"))
        if isinstance(item, _ANSWERS):
            return item
        try:
            answer = item(request_json)
        except Exception as exc:  # a broken policy is a test failure, reported to the client
            log.debug("fake API policy %r failed", item, exc_info=True)
            return Error(500, error_body(500, message=f"fake API policy failed: {exc!r}"))
        if not isinstance(answer, _ANSWERS):
            return Error(500, error_body(500, message=f"fake API policy returned {answer!r}"))
        return answer

    def _serve(self, handler: _Handler, request: RecordedRequest) -> None:
        path = urlsplit(request.path).path
        if request.method != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            handler.send_body(404, json.dumps(error_body(404, message=f"no route {path}")).encode())
            return
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            message = "the body must be a JSON object with a messages list"
            handler.send_body(400, json.dumps(error_body(400, message=message)).encode())
            return
        if path == COUNT_TOKENS_PATH:
            prompt = [body.get("tools"), body.get("system"), body.get("messages")]
            handler.send_body(200, json.dumps({"input_tokens": estimate_tokens(prompt)}).encode())
            return
        answer = self._next_answer(body)
        if self._stopping.wait(self._reply_delay_s):
            handler.drop()  # stopped while "thinking": no answer, as when a server goes away
            return
        self._send_answer(handler, answer, body)

    def _send_answer(self, handler: _Handler, answer: Answer, body: dict[str, Any]) -> None:
        is_stream = body.get("stream") is True
        model = str(body.get("model", "claude-fake"))
        if isinstance(answer, Error):
            if is_stream and answer.in_stream:
                start = message_json(Reply([]), model=model, usage=_usage(input_tokens=1))
                events = [encode_event(next(stream_events(start))), _error_event(answer)]
                handler.send_stream(events, delay=self._event_delay_s, stopping=self._stopping)
            else:
                handler.send_body(answer.status, _error_bytes(answer), headers=answer.headers)
        elif isinstance(answer, Malformed):
            self._send_malformed(handler, answer, is_stream=is_stream, model=model)
        elif isinstance(answer, Broken):
            self._send_broken(handler, answer, is_stream=is_stream, model=model, body=body)
        else:
            message = message_json(answer, model=model, usage=self._cache.usage(body))
            if is_stream:
                events = [encode_event(e) for e in stream_events(message, parts=self._stream_parts)]
                handler.send_stream(events, delay=self._event_delay_s, stopping=self._stopping)
            else:
                handler.send_body(200, message_bytes(message))

    def _send_broken(
        self, handler: _Handler, answer: Broken, *, is_stream: bool, model: str,
        body: dict[str, Any],
    ) -> None:
        message = message_json(answer.reply, model=model, usage=self._cache.usage(body))
        if not is_stream:
            whole = message_bytes(message)
            handler.send_body(200, whole[: len(whole) // 2])
            return
        events = [encode_event(e) for e in stream_events(message, parts=self._stream_parts)]
        events = events[: len(events) - 1 if answer.after is None else answer.after]
        if answer.fault == "error":
            events.append(_error_event(Error(529, answer.error)))
        elif answer.fault == "garbage":
            events.append(b"event: content_block_delta\ndata: {\"type\": \"content_blo\n\n")
        elif answer.fault == "stall":
            handler.send_stream(_stalled(events, self._stopping), delay=0.0,
                                stopping=self._stopping)
            return
        handler.send_stream(events, delay=self._event_delay_s, stopping=self._stopping,
                            cut=answer.fault == "cut")

    def _send_malformed(
        self, handler: _Handler, answer: Malformed, *, is_stream: bool, model: str
    ) -> None:
        if not is_stream:
            handler.send_body(200, answer.body or b'{"id": "msg_cut", "type": "message", "con')
        elif answer.body is not None:
            handler.send_stream([answer.body], delay=0.0, stopping=self._stopping)
        else:
            message = message_json(_CUT_REPLY, model=model, usage=_usage(input_tokens=1))
            events = [encode_event(e) for e in stream_events(message)][: answer.events]
            handler.send_stream(
                events, delay=self._event_delay_s, stopping=self._stopping, cut=True
            )


def _stalled(events: list[bytes], stopping: threading.Event) -> Iterator[bytes]:
    """`events`, then pings until the server stops (or the client hangs up)."""
    yield from events
    ping = encode_event({"type": "ping"})
    while not stopping.wait(0.05):
        yield ping


def _error_event(error: Error) -> bytes:
    payload = error.body if isinstance(error.body, dict) else error_body(error.status)
    return f"event: error\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins handler threads and none outlives stop()
    block_on_close = True

    def __init__(self, address: tuple[str, int], *, fake: FakeMessagesAPI) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closing = False

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)
            if self._closing:
                _shut(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        # Keep-alive handlers block reading the next request; shutting the socket ends that read.
        with self._connections_lock:
            self._closing = True
            for connection in self._connections:
                _shut(connection)

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("fake API handler failed for %s", client_address, exc_info=True)


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked SSE, as the real API
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers, body and each SSE event are separate small writes; with Nagle's algorithm
        # against the client's delayed ACKs each would wait ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("fake API: " + format, *args)

    def do_POST(self) -> None:
        self.server.fake._serve(self, self._read_request())

    def do_GET(self) -> None:
        self.server.fake._serve(self, self._read_request())

    def _read_request(self) -> RecordedRequest:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(self.command, self.path, headers, body, parsed)
        self.server.fake._record(request)
        return request

    def _start(self, status: int, content_type: str, headers: Mapping[str, str] | None) -> None:
        self.send_response(status)
        merged = {"content-type": content_type, "request-id": new_id("req_")}
        merged |= {name.lower(): value for name, value in (headers or {}).items()}
        for name, value in merged.items():
            self.send_header(name, value)

    def send_body(
        self,
        status: int,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        try:
            self._start(status, content_type, headers)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client went away; nothing left to tell it

    def drop(self) -> None:
        self.close_connection = True
        _shut(self.connection)

    def send_stream(
        self,
        events: Iterable[bytes],
        *,
        delay: float,
        stopping: threading.Event,
        cut: bool = False,
        content_type: str = "text/event-stream; charset=utf-8",
    ) -> None:
        try:
            self._start(200, content_type, {"cache-control": "no-cache"})
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for event in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                stopping.wait(delay)
            if cut:  # no closing chunk: the client sees the body end early
                self.drop()
            else:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
