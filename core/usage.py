"""Token usage as the API reports it, and what it costs (a leaf module: the client, the steps and
the records use it).

Prices are US dollars per million tokens, from Anthropic's pricing and model pages as of
2026-11 (README, "Cost"). A config file can add or override entries:

    [prices."claude-sonnet-5-5"]
    input = 2.0
    output = 10.0
    cache_write = 2.5
    cache_read = 0.1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the API reports them, summed over requests."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
        )

    @property
    def total(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_read_input_tokens
                + self.cache_creation_input_tokens)

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }

    to_dict = as_dict

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Usage:
        data = data or {}
        return cls(*(int(data.get(f.name) or 0) for f in fields(cls)))


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cache_write: float  # 5-minute cache writes, the kind cua's breakpoints create
    cache_read: float

    def cost(self, usage: Usage) -> float:
        """Dollars for this usage."""
        return (usage.input_tokens * self.input + usage.output_tokens * self.output
                + usage.cache_creation_input_tokens * self.cache_write
                + usage.cache_read_input_tokens * self.cache_read) / 1_000_000


# Model-name prefix → price, checked in order, so longer prefixes come first.
PRICES: tuple[tuple[str, Price], ...] = (
    ("claude-fable-5-2", Price(8, 40, 10, 0.20)),
    ("claude-mythos-5-2", Price(8, 40, 10, 0.20)),
    ("claude-fable-5-1", Price(10, 50, 12.50, 0.25)),
    ("claude-mythos-5-1", Price(10, 50, 12.50, 0.25)),
    ("claude-fable-5", Price(10, 50, 12.50, 1.00)),
    ("claude-mythos-5", Price(10, 50, 12.50, 1.00)),
    ("claude-opus-5-5", Price(4, 20, 5, 0.20)),
    ("claude-opus-5", Price(5, 25, 6.25, 0.50)),
    ("claude-opus-4-8", Price(5, 25, 6.25, 0.50)),
    ("claude-opus-4-7", Price(5, 25, 6.25, 0.50)),
    ("claude-opus-4-6", Price(5, 25, 6.25, 0.50)),
    ("claude-opus-4-5", Price(5, 25, 6.25, 0.50)),
    ("claude-opus-4-1", Price(15, 75, 18.75, 1.50)),
    ("claude-opus-4", Price(15, 75, 18.75, 1.50)),
    ("claude-sonnet-5", Price(2, 10, 2.50, 0.20)),
    ("claude-sonnet-4", Price(3, 15, 3.75, 0.30)),
    ("claude-3-7-sonnet", Price(3, 15, 3.75, 0.30)),
    ("claude-haiku-5-5", Price(0.10, 0.50, 0.125, 0.01)),
    ("claude-haiku-4-5", Price(1, 5, 1.25, 0.10)),
)


PRICE_KEYS = ("input", "output", "cache_write", "cache_read")


def parse_price_overrides(table: Mapping[str, Any], *, where: str) -> dict[str, Price]:
    """`[prices."model"]` tables from a config file, checked."""
    if not isinstance(table, Mapping):
        raise ConfigError(f'{where}: prices must be [prices."MODEL"] tables, '
                          f"not {type(table).__name__}")
    out = {}
    for model, entry in table.items():
        if not isinstance(entry, Mapping) or set(entry) != {"input", "output", "cache_write",
                                                             "cache_read"}:
            raise ConfigError(f"{where}: prices.{model} needs exactly input, output, cache_write "
                              "and cache_read (dollars per million tokens)")
        try:
            out[model] = Price(**{k: float(v) for k, v in entry.items()})
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{where}: prices.{model} values must be numbers") from None
    return out


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of a model: an exact override, else the table's prefix match, else None."""
    if overrides and model in overrides:
        return overrides[model]
    for prefix, price in PRICES:
        if model.startswith(prefix):
            return price
    return None
