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
    Click,
    CursorPosition,
    Drag,
    MouseButton,
    MouseMove,
    Screenshot,
    Scroll,
    TypeText,
    Wait,
    Zoom,
    parse_action,
    perform,
)
from .claude import ModelClient, ModelReply, ModelRequest, ToolCall
from .desktop import Desktop, Frame, Window
from .errors import ActionError, DesktopError
from .events import (
    ActionPerformed,
    EventSink,
    ModelReplied,
    ModelRetrying,
    StepFinished,
    StepStarted,
    TextStreamed,
)
from .gate import ApprovalRequest, Decision, Gate
from .policy import Proposal, Verdict, proposal_for
from .record import (
    ActionRecord,
    ApprovalRecord,
    StepRecord,
    ToolCallRecord,
    action_to_dict,
    screenshot_name,
)
from .runs import write_run_file
from .screen import (
    ScreenSpace,
    crop_around,
    encode_png,
    frame_to_image,
    scale_image,
    wait_for_settle,
    zoom_region,
)
from .usage import Usage

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
    approval: ApprovalRecord | None = None  # the ask that ended the run, if one did


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
        self.last_screenshot: str | None = None  # file name of the newest screenshot sent
        self.step = 0
        self.approval: ApprovalRecord | None = None  # the ask that ended the run
        self.crop_count = 0
        self.last_crop: str | None = None
        self.judged_window: Window | None = None  # focused window of the action just judged
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
        before = self.last_screenshot
        reply, model_s = self.ask(state)
        replied_at = self.clock()
        actions: list[ActionRecord] = []
        outcome, results, shot = self.handle(reply, state, actions)
        if results:
            state.messages.append({"role": "user", "content": results})
        record = StepRecord(
            step=step, text=reply.text, stop_reason=reply.stop_reason,
            tool_calls=tuple(ToolCallRecord(c.id, c.name, c.input) for c in reply.tool_calls),
            actions=tuple(actions), usage=reply.usage, cost_usd=state.last_cost_usd,
            model_s=round(model_s, 4), overhead_s=round(self.clock() - replied_at, 4),
            settle_s=None if shot is None else round(shot.settle_s, 4),
            settle_captures=None if shot is None else shot.captures,
            is_stable=None if shot is None else shot.is_stable,
            screenshot=None if shot is None else self.last_screenshot,
            screenshot_before=before,
            outcome=outcome[0] if outcome and outcome[0] in ("success", "failure") else None,
        )
        self.emit(StepFinished(step, self.redacted(record), shot.png if shot else None))
        return outcome

    def redacted(self, record: Any) -> Any:
        """`record` with every string passed through the run's secrets (a no-op without any)."""
        if not self.secrets:
            return record
        return type(record).from_dict(self.secrets.redact_data(record.to_dict()))

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
            self.emit(TextStreamed(step, text))

        def on_retry(retry: int, max_retries: int, reason: str, delay_s: float) -> None:
            self.emit(ModelRetrying(step, retry, max_retries, reason, delay_s))

        t0 = self.clock()
        reply = self.client.send(request, on_text=on_text, on_retry=on_retry)
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
        self, reply: ModelReply, state: RunState, actions: list[ActionRecord]
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
        failed = False
        calls = reply.tool_calls
        for i, call in enumerate(calls):
            if call.problem is not None:  # unusable as it came: answered, never run
                result = _result(call, call.problem, is_error=True)
                self.note(actions, ActionRecord(call.name, call.input, tool_use_id=call.id,
                                                error=call.problem), result)
                results.append(result)
                failed = True
                continue
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
                a.error is None and a.name not in _PASSIVE for a in actions))
            needs_screenshot["content"].append(context.image_block(shot.png))
            self.last_screenshot = screenshot_name(self.step)
        return None, results, shot

    def do_call(self, call: ToolCall, following: ToolCall | None,
                actions: list[ActionRecord]) -> tuple[dict[str, Any], bool]:
        """Run one tool call; returns its tool_result and whether a screenshot should follow."""
        flavour = self.config.flavour
        if not flavour.is_computer_call(call):
            result = _result(call, f"unknown tool {call.name!r}", is_error=True)
            self.note(actions, ActionRecord(call.name, call.input, tool_use_id=call.id,
                                            error=_text_of(result)), result)
            return result, False
        name, tool_input = flavour.action_of(call)
        t0 = self.clock()
        decision: Decision | None = None
        action: Action | None = None
        points: tuple[tuple[int, int], ...] = ()
        self.judged_window = None
        try:
            action = self.parse(name, tool_input)
            points = self.points_of(action)
            if name not in _PASSIVE:
                decision = self.judge(name, action, tool_input, following)
            if decision is None or decision.runs:
                result, wants_shot = self.execute(call, action)
                error = None
            else:
                error, wants_shot = decision.message_for_claude(), False
                result = _result(call, error, is_error=True)
        except ActionError as exc:
            error, wants_shot = str(exc), False
            result = _result(call, error, is_error=True)
        waited = decision.waited_s if decision is not None else 0.0
        took = self.clock() - t0 - waited  # a person's time at the prompt is not the action's
        policy = None
        if decision is not None and decision.verdict.rule != "default":
            policy = decision.record()
        self.note(actions, ActionRecord(
            name, tool_input, action, error, round(took, 4), policy, call.id,
            window=self.judged_window, points=points, region=self.region_of(action),
            approval_picture=self.picture_of_step(), approval_s=round(waited, 4)), result)
        return result, wants_shot

    def note(self, actions: list[ActionRecord], record: ActionRecord,
             result: dict[str, Any]) -> None:
        """Complete `record` with the tool result Claude gets, keep it, and report it."""
        record = self.redacted(replace(record, result=_text_of(result),
                                       is_error=bool(result.get("is_error"))))
        actions.append(record)
        self.emit(ActionPerformed(self.step, record))

    def points_of(self, action: Action) -> tuple[tuple[int, int], ...]:
        """Where the pointer goes, in screen pixels; an action without a coordinate acts where
        the pointer is."""
        match action:
            case Drag(start, end):
                origin = self.desktop.cursor_position() if start is None else start.screen
                return (origin, end.screen)
            case Click(at) | MouseButton(at) | Scroll(at) | MouseMove(at):
                return (self.desktop.cursor_position() if at is None else at.screen,)
        return ()

    def region_of(self, action: Action | None) -> tuple[int, int, int, int] | None:
        return self.space.region_to_screen(action.region) if isinstance(action, Zoom) else None

    def picture_of_step(self) -> str | None:
        """The approval picture saved for the action just judged, as a file name."""
        picture, self.last_crop = self.last_crop, None
        return Path(picture).name if picture else None

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

    def judge(self, name: str, action: Action, tool_input: dict[str, Any],
              following: ToolCall | None) -> Decision:
        window = self.judged_window = self.desktop.focused_window()
        proposal = proposal_for(name, action, window=window, step=self.step,
                                secret_names=self.secrets.names,
                                next_action=self.peek(following), tool_input=tool_input)
        return self.gated(proposal, name, action_to_dict(action))

    def request_approval(self, call: ToolCall, actions: list[ActionRecord]) -> dict[str, Any]:
        """Claude's own request_approval: a person (or the policy) decides."""
        text = call.input.get("description")
        description = self.secrets.redact(text) if isinstance(text, str) else ""
        described = {"kind": context.APPROVAL_TOOL_NAME, "description": description}
        window = self.desktop.focused_window()
        proposal = Proposal(kind=context.APPROVAL_TOOL_NAME, description=description,
                            window=window, step=self.step)
        decision = self.gated(proposal, context.APPROVAL_TOOL_NAME, described)
        error = None if decision.runs else decision.message_for_claude()
        if error is not None:
            result = _result(call, error, is_error=True)
        else:
            result = _result(call, f"Approved: go ahead with: {description}")
        self.note(actions, ActionRecord(
            context.APPROVAL_TOOL_NAME, call.input, None, error, 0.0, decision.record(),
            call.id, window=window, description=description,
            approval_picture=self.picture_of_step(), approval_s=round(decision.waited_s, 4)),
            result)
        return result

    def gated(self, proposal: Proposal, name: str, described: dict[str, Any]) -> Decision:
        """The gate's decision; ends the run (via EndRun) on abort or when nobody can answer."""

        def request(verdict: Verdict) -> ApprovalRequest:
            crop_png, crop_path = self.crop(proposal.point)
            return ApprovalRequest(self.step, proposal.kind, described, verdict, proposal.window,
                                   proposal.point, crop_png, crop_path)

        self.last_crop = None
        decision = self.gate.judge(proposal, request=request)
        if decision.ends_run:
            v = decision.verdict
            window = replace(proposal.window, title=self.secrets.redact(proposal.window.title))
            self.approval = ApprovalRecord(
                self.step, name, ActionRecord.from_dict({"name": name, "action": described}),
                decision.record(), window, self.last_crop)
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
            write_run_file(target, png)
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


def _text_of(result: dict[str, Any]) -> str:
    return " ".join(c["text"] for c in result["content"] if c.get("type") == "text")


def _report(call: ToolCall) -> tuple[str, str] | None:
    status = call.input.get("status")
    if status not in ("success", "failure"):
        return None
    summary = call.input.get("summary")
    return status, summary if isinstance(summary, str) else ""

