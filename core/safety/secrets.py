"""Secrets Claude never sees: it writes {{NAME}}, cua types the value.

The value is substituted only in the text handed to the desktop at the moment of typing.
Everything that leaves the run goes through a `Redactor` (below) that knows every
encoding of every value (the --secret values, and the API credentials in the environment):
`guard_client` redacts each request before it is sent and each reply and streamed piece as it
comes back (so tool inputs, and the errors that quote them, carry placeholders only), and
`guard_sink` redacts every event before the recorder or a view sees it. The cli adds the last
nets, at the terminal and in files it writes itself.

Finding a secret value in text in any encoding it can take on the way out, and hiding it.

A value leaves cua in more shapes than itself: inside JSON (`\\"`, `\\\\`, `\\u00e9` when the
writer escapes non-ASCII), in a Python `repr` (an error message quoting the input, a traceback),
percent-encoded in a URL, as base64 (say an `Authorization: Basic` header quoted back, where the
value sits at any byte offset of a larger blob), HTML-escaped (a report), or as hex. `Redactor`
knows every such form of each value and replaces it with the value's placeholder. It works on
plain text (`redact`), on JSON-like data (`redact_data`, checking each string also as JSON will
serialise it), and on text that arrives in pieces (`StreamRedactor`), so a value split across two
streamed chunks is still caught.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, quote_plus

from ..config_file import env_text
from ..errors import ConfigError, CuaError

if TYPE_CHECKING:
    from ..model.claude import ModelClient, ModelReply, ModelRequest, OnRetry
    from ..vocab.events import EventSink

# Whatever an approver is asked and answers: secrets only redacts the request on its way in.
_Request = TypeVar("_Request")
_Answer = TypeVar("_Answer")

# -- finding a value in any encoding, and hiding it ---------------------------------------------

# Forms shorter than this are not searched for: a two-character "secret" would blank out text.
_MIN_FORM = 3
# Fewer known bits than this make a base64 pattern match random text too often.
_MIN_BASE64_BITS = 24


def _repr_inner(value: str | bytes, *, escape_single: bool) -> str:
    """The text between the quotes of `repr(value)`, inside a repr whose quote is `'`
    (escape_single) or `"` (a string holding `'` but no `"`)."""
    both = value + ("'\"" if isinstance(value, str) else b"'\"")
    inner = repr(both)[1:-1] if isinstance(value, str) else repr(both)[2:-1]
    inner = inner[: -len("\\'\"")]  # repr of both quotes, `'` escaped: \'"
    return inner if escape_single else inner.replace("\\'", "'")


def _ascii_inner(value: str, *, escape_single: bool) -> str:
    inner = ascii(value + "'\"")[1:-1][: -len("\\'\"")]
    return inner if escape_single else inner.replace("\\'", "'")


def _json_inner(value: str, *, ensure_ascii: bool) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]


def _hex_case_variants(text: str, pattern: str, prefix: int = 2) -> set[str]:
    """`text` with the hex digits of its escapes (after `prefix` characters such as `\\u`)
    in lower and in upper case."""
    escape = re.compile(pattern)
    return {text, escape.sub(lambda m: m.group()[:prefix] + m.group()[prefix:].lower(), text),
            escape.sub(lambda m: m.group()[:prefix] + m.group()[prefix:].upper(), text)}


def text_forms(value: str) -> set[str]:
    """Every literal form of `value` worth searching for: raw, its Unicode normal forms, JSON-
    escaped, repr/ascii (both quote styles), bytes repr, URL-encoded, HTML-escaped, hex; and the
    JSON and repr escapes of those (an error message quoting a repr, inside a JSON record)."""
    raw = {value} | {unicodedata.normalize(f, value) for f in ("NFC", "NFD", "NFKC", "NFKD")}
    first: set[str] = set(raw)
    for v in raw:
        for ensure in (False, True):
            first |= _hex_case_variants(_json_inner(v, ensure_ascii=ensure), r"\\u[0-9a-fA-F]{4}")
        for single in (False, True):
            first.add(_repr_inner(v, escape_single=single))
            first |= _hex_case_variants(_ascii_inner(v, escape_single=single),
                                        r"\\[xuU][0-9a-fA-F]+")
            first.add(_repr_inner(v.encode("utf-8", "surrogatepass"), escape_single=single))
        for encoded in (quote(v, safe=""), quote(v, safe="/"), quote_plus(v, safe=""),
                        quote_plus(v, safe="/")):
            first |= _hex_case_variants(encoded, r"%[0-9a-fA-F]{2}", prefix=1)
        first |= {html.escape(v, quote=True), html.escape(v, quote=False),
                  html.escape(v).replace("&#x27;", "&#39;")}
        data = v.encode("utf-8", "surrogatepass")
        if len(data) >= 4:
            first |= {data.hex(), data.hex().upper()}
    forms = set(first)
    for form in first:  # one more layer: a quoted form inside JSON or a repr
        forms.add(_json_inner(form, ensure_ascii=False))
        forms.add(_json_inner(form, ensure_ascii=True))
        forms.add(_repr_inner(form, escape_single=True))
        forms.add(_repr_inner(form, escape_single=False))
    return {f for f in forms if len(f) >= min(_MIN_FORM, len(value))}


_ALPHABETS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
)


def _char_class(chars: Iterable[str]) -> str:
    chars = sorted(set(chars))
    return re.escape(chars[0]) if len(chars) == 1 else "[" + "".join(
        re.escape(c) for c in chars) + "]"


def base64_patterns(data: bytes) -> list[str]:
    """Regexes for `data` base64-encoded at each of the three byte offsets it can have inside a
    larger blob, in the standard and URL-safe alphabets. Characters that mix bits of `data` with
    bits of its unknown neighbours become a class of the characters those bits allow."""
    if len(data) * 8 < _MIN_BASE64_BITS:
        return []
    patterns = []
    bits = "".join(f"{b:08b}" for b in data)
    for offset in range(3):  # bytes of unknown data before `data`
        lead = 8 * offset
        known = "?" * lead + bits
        known += "?" * (-len(known) % 6)
        for alphabet in _ALPHABETS:
            parts = []
            for i in range(0, len(known), 6):
                chunk = known[i:i + 6]
                if set(chunk) == {"?"}:
                    continue
                allowed = [alphabet[n] for n in range(64) if all(
                    k in ("?", bit) for k, bit in zip(chunk, f"{n:06b}", strict=True))]
                parts.append(_char_class(allowed))
            patterns.append("".join(parts))
    return patterns


@dataclass(frozen=True, slots=True)
class _Entry:
    placeholder: str
    pattern: re.Pattern[str]
    longest: int  # the longest text the pattern can match, for streams


def _entry(value: str, placeholder: str) -> _Entry:
    literals = sorted(text_forms(value), key=len, reverse=True)
    b64 = base64_patterns(value.encode("utf-8", "surrogatepass"))
    alternatives = [re.escape(f) for f in literals] + b64
    longest = max([len(f) for f in literals] + [len(value.encode("utf-8", "surrogatepass")) * 2])
    return _Entry(placeholder, re.compile("|".join(alternatives)), longest)


class Redactor:
    """Replaces each value, in every form in `text_forms` and `base64_patterns`, with its
    placeholder. Longer values go first, so a value that contains another is replaced whole."""

    def __init__(self, values: Iterable[tuple[str, str]]) -> None:
        """`values`: (value, placeholder) pairs; empty values are ignored."""
        pairs = sorted({(v, p) for v, p in values if v}, key=lambda vp: len(vp[0]), reverse=True)
        self._entries = tuple(_entry(v, p) for v, p in pairs)
        self.longest = max((e.longest for e in self._entries), default=0)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"Redactor({len(self._entries)} values)"

    def found(self, text: str) -> list[str]:
        """The placeholders of the values found in `text` in any form."""
        return [e.placeholder for e in self._entries if e.pattern.search(text)]

    def redact(self, text: str) -> str:
        for entry in self._entries:
            text = entry.pattern.sub(entry.placeholder.replace("\\", "\\\\"), text)
        return text

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like `data` with every string (keys too) redacted, also as it will
        read once serialised; base64 image payloads pass as they are (they are pixels, and a
        short value could occur in one by chance)."""
        if not self._entries:
            return data
        return self._walk(data)

    def _walk(self, data: Any) -> Any:
        if isinstance(data, str):
            return self._leaf(data)
        if isinstance(data, list | tuple):
            return [self._walk(x) for x in data]
        if isinstance(data, dict):
            if data.get("type") == "base64" and isinstance(data.get("data"), str):
                return {k: (v if k == "data" else self._walk(v)) for k, v in data.items()}
            return {self._leaf(k) if isinstance(k, str) else k: self._walk(v)
                    for k, v in data.items()}
        return data

    def _leaf(self, text: str) -> str:
        text = self.redact(text)
        # Serialising can make a value appear that the text only held decoded: a value `a\"b`
        # shows up when the text `a"b` is written as JSON. Redact the serialised form too.
        for ensure_ascii in (False, True):
            serialised = json.dumps(text, ensure_ascii=ensure_ascii)
            cleaned = self.redact(serialised)
            if cleaned != serialised:
                try:
                    text = json.loads(cleaned)
                except ValueError:  # the match cut an escape in half: keep only placeholders
                    text = " ".join(self.found(serialised))
                if not isinstance(text, str):
                    text = " ".join(self.found(serialised))
        return text

    def dumps(self, data: Any, **kwargs: Any) -> str:
        """json.dumps of `data`, redacted."""
        return json.dumps(self.redact_data(data), **kwargs)


class StreamRedactor:
    """Redacts text that arrives in pieces: holds back just enough of the end to catch a value
    split across two pieces, and passes the rest on at once."""

    def __init__(self, redactor: Redactor, emit: Callable[[str], None]) -> None:
        self.redactor, self.emit = redactor, emit
        self.pending = ""

    def feed(self, piece: str) -> None:
        if not self.redactor:
            self.emit(piece)
            return
        self.pending = self.redactor.redact(self.pending + piece)
        hold = self.redactor.longest - 1
        ready, self.pending = (self.pending[:-hold], self.pending[-hold:]) if hold else (
            self.pending, "")
        if ready:
            self.emit(ready)

    def flush(self) -> None:
        if self.pending:
            rest, self.pending = self.redactor.redact(self.pending), ""
            self.emit(rest)


# -- secrets -----------------------------------------------------------------------------------

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

    def guard_approver(self, approver: Callable[[_Request], _Answer]
                       ) -> Callable[[_Request], _Answer]:
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
        # Imported here: keeps importing this module light (start-up time).
        from ..model.claude import ToolCall

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
