"""`--replay`: carry out a recorded run again without Claude, checking every step on screen.

Each recorded step is replayed only once the screen matches what Claude saw when it chose the
step's actions (`replay_match.compare_step`, after waiting for a slow screen up to a bound), and
keys and typing only into the recorded focused window. Every action goes through the same gate
and the same execute path as an ordinary step (`StepRunner.do_call`), so an `ask` needs an
answer again and a secret is typed from the current environment. At the first step that differs
(or an action that fails), Claude takes over with a note of what was replayed; the run goes on
as an ordinary one and is itself a recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from PIL import Image

from .. import defaults
from ..errors import ConfigError
from ..model import context
from ..model.claude import ToolCall
from ..model.context import FLAVOURS, Flavour, flavour_for
from ..replay.match import (
    DEFAULT_TOLERANCE,
    Match,
    Tolerance,
    compare_step,
    same_window,
    screen_cells,
)
from ..store.runs import damage_of
from ..vocab.actions import (
    Click,
    Drag,
    Key,
    MouseButton,
    MouseMove,
    PendingPng,
    ScreenSpace,
    Scroll,
    TypeText,
    frame_to_image,
    scale_image,
    wait_for_change,
)
from ..vocab.desktop import Frame, Window
from ..vocab.events import HandedOver, ReplayStarted, ScreenMatched, StepStarted
from ..vocab.record import ActionRecord, ReplayRecord, StepRecord, matched_name, screenshot_name
from ..vocab.words import counted
from .step import EndRun, RunState, StepRunner, timeout_summary

if TYPE_CHECKING:
    from ..store.runs import Run, RunInfo

PASSIVE = frozenset({"screenshot", "wait", "zoom", "cursor_position"})
KEYBOARD = frozenset({"key", "type", "hold_key"})
DEFAULT_WAIT_S = 10.0


class LazyClient:
    """A ModelClient made on the first request: a replay that never hands over never imports
    the SDK (about 1.5 s here) nor needs an API key."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self.client: Any = None

    def send(self, request: Any, *, on_text: Callable[[str], None],
             on_retry: Callable[..., None] | None = None) -> Any:
        if self.client is None:
            self.client = self._make()
        return self.client.send(request, on_text=on_text, on_retry=on_retry)

    def abort(self) -> None:
        if self.client is not None:
            self.client.abort()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


# -- which runs can be replayed ---------------------------------------------------------------


def replay_problem(run: Run) -> str | None:
    """Why `run` cannot be replayed, or None if it can."""
    if run.header.status != "success":
        return f"it ended {run.header.status}, and only a run that succeeded is worth repeating"
    damage = damage_of(run)
    if damage:
        return f"{damage[0]}, so the recording is not whole"
    if not run.steps:
        return "it has no steps"
    if run.steps[-1].outcome is None:
        return "it did not end with Claude reporting an outcome"
    if run.header.screen_size is None or run.header.model_size is None:
        return "its record does not say the screen size"
    if run.header.tool_version not in FLAVOURS:
        return f"its tool version {run.header.tool_version!r} is unknown to this cua"
    for step in run.steps:
        path = run.file(step.screenshot_before)
        if path is None or not path.is_file():
            return f"step {step.step} has no screenshot of what Claude saw (format 0 record?)"
    return None


@dataclass(frozen=True, slots=True)
class StartProblem:
    """Why a replay of a recording cannot start here: `is_setting` when the run was not given
    what the recording needs (exit 2), else the screen differs (Claude takes over at once)."""

    reason: str
    is_setting: bool = False


def start_problem(recording: Run, *, space: ScreenSpace,
                  secrets: Sequence[str]) -> StartProblem | None:
    """Whether a replay of `recording` can start on a screen of `space` (the screen's size and
    the size the run's model sees it at) with these secrets: the one judge, for the replay
    itself, `cua run --replay --dry-run` and `cua replay-check`."""
    problem = replay_problem(recording)
    if problem is not None:
        return StartProblem(f"run {recording.run_id} cannot be replayed: {problem}", True)
    missing = sorted(set(recording.header.secrets) - set(secrets))
    if missing:
        flags = " ".join(f"--secret {name}" for name in missing)
        return StartProblem(f"the recording {recording.run_id} types secrets this run was not "
                            f"given; pass {flags} again", True)
    h = recording.header
    screen, seen = (space.screen_w, space.screen_h), (space.model_w, space.model_h)
    if h.screen_size != screen:
        return StartProblem(f"the screen is {_size(screen)}, the recording's "
                            f"{_size(h.screen_size)}")
    if h.model_size != seen:
        return StartProblem(
            f"the screen is {_size(screen)} seen as {_size(seen)} by this run's model, the "
            f"recording's seen as {_size(h.model_size)}: the model decides the scale, so " + (
                "replay a demo run with `cua demo --replay`" if h.model == defaults.DEMO_MODEL
                else f"replay with the recording's model (--model {h.model})"))
    return None


def _size(size: tuple[int, int] | None) -> str:
    return "unknown" if size is None else f"{size[0]}x{size[1]}"


def find_recording(runs: Sequence[RunInfo], *, task: str, screen_size: tuple[int, int],
                   monitor: int | None, load: Callable[[RunInfo], Run]) -> Run | None:
    """`auto`: the newest replayable run that ended success with this task text, screen size
    and monitor (`runs` newest first)."""
    for info in runs:
        h = info.header
        if (h.status, h.task, h.screen_size) != ("success", task, screen_size):
            continue
        if (h.monitor or 1) != (monitor or 1):
            continue
        run = load(info)
        if replay_problem(run) is None:
            return run
    return None


def resolve_recording(spec: str, *, root: Any, exclude: str = "") -> Any:
    """The Run that `spec` names (an id, prefix, folder or `latest`); ConfigError when it
    does not exist or cannot be replayed. `auto` is resolved later, once the screen is known."""
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import load_run

    if spec == "latest":
        return latest_replayable(root, exclude=exclude)
    run = load_run(root, spec)
    problem = replay_problem(run)
    if problem is not None:
        raise ConfigError(f"--replay {spec}: run {run.run_id} cannot be replayed: {problem}")
    return run


def latest_replayable(root: Any, *, exclude: str = "", demo: bool | None = None) -> Any:
    """`--replay latest`: the newest run that can be replayed (a failed or unfinished run is
    passed over); with `demo`, only runs of `cua demo` (True) or none of them (False)."""
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import is_demo, is_replayable, list_runs, load_run

    for info in list_runs(root):
        if info.run_id == exclude or not is_replayable(info.header):
            continue
        if demo is not None and is_demo(info.header) != demo:
            continue
        run = load_run(root, str(info.path))
        if replay_problem(run) is None:
            return run
    which = "demo run" if demo else "run"
    raise ConfigError(f"--replay latest: no {which} in {root} can be replayed (only a run that "
                      "succeeded and whose record is whole can; see the REPLAY column of "
                      "`cua runs list`)")


def make_replayer(spec: str | None, *, task: str, root: Any, monitor: int, wait_s: float,
                  exclude: str) -> Any:
    """The Replayer for `--replay SPEC` (None without it)."""
    if not spec:
        return None
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import list_runs, load_run

    if spec != "auto":
        return Replayer(resolve_recording(spec, root=root, exclude=exclude), wait_s=wait_s)

    def find(screen_size: tuple[int, int]) -> Any:
        runs = [r for r in list_runs(root) if r.run_id != exclude]
        return find_recording(runs, task=task, screen_size=screen_size, monitor=monitor,
                              load=lambda info: load_run(root, str(info.path)))

    return Replayer(find=find, wait_s=wait_s)


# -- reading a recorded step ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One recorded action to replay: the call as Claude sent it and what became of it."""

    call: ToolCall
    record: ActionRecord


def planned_actions(step: StepRecord, flavour: Flavour) -> list[Planned]:
    """The actions of `step` that had an effect when recorded (not refused, not failed, not a
    screenshot or wait: the checks before each step do the waiting)."""
    calls = {c.id: c for c in step.tool_calls}
    out = []
    for record in step.actions:
        call = calls.get(record.tool_use_id)
        if call is None or record.error is not None or record.name in PASSIVE:
            continue
        is_computer = call.name not in (context.REPORT_TOOL_NAME, context.APPROVAL_TOOL_NAME)
        toolset = "computer" if flavour.is_toolset and is_computer else None
        out.append(Planned(ToolCall(call.id, call.name, dict(call.input), toolset), record))
    return out


def targets_of(planned: Sequence[Planned]) -> list[tuple[int, int]]:
    """Screen pixels the step's pointer actions went to."""
    return [p for item in planned if item.record.name not in KEYBOARD for p in item.record.points]


def readable(record: ActionRecord) -> str:
    """`left_click at (120, 80)`, `type 'Acme'`, `key ctrl+s`: an action for the handover note,
    in the coordinates Claude uses (placeholders, never secret values)."""
    match record.action:
        case Click(at) | MouseButton(at) | Scroll(at) | MouseMove(at) if at is not None:
            return f"{record.name} at ({at.api[0]}, {at.api[1]})"
        case Drag(start, end):
            origin = "" if start is None else f" from ({start.api[0]}, {start.api[1]})"
            return f"{record.name}{origin} to ({end.api[0]}, {end.api[1]})"
        case TypeText(text):
            return f"{record.name} {text!r}"
        case Key(chord):
            return f"{record.name} {chord}"
    if record.description is not None:
        return f"{record.name}: {record.description}"
    return record.name


def handover_note(recording: Run, done: Sequence[tuple[int, ActionRecord]], diverged_at: int,
                  reason: str) -> str:
    lines = [f"cua has been replaying a recording of an earlier run of this task "
             f"({recording.run_id}) without asking you. These actions were carried out, in "
             "order:"]
    lines += [f"{i}. step {step}: {readable(r)}" for i, (step, r) in enumerate(done, 1)]
    if not done:
        lines.append("(none)")
    lines.append(f"Replay stopped before recorded step {diverged_at}: {reason}. The screenshot "
                 "below is the screen now. Carry on with the task from here; do not redo what "
                 "is already done unless the screen shows it is not.")
    return "\n".join(lines)


# -- the replay -------------------------------------------------------------------------------


class Diverged(Exception):
    """Replay cannot go on at recorded step `at`."""

    def __init__(self, at: int, reason: str) -> None:
        super().__init__(reason)
        self.at, self.reason = at, reason


class Replayer:
    """Replays `recording` (or, with `find`, the recording `auto` finds for this screen) inside
    `run_task`; `record` says what happened, for run.json and the summary."""

    def __init__(self, recording: Run | None = None, *,
                 find: Callable[[tuple[int, int]], Run | None] | None = None,
                 wait_s: float = DEFAULT_WAIT_S, tolerance: Tolerance = DEFAULT_TOLERANCE,
                 interval_s: float = 0.05) -> None:
        self.recording, self.find = recording, find
        self.wait_s, self.tolerance, self.interval_s = wait_s, tolerance, interval_s
        self.record: ReplayRecord | None = None
        self.done: list[tuple[int, ActionRecord]] = []
        # Recorded screenshots are decoded ahead, beside the step being replayed: decoding a
        # 1920x1080 PNG takes 15-50 ms here, a third of a replayed step.
        self.loader: ThreadPoolExecutor | None = None
        self.pictures: dict[str, Future[tuple[Image.Image, Image.Image]]] = {}

    def prefetch(self, recording: Run, steps: Sequence[StepRecord]) -> None:
        if self.loader is None:
            self.loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cua-replay")
        for step in steps:
            name = step.screenshot_before
            if name and name not in self.pictures:
                self.pictures[name] = self.loader.submit(_load, recording.file(name),
                                                         self.tolerance)

    def picture(self, recording: Run, step: StepRecord) -> tuple[Image.Image, Image.Image]:
        """The screenshot Claude saw before `step`, decoded, and its screen cells (raises
        Diverged if it cannot be read)."""
        self.prefetch(recording, [step])
        future = self.pictures.pop(step.screenshot_before or "")
        try:
            return future.result()
        except (OSError, TypeError, ValueError) as exc:
            raise Diverged(step.step, f"its screenshot {step.screenshot_before} cannot be read "
                                      f"({exc})") from None

    def run(self, runner: StepRunner, state: RunState, task: str) -> tuple[str, str]:
        """Replay, then hand over if needed; returns the run's (status, summary)."""
        space = runner.space
        recording = self.recording
        if recording is None and self.find is not None:
            recording = self.recording = self.find((space.screen_w, space.screen_h))
        if recording is None:
            note = (f"no earlier successful run of this task on a {space.screen_w}x"
                    f"{space.screen_h} screen to replay; this is an ordinary run")
            self.record = ReplayRecord(None, 0, None, note)
            runner.emit(ReplayStarted(None, 0, note))
            return runner.run_steps(state)  # runner.start has sent the task and screenshot
        problem = start_problem(recording, space=space, secrets=runner.secrets.names)
        if problem is not None and problem.is_setting:
            raise ConfigError(problem.reason)
        runner.emit(ReplayStarted(recording.run_id, len(recording.steps)))
        own_config = runner.config
        header = recording.header
        runner.config = replace(own_config, flavour=flavour_for(header.model, header.tool_version))
        replayed = 0
        try:
            if problem is not None:
                raise Diverged(1, problem.reason)
            steps = recording.steps
            for i, step in enumerate(steps):
                self.prefetch(recording, steps[i:i + 3])
                outcome = self.replay_step(runner, state, recording, step)
                replayed += 1
                if outcome is not None:
                    self.record = ReplayRecord(recording.run_id, replayed, None, "")
                    return outcome
            raise Diverged(recording.steps[-1].step, "the recording ended without an outcome")
        except Diverged as stop:
            self.record = ReplayRecord(recording.run_id, replayed, stop.at, stop.reason)
            runner.config = own_config
            return self.hand_over(runner, state, task, recording, stop)
        except EndRun as end:
            self.record = ReplayRecord(recording.run_id, replayed, None, end.summary)
            if end.approval is not None:
                state.approval = end.approval
            return end.status, end.summary
        finally:
            runner.config = own_config
            if self.loader is not None:
                self.loader.shutdown(wait=False, cancel_futures=True)

    def replay_step(self, runner: StepRunner, state: RunState, recording: Run,
                    step: StepRecord) -> tuple[str, str] | None:
        """Check the screen, carry out one recorded step, record it; the outcome at the end."""
        budget = self.budget_left(runner, state)
        if budget is not None:
            raise EndRun(*budget)
        planned = planned_actions(step, runner.config.flavour)
        if not planned and step.outcome is None and step.screenshot is None:
            return None  # a turn without actions (a nudge): nothing to check or do
        t0 = runner.clock()
        # Only a step that acts, or the final one, must match: a step that only looked (a
        # screenshot, a wait) risks nothing, and its recorded screenshot may have been taken
        # mid-repaint. Its score is still recorded.
        must_match = bool(planned) or step.outcome is not None
        match, waited_for = self.look(runner, recording, step, targets_of(planned),
                                      must_match=must_match)
        state.step += 1
        runner.emit(StepStarted(state.step, runner.config.max_steps))
        before = runner.last_screenshot
        if waited_for is not None:
            # The screen the check waited for is the one this step acted on: the record says
            # so, and a replay of this run compares with it (the last screenshot may have
            # caught the app mid-draw).
            before = matched_name(state.step)
            picture = PendingPng(self.model_image(runner, waited_for))
            runner.screen.png, runner.screen.pending = b"", picture
            runner.emit(ScreenMatched(state.step, before, picture))
        actions: list[ActionRecord] = []
        try:
            sent = self.carry_out(runner, state.step, step, planned, actions)
        except (Diverged, EndRun):
            if actions:  # a step cut short still records what it did
                self.finish_step(runner, state, step, actions, match, before, t0, shot=False)
            raise
        shot = step.outcome is None and (sent or step.screenshot is not None)
        self.finish_step(runner, state, step, actions, match, before, t0, shot=shot)
        if step.outcome is not None:
            return step.outcome, self.summary_of(recording, step)
        return None

    def budget_left(self, runner: StepRunner, state: RunState) -> tuple[str, str] | None:
        config = runner.config
        if state.step >= config.max_steps:
            return "budget_exhausted", ("stopped after using all "
                                        f"{counted(config.max_steps, 'step')}")
        timeout = config.timeout_s
        if timeout is not None and runner.clock() - runner.started >= timeout:
            return "timeout", timeout_summary(timeout)
        return None

    def look(self, runner: StepRunner, recording: Run, step: StepRecord,
             targets: list[tuple[int, int]], *, must_match: bool = True
             ) -> tuple[Match, Frame | None]:
        """Compare the screen with what Claude saw before `step`, waiting (up to the bound) for a
        screen that is still changing; raises Diverged if it never matches (with `must_match`;
        else one look, whatever it shows). Returns the verdict and, if the screen had to be
        waited for, the frame that matched."""
        recorded, cells = self.picture(recording, step)
        first = frame = runner.screen.frame or runner.desktop.capture()
        deadline = runner.clock() + self.wait_s
        while True:
            match = compare_step(recorded, self.model_image(runner, frame), targets,
                                 space=runner.space, tol=self.tolerance, recorded_cells=cells)
            remaining = deadline - runner.clock()
            if match.is_match or remaining <= 0 or not must_match:
                break
            frame = wait_for_change(runner.desktop.capture, frame, timeout_s=remaining,
                                    interval_s=self.interval_s, clock=runner.clock,
                                    sleep=runner.sleep).frame
        runner.screen.frame = frame
        if must_match and not match.is_match:
            raise Diverged(step.step, f"{match.reason} (after waiting {self.wait_s:g} s)")
        return match, None if frame is first else frame

    def model_image(self, runner: StepRunner, frame: Frame) -> Image.Image:
        space = runner.space
        return scale_image(frame_to_image(frame), (space.model_w, space.model_h))

    def carry_out(self, runner: StepRunner, step_no: int, step: StepRecord,
                  planned: list[Planned], actions: list[ActionRecord]) -> bool:
        """Run the step's actions through the gate and the desktop; True if input was sent."""
        sent = False
        for i, item in enumerate(planned):
            if item.record.name in KEYBOARD:
                self.wait_for_window(runner, step, item.record.window)
            following = planned[i + 1].call if i + 1 < len(planned) else None
            if item.call.name == context.APPROVAL_TOOL_NAME:
                result = runner.request_approval(step_no, item.call, actions)
            else:
                result, _ = runner.do_call(step_no, item.call, following, actions)
            if result.get("is_error"):
                raise Diverged(step.step, f"its {item.record.name} did not run: "
                                          f"{actions[-1].error or actions[-1].result}")
            self.done.append((step.step, actions[-1]))
            sent = sent or item.call.name != context.APPROVAL_TOOL_NAME
        return sent

    def wait_for_window(self, runner: StepRunner, step: StepRecord,
                        recorded: Window | None) -> None:
        """Keys and typing go only to the recorded focused window (focus may take a moment)."""
        deadline = runner.clock() + self.wait_s
        while True:
            window = runner.desktop.focused_window()
            window = replace(window, title=runner.secrets.redact(window.title))
            if same_window(recorded, window):
                return
            if runner.clock() >= deadline:
                assert recorded is not None
                raise Diverged(step.step, (
                    f"the focused window is {window.wm_class!r} {window.title!r}, not the "
                    f"recorded {recorded.wm_class!r} {recorded.title!r}"))
            runner.sleep(self.interval_s)

    def finish_step(self, runner: StepRunner, state: RunState, step: StepRecord,
                    actions: list[ActionRecord], match: Match, before: str | None, t0: float,
                    *, shot: bool) -> None:
        observed = None
        if shot:
            observed = runner.observe(settle=True, after_input=bool(actions), deferred=True)
            runner.last_screenshot = screenshot_name(state.step)
        ids = {a.tool_use_id for a in actions}
        calls = tuple(c for c in step.tool_calls if c.id in ids or (
            step.outcome is not None and c.name == context.REPORT_TOOL_NAME))
        runner.finish_step(state.step, text=step.text, stop_reason=step.stop_reason,
                           tool_calls=calls, actions=actions, started=t0, shot=observed,
                           before=before, outcome=step.outcome, replayed=True,
                           match=match.score)

    def summary_of(self, recording: Run, step: StepRecord) -> str:
        for call in step.tool_calls:
            if call.name == context.REPORT_TOOL_NAME and isinstance(
                    call.input.get("summary"), str):
                return str(call.input["summary"])
        return recording.header.summary or ""

    def hand_over(self, runner: StepRunner, state: RunState, task: str, recording: Run,
                  stop: Diverged) -> tuple[str, str]:
        """Claude carries on: the task, what was replayed, why it stopped, the screen now."""
        shot = runner.observe(settle=False)
        name = f"handover-{state.step:03d}.png"
        runner.last_screenshot = name
        runner.emit(HandedOver(state.step, stop.at, stop.reason, name, shot.png))
        note = handover_note(recording, self.done, stop.at, stop.reason)
        state.messages = [context.first_message(task, shot.png, note=note)]
        return runner.run_steps(state)


def _load(path: Any, tolerance: Tolerance) -> tuple[Image.Image, Image.Image]:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    return rgb, screen_cells(rgb, tolerance)


def first_step_verdict(recording: Run, desktop: Any, tolerance: Tolerance = DEFAULT_TOLERANCE,
                       *, redact: Callable[[str], str] = str, wait_s: float = 0.0,
                       interval_s: float = 0.05, space: ScreenSpace | None = None,
                       secrets: Sequence[str] = ()) -> Match:
    """`cua replay-check`, `cua run --replay RUN --dry-run`: would replaying `recording` start
    on this screen? The screen and the focused window (its title redacted with `redact`, as the
    recording's was) judged as replay would judge the first recorded step that acts, waiting as
    replay would (up to `wait_s`) for a screen still changing and a window still coming up.
    `space`: the screen as the run's model would see it (`start_problem` judges it as the
    replay does); ConfigError when the run would refuse the recording (exit 2)."""
    h = recording.header
    width, height = desktop.size()
    if space is None:  # no model to judge by: the recording's own scale
        space = ScreenSpace(width, height, *(h.model_size or (width, height)))
    problem = start_problem(recording, space=space, secrets=secrets)
    if problem is not None:
        if problem.is_setting:
            raise ConfigError(problem.reason)
        return Match(0.0, problem.reason)
    assert h.model_size is not None
    flavour = flavour_for(h.model, h.tool_version)
    # Judged as replay judges it: steps that only looked need not match (their screenshot may
    # have been taken while the app was still drawing), so the first step that acts, or ends
    # the run, is the one the screen must match.
    step = next((s for s in recording.steps if s.screenshot_before is not None and (
        planned_actions(s, flavour) or s.outcome is not None)), recording.steps[0])
    planned = planned_actions(step, flavour)
    with Image.open(recording.file(step.screenshot_before)) as image:  # type: ignore[arg-type]
        recorded = image.convert("RGB")
    deadline = time.monotonic() + wait_s
    waited = f" (after waiting {wait_s:g} s)" if wait_s > 0 else ""
    frame = desktop.capture()
    while True:
        current = scale_image(frame_to_image(frame), h.model_size)
        match = compare_step(recorded, current, targets_of(planned), space=space, tol=tolerance)
        remaining = deadline - time.monotonic()
        if match.is_match or remaining <= 0:
            break
        frame = wait_for_change(desktop.capture, frame, timeout_s=remaining,
                                interval_s=interval_s).frame
    if not match.is_match:
        return Match(match.score, match.reason + waited)
    keyboard = [p.record.window for p in planned if p.record.name in KEYBOARD]
    while keyboard:
        focused = desktop.focused_window()
        if same_window(keyboard[0], replace(focused, title=redact(focused.title))):
            break
        if time.monotonic() >= deadline:
            return Match(match.score, "another window has the focus than when it was "
                                      "recorded" + waited)
        time.sleep(interval_s)
    return match
