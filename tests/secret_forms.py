"""An independent oracle for the secret tests: the encodings a value can take on its way out, as
bytes to look for in request bodies, files, stdout and stderr. Written separately from
core/safety/secrets.py on purpose (base64 is checked by whole 3-byte groups, not by regex)."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

# Values that break naive redaction: quotes, backslashes, &+/=, non-ASCII, emoji, and mixes.
# Each is at least 8 bytes of UTF-8, so that every base64 alignment has a core of 8 characters.
SECRET_VALUES = (
    'pa"ss\'wo"rd',
    "back\\slash\\\\x",
    "a&b+c/d=e?f%g",
    "Grüße-Straße-ß",
    "🔑pw😀zwj👩‍💻",
    "\\\"'&+/=é😀\\u00e9",
    "tab\there\nnewline",
    "日本語のパスワード",
)


def _b64_cores(data: bytes) -> set[bytes]:
    """The base64 characters fully determined by `data` when it starts at each byte offset of a
    larger blob (whole 3-byte groups only), in both alphabets."""
    out = set()
    for skip in range(3):
        groups = data[skip:]
        groups = groups[: len(groups) - len(groups) % 3]
        if len(groups) >= 3:
            out.add(base64.b64encode(groups))
            out.add(base64.urlsafe_b64encode(groups))
    return out


def forms(value: str) -> dict[str, bytes]:
    """Name → bytes of each encoding of `value` to look for."""
    raw = value.encode()
    found = {
        "raw": raw,
        "json": json.dumps(value, ensure_ascii=False)[1:-1].encode(),
        "json-ascii": json.dumps(value)[1:-1].encode(),
        "json-json": json.dumps(json.dumps(value))[1:-1].encode(),
        "repr": repr(value)[1:-1].encode(),
        "ascii": ascii(value)[1:-1].encode(),
        "bytes-repr": repr(raw)[2:-1].encode(),
        "url": quote(value, safe="").encode(),
        "url-plus": quote_plus(value).encode(),
        "url-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(),
                            quote(value, safe="")).encode(),
        "hex": raw.hex().encode(),
        "html": html.escape(value).encode(),
    }
    for i, core in enumerate(sorted(_b64_cores(raw))):
        found[f"base64-{i}"] = core
    return found


def encoded(value: str, how: str, prefix: str = "user:") -> str:
    """`value` written in the named encoding, for a scripted Claude to send (base64 of
    prefix+value, so the value sits at an offset of a larger blob)."""
    data = (prefix + value).encode()
    return {
        "raw": value,
        "json": json.dumps(value)[1:-1],
        "repr": repr(value),
        "ascii": ascii(value),
        "url": quote(value, safe=""),
        "url-plus": quote_plus(value),
        "base64": base64.b64encode(data).decode(),
        "base64-url": base64.urlsafe_b64encode(b"x" + data).decode(),
        "hex": value.encode().hex(),
        "html": html.escape(value),
    }[how]


ENCODINGS = ("raw", "json", "repr", "ascii", "url", "url-plus", "base64", "base64-url", "hex",
             "html")


def leaks(haystack: bytes, values: tuple[str, ...] = SECRET_VALUES) -> list[str]:
    """'<value> as <form>' for every form of every value found in `haystack`."""
    return [f"{value!r} as {name}" for value in values for name, needle in forms(value).items()
            if needle in haystack]


def leaks_in_tree(root: Path, values: tuple[str, ...] = SECRET_VALUES) -> list[str]:
    return [f"{path}: {leak}" for path in sorted(root.rglob("*")) if path.is_file()
            for leak in leaks(path.read_bytes(), values)]


def hostile(req, action, **tool_input):
    """A computer call in the request's tool shape, with any action name and input at all."""
    from claude_cua.cli.demo.policies import computer_call

    block = computer_call(req, "screenshot")
    if block.get("toolset_name"):
        block["name"], block["input"] = action, tool_input
    else:
        block["input"] = {"action": action, **tool_input}
    return block
