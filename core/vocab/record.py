"""The run record as types: what `run.json` and each line of `steps.jsonl` hold.

These frozen dataclasses are the public contract of a run folder, and the one source of its
format: `to_dict()` and `from_dict()` follow from the fields (`record_to_dict`,
`record_from_dict`: a field's JSON key, written in field order unless the class lists its own
`KEYS` order; `omit_none` leaves a None out), and `parse_record` checks every value against the
field's type. A new recorded fact is one new field (with a default). The few shapes that are not
one key per field (an action described by its "kind", the approval's flattened policy) and the
readings of older records keep a small hand-written part each. `core/store/runs.py` writes them and
reads them back; the report, replay and anyone's own tooling read a run through
`runs.load_run`, which returns these types. Field names are stable: new fields are added (with a
default), never renamed. `FORMAT` counts incompatible changes; records written before it
existed (no `format` key) load as format 0 with the same fields.

Secrets: every string here is as recorded, with `{{NAME}}` placeholders and never a value.

`Usage`: token usage as the API reports it, and `Price`: what it costs (the client, the steps
and the records use them).

Prices are US dollars per million tokens, from Anthropic's pricing and model pages as of
2026-11 (README, "Cost"). A config file can add or override entries:

    [prices."claude-sonnet-5-5"]
    input = 2.0
    output = 10.0
    cache_write = 2.5
    cache_read = 0.1
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from ..errors import ConfigError
from .desktop import Window

if TYPE_CHECKING:
    from .actions import Action


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

__all__ = [
    "FORMAT",
    "ActionRecord",
    "ApprovalRecord",
    "CheckRecord",
    "DamagedRecord",
    "PolicyRecord",
    "ReplayRecord",
    "RunHeader",
    "StepRecord",
    "ToolCallRecord",
    "Usage",
    "action_from_dict",
    "action_to_dict",
    "approval_picture_name",
    "parse_record",
    "screenshot_name",
]

FORMAT = 2  # 2: steps list their transients (what came and went between screenshots)
"""Version of the record format written now (a `format` key in run.json and every step line)."""

Point = tuple[int, int]
R = TypeVar("R")
MAX_SIDE = 1 << 16  # more than any screen has a side (X11 itself allows 32767)


class DamagedRecord(ValueError):
    """A run.json or steps.jsonl line that does not hold what the format says it holds."""


def parse_record(cls: type[R], data: Any) -> R:
    """`cls.from_dict(data)`, refused with a DamagedRecord unless `data` is a JSON object whose
    fields all have the types the format gives them (every nested record and action included).

    Records are input too: replay, the report and `cua runs show` read folders that a person,
    a disk or another tool may have damaged, and a wrong type must not reach them."""
    if not isinstance(data, Mapping):
        raise DamagedRecord(f"not a JSON object but {type(data).__name__}")
    try:
        record = cls.from_dict(data)  # type: ignore[attr-defined]
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise DamagedRecord(f"{type(exc).__name__}: {exc}") from None
    check_types(record)
    return record


def check_types(record: Any) -> None:
    """DamagedRecord unless every field of dataclass `record` (recursively) has its declared
    type; numbers must be finite."""
    hints = _hints(type(record))
    for f in fields(record):
        value = getattr(record, f.name)
        if not _conforms(value, hints[f.name]):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise DamagedRecord(f"{type(record).__name__}.{f.name} cannot be {shown}")
    sane = getattr(record, "check_values", None)
    if sane is not None:
        sane()


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # `Action` is imported for type checking only (actions.py pulls in Pillow); an action is
    # checked against its own class when action_from_dict builds it.
    import sys

    module = vars(sys.modules[cls.__module__])
    return typing.get_type_hints(cls, globalns=module, localns={"Action": object})


def _conforms(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(_conforms(v, a) for v, a in zip(value, args,
                                                                                 strict=True))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, hint):
            return False
        check_types(value)
        return True
    return isinstance(value, hint) if isinstance(hint, type) else True


# -- the one mechanism: JSON from the fields, and back --------------------------------------------


def record_to_dict(record: Any) -> dict[str, Any]:
    """The JSON object of a record: each field under its key (metadata "key", else its name),
    in the class's KEYS order if it has one, else field order; a None with metadata
    "omit_none" left out; nested records, tuples and mappings as JSON values."""
    out: dict[str, Any] = {}
    for name, key, omit_none, plain in _writer(type(record)):
        value = getattr(record, name)
        if value is None:
            if not omit_none:
                out[key] = None
        else:
            out[key] = value if plain else _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_dict() if to_dict is not None else record_to_dict(value)
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


_SCALARS = (str, int, float, bool, type(None))


def _is_scalar(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return all(_is_scalar(a) for a in typing.get_args(hint))
    return origin is Literal or hint in _SCALARS


@functools.cache
def _writer(cls: type) -> tuple[tuple[str, str, bool, bool], ...]:
    """(field, key, omit_none, written as it is) for each field, in the order written."""
    hints = _hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    order: tuple[str, ...] = getattr(cls, "KEYS", None) or tuple(by_name)
    return tuple((name, by_name[name].metadata.get("key", name),
                  bool(by_name[name].metadata.get("omit_none")), _is_scalar(hints[name]))
                 for name in order)


_DEFAULT = object()  # a missing or null value takes the field's default


def record_from_dict(cls: type[R], data: Mapping[str, Any], **given: Any) -> R:
    """The record `record_to_dict` wrote (and older ones): each field from its key, converted
    to the field's type as JSON can hold it (lists to tuples, objects to nested records,
    numbers and strings as the type says); a missing or null value takes the field's default
    (a required one its type's zero). `given` fields are taken as they are. What does not fit
    the type is left for `parse_record`'s check to name."""
    kwargs: dict[str, Any] = {}
    for name, key, missing, convert in _reader(cls):
        if name in given:
            continue
        value = data.get(key)
        if value is not None:
            kwargs[name] = convert(value)
        elif missing is not _DEFAULT:
            kwargs[name] = missing
    return cls(**kwargs, **given)


@functools.cache
def _reader(cls: type) -> tuple[tuple[str, str, Any, Callable[[Any], Any]], ...]:
    """(field, key, value when missing, converter) for each field, worked out once a class."""
    hints = _hints(cls)
    plan = []
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        missing = _zero(hints[f.name]) if required else _DEFAULT
        plan.append((f.name, f.metadata.get("key", f.name), missing, _converter(hints[f.name])))
    return tuple(plan)


_ZEROS: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False}


def _zero(hint: Any) -> Any:
    if hint in _ZEROS:
        return _ZEROS[hint]
    if isinstance(hint, type) and is_dataclass(hint):
        return hint()
    return None


def _as_is(value: Any) -> Any:
    return value


def _converter(hint: Any) -> Callable[[Any], Any]:
    """How a JSON value becomes a value of `hint`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        # X | None: a scalar is kept as it came (the type check names a wrong one); a tuple or
        # a record is built as for X.
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and (typing.get_origin(inner[0]) is tuple or (
                isinstance(inner[0], type) and is_dataclass(inner[0]))):
            return _converter(inner[0])
        return _as_is
    if hint in (int, float, str, bool):
        return hint  # type: ignore[no-any-return]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            each = _converter(args[0])
            return lambda value: tuple(each(v) for v in value)
        converters = [_converter(a) for a in args]

        def fixed(value: Any) -> tuple[Any, ...]:
            items = tuple(value)
            if len(items) != len(converters):
                raise ValueError(f"{len(items)} values where {len(converters)} belong")
            return tuple(c(v) for c, v in zip(converters, items, strict=True))

        return fixed
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return dict
    if isinstance(hint, type) and is_dataclass(hint):
        nested = getattr(hint, "from_dict", None) or functools.partial(record_from_dict, hint)

        def record(value: Any) -> Any:
            return nested(value) if isinstance(value, Mapping) else value  # else: type check

        return record
    return _as_is


def approval_picture_name(step: int, number: int) -> str:
    """File name of the `number`-th approval picture of the run, taken at `step`."""
    return f"approval-step-{step:03d}-{number}.png"


def screenshot_name(step: int) -> str:
    """File name (in the run folder) of the screenshot taken at the end of `step`; step 0 is
    the first screenshot, sent with the task."""
    return f"step-{step:03d}.png"


def matched_name(step: int) -> str:
    """File name of the screen a replayed `step` waited for until it matched the recording."""
    return f"step-{step:03d}-matched.png"


# -- actions ----------------------------------------------------------------------------------

def action_to_dict(action: Action) -> dict[str, Any]:
    """`{"kind": "Click", "at": {"api": [x, y], "screen": [x, y]}, "button": "left", ...}`:
    the class name, then every field that is set (points as model and screen pixels)."""
    # Imported here: keeps importing this module light (start-up time).
    from .actions import describe

    return describe(action)


def action_from_dict(data: Mapping[str, Any]) -> Action | None:
    """The Action `action_to_dict` described, or None for what is not an action kind."""
    # Imported here: keeps importing this module light (start-up time).
    from .actions import Action, Target

    cls = {t.__name__: t for t in typing.get_args(Action)}.get(str(data.get("kind")))
    if cls is None:
        return None
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:  # describe() leaves out what is None (a point not given)
            if f.default is MISSING and f.default_factory is MISSING:
                kwargs[f.name] = None
            continue
        value = data[f.name]
        if isinstance(value, Mapping) and "screen" in value:
            value = Target(_point(value.get("api")), _point(value["screen"]))
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    try:
        action = cls(**kwargs)
    except TypeError:  # a field this version requires is missing: keep the record readable
        return None
    check_types(action)  # a DamagedRecord: the action's fields are not what the format says
    return action


def _point(value: Any) -> Point:
    x, y = value
    return int(x), int(y)


def _points(values: Any) -> tuple[Point, ...]:
    return tuple(_point(v) for v in values or ())


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """The gate's decision for an action the policy did not simply allow."""

    decision: str  # "allow" | "ask" | "deny"
    rule: str  # the rule's name
    reason: str
    source: str  # "built-in", "<file>:<line>", or "default"
    # once | always | deny | abort | stop; None when nobody was asked
    answer: str | None = field(default=None, metadata={"omit_none": True})
    # "terminal", "--yes", "nobody", "earlier approval"
    answered_by: str | None = field(default=None, metadata={"omit_none": True})

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyRecord:
        return record_from_dict(cls, data)


def window_to_dict(window: Window) -> dict[str, str]:
    return {"wm_class": window.wm_class, "instance": window.instance, "title": window.title}


def window_from_dict(data: Mapping[str, Any] | None) -> Window | None:
    if not isinstance(data, Mapping):
        return None
    return Window(str(data.get("wm_class", "")), str(data.get("instance", "")),
                  str(data.get("title", "")))


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One tool call of a step, and what became of it."""

    name: str  # as Claude named it: left_click, type, key, ..., request_approval, or unknown
    input: Mapping[str, Any] = field(default_factory=dict)  # the tool input as recorded
    action: Action | None = None  # as parsed (core.actions types); None if invalid or not one
    error: str | None = None  # why it did not run (invalid input, denied, not executed)
    action_s: float = 0.0  # wall time of judging and carrying it out, without approval_s
    policy: PolicyRecord | None = None  # None when the policy simply allowed it
    tool_use_id: str = ""
    result: str = ""  # the text of the tool_result Claude got back
    is_error: bool = False  # whether that tool_result was marked is_error
    window: Window | None = None  # focused window when it was judged (None if not looked up)
    points: tuple[Point, ...] = ()  # screen pixels the pointer went to (drag: start, end)
    region: tuple[int, int, int, int] | None = None  # zoom: the region in screen pixels
    description: str | None = None  # request_approval: what Claude asked to do
    approval_picture: str | None = None  # file in the run folder shown to the person asked
    approval_s: float = 0.0  # time the approver (a person at the prompt) took to answer

    KEYS: ClassVar[tuple[str, ...]] = (
        "name", "action", "error", "action_s", "policy", "tool_use_id", "input", "result",
        "is_error", "window", "points", "region", "description", "approval_picture",
        "approval_s")

    def to_dict(self) -> dict[str, Any]:
        out = record_to_dict(self)
        out["action"] = self.described()
        return out

    def described(self) -> dict[str, Any]:
        """The "action" key: the parsed action by its kind, Claude's own request_approval, or
        else the input as it came."""
        if self.action is not None:
            return action_to_dict(self.action)
        if self.description is not None:
            return {"kind": self.name, "description": self.description}
        return {"input": dict(self.input)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionRecord:
        described = data.get("action") or {}
        action = action_from_dict(described)
        # Older records kept the description and the input only inside "action".
        description = data.get("description", described.get("description"))
        tool_input = data.get("input", described.get("input") if action is None else None)
        return record_from_dict(
            cls, data, action=action, description=description, input=dict(tool_input or {}),
            is_error=bool(data.get("is_error", data.get("error") is not None)))


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """A tool call exactly as Claude sent it (secret values redacted)."""

    id: str
    name: str
    input: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCallRecord:
        return record_from_dict(cls, data)


# -- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step: one Claude reply and everything cua did about it (a line of steps.jsonl)."""

    step: int
    text: str = ""  # Claude's text in this reply
    stop_reason: str | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    actions: tuple[ActionRecord, ...] = ()  # one per tool call that was looked at, in order
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None  # this reply's cost; None without a price for the model
    model_s: float = 0.0  # waiting for Claude's reply
    overhead_s: float = 0.0  # from the reply to the next request being ready (actions included)
    settle_s: float | None = None  # waiting for the screen to settle; None without a screenshot
    settle_captures: int | None = None
    is_stable: bool | None = None  # False when the settle ceiling was hit
    screenshot: str | None = None  # taken after the actions, sent with the next request
    screenshot_before: str | None = None  # the newest screenshot Claude had seen when asked
    outcome: str | None = None  # "success" | "failure" when Claude reported in this step
    replayed: bool = False  # carried out from a recording (--replay), without asking Claude
    match: float | None = None  # replay: how well the screen matched the recording (0..1)
    # The injection tripwire's scan of the screenshot Claude answered: findings, wait_s, scan_s,
    # cpu_s, regions, lines, timed_out, error (tripwire.Waited.to_dict); None when it is off.
    tripwire: dict[str, Any] | None = field(default=None, metadata={"omit_none": True})
    # what came and went between the previous screenshot and this one (core/x11/watcher.py
    # Transient.record: kind, text, wm_class, region, came_s, went_s, action, image)
    transients: tuple[Mapping[str, Any], ...] = ()
    format: int = FORMAT

    KEYS: ClassVar[tuple[str, ...]] = (
        "format", "step", "model_s", "stop_reason", "text", "usage", "cost_usd", "tool_calls",
        "actions", "overhead_s", "settle_s", "settle_captures", "is_stable", "screenshot",
        "screenshot_before", "outcome", "replayed", "match", "tripwire", "transients")

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        # A line written before the format key existed is format 0; a transient that is not an
        # object is left out.
        return record_from_dict(
            cls, data, format=int(data.get("format", 0)),
            transients=tuple(dict(t) for t in data.get("transients") or ()
                             if isinstance(t, Mapping)))


# -- the end of a run: approval and check ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """The `ask` that ended a run (status needs_approval or aborted)."""

    step: int
    name: str  # the action's name as Claude gave it
    action: ActionRecord  # what it would have done (typed text with placeholders)
    policy: PolicyRecord
    window: Window
    picture: str | None = None  # path of the picture of the target, when one was saved
    # screen-injection: the flagged text, {"kind", "text", "box", "matched"} each
    screen_text: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The shape of `approval` in run.json and the JSON summary."""
        out = {"step": self.step, "name": self.name,
               "action": self.action.to_dict()["action"], **self.policy.to_dict(),
               "window": {"wm_class": self.window.wm_class, "title": self.window.title},
               "crop": self.picture}
        if self.screen_text:
            out["screen_text"] = [dict(t) for t in self.screen_text]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalRecord:
        described = data.get("action") or {}
        name = str(data.get("name") or described.get("kind") or "")
        action = ActionRecord.from_dict({"name": name, "action": described})
        return cls(int(data.get("step", 0)), name, action, PolicyRecord.from_dict(data),
                   window_from_dict(data.get("window")) or Window(), data.get("crop"),
                   tuple(t for t in data.get("screen_text") or () if isinstance(t, dict)))


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """`--check CMD` after Claude reported success (output: the last 4000 characters)."""

    command: str
    exit_code: int
    duration_s: float
    output: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckRecord:
        # Early records left `passed` out: the check passed when it exited 0.
        return record_from_dict(cls, data,
                                passed=bool(data.get("passed", data.get("exit_code") == 0)))


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """What `--replay` did: which recording it followed, how far, and why it stopped."""

    # the recording's run id (written as `from`); None when `auto` found none
    from_run: str | None = field(metadata={"key": "from"})
    steps_replayed: int = 0
    diverged_at: int | None = None  # the 1-based recorded step where replay stopped, if it did
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The shape of `replay` in run.json and the JSON summary (`from`, not `from_run`)."""
        return record_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplayRecord:
        return record_from_dict(cls, data)


# -- the run header ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunHeader:
    """run.json: written when the run starts (status "running") and again when it ends."""

    run_id: str = ""
    task: str = ""  # secrets as {{NAME}}
    model: str = ""
    tool_version: str = ""
    screen_size: Point | None = None  # screen pixels
    model_size: Point | None = None  # the size Claude's screenshots and coordinates use
    max_steps: int | None = None
    display: str | None = None
    cua_version: str | None = None
    anthropic_version: str | None = None
    python: str | None = None
    virtual_display: str | None = None  # "WxH" when cua started its own Xvfb
    app: tuple[str, ...] | None = None  # --app argv
    secrets: tuple[str, ...] = ()  # the names only
    policy_files: tuple[str, ...] = ()
    timeout_s: float | None = None
    check_command: str | None = None  # --check CMD
    status: str = "running"  # see the README's JSON output for the list
    started_at: str | None = None  # ISO 8601, UTC, milliseconds
    finished_at: str | None = None
    summary: str | None = None
    steps: int | None = None
    usage: Usage | None = None
    duration_s: float | None = None
    cost_usd: float | None = None
    approval: ApprovalRecord | None = None
    check: CheckRecord | None = None
    replay: ReplayRecord | None = None  # set when the run was started with --replay
    host: str | None = None  # the machine's host name
    provider: str | None = None  # where the requests went: anthropic, bedrock, vertex, ...
    region: str | None = None  # the provider's region, when it has one
    monitor: int | None = None  # which monitor was captured (1 = primary); None if not recorded
    exit_code: int | None = None  # cua's exit code, written once the process knows it
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know
    format: int = FORMAT

    def check_values(self) -> None:
        """DamagedRecord for sizes no screen has (the report and replay divide by them)."""
        for name in ("screen_size", "model_size"):
            size = getattr(self, name)
            if size is not None and not all(1 <= side <= MAX_SIDE for side in size):
                raise DamagedRecord(f"RunHeader.{name} cannot be {size}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format}
        for f in fields(self):
            if f.name in ("format", "extra"):
                continue
            out[f.name] = _json_value(getattr(self, f.name))
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunHeader:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known and k != "extra"}
        kwargs["extra"] = {k: v for k, v in data.items() if k not in known}
        kwargs["format"] = int(data.get("format", 0))
        for name in ("screen_size", "model_size"):
            if kwargs.get(name) is not None:
                kwargs[name] = _point(kwargs[name])
        for name in ("app", "secrets", "policy_files"):
            if kwargs.get(name) is not None:
                kwargs[name] = tuple(kwargs[name])
        if kwargs.get("usage") is not None:
            kwargs["usage"] = Usage.from_dict(kwargs["usage"])
        if isinstance(kwargs.get("approval"), Mapping):
            kwargs["approval"] = ApprovalRecord.from_dict(kwargs["approval"])
        if isinstance(kwargs.get("replay"), Mapping):
            kwargs["replay"] = ReplayRecord.from_dict(kwargs["replay"])
        check = kwargs.get("check")
        if isinstance(check, str):  # format 0 wrote the command here until the check ran
            kwargs.setdefault("check_command", check)
            kwargs["check"] = None
        elif isinstance(check, Mapping):
            kwargs["check"] = CheckRecord.from_dict(check)
            kwargs.setdefault("check_command", kwargs["check"].command)
        return cls(**kwargs)
