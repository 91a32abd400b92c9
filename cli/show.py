"""`cua runs show RUN`: a recorded run, read back in the live view's words.

One line per step (model time, tokens and cost, Claude's text) and one per action (the action
with its API and screen coordinates, typed text escaped, its time, the policy's verdict and the
answer, an error), the injection tripwire's findings (the text, where on screen) and what
came and went, then the pictures: the screenshot after each step, and those shown to a
person asked to approve. Pure: it returns (line, style) pairs and the command prints them.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.store.runs import Run
from ..core.vocab.record import StepRecord
from ..core.vocab.words import counted
from .view import _action_line, _ms, outcome_style, transient_line, tripwire_lines, visible

Line = tuple[str, str | None]


def render_run(run: Run) -> list[Line]:
    """Every line of `runs show` for `run`, with its Rich style (None for plain)."""
    return [*_header(run), *(line for step in run.steps for line in _step(run, step)),
            *_footer(run)]


def _header(run: Run) -> Iterator[Line]:
    h = run.header
    yield f"{visible(h.task)}", "bold"
    where = f" on {h.provider}" + (f" {h.region}" if h.region else "") if h.provider else ""
    screen = ""
    if h.screen_size and h.model_size:
        screen = (f"; screen {h.screen_size[0]}x{h.screen_size[1]} seen as "
                  f"{h.model_size[0]}x{h.model_size[1]}")
    yield f"run {run.run_id} with {h.model} ({h.tool_version}){where}{screen}", None
    yield f"folder {run.path}; started {(h.started_at or '?')[:19].replace('T', ' ')}", "dim"
    if h.replay is not None:
        r = h.replay
        if r.from_run is None:
            yield f"replay: {r.reason}", None
        else:
            how = ("replayed to the end" if r.diverged_at is None
                   else f"handed over to Claude at recorded step {r.diverged_at}: {r.reason}")
            yield f"replay of {r.from_run}: {counted(r.steps_replayed, 'step')}, {how}", None
    first = run.file("step-000.png")
    if first is not None and first.exists():
        yield f"  first screenshot (sent with the task): {first}", "dim"


def _step(run: Run, step: StepRecord) -> Iterator[Line]:
    text = " ".join(step.text.split())
    yield f"step {step.step}: {step_cost(step)}." + (f" {visible(text)}" if text else ""), "bold"
    for action in step.actions:
        policy = action.policy
        denied = policy is not None and (policy.decision == "deny" or policy.answer in (
            "deny", "abort", "stop"))
        yield f"  {_action_line(action)}", "red" if denied or action.error else None
        picture = run.file(action.approval_picture)
        if picture is not None:
            yield f"    picture shown for approval: {picture}", "dim"
    for line in tripwire_lines(step.tripwire):
        yield f"  {line}", "yellow"
    for t in step.transients:
        yield f"  {transient_line(t)}", None
        picture = run.file(t.get("image"))
        if picture is not None:
            yield f"    picture: {picture}", "dim"
    if step.outcome is not None:
        yield f"  reported {step.outcome}", outcome_style(step.outcome)
    shot = run.file(step.screenshot)
    if shot is not None:
        yield f"  screenshot: {shot}", "dim"


def step_cost(step: StepRecord) -> str:
    """What a step cost: the model's time and every token the live view counts (cache writes
    and reads included), or, for a replayed step, that no model was asked."""
    if step.replayed:
        match = f", match {step.match:.3f}" if step.match is not None else ""
        return f"replayed (no model call){match}"
    u = step.usage
    cost = f", ${step.cost_usd:.4f}" if step.cost_usd is not None else ""
    return (f"model {_ms(step.model_s)}, {u.total} tokens ({u.input_tokens} in, "
            f"{u.cache_creation_input_tokens} cache write, {u.cache_read_input_tokens} cache "
            f"read, {u.output_tokens} out){cost}")


def _footer(run: Run) -> Iterator[Line]:
    h = run.header
    if h.approval is not None:
        a = h.approval
        yield (f"stopped for approval at step {a.step}: {a.name} (rule {a.policy.rule}: "
               f"{a.policy.reason}; answer {a.policy.answer})"), "yellow"
        if a.picture:
            yield f"  picture of the target: {a.picture}", "dim"
    if h.check is not None:
        c = h.check
        yield (f"check: `{c.command}` exited {c.exit_code} after {_ms(c.duration_s)}"
               f" ({'passed' if c.passed else 'failed'})"), None
    steps = h.steps if h.steps is not None else len(run.steps)
    duration = f" in {h.duration_s:.1f} s" if h.duration_s is not None else ""
    tokens = f", {h.usage.total} tokens" if h.usage is not None else ""
    cost = f", ${h.cost_usd:.4f}" if h.cost_usd is not None else ""
    exit_code = f", exit {h.exit_code}" if h.exit_code is not None else ""
    yield (f"finished: {h.status} after {counted(steps, 'step')}{duration}{tokens}{cost}"
           f"{exit_code}",
           outcome_style(h.status))
    if h.summary:
        yield f"summary: {visible(h.summary)}", None
