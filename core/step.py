"""One step of a run: ask Claude, pass each proposed action through the gate, carry it out,
and observe the screen again. `run_task` in loop.py drives the steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import context
from .actions import (
    Action,
    CursorPosition,
    Screenshot,
    TypeText,
    Wait,
    Zoom,
    describe,
    parse_action,
    perform,
)
from .claude import ModelClient, ModelReply, ModelRequest, ToolCall
from .desktop import Desktop, Frame
from .errors import ActionError, DesktopError
from .events import (
    ActionPerformed,
    EventSink,
    ModelReplied,
    StepFinished,
    StepStarted,
    TextStreamed,
    Usage,
)
from .gate import ApprovalRequest, Decision, Gate
from .policy import Proposal, Verdict, proposal_for
from .screen import (
    ScreenSpace,
    crop_around,
    encode_png,
    frame_to_image,
    scale_image,
    wait_for_settle,
    zoom_region,
)

if TYPE_CHECKING:
    from .loop import LoopConfig


@dataclass(frozen=True, slots=True)
class Observation:
    png: bytes
    frame: Frame
    settle_s: float = 0.0
    captures: int = 1
    is_stable: bool = True


@dataclass(slots=True)
class RunState:
    """Mutable state of one run, shared by run_task and the steps."""

    messages: list[dict[str, Any]]
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    last_cost_usd: float | None = None
    step: int = 0
    nudged: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class EndRun(Exception):
    """Raised inside a step when a person (or nobody) ends the run at an approval."""

    def __init__(self, status: str, summary: str) -> None:
        super().__init__(summary)
        self.status, self.summary = status, summary


def run_cost(config: LoopConfig, state: RunState) -> float | None:
    return round(state.cost_usd, 8) if config.price is not None else None


def timeout_summary(timeout_s: float | None) -> str:
    return f"stopped when the --timeout of {timeout_s:g} s ran out"


class StepRunner:
    def __init__(self, desktop: Desktop, client: ModelClient, config: LoopConfig,
                 space: ScreenSpace, on_event: EventSink, clock: Callable[[], float],
                 sleep: Callable[[float], None], gate: Gate, run_dir: str,
                 started: float) -> None:
        self.desktop, self.client, self.config, self.space = desktop, client, config, space
        self.emit, self.clock, self.sleep = on_event, clock, sleep
        self.gate, self.run_dir, self.started = gate, run_dir, started
        self.secrets = config.secrets
        self.tools = [config.flavour.tool_entry(space), context.REPORT_TOOL,
                      context.APPROVAL_TOOL]
        self.last_frame: Frame | None = None
        self.last_png = b""
        self.step = 0
        self.details: dict[str, Any] = {}  # the run's "approval", for the summary
        self.crop_count = 0
        self.last_crop: str | None = None
        self.system = context.system_blocks(self.secrets.prompt_text(),
                                            cache=config.prompt_cache)

    def run_steps(self, state: RunState) -> tuple[str, str]:
        limit = self.config.max_cost_usd
        timeout = self.config.timeout_s
        while state.step < self.config.max_steps:
            if limit is not None and state.cost_usd >= limit:
                return "budget_exhausted", (f"stopped at ${state.cost_usd:.4f}, over the "
                                            f"--max-cost budget of ${limit:.4f}")
            if timeout is not None and self.clock() - self.started >= timeout:
                return "timeout", timeout_summary(timeout)
            state.step += 1
            outcome = self.one_step(state)
            if outcome is not None:
                return outcome
        return "budget_exhausted", f"stopped after using all {self.config.max_steps} steps"

    def one_step(self, state: RunState) -> tuple[str, str] | None:
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
        self.emit(StepFinished(step, self.secrets.redact_data(record), shot.png if shot else None))
        return outcome

    def ask(self, state: RunState) -> tuple[ModelReply, float]:
        note = context.budget_note(state.step, self.config.max_steps)
        if note is not None:  # kept in the history: the cached prefix stays what was sent
            state.messages = context.with_note(state.messages, note)
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

        def on_text(text: str) -> None:
            # With secrets in play, text is shown only whole and redacted (in ModelReplied):
            # a value could arrive split across two streamed pieces.
            if not self.secrets:
                self.emit(TextStreamed(step, text))

        t0 = self.clock()
        reply = self.client.send(request, on_text=on_text)
        model_s = self.clock() - t0
        if self.secrets:
            reply = replace(reply, content=self.secrets.redact_data(reply.content),
                            text=self.secrets.redact(reply.text))
        state.usage = state.usage + reply.usage
        # Rounded once, here, so the run's total is exactly the sum of the recorded step costs.
        step_cost = round(self.config.price.cost(reply.usage), 8) if self.config.price else None
        state.cost_usd += step_cost or 0.0
        state.last_cost_usd = step_cost
        self.emit(ModelReplied(step, reply.text, len(reply.tool_calls), reply.stop_reason,
                               reply.usage, state.usage, model_s, step_cost,
                               run_cost(self.config, state)))
        state.messages.append({"role": "assistant", "content": reply.content})
        return reply, model_s

    def handle(
        self, reply: ModelReply, state: RunState, record: dict[str, Any]
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
        calls = reply.tool_calls
        for i, call in enumerate(calls):
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
            following = calls[i + 1] if i + 1 < len(calls) else None
            try:
                if call.name == context.APPROVAL_TOOL_NAME and not call.toolset_name:
                    result, wants_shot = self.request_approval(call, actions), False
                else:
                    result, wants_shot = self.do_call(call, following, actions)
            except EndRun as end:
                return (end.status, end.summary), [], None
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

    def do_call(self, call: ToolCall, following: ToolCall | None,
                actions: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Run one tool call; returns its tool_result and whether a screenshot should follow."""
        flavour = self.config.flavour
        if not flavour.is_computer_call(call):
            return _result(call, f"unknown tool {call.name!r}", is_error=True), False
        name, tool_input = flavour.action_of(call)
        t0 = self.clock()
        decision: Decision | None = None
        described: dict[str, Any] = {"input": tool_input}
        try:
            action = self.parse(name, tool_input)
            described = describe(action)
            if name not in _PASSIVE:
                decision = self.judge(name, action, described, tool_input, following)
            if decision is None or decision.runs:
                result, wants_shot = self.execute(call, action)
                error = None
            else:
                error, wants_shot = decision.message_for_claude(), False
                result = _result(call, error, is_error=True)
        except ActionError as exc:
            error, wants_shot = str(exc), False
            result = _result(call, error, is_error=True)
        took = self.clock() - t0
        self.note(actions, name, described, error, took, decision)
        return result, wants_shot

    def note(self, actions: list[dict[str, Any]], name: str, described: dict[str, Any],
             error: str | None, took: float, decision: Decision | None) -> None:
        entry: dict[str, Any] = {"name": name, "action": described, "error": error,
                                 "action_s": round(took, 4)}
        policy = None
        if decision is not None and decision.verdict.rule != "default":
            policy = entry["policy"] = decision.as_dict()
        actions.append(entry)
        self.emit(ActionPerformed(self.step, name, described, error, took, policy))

    def parse(self, name: str, tool_input: dict[str, Any]) -> Action:
        flavour = self.config.flavour
        return parse_action(name, tool_input, allowed=flavour.actions, space=self.space,
                            clicks_take_coordinate=flavour.clicks_take_coordinate)

    def peek(self, call: ToolCall | None) -> Action | None:
        """The action `call` would perform, if it is a valid computer action."""
        if call is None or not self.config.flavour.is_computer_call(call):
            return None
        try:
            return self.parse(*self.config.flavour.action_of(call))
        except ActionError:
            return None

    def judge(self, name: str, action: Action, described: dict[str, Any],
              tool_input: dict[str, Any], following: ToolCall | None) -> Decision:
        window = self.desktop.focused_window()
        proposal = proposal_for(name, action, window=window, step=self.step,
                                secret_names=self.secrets.names,
                                next_action=self.peek(following), tool_input=tool_input)
        return self.gated(proposal, described)

    def request_approval(self, call: ToolCall, actions: list[dict[str, Any]]) -> dict[str, Any]:
        """Claude's own request_approval: a person (or the policy) decides."""
        text = call.input.get("description")
        description = self.secrets.redact(text) if isinstance(text, str) else ""
        described = {"kind": context.APPROVAL_TOOL_NAME, "description": description}
        proposal = Proposal(kind=context.APPROVAL_TOOL_NAME, description=description,
                            window=self.desktop.focused_window(), step=self.step)
        decision = self.gated(proposal, described)
        error = None if decision.runs else decision.message_for_claude()
        self.note(actions, context.APPROVAL_TOOL_NAME, described, error, 0.0, decision)
        if error is not None:
            return _result(call, error, is_error=True)
        return _result(call, f"Approved: go ahead with: {description}")

    def gated(self, proposal: Proposal, described: dict[str, Any]) -> Decision:
        """The gate's decision; ends the run (via EndRun) on abort or when nobody can answer."""

        def request(verdict: Verdict) -> ApprovalRequest:
            crop_png, crop_path = self.crop(proposal.point)
            return ApprovalRequest(self.step, proposal.kind, described, verdict, proposal.window,
                                   proposal.point, crop_png, crop_path)

        decision = self.gate.judge(proposal, request=request)
        if decision.ends_run:
            v = decision.verdict
            self.details["approval"] = {
                "step": self.step, "action": described, **decision.as_dict(),
                "window": {"wm_class": proposal.window.wm_class,
                           "title": self.secrets.redact(proposal.window.title)},
                "crop": self.last_crop}
            if decision.answer == "abort":
                raise EndRun("aborted", f"aborted at step {self.step} when asked to approve "
                              f"{proposal.kind} (rule {v.rule})")
            raise EndRun("needs_approval", (
                f"stopped before step {self.step}'s {proposal.kind}: rule {v.rule} asks for "
                f"approval ({v.reason}) and nobody can answer; rerun on a terminal, or with "
                "--yes to approve such actions, or allow it in a --policy file"))
        return decision

    def crop(self, point: tuple[int, int] | None) -> tuple[bytes | None, str | None]:
        """A picture of what the action targets, saved in the run folder for the person asked."""
        self.last_crop = None
        if self.last_frame is None:
            return None, None
        if point is not None:
            png = encode_png(crop_around(self.last_frame, point))
        else:
            png = self.last_png
        path = None
        if self.run_dir:
            self.crop_count += 1
            target = Path(self.run_dir) / f"approval-step-{self.step:03d}-{self.crop_count}.png"
            target.write_bytes(png)
            path = self.last_crop = str(target)
        return png, path

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
            case TypeText(text) if self.secrets.used_in(text):
                self.type_with_secrets(text)
                return _result(call, ""), True
            case _:
                perform(action, self.desktop)
                return _result(call, ""), True

    def type_with_secrets(self, text: str) -> None:
        """Type `text` with its placeholders filled in; no error may carry a value out."""
        try:
            perform(TypeText(self.secrets.substitute(text)), self.desktop)
        except (ActionError, DesktopError) as exc:
            message = self.secrets.redact(str(exc))
            raise type(exc)(f"typing text with a secret failed: {message}") from None

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
        png = self.last_png = encode_png(image)
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

