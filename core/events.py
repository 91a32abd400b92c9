"""Events the loop reports. Core never prints: the cli renders them and the recorder stores them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    run_dir: str
    task: str
    model: str
    tool_version: str
    screen_size: tuple[int, int]
    model_size: tuple[int, int]
    max_steps: int


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: int
    max_steps: int


@dataclass(frozen=True, slots=True)
class TextStreamed:
    """A piece of Claude's text as it arrives (not recorded; the whole text is in ModelReplied)."""

    step: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelReplied:
    step: int
    text: str
    tool_calls: int
    stop_reason: str | None
    usage: Usage
    total_usage: Usage
    model_s: float
    cost_usd: float | None = None
    total_cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class ActionPerformed:
    step: int
    name: str
    action: dict[str, Any]
    error: str | None
    action_s: float
    policy: dict[str, Any] | None = None  # the gate's decision, when it was not a plain allow


@dataclass(frozen=True, slots=True)
class StepFinished:
    """Everything one step did, as one JSON-ready record (one line of steps.jsonl)."""

    step: int
    record: dict[str, Any]
    screenshot_png: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CheckFinished:
    """`--check CMD` ran after Claude reported success."""

    result: dict[str, Any]  # command, exit_code, duration_s, and the output's tail
    output: str = field(default="", repr=False)  # all of it, for check.txt


@dataclass(frozen=True, slots=True)
class RunFinished:
    status: str
    summary: str
    steps: int
    usage: Usage
    duration_s: float
    cost_usd: float | None = None
    details: dict[str, Any] = field(default_factory=dict)  # "approval" and "check", when any


Event = (
    RunStarted | StepStarted | TextStreamed | ModelReplied | ActionPerformed | StepFinished
    | CheckFinished | RunFinished
)
EventSink = Callable[[Event], None]
