"""Counted nouns for messages: `1 step`, `2 steps`, never `1 steps`."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun plural unless the count is one: counted(1, "step")."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
