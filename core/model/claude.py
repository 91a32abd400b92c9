"""The only module that talks to the Anthropic SDK: sends a request, streams text, maps errors.

Retries are cua's own, not the SDK's: one budget (`max_retries`) covers an HTTP 429/5xx/529
before the stream starts and every fault after it started (an SSE `error` event, a cut or
undecodable stream, a reply without `message_stop`, tool input that is not valid JSON, a
malformed reply such as a tool-use id that is missing, badly shaped or used twice), with
the SDK's backoff (0.5 s doubling to 8 s, with jitter; `retry-after` honoured up to 60 s).
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..cancel import Cancel
from ..errors import ModelError
from .reply import IncompleteReply, MalformedReply, ModelReply, ReplyBuilder, ToolCall

if TYPE_CHECKING:
    from .providers import Endpoint

__all__ = ["ClaudeClient", "ModelClient", "ModelReply", "ModelRequest", "ToolCall"]

log = logging.getLogger(__name__)

REPLY_DEADLINE_S = 600.0  # one reply, start to message_stop (max_tokens bounds real ones)
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    betas: Sequence[str]
    max_tokens: int


OnRetry = Callable[[int, int, str, float], None]
"""Told before each retry: (retry number from 1, max_retries, what went wrong, delay in s)."""


class ModelClient(Protocol):
    def send(self, request: ModelRequest, *, on_text: Callable[[str], None],
             on_retry: OnRetry | None = None) -> ModelReply: ...


class _Transient(Exception):
    """A fault worth another attempt: what happened, what to do if it persists, how long to wait.

    Internal to this module: `send` either retries it or turns it into a ModelError.
    """

    def __init__(self, what: str, advice: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(what)
        self.what, self.advice, self.retry_after_s = what, advice, retry_after_s


_TRY_LATER = "try again in a few minutes"
_CHECK_NETWORK = "check the network (and ANTHROPIC_BASE_URL if you set it), then run again"
_NOTHING_DONE = ("nothing from it was carried out; run again, and if it keeps happening check "
                 "any proxy between cua and the API (ANTHROPIC_BASE_URL)")


class ClaudeClient:
    """Streams Messages API requests with the official SDK, and retries faults itself."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        endpoint: Endpoint | None = None,
        env: Mapping[str, str] | None = None,
        max_retries: int = 4,
        timeout_s: float = 300.0,
        initial_retry_delay_s: float = INITIAL_RETRY_DELAY_S,
        reply_deadline_s: float = REPLY_DEADLINE_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Imported here: providers -> flavours imports this module's ToolCall.
        from .context import parse_model_id
        from .providers import Endpoint, client_spec

        if endpoint is None:  # the Anthropic API, as before providers existed
            endpoint = Endpoint("anthropic", parse_model_id("anthropic", ""), base_url=base_url)
        # Which SDK client (Anthropic, AnthropicBedrock, AnthropicVertex, AnthropicFoundry) and
        # its arguments; cloud credentials are resolved here, so a missing one fails now.
        spec = client_spec(endpoint, env=env or {}, api_key=api_key)
        import anthropic  # lazy: importing the SDK takes about a second
        import httpx2  # the SDK's HTTP client; a stream cut mid-body surfaces as its error

        self._anthropic = anthropic
        self._transport_errors = (httpx2.HTTPError,)
        self._max_retries = max(0, max_retries)
        self._initial_delay_s = initial_retry_delay_s
        self._reply_deadline_s = reply_deadline_s
        self._sleep = sleep
        self._clock = clock
        self._deadline_stream = _deadline_stream_class(httpx2)
        # The SDK's own retries are off: they cannot see faults after the stream started, and
        # one budget for both kinds is what max_retries promises.
        self._endpoint = spec.endpoint or endpoint
        self._extra_body = spec.extra_body
        self._auth_errors = spec.auth_errors
        client_class = getattr(anthropic, spec.class_name)
        self._client = client_class(**spec.kwargs, max_retries=0, timeout=timeout_s)
        self._streams: list[Any] = []  # the reply being read, for abort

    @property
    def endpoint(self) -> Endpoint:
        """Where requests go, with the region and project the credential chains supplied."""
        return self._endpoint

    def send(self, request: ModelRequest, *, on_text: Callable[[str], None],
             on_retry: OnRetry | None = None) -> ModelReply:
        """Claude's complete reply; retries transient faults (telling `on_retry` before each),
        raises ModelError otherwise."""
        for retry in range(self._max_retries + 1):
            try:
                return self._attempt(request, on_text)
            except _Transient as fault:
                if retry == self._max_retries:
                    raise _gave_up(fault, attempts=retry + 1) from fault
                delay = fault.retry_after_s
                if delay is None:
                    delay = backoff_s(retry, initial_s=self._initial_delay_s)
                log.info("%s; retry %d of %d in %.2f s", fault.what, retry + 1,
                         self._max_retries, delay)
                if on_retry is not None:
                    on_retry(retry + 1, self._max_retries, fault.what, delay)
                self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, request: ModelRequest, on_text: Callable[[str], None]) -> ModelReply:
        builder = ReplyBuilder()
        try:
            stream = self._open(request)
        except (TypeError, ValueError, RecursionError) as exc:  # raised before anything is sent
            raise _error(f"cua could not encode its own request ({_brief(exc)}); this is a bug "
                         "in cua: please report it, with the run folder") from exc
        except Exception as exc:
            raise self._fault(exc, request.model) from exc
        self._bound(stream)
        self._streams.append(stream)
        with stream, _removed_after(self._streams, stream):
            for event in self._events(stream, request.model):
                try:
                    text = builder.add(event)
                except IncompleteReply as exc:
                    raise _incomplete(exc) from exc
                if text:
                    on_text(text)
        try:
            return builder.reply(taken_ids=tool_use_ids(request.messages))
        except IncompleteReply as exc:
            raise _incomplete(exc) from exc

    def _open(self, request: ModelRequest) -> Any:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": request.messages,
            "tools": request.tools,
            "stream": True,
        }
        if self._extra_body:  # e.g. Bedrock's and Vertex's own anthropic_version
            kwargs["extra_body"] = dict(self._extra_body)
        # The older computer tools live in the beta namespace with a beta header; the toolset is
        # generally available and must go through the standard client, with no beta header.
        if request.betas:
            return self._client.beta.messages.create(**kwargs, betas=list(request.betas))
        return self._client.messages.create(**kwargs)

    def _bound(self, stream: Any) -> None:
        """Give the whole reply a deadline: the SDK's timeout is per read, so a server that
        keeps a stream alive with pings (or trickles it) would otherwise hold a run forever."""
        response = getattr(stream, "response", None)
        if response is not None and getattr(response, "stream", None) is not None:
            response.stream = self._deadline_stream(
                response.stream, end=self._clock() + self._reply_deadline_s,
                limit_s=self._reply_deadline_s, clock=self._clock)

    def _events(self, stream: Any, model: str) -> Iterator[dict[str, Any]]:
        """The stream's raw events as dicts; any fault reading them becomes ours."""
        events = iter(stream)
        while True:
            try:
                event = next(events).to_dict(warnings=False)
            except StopIteration:
                return
            except Exception as exc:
                raise self._fault(exc, model) from exc
            yield event

    def _fault(self, exc: Exception, model: str) -> Exception:
        """The error to raise for an SDK or transport failure: _Transient to retry, else final."""
        anthropic = self._anthropic
        if isinstance(exc, ReplyTooSlow):
            return _Transient(str(exc), _TRY_LATER)
        if isinstance(exc, anthropic.APIStatusError):
            return _provider_fault(_status_fault(exc, model), exc, self._endpoint)
        if isinstance(exc, self._auth_errors):  # signing, or fetching a token, failed
            # Imported here: keeps importing this module light (start-up time).
            from .providers import auth_failure

            return _error(auth_failure(self._endpoint, exc))
        if isinstance(exc, anthropic.APIConnectionError):
            return _Transient(f"cannot reach the API ({_brief(exc)})", _CHECK_NETWORK)
        if isinstance(exc, self._transport_errors):
            return _Transient(f"the connection to the API broke mid-reply ({_brief(exc)})",
                              _CHECK_NETWORK)
        if isinstance(exc, ValueError | RecursionError | anthropic.APIError):  # undecodable
            return _Transient(f"the API sent a reply cua could not read ({_brief(exc)})",
                              _NOTHING_DONE)
        return exc  # not the API's fault: a bug, reported as one

    def abort(self) -> None:
        """Stop reading the reply in flight (from another thread: the run was cancelled)."""
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                stream.response.close()

    def close(self) -> None:
        self._client.close()


@contextlib.contextmanager
def _removed_after(streams: list[Any], stream: Any) -> Iterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            streams.remove(stream)


def _provider_fault(fault: Exception, exc: Any, endpoint: Endpoint) -> Exception:
    """On a cloud provider, its own words for the error and the console step that fixes it."""
    if endpoint.provider == "anthropic":
        return fault
    # Imported here: keeps importing this module light (start-up time).
    from .providers import advice_for

    advice = advice_for(endpoint, exc.status_code, _provider_error_text(exc),
                        _provider_error_kind(exc))
    if advice is None:
        return fault
    if isinstance(fault, _Transient):
        what, _, todo = advice.partition("; ")
        return _Transient(what, todo or fault.advice, retry_after_s=fault.retry_after_s)
    return _error(advice)


def _provider_error_text(exc: Any) -> str:
    """The message in a provider's body: {"message"} (Bedrock) or {"error": {"message"}}."""
    body = getattr(exc, "body", None)
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(body.get("message") or body.get("Message") or "")


def _provider_error_kind(exc: Any) -> str:
    """The provider's error type: Bedrock's x-amzn-errortype, Google's status, or the API's."""
    response = getattr(exc, "response", None)
    amzn = response.headers.get("x-amzn-errortype", "") if response is not None else ""
    if amzn:
        return str(amzn).partition(":")[0]
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("status") or error.get("type") or "")
    return ""


class ReplyTooSlow(Exception):
    """The reply stream was still open when its deadline passed."""


@functools.cache
def _deadline_stream_class(httpx2: Any) -> Any:
    """An httpx2 byte stream that ends a response once its deadline has passed."""

    class DeadlineStream(httpx2.SyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, *, end: float, limit_s: float,
                     clock: Callable[[], float]) -> None:
            self._inner, self._end, self._limit_s, self._clock = inner, end, limit_s, clock

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                if self._clock() > self._end:
                    raise ReplyTooSlow(
                        f"the API's reply was not finished after {self._limit_s:g} s")
                yield chunk

        def close(self) -> None:
            self._inner.close()

    return DeadlineStream


def tool_use_ids(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every tool-use id the conversation already holds (a new one must differ from all)."""
    ids: set[str] = set()
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            ids.update(block["id"] for block in content
                       if isinstance(block, Mapping) and block.get("type") == "tool_use"
                       and isinstance(block.get("id"), str))
    return ids


def backoff_s(retry: int, *, initial_s: float = INITIAL_RETRY_DELAY_S,
              rng: Callable[[], float] = random.random) -> float:
    """The wait before retry number `retry` (0-based): the SDK's doubling, capped, with jitter."""
    return min(initial_s * 2.0**retry, MAX_RETRY_DELAY_S) * (1 - 0.25 * rng())


def _incomplete(exc: IncompleteReply) -> _Transient:
    how = "malformed" if isinstance(exc, MalformedReply) else "incomplete"
    return _Transient(f"the API's reply was {how}: {exc}", _NOTHING_DONE)


def _gave_up(fault: _Transient, *, attempts: int) -> ModelError:
    """The final error after the last attempt, worded after what happened."""
    if attempts == 1:
        tried = "; retries are off (max_retries = 0)"
    else:
        tried = f", on all {attempts} attempts"
    raise_it = ("raise max_retries (CUA_MAX_RETRIES, or max_retries in the config file) "
                "to retry for longer")
    return _error(f"{fault.what}{tried}; {fault.advice}, or {raise_it}")


def _error(message: str) -> ModelError:
    """Every ModelError this module raises is made here (one place to redact, if need be)."""
    return ModelError(message)


def _brief(exc: BaseException, limit: int = 200) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# The API's error types and the HTTP status each stands for, to judge an SSE `error` event.
_ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
    "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529,
}


def _is_retryable(status: int, should_retry: str | None) -> bool:
    if should_retry in ("true", "false"):  # the API's own say, as the SDK honours it
        return should_retry == "true"
    return status in (408, 409, 429) or status >= 500


def _status_fault(exc: Any, model: str) -> Exception:
    """Judge an HTTP error, or an SSE `error` event (which the SDK raises with status 200)."""
    kind, message = _error_detail(exc)
    if exc.status_code == 200:
        status = _ERROR_STATUS.get(kind or "", 500)  # an unknown kind: the server's fault
        said = f" ({message})" if message else ""
        if _is_retryable(status, None):
            return _Transient(f"the API reported {kind or 'an error'} mid-reply{said}",
                              _advice_for(status))
        return _error(f"the API stopped its reply with {kind or 'an error'}{said}; it was not "
                      "retried, as it would fail the same way: check the message")
    headers = exc.response.headers
    status = exc.status_code
    if not _is_retryable(status, headers.get("x-should-retry")):
        return _final_status_error(exc, model, kind, message)
    detail = f" ({kind}: {message})" if kind and message else ""
    what = "rate limited (429)" if status == 429 else f"the API answered {status}{detail}"
    if status == 529:
        what = f"the API is overloaded (529){detail}"
    return _Transient(what, _advice_for(status), retry_after_s=_retry_after_s(headers))


def _advice_for(status: int) -> str:
    if status == 429:
        return "wait a minute, or lower the load (fewer parallel runs)"
    return _TRY_LATER


def _retry_after_s(headers: Any) -> float | None:
    """The server's requested wait (retry-after-ms, retry-after), if sane; else None."""
    value: float | None = None
    try:
        if headers.get("retry-after-ms") is not None:
            value = float(headers["retry-after-ms"]) / 1000
        elif headers.get("retry-after") is not None:
            raw = headers["retry-after"]
            try:
                value = float(raw)
            except ValueError:
                when = email.utils.parsedate_to_datetime(raw)
                value = when.timestamp() - time.time()
    except (TypeError, ValueError, OverflowError):
        return None
    if value is None or not 0 < value <= MAX_RETRY_AFTER_S:
        return None
    return value


def _final_status_error(exc: Any, model: str, kind: str | None, message: str | None
                        ) -> ModelError:
    """A message that says what failed and what to do; never includes the key."""
    status = exc.status_code
    if status == 401:
        return _error(
            "the API rejected the credentials (401); check the key in ANTHROPIC_API_KEY")
    if status == 403:
        return _error(
            "the API refused access (403); check the key's workspace and permissions")
    if status == 404:
        return _error(
            f"the API does not know model {model!r} (404); pick another with --model")
    detail = f" ({kind}: {message})" if kind and message else ""
    if status == 413:
        return _error(
            f"the API refused the request as too large (413){detail}; fewer or smaller "
            "screenshots help (--keep-images)")
    if status == 400:
        return _error(f"the API rejected the request (400){detail}; it was not retried, as "
                      "the same request fails the same way: report it as a cua bug, with the "
                      "run folder, unless the message names something you set")
    if _says_no_retry(exc):
        return _error(f"the API answered {status}{detail} and asked not to be retried; "
                      "check the message")
    return _error(f"the API answered {status}{detail}; check the message and your account")


def _says_no_retry(exc: Any) -> bool:
    return bool(exc.response.headers.get("x-should-retry") == "false")


def _error_detail(exc: Any) -> tuple[str | None, str | None]:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind, message = error.get("type"), error.get("message")
            return (kind if isinstance(kind, str) else None,
                    message if isinstance(message, str) else None)
    return None, None


class InterruptibleClient:
    """A model client whose call the run can leave at once when cancelled: the request runs on
    a helper thread while the run's thread waits for it or for the cancellation (a blocking
    socket read cannot be woken from another thread otherwise). A call left behind is told to
    stop (its stream closed), and whatever it still reports is dropped."""

    def __init__(self, client: ModelClient, cancel: Cancel) -> None:
        self._client, self._cancel = client, cancel

    def send(self, request: ModelRequest, *, on_text: Callable[[str], None],
             on_retry: OnRetry | None = None) -> ModelReply:
        cancel = self._cancel
        done = threading.Event()
        left = threading.Event()
        result: list[Any] = []

        def text(piece: str) -> None:
            if not left.is_set():
                on_text(piece)

        def retry(*args: Any) -> None:
            if not left.is_set() and on_retry is not None:
                on_retry(*args)

        def call() -> None:
            try:
                result.append(self._client.send(request, on_text=text, on_retry=retry))
            except BaseException as exc:  # handed to the run's thread, which raises it
                result.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=call, name="cua-model-call", daemon=True)
        with cancel.aborting(self._abort):
            worker.start()
            try:
                cancel.wait_for(done)
            finally:
                if not done.is_set():
                    left.set()
                    self._abort()
        outcome = result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _abort(self) -> None:
        abort = getattr(self._client, "abort", None)
        if abort is not None:
            abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
