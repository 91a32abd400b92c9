"""What each recorded action looks like drawn on a screenshot, and as a line of text.

Pure functions of the typed record (core/vocab/record.py): the HTML report and the GIF both draw
these marks, so a click lands on the same pixel in both. Geometry is in the pixels of the image
the marks are drawn on; screen pixels map onto it through `image_point`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..vocab.actions import (
    Click,
    CursorPosition,
    Drag,
    HoldKey,
    Key,
    MouseButton,
    MouseMove,
    Screenshot,
    Scroll,
    TypeText,
    Wait,
    Zoom,
)
from ..vocab.record import ActionRecord, PolicyRecord, StepRecord

Size = tuple[int, int]
PointF = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Mark:
    """One action drawn on a screenshot (image pixels)."""

    number: int  # the action's place in its step, from 1
    kind: str  # click | drag | scroll | move | button | zoom | key | type | wait
    at: PointF | None = None  # where the pointer went (drag: the start)
    to: PointF | None = None  # drag: the end; scroll: the arrow's head
    box: tuple[float, float, float, float] | None = None  # zoom: x0, y0, x1, y1
    label: str = ""  # "left x2", "down 3", the key chord, the typed text
    failed: bool = False  # refused or invalid: drawn, but crossed out


def image_point(screen: tuple[int, int], screen_size: Size, image_size: Size) -> PointF:
    """The centre of screen pixel `screen` on an image of `image_size` showing the whole screen."""
    sw, sh = screen_size
    iw, ih = image_size
    return (screen[0] + 0.5) * iw / sw, (screen[1] + 0.5) * ih / sh


def image_box(region: tuple[int, int, int, int], screen_size: Size,
              image_size: Size) -> tuple[float, float, float, float]:
    """A screen-pixel box (right and bottom exclusive) on the image."""
    sx, sy = image_size[0] / screen_size[0], image_size[1] / screen_size[1]
    x0, y0, x1, y1 = region
    return x0 * sx, y0 * sy, x1 * sx, y1 * sy


_SCROLL_DIRECTION = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def marks_for(step: StepRecord, screen_size: Size, image_size: Size) -> tuple[Mark, ...]:
    """The marks of every action of `step` that did something visible or typed."""
    marks = []
    for number, record in enumerate(step.actions, start=1):
        mark = mark_for(record, number, screen_size, image_size)
        if mark is not None:
            marks.append(mark)
    return tuple(marks)


def mark_for(record: ActionRecord, number: int, screen_size: Size,
             image_size: Size) -> Mark | None:
    """How one action is drawn, or None for one with nothing to draw (a screenshot, a wait)."""
    failed = record.error is not None
    points = [image_point(p, screen_size, image_size) for p in record.points]
    match record.action:
        case Click() as click if points:
            plain = (click.button, click.count, click.modifiers) == ("left", 1, None)
            return Mark(number, "click", points[0], label="" if plain else _click_label(click),
                        failed=failed)
        case Drag() if len(points) == 2:
            return Mark(number, "drag", points[0], points[1], failed=failed)
        case Scroll(direction=direction, amount=amount) if points:
            dx, dy = _SCROLL_DIRECTION.get(direction, (0, 1))
            length = max(image_size) / 16 * min(3.0, 1 + amount / 5)
            x, y = points[0]
            return Mark(number, "scroll", points[0], (x + dx * length, y + dy * length),
                        label=f"{direction} {amount}", failed=failed)
        case MouseMove() if points:
            return Mark(number, "move", points[0], failed=failed)
        case MouseButton(is_down=is_down) if points:
            return Mark(number, "button", points[0], label="down" if is_down else "up",
                        failed=failed)
        case Zoom() if record.region is not None:
            return Mark(number, "zoom", box=image_box(record.region, screen_size, image_size),
                        failed=failed)
        case Key(chord=chord) | HoldKey(chord=chord):
            return Mark(number, "key", label=chord, failed=failed)
        case TypeText(text=text):
            return Mark(number, "type", label=text, failed=failed)
    return None


def _click_label(click: Click) -> str:
    label = f"{click.modifiers}+{click.button}" if click.modifiers else click.button
    return label + (f" x{click.count}" if click.count > 1 else "")


def arrow_head(at: PointF, to: PointF, size: float) -> tuple[PointF, PointF, PointF]:
    """The triangle at the `to` end of an arrow from `at`."""
    angle = math.atan2(to[1] - at[1], to[0] - at[0])
    left = (to[0] - size * math.cos(angle - 0.45), to[1] - size * math.sin(angle - 0.45))
    right = (to[0] - size * math.cos(angle + 0.45), to[1] - size * math.sin(angle + 0.45))
    return to, left, right


def pointer_before(steps: Sequence[StepRecord], index: int) -> tuple[int, int] | None:
    """Where the pointer was (screen pixels) when the screenshot before `steps[index]` was
    taken: the last point any earlier action moved it to, if one did."""
    for step in reversed(steps[:index]):
        for record in reversed(step.actions):
            if record.points and record.error is None:
                return record.points[-1]
    return None


# -- as text ----------------------------------------------------------------------------------


def action_line(record: ActionRecord) -> tuple[str, str | None]:
    """A readable line for one action, and the text it typed (shown apart, as text), if any:
    `("left x2 click at api (714, 402), screen (960, 540)", None)`."""
    action = record.action
    where = _where(action)
    match action:
        case Click():
            return f"{_click_label(action)} click{where}", None
        case Drag():
            return f"drag{where}", None
        case Scroll(direction=direction, amount=amount):
            return f"scroll {direction} {amount}{where}", None
        case MouseMove():
            return f"move the pointer{where}", None
        case MouseButton(is_down=is_down):
            return f"left button {'down' if is_down else 'up'}{where}", None
        case Key(chord=chord, repeat=repeat):
            return f"key {chord}" + (f" x{repeat}" if repeat > 1 else ""), None
        case HoldKey(chord=chord, seconds=seconds):
            return f"hold {chord} for {seconds:g} s", None
        case TypeText(text=text):
            return "type", text
        case Wait(seconds=seconds):
            return f"wait {seconds:g} s", None
        case Zoom(region=region):
            return f"zoom into api {list(region)}", None
        case Screenshot():
            return "screenshot", None
        case CursorPosition():
            return "ask for the cursor position", None
    if record.description is not None:
        return "ask for approval", record.description
    shown = json.dumps(dict(record.input), ensure_ascii=False)
    return f"{record.name or 'unknown'} {shown} (not carried out)", None


def _where(action: object) -> str:
    targets = [getattr(action, name, None) for name in ("at", "start", "end")]
    targets = [t for t in targets if t is not None]
    if not targets:
        return " at the pointer"
    api = " → ".join(f"({t.api[0]}, {t.api[1]})" for t in targets)
    screen = " → ".join(f"({t.screen[0]}, {t.screen[1]})" for t in targets)
    return f" at api {api}, screen {screen}"


def verdict_line(policy: PolicyRecord | None) -> str:
    """What the policy said and who answered: `"ask (rule terminal-command, built-in): ... —
    approved once by terminal"`; "allowed" for a plain allow."""
    if policy is None:
        return "allowed"
    line = f"{policy.decision} (rule {policy.rule}, {policy.source})"
    if policy.reason:
        line += f": {policy.reason}"
    if policy.answer is not None:
        line += f" — answered {policy.answer}"
        if policy.answered_by:
            line += f" by {policy.answered_by}"
    elif policy.answered_by:
        line += f" — {policy.answered_by}"
    return line
