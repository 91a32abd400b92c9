"""How every `cua` command's --help reads: one command class for all of them.

typer's defaults print a required argument as `{TASK}`, an option without a metavar as `<str>`
or `<int range>`, a default given as text as `(50)` and a minimum as `x>=1`. Here an argument
reads `TASK`, an option's value is named (`--model MODEL`, `--max-steps N`) and a default reads
`[default: 50]`; bounds are checked (and explained) where the settings are validated.
"""

from __future__ import annotations

from typing import Any

from typer._click import types as click_types
from typer.core import TyperCommand, TyperOption

_METAVARS = {"int": "N", "integer": "N", "float": "NUMBER", "int range": "N", "integer range": "N",
             "float range": "NUMBER"}


class CuaCommand(TyperCommand):
    """A typer command whose usage line and options read as plain words."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperOption):
                _polish(param)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # A bound still holds (click refuses 0 for a minimum of 1, naming the range); --help
        # alone does not print it as `x>=1`.
        ranges = list({id(p.type): p.type for p in self.params
                       if isinstance(p.type, click_types._NumberRangeBase)}.values())
        for kind in ranges:
            kind._describe_range = lambda: ""
        try:
            super().format_help(ctx, formatter)
        finally:
            for kind in ranges:
                del kind._describe_range

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_unbraced(piece) for piece in super().collect_usage_pieces(ctx)]


def _unbraced(piece: str) -> str:
    """`{TASK}` (typer's mark of a required argument) → `TASK`."""
    if piece.startswith("{") and piece.endswith("}"):
        return piece[1:-1]
    return piece


def _polish(option: TyperOption) -> None:
    if option.metavar is None and not option.is_flag and not option.count:
        name = getattr(option.type, "name", "")
        option.metavar = _METAVARS.get(name, (option.name or "value").upper())
    if isinstance(option.show_default, str):
        shown = option.show_default
        option.help = f"{option.help or ''}  [default: {shown}]".strip()
        option.show_default = False
    if option.count:
        option.show_default = False

