"""The computer-tool flavours, their wire shapes, and which model takes which.

Claude's computer tool has four versions with different action sets and shapes. The table
`MODEL_FLAVOURS` maps model-name prefixes to a flavour (see README, "Models and tool versions");
`--tool-version` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .claude import ToolCall

if TYPE_CHECKING:
    from .screen import ScreenSpace

# Anthropic's guidance for computer-use screenshots on most models: the long edge at most 1568 px
# and about 1.15 megapixels. Larger images are rejected or downscaled server-side, which would
# break the coordinate mapping, so cua downscales first and declares exactly the size it sends.
DEFAULT_MAX_LONG_EDGE = 1568
DEFAULT_MAX_PIXELS = 1_150_000

_BASE_2024 = frozenset({
    "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
    "middle_click", "double_click", "screenshot", "cursor_position",
})
_BASE_2025 = _BASE_2024 | {
    "left_mouse_down", "left_mouse_up", "scroll", "hold_key", "wait", "triple_click",
}
_WITH_ZOOM = _BASE_2025 | {"zoom"}


@dataclass(frozen=True, slots=True)
class Flavour:
    """One computer-tool version: what the tool entry looks like and what Claude may call."""

    version: str
    beta: str | None
    actions: frozenset[str]
    is_toolset: bool = False
    clicks_take_coordinate: bool = True

    def tool_entry(self, space: ScreenSpace) -> dict[str, Any]:
        """The `tools[]` entry declaring this flavour for a screen of this model-space size."""
        if self.is_toolset:
            # A toolset entry carries no name and no size: coordinates are in the pixel space of
            # the screenshots sent, which cua keeps at exactly `space`'s model size.
            return {"type": self.version}
        entry: dict[str, Any] = {
            "type": self.version,
            "name": "computer",
            "display_width_px": space.model_w,
            "display_height_px": space.model_h,
        }
        if "zoom" in self.actions:
            entry["enable_zoom"] = True  # off by default in computer_20251124
        return entry

    def is_computer_call(self, call: ToolCall) -> bool:
        if self.is_toolset:
            return call.toolset_name == "computer"
        return call.name == "computer"

    def action_of(self, call: ToolCall) -> tuple[str, dict[str, Any]]:
        """The action name and its input, whichever shape the call came in."""
        if self.is_toolset:
            return call.name, call.input
        rest = {k: v for k, v in call.input.items() if k != "action"}
        return str(call.input.get("action", "")), rest


FLAVOURS: dict[str, Flavour] = {
    "computer_20241022": Flavour(
        "computer_20241022", "computer-use-2024-10-22", _BASE_2024, clicks_take_coordinate=False
    ),
    "computer_20250124": Flavour("computer_20250124", "computer-use-2025-01-24", _BASE_2025),
    "computer_20251124": Flavour("computer_20251124", "computer-use-2025-11-24", _WITH_ZOOM),
    "computer_toolset_20260801": Flavour(
        "computer_toolset_20260801", None, _WITH_ZOOM, is_toolset=True
    ),
}

# Model-name prefix → flavour, checked in order (longest prefixes first where they overlap).
# From Anthropic's computer-use tool docs and per-model "what's new" pages, as of 2026-11;
# README.md "Models and tool versions" cites them. Unknown (newer) models take the newest flavour.
MODEL_FLAVOURS: tuple[tuple[str, str], ...] = (
    ("claude-3-5-sonnet", "computer_20241022"),
    ("claude-3-7-sonnet", "computer_20250124"),
    ("claude-sonnet-4-5", "computer_20250124"),
    ("claude-haiku-4-5", "computer_20250124"),
    ("claude-opus-4-1", "computer_20250124"),
    ("claude-opus-4-5", "computer_20251124"),
    ("claude-opus-4-6", "computer_20251124"),
    ("claude-sonnet-4-6", "computer_20251124"),
    ("claude-opus-4-7", "computer_20251124"),
    ("claude-sonnet-4", "computer_20250124"),
    ("claude-opus-4-8", "computer_toolset_20260801"),
    ("claude-opus-4", "computer_20250124"),
)
NEWEST_FLAVOUR = "computer_toolset_20260801"
# Anthropic's model overview recommends Opus 5.5 for most workloads.
DEFAULT_MODEL = "claude-opus-5-5"

# Models that take 2576 px / 3.75 MP screenshots; every other model gets 1568 px / 1.15 MP.
# Sonnet 5.x and Haiku 5.5 are not documented either way, so they keep the safe, smaller limit.
LARGE_IMAGE_MODELS = ("claude-opus-4-7", "claude-opus-4-8", "claude-opus-5", "claude-fable-5",
                      "claude-mythos-5")


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_long_edge: int = DEFAULT_MAX_LONG_EDGE
    max_pixels: int = DEFAULT_MAX_PIXELS


LARGE_IMAGES = ImageLimits(max_long_edge=2576, max_pixels=3_750_000)


def flavour_for(model: str, override: str | None = None) -> Flavour:
    """The flavour to use: the override if given, else the table's entry, else the newest."""
    if override:
        return FLAVOURS[override]
    for prefix, version in MODEL_FLAVOURS:
        if model.startswith(prefix):
            return FLAVOURS[version]
    # Models newer than this table take the newest flavour; --tool-version overrides.
    return FLAVOURS[NEWEST_FLAVOUR]


def image_limits_for(model: str) -> ImageLimits:
    """Screenshot size limits for a model."""
    return LARGE_IMAGES if model.startswith(LARGE_IMAGE_MODELS) else ImageLimits()
