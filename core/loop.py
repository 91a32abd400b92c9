"""run_task: screenshot → Claude → action → screenshot, until Claude reports or a budget ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import context
from .actions import CursorPosition, Screenshot, Wait, Zoom, describe, parse_action, perform
from .claude import ModelClient, ModelReply, ModelRequest, ToolCall
from .desktop import Desktop, Frame
from .errors import ActionError, CuaError
from .events import (
    ActionPerformed,
    EventSink,
    ModelReplied,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    TextStreamed,
    Usage,
)
from .flavours import Flavour, ImageLimits
from .prices import Price
from .screen import (
    ScreenSpace,
    encode_png,
    frame_to_image,
    scale_image,
    space_for,
    wait_for_settle,
    zoom_region,
)


@dataclass(frozen=True, slots=True)
class LoopConfig:
    model: str
    flavour: Flavour
    max_steps: int = 50
    max_tokens: int = 4096
    keep_images: int = 3
    image_chunk: int = 3
    settle_interval_s: float = 0.01
    settle_ceiling_s: float = 2.0
    limits: ImageLimits = field(default_factory=ImageLimits)
    price: Price | None = None
    max_cost_usd: float | None = None
    prompt_cache: bool = True


@dataclass(frozen=True, slots=True)
class RunResult:
    status: str  # success | failure | unknown | budget_exhausted
    summary: str
    steps: int
    usage: Usage
    duration_s: float
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    png: bytes
    frame: Frame
    settle_s: float = 0.0
    captures: int = 1
    is_stable: bool = True


@dataclass(slots=True)
class _Run:
    """Mutable state of one run, private to run_task."""

    messages: list[dict[str, Any]]
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    last_cost_usd: float | None = None
    step: int = 0
    nudged: bool = False


def run_task(
    task: str,
    *,
    desktop: Desktop,
    client: ModelClient,
    config: LoopConfig,
    on_event: EventSink,
    run_id: str = "",
    run_dir: str = "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Run one task to its end and return the outcome; CuaError and Ctrl-C propagate after
    RunFinished has been reported and every held key and button released."""
    started = clock()
    width, height = desktop.size()
    space = space_for(width, height, max_long_edge=config.limits.max_long_edge,
                      max_pixels=config.limits.max_pixels)
    on_event(RunStarted(run_id, run_dir, task, config.model, config.flavour.version,
                        (width, height), (space.model_w, space.model_h), config.max_steps))
    step_runner = _StepRunner(desktop, client, config, space, on_event, clock, sleep)
    status, summary = "error", "the run stopped before it finished"
    state = _Run(messages=[])
    try:
        first = step_runner.observe(settle=False)
        state.messages = [{"role": "user", "content": [
            {"type": "text", "text": task}, context.image_block(first.png)]}]
        status, summary = step_runner.run_steps(state)
    except KeyboardInterrupt:
        status, summary = "interrupted", "interrupted by the user"
        raise
    except CuaError as exc:
        status, summary = "error", str(exc)
        raise
    finally:
        try:
            desktop.release_all()
        finally:
            on_event(RunFinished(status, summary, state.step, state.usage, clock() - started,
                                 _cost(config, state)))
    return RunResult(status, summary, state.step, state.usage, clock() - started,
                     _cost(config, state))


def _cost(config: LoopConfig, state: _Run) -> float | None:
    return round(state.cost_usd, 8) if config.price is not None else None


class _StepRunner:
    def __init__(self, desktop: Desktop, client: ModelClient, config: LoopConfig,
                 space: ScreenSpace, on_event: EventSink, clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self.desktop, self.client, self.config, self.space = desktop, client, config, space
        self.emit, self.clock, self.sleep = on_event, clock, sleep
        self.tools = [config.flavour.tool_entry(space), context.REPORT_TOOL]
        self.last_frame: Frame | None = None
        self.step = 0
        self.system = context.system_blocks(cache=config.prompt_cache)

    def run_steps(self, state: _Run) -> tuple[str, str]:
        limit = self.config.max_cost_usd
        while state.step < self.config.max_steps:
            if limit is not None and state.cost_usd >= limit:
                return "budget_exhausted", (f"stopped at ${state.cost_usd:.4f}, over the "
                                            f"--max-cost budget of ${limit:.4f}")
            state.step += 1
            outcome = self.one_step(state)
            if outcome is not None:
                return outcome
        return "budget_exhausted", f"stopped after using all {self.config.max_steps} steps"

    def one_step(self, state: _Run) -> tuple[str, str] | None:
        step = self.step = state.step
        self.emit(StepStarted(step, self.config.max_steps))
        reply, model_s = self.ask(state)
        replied_at = self.clock()
        record: dict[str, Any] = {
            "step": step, "model_s": round(model_s, 4), "stop_reason": reply.stop_reason,
            "text": reply.text, "usage": reply.usage.as_dict(),
            "cost_usd": state.last_cost_usd,
            "tool_calls": [{"id": c.id, "name": c.name, "input": c.input}
                           for c in reply.tool_calls],
        }
        outcome, results, shot = self.handle(reply, state, record)
        if results:
            state.messages.append({"role": "user", "content": results})
        record["overhead_s"] = round(self.clock() - replied_at, 4)
        self.emit(StepFinished(step, record, shot.png if shot else None))
        return outcome

    def ask(self, state: _Run) -> tuple[ModelReply, float]:
        messages = context.prune_images(
            state.messages, keep=self.config.keep_images, chunk=self.config.image_chunk)
        state.messages = messages
        request = ModelRequest(
            model=self.config.model, system=self.system,
            messages=(context.with_moving_cache_mark(messages) if self.config.prompt_cache
                      else messages),
            tools=self.tools,
            betas=[self.config.flavour.beta] if self.config.flavour.beta else [],
            max_tokens=self.config.max_tokens,
        )
        step = state.step
        t0 = self.clock()
        reply = self.client.send(request, on_text=lambda text: self.emit(TextStreamed(step, text)))
        model_s = self.clock() - t0
        state.usage = state.usage + reply.usage
        # Rounded once, here, so the run's total is exactly the sum of the recorded step costs.
        step_cost = round(self.config.price.cost(reply.usage), 8) if self.config.price else None
        state.cost_usd += step_cost or 0.0
        state.last_cost_usd = step_cost
        self.emit(ModelReplied(step, reply.text, len(reply.tool_calls), reply.stop_reason,
                               reply.usage, state.usage, model_s, step_cost,
                               _cost(self.config, state)))
        state.messages.append({"role": "assistant", "content": reply.content})
        return reply, model_s

    def handle(
        self, reply: ModelReply, state: _Run, record: dict[str, Any]
    ) -> tuple[tuple[str, str] | None, list[dict[str, Any]], Observation | None]:
        """Carry out a reply: the outcome if the run ends, the tool results, the screenshot."""
        if not reply.tool_calls:
            if state.nudged:
                summary = reply.text or "Claude ended without reporting an outcome"
                return ("unknown", summary), [], None
            state.nudged = True
            return None, [{"type": "text", "text": context.NUDGE}], None
        results: list[dict[str, Any]] = []
        needs_screenshot: dict[str, Any] | None = None
        actions: list[dict[str, Any]] = []
        record["actions"] = actions
        failed = False
        for call in reply.tool_calls:
            if call.name == context.REPORT_TOOL_NAME and not call.toolset_name:
                outcome = _report(call)
                if outcome is not None:
                    return outcome, [], None
                results.append(_result(call, "status must be success or failure", is_error=True))
                continue
            if failed:
                # Actions after a failed one would run on a screen Claude did not expect.
                results.append(_result(call, NOT_EXECUTED, is_error=True))
                continue
            result, wants_shot = self.do_call(call, actions)
            results.append(result)
            failed = bool(result.get("is_error"))
            if wants_shot:
                needs_screenshot = result
        shot = None
        if needs_screenshot is not None:
            shot = self.observe(settle=True, after_input=any(
                a["error"] is None and a["name"] not in _PASSIVE for a in actions))
            needs_screenshot["content"].append(context.image_block(shot.png))
            record.update(settle_s=round(shot.settle_s, 4), settle_captures=shot.captures,
                          is_stable=shot.is_stable)
        return None, results, shot

    def do_call(self, call: ToolCall, actions: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Run one tool call; returns its tool_result and whether a screenshot should follow."""
        flavour = self.config.flavour
        if not flavour.is_computer_call(call):
            return _result(call, f"unknown tool {call.name!r}", is_error=True), False
        name, tool_input = flavour.action_of(call)
        t0 = self.clock()
        try:
            action = parse_action(name, tool_input, allowed=flavour.actions, space=self.space,
                                  clicks_take_coordinate=flavour.clicks_take_coordinate)
            result, wants_shot = self.execute(call, action)
            error = None
        except ActionError as exc:
            error, action, wants_shot = str(exc), None, False
            result = _result(call, error, is_error=True)
        took = self.clock() - t0
        described = describe(action) if action is not None else {"input": tool_input}
        actions.append({"name": name, "action": described, "error": error,
                        "action_s": round(took, 4)})
        self.emit(ActionPerformed(self.step, name, described, error, took))
        return result, wants_shot

    def execute(self, call: ToolCall, action: Any) -> tuple[dict[str, Any], bool]:
        match action:
            case Screenshot():
                return _result(call, ""), True
            case CursorPosition():
                x, y = self.space.to_model(*self.desktop.cursor_position())
                return _result(call, f"X={x},Y={y}"), False
            case Zoom(region):
                image = zoom_region(self.desktop.capture(), self.space, region)
                res = _result(call, f"zoomed into {list(region)} at {image.width}x{image.height}")
                res["content"].append(context.image_block(encode_png(image)))
                return res, False
            case Wait(seconds):
                self.sleep(seconds)
                return _result(call, ""), True
            case _:
                perform(action, self.desktop)
                return _result(call, ""), True

    def observe(self, *, settle: bool, after_input: bool = False) -> Observation:
        """A screenshot for Claude; after input, first wait for the screen to settle."""
        if settle:
            # Only input can still be repainting; a screenshot or wait shows what is there.
            baseline = self.last_frame if after_input else None
            settled = wait_for_settle(self.desktop.capture, baseline=baseline,
                                      interval_s=self.config.settle_interval_s,
                                      ceiling_s=self.config.settle_ceiling_s,
                                      clock=self.clock, sleep=self.sleep)
            frame = settled.frame
        else:
            frame = self.desktop.capture()
        self.last_frame = frame
        image = scale_image(frame_to_image(frame), (self.space.model_w, self.space.model_h))
        png = encode_png(image)
        if settle:
            return Observation(png, frame, settled.waited_s, settled.captures, settled.is_stable)
        return Observation(png, frame)


_PASSIVE = frozenset({"screenshot", "wait", "zoom", "cursor_position"})
NOT_EXECUTED = "Not executed: an earlier computer action in this turn failed."


def _result(call: ToolCall, text: str, *, is_error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": []}
    if text:
        block["content"].append({"type": "text", "text": text})
    if is_error:
        block["is_error"] = True
    if call.toolset_name:
        block["toolset_name"] = call.toolset_name
    return block


def _report(call: ToolCall) -> tuple[str, str] | None:
    status = call.input.get("status")
    if status not in ("success", "failure"):
        return None
    summary = call.input.get("summary")
    return status, summary if isinstance(summary, str) else ""
