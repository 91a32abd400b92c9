"""The computer-tool flavours, their wire shapes, and which model takes which.

Claude's computer tool has four versions with different action sets and shapes. The table
`MODEL_FLAVOURS` maps model-name prefixes to a flavour (see README, "Models and tool versions");
`--tool-version` overrides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import defaults
from ..vocab.screen import DEFAULT_MAX_LONG_EDGE, DEFAULT_MAX_PIXELS
from ..vocab.words import shown
from .reply import ToolCall

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
    """One computer-tool version: its shape and what Claude may call (its `tools[]` entry is
    built by context.computer_tool)."""

    version: str
    beta: str | None
    actions: frozenset[str]
    is_toolset: bool = False
    clicks_take_coordinate: bool = True

    def is_computer_call(self, call: ToolCall) -> bool:
        if self.is_toolset:
            return call.toolset_name == "computer"
        return call.name == "computer"

    def action_of(self, call: ToolCall) -> tuple[str, dict[str, Any]]:
        """The action name and its input, whichever shape the call came in."""
        if self.is_toolset:
            return call.name, call.input
        rest = {k: v for k, v in call.input.items() if k != "action"}
        action = call.input.get("action", "")
        # Not str(): a 5,000-digit int or a list 100,000 deep would raise; parse_action says
        # what is wrong with a name that is not an action's.
        return (action if isinstance(action, str) else shown(action)), rest


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
# Families documented to take the newest flavour (the "models newer than this table" rule is
# meant for them and their successors, not for any name at all).
NEWEST_FAMILIES = ("claude-opus-4-8", "claude-opus-5", "claude-sonnet-5", "claude-haiku-5",
                   "claude-fable-5", "claude-mythos-5")
RETIRED_MODELS = ("claude-3-5-sonnet",)
# Anthropic's model overview recommends Opus 5.5 for most workloads.
DEFAULT_MODEL = defaults.MODEL

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


def model_warning(model: str, override: str | None = None) -> str | None:
    """A warning for a model name cua's table does not know (or knows as retired), naming the
    tool version cua assumes for it; None for a known, current model."""
    known = model.startswith(NEWEST_FAMILIES) or any(
        model.startswith(prefix) for prefix, _ in MODEL_FLAVOURS)
    retired = model.startswith(RETIRED_MODELS)
    if known and not retired:
        return None
    version = flavour_for(model, override).version
    if override:
        assumed = f"using computer tool version {version}, as --tool-version asks"
    else:
        assumed = (f"assuming computer tool version {version}"
                   + (" (the newest)" if version == NEWEST_FLAVOUR else "")
                   + "; pass --tool-version to choose another")
    what = "is retired" if retired else "is not in cua's model table"
    return f"model {model!r} {what}: {assumed}. Check the name (--model, CUA_MODEL)."


def image_limits_for(model: str) -> ImageLimits:
    """Screenshot size limits for a model."""
    return LARGE_IMAGES if model.startswith(LARGE_IMAGE_MODELS) else ImageLimits()


# --- providers: how each one writes model ids, and what else it wants ---------------------------
#
# Sources (README "Providers" cites them too), as of 2026-12:
# - Anthropic, "Claude on Amazon Bedrock (legacy)": Bedrock model ids and the us./eu./jp./apac./
#   global. inference profiles; the SDK's own API date (2026-10-21) is rejected by the
#   ARN-versioned models, while a body that sets anthropic_version itself is not affected.
# - AWS, "Anthropic Claude Messages API" request body: anthropic_version "bedrock-2023-05-31",
#   anthropic_beta in the body. AWS, "Use computer use tools ... with Amazon Bedrock models":
#   computer_20250124 and computer_20251124 each need their beta value; computer_toolset_20260801
#   needs none.
# - Anthropic, "Claude on Vertex AI": anthropic_version "vertex-2023-10-16" in the body, the model
#   in the URL, ids written claude-sonnet-4-5@20250929 (newer models without the @date).
# - Both platform pages: from Sonnet 4.5 on, regional endpoints cost 10% more than global ones.

PROVIDERS = ("anthropic", "bedrock", "vertex", "foundry")


@dataclass(frozen=True, slots=True)
class ProviderModels:
    """How one provider names models, and the body fields it needs on every request."""

    name: str
    anthropic_version: str | None  # sent in the body; None: the SDK's own header is right
    default_model: str
    id_example: str
    ids: dict[str, str]  # model family (Anthropic API name) -> the provider's documented id

    def suggest(self, family: str) -> str:
        """The provider's id for an Anthropic API model family, or the example id."""
        return self.ids.get(family, self.id_example)


_BEDROCK_IDS = {
    "claude-opus-4-6": "anthropic.claude-opus-4-6-v1",
    "claude-sonnet-4-6": "anthropic.claude-sonnet-4-6",
    "claude-opus-4-5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-sonnet-4-5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-opus-4-1": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-opus-4": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-sonnet-4": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-3-7-sonnet": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-3-5-sonnet": "anthropic.claude-3-5-sonnet-20241022-v2:0",
}
_VERTEX_IDS = {
    "claude-opus-4-6": "claude-opus-4-6",
    "claude-sonnet-4-6": "claude-sonnet-4-6",
    "claude-opus-4-5": "claude-opus-4-5@20251101",
    "claude-sonnet-4-5": "claude-sonnet-4-5@20250929",
    "claude-haiku-4-5": "claude-haiku-4-5@20251001",
    "claude-opus-4-1": "claude-opus-4-1@20250805",
    "claude-opus-4": "claude-opus-4@20250514",
    "claude-sonnet-4": "claude-sonnet-4@20250514",
    "claude-3-7-sonnet": "claude-3-7-sonnet@20250219",
    "claude-3-5-sonnet": "claude-3-5-sonnet-v2@20241022",
}

PROVIDER_MODELS: dict[str, ProviderModels] = {
    "anthropic": ProviderModels("Anthropic API", None, DEFAULT_MODEL,
                                "claude-sonnet-4-5-20250929", {}),
    "foundry": ProviderModels("Microsoft Foundry", None, DEFAULT_MODEL,
                              "claude-sonnet-4-5", {}),
    "bedrock": ProviderModels("Amazon Bedrock", "bedrock-2023-05-31", defaults.BEDROCK_MODEL,
                              "anthropic.claude-sonnet-4-5-20250929-v1:0 (optionally with an "
                              "inference-profile prefix such as us. or global., or as an ARN)",
                              _BEDROCK_IDS),
    "vertex": ProviderModels("Vertex AI", "vertex-2023-10-16", defaults.VERTEX_MODEL,
                             "claude-sonnet-4-5@20250929", _VERTEX_IDS),
}

# Models whose regional endpoints on Bedrock and Vertex cost the same as global ones; every later
# model (from Sonnet 4.5 on) costs 10% more on a regional endpoint.
_NO_REGIONAL_PREMIUM = frozenset({"claude-opus-4-1", "claude-opus-4", "claude-sonnet-4"})
REGIONAL_PREMIUM = 1.10

_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?P<kind>[a-z-]+)/(?P<rest>.+)$")
_PROFILE_PREFIX = re.compile(r"^(?P<geo>[a-z]{2,6}(?:-[a-z]+)?)\.(?=anthropic\.)")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)*(?::\d+k)?$")
_VERTEX_REVISION = re.compile(r"-v\d+$")


@dataclass(frozen=True, slots=True)
class ModelId:
    """A model id as the provider writes it, and the Anthropic API model it names.

    `canonical` picks the tool version, image limits and price row; it is None when the id does
    not say (an application inference profile or provisioned-throughput ARN, or a typo).
    """

    provider: str
    id: str
    canonical: str | None
    profile: str | None = None  # Bedrock cross-region inference profile: us, eu, apac, global…

    @property
    def is_known(self) -> bool:
        """Whether cua's tables (tool versions or prices) know this model."""
        # Imported here: keeps importing this module light (start-up time).
        from ..usage import PRICES

        prefixes = [prefix for prefix, _ in (*MODEL_FLAVOURS, *PRICES)]
        return self.canonical is not None and self.canonical.startswith(tuple(prefixes))

    @property
    def family(self) -> str:
        """The canonical name without its date, e.g. claude-sonnet-4-5."""
        return re.sub(r"-\d{8}$", "", self.canonical or "")


def parse_model_id(provider: str, model: str) -> ModelId:
    """Read a provider's model id into the Anthropic API model it names (pure; never fails)."""
    model = model.strip()
    if provider == "bedrock":
        return _parse_bedrock(model)
    if provider == "vertex":
        name, _, date = model.partition("@")
        name = _VERTEX_REVISION.sub("", name)
        digits = date if re.fullmatch(r"\d{8}", date) else ""
        canonical = f"{name}-{digits}" if digits else name
        return ModelId(provider, model, canonical if name.startswith("claude-") else None)
    return ModelId(provider, model, model if model.startswith("claude-") else None)


def _parse_bedrock(model: str) -> ModelId:
    text = model
    arn = _ARN.match(text)
    if arn:
        if arn["kind"] not in ("foundation-model", "inference-profile"):
            return ModelId("bedrock", model, None)  # application profile or provisioned model
        text = arn["rest"]
    profile = None
    prefix = _PROFILE_PREFIX.match(text)
    if prefix:
        profile = prefix["geo"]
        text = text[prefix.end():]
    if not text.startswith("anthropic.claude-"):
        return ModelId("bedrock", model, None, profile)
    name = _BEDROCK_VERSION.sub("", text.removeprefix("anthropic."))
    return ModelId("bedrock", model, name, profile)


def price_factor(model: ModelId, *, region: str | None) -> float:
    """What a provider's endpoint adds to the Anthropic list price (1.0: nothing)."""
    if model.provider not in ("bedrock", "vertex") or model.canonical is None:
        return 1.0
    if model.canonical.startswith("claude-3-") or model.family in _NO_REGIONAL_PREMIUM:
        return 1.0
    is_global = model.profile == "global" if model.provider == "bedrock" else region == "global"
    return 1.0 if is_global else REGIONAL_PREMIUM
