"""The only module that talks to the Anthropic SDK: sends a request, streams text, maps errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError, ModelError
from .usage import Usage

if TYPE_CHECKING:
    import anthropic


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


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    betas: Sequence[str]
    max_tokens: int


class ModelClient(Protocol):
    def send(self, request: ModelRequest, *, on_text: Callable[[str], None]) -> ModelReply: ...


class ClaudeClient:
    """Streams Messages API requests with the official SDK; retries are the SDK's own."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout_s: float = 300.0,
    ) -> None:
        if not api_key:
            raise ConfigError(
                "ANTHROPIC_API_KEY is not set; export your API key in that variable "
                "(or try `cua demo`, which needs no key)"
            )
        import anthropic  # lazy: importing the SDK takes about a second
        import httpx2  # the SDK's HTTP client; a stream cut mid-body surfaces as its error

        self._anthropic = anthropic
        self._transport_errors = (httpx2.HTTPError,)
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_s
        )

    def send(self, request: ModelRequest, *, on_text: Callable[[str], None]) -> ModelReply:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": request.messages,
            "tools": request.tools,
        }
        # The older computer tools live in the beta namespace with a beta header; the toolset is
        # generally available and must go through the standard client, with no beta header.
        messages: Any = self._client.messages
        if request.betas:
            kwargs["betas"] = list(request.betas)
            messages = self._client.beta.messages
        try:
            with messages.stream(**kwargs) as stream:
                has_message = False
                for event in stream:
                    if event.type == "text":
                        on_text(event.text)
                    has_message = has_message or event.type == "message_start"
                if not has_message:
                    raise ModelError("the API's reply stream ended before it started a message")
                message = stream.get_final_message()
        except self._anthropic.APIError as exc:
            raise _model_error(exc, self._anthropic, request.model) from exc
        except self._transport_errors as exc:
            raise ModelError(f"the connection to the API broke mid-reply: {exc}") from exc
        except ValueError as exc:  # a body the SDK could not decode (JSON or SSE)
            raise ModelError(f"the API sent a reply cua could not read: {exc}") from exc
        return _reply_from(message)

    def close(self) -> None:
        self._client.close()


def _reply_from(message: anthropic.types.Message | anthropic.types.beta.BetaMessage) -> ModelReply:
    content: list[dict[str, Any]] = []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            toolset = getattr(block, "toolset_name", None)
            tool_input = dict(block.input) if isinstance(block.input, dict) else {}
            calls.append(ToolCall(block.id, block.name, tool_input, toolset))
            entry = {"type": "tool_use", "id": block.id, "name": block.name, "input": tool_input}
            if toolset:
                entry["toolset_name"] = toolset
            content.append(entry)
        else:  # thinking and other blocks go back to the API exactly as they came
            content.append(block.model_dump(mode="json", exclude_none=True))
    usage = message.usage
    return ModelReply(
        content=content,
        text="\n".join(texts),
        tool_calls=tuple(calls),
        stop_reason=message.stop_reason,
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
        ),
    )


def _model_error(exc: Exception, anthropic: Any, model: str) -> ModelError:
    """A message that says what failed and what to do; never includes the key."""
    if isinstance(exc, anthropic.AuthenticationError):
        return ModelError(
            "the API rejected the credentials (401); check the key in ANTHROPIC_API_KEY"
        )
    if isinstance(exc, anthropic.PermissionDeniedError):
        return ModelError("the API refused access (403); check the key's workspace and permissions")
    if isinstance(exc, anthropic.NotFoundError):
        return ModelError(f"the API does not know model {model!r} (404); pick another with --model")
    if isinstance(exc, anthropic.RateLimitError):
        return ModelError("rate limited (429) and retries did not help; wait, or lower the load")
    if isinstance(exc, anthropic.APIStatusError):
        detail = _error_message(exc)
        return ModelError(f"the API answered {exc.status_code}{detail} and retries did not help")
    if isinstance(exc, anthropic.APIConnectionError):
        return ModelError(f"cannot reach the API ({type(exc).__name__}); check the network and "
                          "ANTHROPIC_BASE_URL if you set it")
    return ModelError(f"the API call failed: {type(exc).__name__}: {exc}")


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f" ({error.get('type', 'error')}: {error['message']})"
    return ""
