"""run_task: screenshot → Claude → action → screenshot, until Claude reports or a budget ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..cancel import Cancel, Deadline
from ..errors import CuaError, DeadlineExceeded
from ..interrupts import run_ending
from ..model.claude import InterruptibleClient, ModelClient
from ..safety.policy import Approver, Gate, answerer_name, refuse_all
from ..safety.secrets import Secrets
from ..vocab.actions import space_for
from ..vocab.desktop import Desktop
from ..vocab.events import CheckFinished, EventSink, RunFinished, RunStarted
from ..vocab.record import CheckRecord
from .check import CheckResult
from .step import LoopConfig, RunState, StepRunner, run_cost, timeout_summary

if TYPE_CHECKING:
    from .replay import Replayer

__all__ = ["LoopConfig", "run_task"]

log = logging.getLogger(__name__)


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
    approver: Approver = refuse_all,
    check: Callable[[], CheckResult] | None = None,
    replay: Replayer | None = None,
    cancel: Cancel | None = None,
) -> RunFinished:
    """Run one task to its end and return its outcome (the RunFinished it reported); CuaError
    and Ctrl-C propagate after RunFinished has been reported and every held key and button
    released.

    `approver` decides the actions the policy wants a person for (default: nobody is there, so
    the run stops with needs_approval); `check`, if given, must pass for a success to stand.
    With `replay`, the recorded steps are carried out first and Claude is asked only from where
    the screen stops matching the recording. `cancel`, when set from any thread, ends the run as
    Ctrl-C does (see core/cancel.py); the --timeout budget expires it too.
    """
    cancel = cancel if cancel is not None else Cancel()
    started = clock()
    width, height = desktop.size()
    space = space_for(width, height, max_long_edge=config.limits.max_long_edge,
                      max_pixels=config.limits.max_pixels)
    secrets = config.secrets
    # Every way out of the run is redacted at its boundary: what is sent to and comes back from
    # Claude, every event (records, views, the summary), and what an approver is shown.
    client = secrets.guard_client(client)
    on_event = cancel.checking(secrets.guard_sink(on_event))
    client = InterruptibleClient(client, cancel)
    sleep = cancel.sleep if sleep is time.sleep else cancel.checking_sleep(sleep)
    who = answerer_name(approver)  # before the guard wraps it
    approver = secrets.guard_approver(approver)
    task = secrets.redact(task)
    on_event(RunStarted(run_id, run_dir, task, config.model, config.flavour.version,
                        (width, height), (space.model_w, space.model_h), config.max_steps))
    step_runner = StepRunner(desktop=desktop, client=client, config=config, space=space,
                             gate=Gate(config.rules, approver, who=who, clock=clock),
                             on_event=on_event, clock=clock, sleep=sleep, run_dir=run_dir,
                             started=started)
    status, summary = "error", "the run stopped before it finished"
    state = RunState(messages=[])
    check_record: CheckRecord | None = None
    try:
        with Deadline(cancel, config.timeout_s):
            step_runner.start(state, task)
            if replay is not None:
                status, summary = replay.run(step_runner, state, task)
            else:
                status, summary = step_runner.run_steps(state)
        if status == "success" and check is not None:
            status, summary, check_record = _run_check(check, summary, on_event, secrets)
    except DeadlineExceeded:
        status, summary = "timeout", timeout_summary(config.timeout_s)
    except KeyboardInterrupt as exc:
        status, summary = "interrupted", str(exc) or "interrupted by the user"
        raise
    except CuaError as exc:
        status, summary = "error", secrets.redact(str(exc))
        raise
    finally:
        run_ending()  # from here a second signal is held: input released, the record finished
        cancel.hold()
        try:
            desktop.release_all()
        except CuaError as exc:
            if status != "interrupted":
                raise
            # The signal's outcome stands (exit 130/143/129), not "cannot release" (exit 5): the
            # display may have gone with the same signal; the watchdog releases what it can.
            log.warning("could not release input after the interruption: %s", exc)
        finally:
            step_runner.close()
            # The steps recorded: a step whose model call never got a reply is not one.
            finished = RunFinished(status, secrets.redact(summary), step_runner.recorded,
                                   state.usage,
                                   clock() - started, run_cost(config, state),
                                   state.approval, check_record,
                                   None if replay is None else replay.record)
            on_event(finished)
    return finished


def _run_check(check: Callable[[], CheckResult], summary: str, on_event: EventSink,
               secrets: Secrets) -> tuple[str, str, CheckRecord]:
    result = check()
    output = secrets.redact(result.output)
    record = CheckRecord(secrets.redact(result.command), result.exit_code,
                         round(result.duration_s, 3), output[-4000:], result.passed)
    on_event(CheckFinished(record, output))
    if result.passed:
        return "success", summary, record
    return "check_failed", (f"Claude reported success, but --check exited {result.exit_code}. "
                            f"Claude's summary: {summary}"), record
