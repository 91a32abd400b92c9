"""Reading the user's TOML files (config, policy) so that any file, however broken, gives one
ConfigError naming the file, the line and what to do: not a regular file, too large, not UTF-8,
not TOML, nested too deeply, or a value of the wrong type."""

from __future__ import annotations

import math
import re
import reprlib
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

MAX_BYTES = 1024 * 1024  # no config or policy file needs more; /dev/zero must not hang cua
MAX_DEPTH = 32  # arrays and tables nested deeper than this are refused before parsing

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 3, 60, 60, 6, 4


def describe(value: object) -> str:
    """A short repr for messages: bounded in length and depth, whatever the value."""
    try:
        text = _repr.repr(value)
    except Exception:  # a value whose repr fails, or nests beyond what repr can walk
        return f"a {type(value).__name__}"
    kind = {dict: "a table ", list: "an array "}.get(type(value), "")
    return kind + (text if len(text) <= 80 else text[:76] + "...")


@dataclass(frozen=True, slots=True)
class TomlFile:
    path: Path
    text: str
    data: dict[str, Any]

    def line_of(self, *keys: str) -> int | None:
        """1-based line where the dotted key `keys` is set (a `[table]` header or `key =`)."""
        return key_line(self.text, keys)

    def where(self, *keys: str) -> str:
        line = self.line_of(*keys) if keys else None
        return f"{self.path}:{line}" if line else str(self.path)


def read_toml(path: Path, *, what: str, is_explicit: bool = True) -> TomlFile | None:
    """Read and parse a TOML file; None when a file that need not exist does not.

    `what` names the file in messages ("config file", "policy file").
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        if is_explicit:
            raise ConfigError(f"{what} {path} does not exist; create it or fix the path") from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path} is not a regular file; point at a TOML file")
    if info.st_size > MAX_BYTES:
        raise ConfigError(f"{what} {path} is {info.st_size} bytes; a {what} is a short TOML "
                          f"text (at most {MAX_BYTES} bytes)")
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    text = _decode(raw, path, what)
    return TomlFile(path, text, _parse(text, path, what))


def _decode(raw: bytes, path: Path, what: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(raw, exc.start)
        raise ConfigError(f"{path}:{line}: the {what} is not UTF-8 text (byte "
                          f"0x{raw[exc.start]:02x} at column {column}); save it as UTF-8") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ConfigError(f"{path}:{line}: the {what} holds a NUL byte, so it is not a TOML "
                          "text file; check the path")
    return text


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    return before.count(b"\n") + 1, offset - (before.rfind(b"\n") + 1) + 1


def _parse(text: str, path: Path, what: str) -> dict[str, Any]:
    deep = _too_deep(text)
    if deep is not None:
        raise ConfigError(f"{path}:{deep}: the {what} nests arrays or tables more than "
                          f"{MAX_DEPTH} levels deep; no setting needs that")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = found.group(1) if found else max(1, text.count("\n") + 1)  # "end of document"
        raise ConfigError(f"{path}:{line}: the {what} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: the {what} nests values too deeply to read") from None


def _too_deep(text: str) -> int | None:
    """The line where brackets or braces outside strings and comments first nest past
    MAX_DEPTH, if they do. A scan of its own, so tomllib never recurses that far."""
    depth, line, i, n = 0, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            end = i + len(quote)
            while end < n and not text.startswith(quote, end):
                end += 2 if text[end] == "\\" and ch == '"' else 1
            line += text.count("\n", i, end)
            i = end + len(quote)
            continue
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def key_line(text: str, keys: tuple[str, ...]) -> int | None:
    """The 1-based line of dotted key `keys` in TOML `text`: best effort, for messages."""
    table: tuple[str, ...] = ()
    found = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.fullmatch(r"\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?", line)
        if header:
            table = _split_key(header.group(1))
            if table == keys[: len(table)] and len(table) == len(keys):
                return number
            continue
        assign = re.match(r"((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
                          r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=", line)
        if assign:
            full = table + _split_key(assign.group(1))
            if full[: len(keys)] == keys:
                return number
            if found is None and full and full == keys[: len(full)]:
                found = number  # an inline table holding the key
    return found


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", dotted)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


# --- values -------------------------------------------------------------------------------------


def whole_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number, not {describe(value)}")
    return value


def number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {describe(value)}")
    return float(value)


def text_value(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text in quotes, not {describe(value)}")
    return value


def table(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table, not {describe(value)}")
    return value


def env_text(var: str, value: str) -> str:
    """An environment value as text; ConfigError if it is not valid UTF-8 (the OS hands such
    bytes to Python as lone surrogates, which nothing downstream can write)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"environment variable {var} is not valid UTF-8 text; set it again "
                          "in a UTF-8 locale") from None
    return value


def header_credential(var: str, value: str | None) -> str | None:
    """A credential that goes into an HTTP header: printable ASCII without spaces. The message
    never shows the value."""
    if value and not re.fullmatch(r"[\x21-\x7e]+", value):
        raise ConfigError(f"environment variable {var} holds characters an HTTP header cannot "
                          "carry (spaces, control characters or non-ASCII); set it to the key "
                          "exactly as issued (its value is not shown)")
    return value
