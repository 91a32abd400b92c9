"""Events the loop reports. Core never prints: the cli renders them and the recorder stores them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .record import (
    ActionRecord,
    ApprovalRecord,
    CheckRecord,
    PolicyRecord,
    ReplayRecord,
    StepRecord,
    Usage,
)

__all__ = [
    "ActionPerformed", "ApprovalPictureTaken", "CheckFinished", "Event", "EventSink",
    "FirstScreenshot", "HandedOver", "ModelReplied", "ModelRetrying", "ReplayStarted",
    "RunFinished", "RunStarted", "ScreenMatched", "StepFinished", "StepStarted", "TextStreamed",
    "Usage",
]


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
class ModelRetrying:
    """A request failed in a way worth another try; cua waits `delay_s`, then sends it again
    (retry `retry` of `max_retries`). Not recorded: the step's model_s covers the wait."""

    step: int
    retry: int
    max_retries: int
    reason: str  # what went wrong, e.g. "the API is overloaded (529)"
    delay_s: float


@dataclass(frozen=True, slots=True)
class FirstScreenshot:
    """The screenshot sent with the task, before step 1 (saved as step-000.png)."""

    name: str  # its file name in the run folder
    png: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApprovalPictureTaken:
    """The picture of an action's target shown to the person asked (the recorder saves it)."""

    step: int
    name: str  # its file name in the run folder
    png: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ActionPerformed:
    """One tool call was judged and carried out (or refused); `record` is what steps.jsonl
    will hold for it."""

    step: int
    record: ActionRecord

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def error(self) -> str | None:
        return self.record.error

    @property
    def action_s(self) -> float:
        return self.record.action_s

    @property
    def policy(self) -> PolicyRecord | None:
        return self.record.policy


@dataclass(frozen=True, slots=True)
class StepFinished:
    """Everything one step did (one line of steps.jsonl), plus the screenshot it ended with."""

    step: int
    record: StepRecord
    # saved as record.screenshot; a callable is encoded by the recorder, off the run's path
    screenshot_png: bytes | Callable[[], bytes] | None = field(default=None, repr=False)
    # (file name, PNG) of each transient's picture (record.transients names them)
    pictures: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class ReplayStarted:
    """`--replay`: which recording this run follows (None: `auto` found none, an ordinary run)."""

    from_run: str | None
    steps: int  # recorded steps to replay
    note: str = ""  # for the person watching, e.g. why auto found nothing


@dataclass(frozen=True, slots=True)
class HandedOver:
    """Replay stopped at recorded `diverged_at`; Claude carries on from run step `step` + 1,
    starting from `screenshot` (a file in the run folder)."""

    step: int
    diverged_at: int | None
    reason: str
    screenshot: str
    png: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class CheckFinished:
    """`--check CMD` ran after Claude reported success."""

    result: CheckRecord  # the output's tail; secrets redacted
    output: str = field(default="", repr=False)  # all of it, for check.txt


@dataclass(frozen=True, slots=True)
class RunFinished:
    status: str
    summary: str
    steps: int
    usage: Usage
    duration_s: float
    cost_usd: float | None = None
    approval: ApprovalRecord | None = None  # the ask that stopped the run, if one did
    check: CheckRecord | None = None  # --check's result, if it ran
    replay: ReplayRecord | None = None  # what --replay did, if it was asked for

    @property
    def details(self) -> dict[str, Any]:
        """`approval`, `check` and `replay` as they appear in run.json and the JSON summary."""
        out: dict[str, Any] = {}
        if self.replay is not None:
            out["replay"] = self.replay.to_dict()
        if self.approval is not None:
            out["approval"] = self.approval.to_dict()
        if self.check is not None:
            out["check"] = self.check.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class ScreenMatched:
    """A replayed step waited for the screen until it matched the recording: that screen (saved
    as `name`, the step's screenshot_before), so a replay of this run compares with a screen
    known to be drawn, not with an earlier one caught mid-draw. `png` may be encoded later."""

    step: int
    name: str
    png: bytes | Callable[[], bytes] = field(repr=False)


Event = (
    RunStarted | StepStarted | TextStreamed | ModelRetrying | ModelReplied | FirstScreenshot
    | ApprovalPictureTaken | ActionPerformed | StepFinished | CheckFinished | RunFinished
    | ReplayStarted | HandedOver | ScreenMatched
)
EventSink = Callable[[Event], None]
