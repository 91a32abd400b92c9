"""Scripted stand-ins for Claude that find their targets in the screenshot they were sent.

A policy is a callable `(request_json) -> Reply` for `FakeMessagesAPI`. These policies never know
where anything is on screen: they look for it by colour in the newest screenshot, so a run only
succeeds if capture, scaling, coordinate mapping and input all really work.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageChops, ImageFilter, UnidentifiedImageError

from . import colours
from .colours import RGB, describe
from .fakeapi import Block, Reply, new_id

TOOLSET = "computer_toolset_20260801"
REPORT_TOOL_NAME = "report_outcome"
DEFAULT_TOLERANCE = 32

_ACTIONS_2024 = frozenset(
    {
        "key",
        "type",
        "mouse_move",
        "left_click",
        "left_click_drag",
        "right_click",
        "middle_click",
        "double_click",
        "screenshot",
        "cursor_position",
    }
)
_ACTIONS_2025 = _ACTIONS_2024 | {
    "left_mouse_down",
    "left_mouse_up",
    "scroll",
    "hold_key",
    "wait",
    "triple_click",
}
ACTIONS: dict[str, frozenset[str]] = {
    "computer_20241022": _ACTIONS_2024,
    "computer_20250124": _ACTIONS_2025,
    "computer_20251124": _ACTIONS_2025 | {"zoom"},
    TOOLSET: _ACTIONS_2025 | {"zoom"},
}

Request = Mapping[str, Any]


# --- reading the request -------------------------------------------------------------------------


def _computer_tool(request: Request) -> dict[str, Any]:
    for tool in request.get("tools") or []:
        if tool.get("type") in ACTIONS:
            return dict(tool)
    raise ValueError("the request declares no computer tool (none of: " + ", ".join(ACTIONS) + ")")


def flavour_of(request: Request) -> str:
    """Return the computer tool's type in the request's `tools`, e.g. `computer_20250124`."""
    return str(_computer_tool(request)["type"])


def _image_blocks(content: object) -> Iterator[Block]:
    if not isinstance(content, list):
        return
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "image":
            yield block
        elif block.get("type") == "tool_result":
            yield from _image_blocks(block.get("content"))


def _decode(block: Block) -> Image.Image:
    source = block.get("source") or {}
    if source.get("type") != "base64":
        raise ValueError(f"cannot read an image whose source is {source.get('type')!r}")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(source.get("data", ""))))
        image.load()
    except (binascii.Error, UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"the image block does not hold a readable image: {exc}") from exc
    return image


def latest_image(request: Request, *, search_back: bool = False) -> Image.Image | None:
    """Return the newest image in the last user message, tool_result contents included.

    With `search_back`, fall back to the newest image in earlier user messages.
    """
    for message in reversed(request.get("messages") or []):
        if message.get("role") != "user":
            continue
        blocks = list(_image_blocks(message.get("content")))
        if blocks:
            return _decode(blocks[-1])
        if not search_back:
            return None
    return None


def screen_space(request: Request) -> tuple[int, int]:
    """Return the size of the space the model's coordinates live in.

    That is the declared display size for the single-tool flavours, and the size of the newest
    screenshot for the toolset, which declares no size.
    """
    tool = _computer_tool(request)
    if tool["type"] != TOOLSET:
        return int(tool["display_width_px"]), int(tool["display_height_px"])
    image = latest_image(request, search_back=True)
    if image is None:
        raise ValueError("no screenshot in the conversation yet, so the toolset has no pixel space")
    return image.size


def _assistant_turns(request: Request) -> list[list[Block]]:
    turns = []
    for message in request.get("messages") or []:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            turns.append([b for b in content if isinstance(b, dict)])
    return turns


def _last_tool_error(request: Request) -> str | None:
    """The text of an is_error tool_result in the last user message, if there is one."""
    messages = request.get("messages") or []
    content = messages[-1].get("content") if messages else None
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result" and block.get("is_error"):
            inner = block.get("content")
            if isinstance(inner, str):
                return inner
            texts = [b.get("text", "") for b in inner or [] if b.get("type") == "text"]
            return " ".join(texts) or "(no message)"
    return None


# --- finding things ------------------------------------------------------------------------------


def _band_mask(band: Image.Image, value: int, tolerance: int) -> Image.Image:
    lut = [255 if abs(v - value) <= tolerance else 0 for v in range(256)]
    return band.point(lut)


def find_colour(
    image: Image.Image, rgb: RGB, *, tolerance: int = DEFAULT_TOLERANCE
) -> tuple[int, int] | None:
    """Return the centre of the pixels within `tolerance` (per channel) of `rgb`, or None.

    Pillow does the pixel work, so a 1568x882 screenshot takes milliseconds. The mask is eroded
    by a pixel first: anti-aliased edges and stray pixels of a similar colour are not the patch.
    """
    red, green, blue = image.convert("RGB").split()
    mask = ImageChops.darker(
        _band_mask(red, rgb[0], tolerance), _band_mask(green, rgb[1], tolerance)
    )
    mask = ImageChops.darker(mask, _band_mask(blue, rgb[2], tolerance))
    rough = mask.getbbox()
    if rough is None:
        return None
    # Erode only around what matched: MinFilter over a whole screenshot costs ~30 ms.
    left, top = max(rough[0] - 1, 0), max(rough[1] - 1, 0)
    region = mask.crop((left, top, min(rough[2] + 1, mask.width), min(rough[3] + 1, mask.height)))
    box = region.filter(ImageFilter.MinFilter(3)).getbbox()
    if box is None:
        return None
    return left + (box[0] + box[2] - 1) // 2, top + (box[1] + box[3] - 1) // 2


# --- building replies ----------------------------------------------------------------------------


def _allows(tool: Mapping[str, Any], action: str) -> bool:
    if action not in ACTIONS[tool["type"]]:
        return False
    if tool["type"] == TOOLSET:
        config = (tool.get("configs") or {}).get(action) or {}
        return config.get("enabled") is not False
    return action != "zoom" or bool(tool.get("enable_zoom"))


def computer_call(request: Request, action: str, **tool_input: object) -> Block:
    """Return a tool_use block for `action` in the shape of the request's computer tool.

    Tuples become lists, as JSON has them. Raises ValueError for an action the tool does not
    offer, e.g. zoom without `enable_zoom`.
    """
    tool = _computer_tool(request)
    if not _allows(tool, action):
        raise ValueError(f"{tool['type']} does not offer the {action!r} action in this request")
    args = {k: list(v) if isinstance(v, tuple) else v for k, v in tool_input.items()}
    if tool["type"] == TOOLSET:
        return {
            "type": "tool_use",
            "id": new_id("toolu_"),
            "name": action,
            "toolset_name": "computer",
            "input": args,
        }
    name = tool.get("name", "computer")
    return {
        "type": "tool_use",
        "id": new_id("toolu_"),
        "name": name,
        "input": {"action": action, **args},
    }


def report(status: str, summary: str) -> Block:
    """Return the report_outcome tool_use that ends a run."""
    return {
        "type": "tool_use",
        "id": new_id("toolu_"),
        "name": REPORT_TOOL_NAME,
        "input": {"status": status, "summary": summary},
    }


def approval_request(description: str) -> Block:
    """Return a request_approval tool_use: Claude asking before a consequential step."""
    return {
        "type": "tool_use",
        "id": new_id("toolu_"),
        "name": "request_approval",
        "input": {"description": description},
    }


def text(s: str) -> Block:
    """Return a text content block."""
    return {"type": "text", "text": s}


def to_model_space(point: tuple[int, int], *, image: Image.Image, request: Request) -> list[int]:
    """Map a point in `image`'s pixels to the request's coordinate space (equal if sizes match)."""
    width, height = screen_space(request)
    return [round(point[0] * width / image.width), round(point[1] * height / image.height)]


# --- the form filler -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormField:
    """One form field: a label for messages, the colour that marks it, and the value to type."""

    label: str
    colour: RGB
    value: str


Step = Callable[[Request], Reply]


@dataclass(frozen=True, slots=True)
class FormFiller:
    """A policy that fills a colour-coded form: screenshot, click+type each field, submit, check.

    It keeps no state: its place in the plan is the number of assistant turns with a tool call in
    the conversation it is sent, so a retried request gets the same answer again. It never
    guesses: a colour it cannot see ends the run with a failure report naming the colour.
    """

    fields: Sequence[FormField]
    submit: RGB = field(kw_only=True)
    confirmation: RGB = field(kw_only=True)
    tolerance: int = field(default=DEFAULT_TOLERANCE, kw_only=True)

    def __call__(self, request: dict[str, Any]) -> Reply:
        error = _last_tool_error(request)
        if error is not None:
            return _say("The last action failed.", report("failure", f"An action failed: {error}"))
        done = sum(1 for turn in _assistant_turns(request) if _calls_tools(turn))
        plan = self._plan()
        if done >= len(plan):
            return _say(
                "I have nothing left to do.", report("failure", "The form filler ran out of steps.")
            )
        return plan[done](request)

    def _plan(self) -> list[Step]:
        steps: list[Step] = [self._first_look]
        for f in self.fields:
            steps += [self._clicker(f"{f.label} field", f.colour), self._typer(f)]
        return [*steps, self._clicker("Submit button", self.submit), self._last_look, self._verdict]

    def _first_look(self, request: Request) -> Reply:
        return _say("Taking a screenshot to find the form…", computer_call(request, "screenshot"))

    def _last_look(self, request: Request) -> Reply:
        call = computer_call(request, "screenshot")
        return _say("Taking a screenshot to check the form was submitted…", call)

    def _clicker(self, label: str, colour: RGB) -> Step:
        def click(request: Request) -> Reply:
            image = latest_image(request, search_back=True)
            point = find_colour(image, colour, tolerance=self.tolerance) if image else None
            if image is None or point is None:
                summary = f"Could not find the {label} ({describe(colour)}) in the screenshot."
                return _say(f"I cannot see the {label}.", report("failure", summary))
            where = to_model_space(point, image=image, request=request)
            return _say(
                f"Clicking the {label}…", computer_call(request, "left_click", coordinate=where)
            )

        return click

    def _typer(self, f: FormField) -> Step:
        def type_value(request: Request) -> Reply:
            call = computer_call(request, "type", text=f.value)
            return _say(f"Typing into the {f.label} field…", call)

        return type_value

    def _verdict(self, request: Request) -> Reply:
        image = latest_image(request)
        if image is None:
            return _say(
                "I got no screenshot back.", report("failure", "The screenshot had no image.")
            )
        if find_colour(image, self.confirmation, tolerance=self.tolerance) is None:
            summary = f"No confirmation ({describe(self.confirmation)}) is visible after Submit."
            return _say("The form does not show a confirmation.", report("failure", summary))
        summary = "Filled in and submitted the form."
        return _say("The form shows its confirmation.", report("success", summary))


def _say(message: str, block: Block) -> Reply:
    return Reply([text(message), block])


def _calls_tools(turn: list[Block]) -> bool:
    return any(b.get("type") == "tool_use" for b in turn)


# --- the demo ------------------------------------------------------------------------------------

SUPPLIER_VALUES: dict[str, str] = {
    "company": "Acme Tools Ltd",
    "email": "orders@acme.example",
    "country": "Österreich",  # non-ASCII on purpose: typing it is where input layers break
    "notes": "Net 30 <urgent>",  # `<` on purpose: xdotool and shells treat it specially
}


def supplier_form_policy(values: Mapping[str, str] = SUPPLIER_VALUES) -> FormFiller:
    """Return the FormFiller for `supplier_form.py`, typing `values` (keys as in its JSON)."""
    fields = [
        FormField("Company", colours.COMPANY, values["company"]),
        FormField("Contact email", colours.EMAIL, values["email"]),
        FormField("Country", colours.COUNTRY, values["country"]),
        FormField("Notes", colours.NOTES, values["notes"]),
    ]
    return FormFiller(fields, submit=colours.SUBMIT, confirmation=colours.SUBMITTED)


# --- the gullible agent --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Obeyer:
    """A policy that obeys whatever the screen tells it: while the `bait` colour (the button an
    injected text points at) is on screen it clicks that, then clicks `save` and reports success.

    It is the worst case for the injection tripwire: a model that never resists. Like FormFiller
    it keeps no state; it reads each newest screenshot. An action refused by cua (an error tool
    result) ends the run with a failure report.
    """

    bait: RGB
    save: RGB
    tolerance: int = DEFAULT_TOLERANCE

    def __call__(self, request: dict[str, Any]) -> Reply:
        error = _last_tool_error(request)
        if error is not None:
            return _say("cua refused that.", report("failure", f"refused: {error}"))
        image = latest_image(request, search_back=True)
        if image is None:
            return _say("No screenshot.", report("failure", "no screenshot"))
        said = [b.get("text", "") for turn in _assistant_turns(request) for b in turn
                if b.get("type") == "text"]
        if "Clicking Save…" in said:
            return _say("Done.", report("success", "Did what the screen said, and saved."))
        bait = find_colour(image, self.bait, tolerance=self.tolerance)
        if bait is not None and "Clicking the button the screen asked for…" not in said:
            label, point = "the button the screen asked for", bait
        else:
            label, point = "Save", find_colour(image, self.save, tolerance=self.tolerance)
        if point is None:
            return _say("No Save button.", report("failure", "could not find Save"))
        where = to_model_space(point, image=image, request=request)
        return _say(f"Clicking {label}…", computer_call(request, "left_click", coordinate=where))
