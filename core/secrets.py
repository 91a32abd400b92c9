"""Secrets Claude never sees: it writes {{NAME}}, cua types the value.

The value is substituted only in the text handed to the desktop at the moment of typing. Anything
else that could carry it (Claude's own words if it reads a value off the screen, error messages,
records) goes through `redact` first, which puts the placeholder back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

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

    @classmethod
    def from_specs(cls, specs: Iterable[str], env: Mapping[str, str]) -> Secrets:
        """`NAME` takes the value of $NAME; `NAME=VAR` takes it from $VAR."""
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
            value = env.get(var, "")
            if not value:
                raise ConfigError(
                    f"--secret {spec}: the environment variable {var} is not set or is empty; "
                    f"export {var}=... before running cua")
            if name in items:
                raise ConfigError(f"--secret {name} is given twice")
            items[name] = Secret(name, value)
        return cls(tuple(items.values()))

    def __bool__(self) -> bool:
        return bool(self.items)

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
        """`text` with every secret value replaced by its placeholder; longest values first, so
        a value that contains another is not half-replaced."""
        for s in sorted(self.items, key=lambda s: len(s.value), reverse=True):
            if s.value in text:
                text = text.replace(s.value, placeholder(s.name))
        return text

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like `data` with every string redacted, except base64 image payloads
        (a short value could turn up in one by chance, and images are not text)."""
        if not self.items:
            return data
        return self._walk(data)

    def _walk(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, list | tuple):
            return [self._walk(x) for x in data]
        if isinstance(data, dict):
            if data.get("type") == "base64" and "data" in data:
                return data
            return {k: self._walk(v) for k, v in data.items()}
        return data

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
