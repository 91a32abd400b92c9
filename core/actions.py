"""Computer-tool actions: parse what Claude asked for, map it to screen pixels, perform it.

`parse_action` checks the input against the flavour's action set and turns model-space
coordinates into screen pixels through `ScreenSpace`; anything Claude can fix raises ActionError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .desktop import Button, Desktop, ScrollDirection
from .errors import ActionError
from .screen import ScreenSpace


@dataclass(frozen=True, slots=True)
class Target:
    """A point as Claude named it (model space) and where it lands on the screen."""

    api: tuple[int, int]
    screen: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Key:
    chord: str
    repeat: int = 1


@dataclass(frozen=True, slots=True)
class HoldKey:
    chord: str
    seconds: float


@dataclass(frozen=True, slots=True)
class TypeText:
    text: str


@dataclass(frozen=True, slots=True)
class MouseMove:
    at: Target


@dataclass(frozen=True, slots=True)
class Click:
    at: Target | None
    button: Button = "left"
    count: int = 1
    modifiers: str | None = None


@dataclass(frozen=True, slots=True)
class Drag:
    start: Target | None
    end: Target
    modifiers: str | None = None


@dataclass(frozen=True, slots=True)
class MouseButton:
    at: Target | None
    is_down: bool


@dataclass(frozen=True, slots=True)
class Scroll:
    at: Target | None
    direction: ScrollDirection
    amount: int
    modifiers: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class Screenshot:
    pass


@dataclass(frozen=True, slots=True)
class CursorPosition:
    pass


@dataclass(frozen=True, slots=True)
class Zoom:
    region: tuple[int, int, int, int]


Action = (
    Key | HoldKey | TypeText | MouseMove | Click | Drag | MouseButton | Scroll | Wait
    | Screenshot | CursorPosition | Zoom
)

ActionName = Literal[
    "key", "hold_key", "type", "cursor_position", "mouse_move", "left_mouse_down",
    "left_mouse_up", "left_click", "left_click_drag", "right_click", "middle_click",
    "double_click", "triple_click", "scroll", "wait", "screenshot", "zoom",
]

_CLICKS: dict[str, tuple[Button, int]] = {
    "left_click": ("left", 1),
    "right_click": ("right", 1),
    "middle_click": ("middle", 1),
    "double_click": ("left", 2),
    "triple_click": ("left", 3),
}
MAX_WAIT_S = 60
MAX_REPEAT = 100
MAX_SCROLL = 50


def parse_action(
    name: str,
    tool_input: Mapping[str, Any],
    *,
    allowed: frozenset[str],
    space: ScreenSpace,
    clicks_take_coordinate: bool = True,
) -> Action:
    """Turn one computer-tool call into an Action, or raise ActionError saying what is wrong."""
    if name not in allowed:
        raise ActionError(
            f"unknown action {name!r}; this tool version supports: {', '.join(sorted(allowed))}"
        )
    if name in _CLICKS:
        button, count = _CLICKS[name]
        at = _optional_target(tool_input, "coordinate", space) if clicks_take_coordinate else None
        return Click(at, button, count, _modifiers(tool_input))
    return _PARSERS[name](tool_input, space)


def _key(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    repeat = inp.get("repeat", 1)
    return Key(_text(inp, "text"), _int_in(repeat, "repeat", 1, MAX_REPEAT))


def _hold_key(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    return HoldKey(_text(inp, "text"), _seconds(inp, "duration"))


def _type(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    return TypeText(_text(inp, "text", allow_empty=True))


def _mouse_move(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    return MouseMove(_target(inp, "coordinate", space))


def _drag(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    start = _optional_target(inp, "start_coordinate", space)
    return Drag(start, _target(inp, "coordinate", space), _modifiers(inp))


def _mouse_down(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    return MouseButton(_optional_target(inp, "coordinate", space), is_down=True)


def _mouse_up(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    return MouseButton(_optional_target(inp, "coordinate", space), is_down=False)


def _scroll(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    direction = inp.get("scroll_direction")
    if direction not in ("up", "down", "left", "right"):
        raise ActionError(f"scroll_direction must be up, down, left or right, not {direction!r}")
    amount = _int_in(inp.get("scroll_amount", 3), "scroll_amount", 0, MAX_SCROLL)
    at = _optional_target(inp, "coordinate", space)
    return Scroll(at, direction, amount, _modifiers(inp))


def _wait(inp: Mapping[str, Any], _: ScreenSpace) -> Action:
    return Wait(_seconds(inp, "duration"))


def _zoom(inp: Mapping[str, Any], space: ScreenSpace) -> Action:
    region = inp.get("region")
    if not (isinstance(region, list | tuple) and len(region) == 4):
        raise ActionError(f"zoom needs region [x0, y0, x1, y1], got {region!r}")
    top = max(space.model_w, space.model_h)
    x0, y0, x1, y1 = (_int_in(v, "region value", 0, top) for v in region)
    if x1 > space.model_w or y1 > space.model_h or x0 >= x1 or y0 >= y1:
        raise ActionError(
            f"zoom region {list(region)} must satisfy 0 <= x0 < x1 <= {space.model_w} and "
            f"0 <= y0 < y1 <= {space.model_h}"
        )
    return Zoom((x0, y0, x1, y1))


_PARSERS = {
    "key": _key,
    "hold_key": _hold_key,
    "type": _type,
    "mouse_move": _mouse_move,
    "left_click_drag": _drag,
    "left_mouse_down": _mouse_down,
    "left_mouse_up": _mouse_up,
    "scroll": _scroll,
    "wait": _wait,
    "screenshot": lambda _inp, _space: Screenshot(),
    "cursor_position": lambda _inp, _space: CursorPosition(),
    "zoom": _zoom,
}


def _text(inp: Mapping[str, Any], field: str, *, allow_empty: bool = False) -> str:
    value = inp.get(field)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ActionError(f"{field!r} must be a non-empty string, got {value!r}")
    return value


def _modifiers(inp: Mapping[str, Any]) -> str | None:
    value = inp.get("text")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ActionError(f"'text' (the held modifier) must be a string, got {value!r}")
    return value


def _int_in(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ActionError(f"{field} must be a whole number, got {value!r}")
    if not low <= int(value) <= high:
        raise ActionError(f"{field} must be between {low} and {high}, got {value!r}")
    return int(value)


def _seconds(inp: Mapping[str, Any], field: str) -> float:
    value = inp.get(field)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not 0 <= value <= MAX_WAIT_S:
        raise ActionError(f"{field} must be seconds from 0 to {MAX_WAIT_S}, got {value!r}")
    return float(value)


def _target(inp: Mapping[str, Any], field: str, space: ScreenSpace) -> Target:
    value = inp.get(field)
    if value is None:
        raise ActionError(f"this action needs {field} [x, y]")
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ActionError(f"{field} must be [x, y], got {value!r}")
    x, y = (_int_in(v, field, -(2**31), 2**31) for v in value)
    return Target((x, y), space.to_screen(x, y))


def _optional_target(inp: Mapping[str, Any], field: str, space: ScreenSpace) -> Target | None:
    return None if inp.get(field) is None else _target(inp, field, space)


def _xy(target: Target | None) -> tuple[int | None, int | None]:
    return (None, None) if target is None else target.screen


def perform(action: Action, desktop: Desktop) -> None:
    """Carry out an input action on the desktop (not screenshot, zoom, wait or cursor_position)."""
    match action:
        case Key(chord, repeat):
            desktop.key(chord, repeat=repeat)
        case HoldKey(chord, seconds):
            desktop.hold_key(chord, seconds=seconds)
        case TypeText(text):
            desktop.type_text(text)
        case MouseMove(at):
            desktop.move(*at.screen)
        case Click(at, button, count, modifiers):
            desktop.click(*_xy(at), button=button, count=count, modifiers=modifiers)
        case Drag(start, end, modifiers):
            origin = desktop.cursor_position() if start is None else start.screen
            desktop.drag(origin, end.screen, modifiers=modifiers)
        case MouseButton(at, is_down):
            if is_down:
                desktop.mouse_down(*_xy(at))
            else:
                desktop.mouse_up(*_xy(at))
        case Scroll(at, direction, amount, modifiers):
            desktop.scroll(*_xy(at), direction=direction, amount=amount, modifiers=modifiers)
        case _:
            raise TypeError(f"perform() does not handle {action!r}")


def describe(action: Action) -> dict[str, Any]:
    """A JSON-ready description for the live view and the run record."""
    out: dict[str, Any] = {"kind": type(action).__name__}
    for field in action.__dataclass_fields__:
        value = getattr(action, field)
        if isinstance(value, Target):
            out[field] = {"api": list(value.api), "screen": list(value.screen)}
        elif value is not None:
            out[field] = list(value) if isinstance(value, tuple) else value
    return out
