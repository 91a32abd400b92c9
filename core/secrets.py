"""Secrets Claude never sees: it writes {{NAME}}, cua types the value.

The value is substituted only in the text handed to the desktop at the moment of typing.
Everything that leaves the run goes through a `Redactor` (core/redact.py) that knows every
encoding of every value (the --secret values, and the API credentials in the environment):
`guard_client` redacts each request before it is sent and each reply and streamed piece as it
comes back (so tool inputs, and the errors that quote them, carry placeholders only), and
`guard_sink` redacts every event before the recorder or a view sees it. The cli adds the last
nets, at the terminal and in files it writes itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import TYPE_CHECKING, Any

from .config_file import env_text
from .errors import ConfigError, CuaError
from .redact import Redactor, StreamRedactor

if TYPE_CHECKING:
    from .claude import ModelClient, ModelReply, ModelRequest, OnRetry
    from .events import EventSink
    from .gate import Approver

# Credentials cua or the SDKs read from the environment: never typed, always redacted.
CREDENTIAL_VARS = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_FOUNDRY_API_KEY",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK",
    "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "GOOGLE_API_KEY",
)
# A credential shorter than this is not redacted: it would blank out ordinary words.
_MIN_CREDENTIAL = 6

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def placeholder(name: str) -> str:
    return "{{" + name + "}}"


@dataclass(frozen=True, slots=True)
class Secret:
    name: str
    value: str = field(repr=False)

    def __str__(self) -> str:
        return placeholder(self.name)


@dataclass(frozen=True, slots=True)
class Secrets:
    items: tuple[Secret, ...] = ()
    # Values to redact that Claude may not type: (variable name, value) of credentials.
    credentials: tuple[Secret, ...] = field(default=(), repr=False)
    redactor: Redactor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = [(s.value, placeholder(s.name)) for s in self.items]
        pairs += [(c.value, f"[redacted ${c.name}]") for c in self.credentials]
        object.__setattr__(self, "redactor", Redactor(pairs))

    @classmethod
    def from_specs(cls, specs: Iterable[str], env: Mapping[str, str],
                   credential_vars: Iterable[str] = CREDENTIAL_VARS) -> Secrets:
        """`NAME` takes the value of $NAME; `NAME=VAR` takes it from $VAR. The credentials
        in `credential_vars` that `env` sets are redacted too."""
        items: dict[str, Secret] = {}
        for spec in specs:
            name, _, var = spec.partition("=")
            var = var or name
            for what, text in (("name", name), ("variable", var)):
                if not _NAME.fullmatch(text):
                    raise ConfigError(
                        f"--secret {spec!r}: the {what} {text!r} must be letters, digits and "
                        "underscores, not starting with a digit. Example: --secret PASSWORD "
                        "or --secret PASSWORD=VENDOR_PORTAL_PASSWORD")
            value = env_text(var, env.get(var, ""))
            if not value:
                raise ConfigError(
                    f"--secret {spec}: the environment variable {var} is not set or is empty; "
                    f"export {var}=... before running cua")
            if name in items:
                raise ConfigError(f"--secret {name} is given twice")
            items[name] = Secret(name, value)
        credentials = tuple(Secret(var, env[var]) for var in credential_vars
                            if len(env.get(var, "").strip()) >= _MIN_CREDENTIAL)
        return cls(tuple(items.values()), credentials)

    @classmethod
    def credentials_only(cls, env: Mapping[str, str],
                         credential_vars: Iterable[str] = CREDENTIAL_VARS) -> Secrets:
        """No --secret values, only the credentials `env` sets, to redact."""
        return cls.from_specs((), env, credential_vars)

    def __bool__(self) -> bool:
        """Whether anything needs redacting."""
        return bool(self.items or self.credentials)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.items)

    def used_in(self, text: str) -> frozenset[str]:
        """Names whose placeholder appears in `text`."""
        return frozenset(s.name for s in self.items if placeholder(s.name) in text)

    def substitute(self, text: str) -> str:
        """`text` with every known placeholder replaced by its value; for the desktop only."""
        for s in self.items:
            text = text.replace(placeholder(s.name), s.value)
        return text

    def redact(self, text: str) -> str:
        """`text` with every value, in any encoding, replaced by its placeholder."""
        return self.redactor.redact(text)

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like `data` with every string redacted (see Redactor.redact_data)."""
        return self.redactor.redact_data(data)

    def redact_object(self, obj: Any) -> Any:
        """A copy of a dataclass (an event, an approval request) with every field redacted."""
        if not self.redactor:
            return obj
        return _redact_object(obj, self.redactor)

    def guard_client(self, client: ModelClient) -> ModelClient:
        """`client`, with everything sent redacted and everything received redacted."""
        return GuardedClient(client, self.redactor) if self.redactor else client

    def guard_sink(self, sink: EventSink) -> EventSink:
        """`sink`, fed only redacted events."""
        if not self.redactor:
            return sink
        return lambda event: sink(self.redact_object(event))

    def guard_approver(self, approver: Approver) -> Approver:
        """`approver`, shown only redacted approval requests."""
        if not self.redactor:
            return approver
        return lambda request: approver(self.redact_object(request))

    def prompt_text(self) -> str:
        """What the system prompt says about secrets: names only."""
        if not self.items:
            return ""
        names = ", ".join(placeholder(n) for n in self.names)
        return (
            f"Secrets you can type without seeing them: {names}. Where one belongs, type its "
            "placeholder exactly as written (for example in the text of a `type` action); cua "
            "replaces it with the real value as it types. You will never see the values; do "
            "not try to read them back from the screen or type them anywhere the task does not "
            "need them."
        )


def _redact_object(obj: Any, redactor: Redactor) -> Any:
    """Dataclasses (events, typed records), and containers of them, with every string
    redacted; image payloads and bytes left as they are."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return replace(obj, **{f.name: _redact_object(getattr(obj, f.name), redactor)
                               for f in fields(obj) if f.init})
    if isinstance(obj, str):
        return redactor.redact_data(obj)
    if isinstance(obj, tuple):
        return tuple(_redact_object(x, redactor) for x in obj)
    if isinstance(obj, list):
        return [_redact_object(x, redactor) for x in obj]
    if isinstance(obj, dict):
        if obj.get("type") == "base64" and isinstance(obj.get("data"), str):
            return redactor.redact_data(obj)
        return {_redact_object(k, redactor): _redact_object(v, redactor) for k, v in obj.items()}
    return obj


class GuardedClient:
    """A ModelClient whose requests, replies, streamed text and errors are all redacted.

    Redacting the reply at this boundary means no tool input carries a value into the loop:
    an action error that quotes its input (`unknown key ...`) can only quote a placeholder.
    """

    def __init__(self, client: ModelClient, redactor: Redactor) -> None:
        self.client, self.redactor = client, redactor

    def send(self, request: ModelRequest, *, on_text: Callable[[str], None],
             on_retry: OnRetry | None = None) -> ModelReply:
        from .claude import ToolCall

        r = self.redactor
        safe = replace(request, system=r.redact_data(request.system),
                       messages=r.redact_data(request.messages), tools=r.redact_data(request.tools))
        stream = StreamRedactor(r, on_text)
        try:
            told = None if on_retry is None else (
                lambda n, of, what, delay: on_retry(n, of, r.redact(what), delay))
            reply = self.client.send(safe, on_text=stream.feed, on_retry=told)
        except CuaError as exc:
            message = str(exc)
            if not r.found(message):
                raise
            raise type(exc)(r.redact(message)) from None
        stream.flush()
        calls = tuple(ToolCall(r.redact_data(c.id), r.redact_data(c.name),
                               r.redact_data(c.input),
                               None if c.toolset_name is None else r.redact_data(c.toolset_name))
                      for c in reply.tool_calls)
        return replace(reply, content=r.redact_data(reply.content), text=r.redact(reply.text),
                       tool_calls=calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
