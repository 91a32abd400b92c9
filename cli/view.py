"""The terminal: core events rendered on stderr (a Rich live view on a terminal, plain lines
otherwise), and stdout and stderr as a sink that passes whatever cua writes during a run
(views, prompts, errors, the JSON summary, log lines) through one redactor first."""

from __future__ import annotations

import sys
import time
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from ..core.vocab.events import (
    ActionPerformed,
    CheckFinished,
    Event,
    HandedOver,
    ModelReplied,
    ModelRetrying,
    ReplayStarted,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    TextStreamed,
    Usage,
)
from ..core.vocab.record import ActionRecord
from ..core.vocab.words import counted
from ..core.x11.watcher import transient_text

if TYPE_CHECKING:  # core/safety/secrets.py is loaded by a run, not by `cua runs show`
    from ..core.safety.secrets import Redactor


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def visible(text: str) -> str:
    """`text` with every character a person could miss written as an escape: control and
    format characters (zero-width spaces, direction marks), and any space other than ' '."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch != " " and (unicodedata.category(ch)[0] in "CZ" or not ch.isprintable()):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def transient_line(t: Mapping[str, Any]) -> str:
    """One recorded transient (StepRecord.transients) on one line, as Claude was told it."""
    return "came and went: " + visible(transient_text(t))


def tripwire_lines(scan: Mapping[str, Any] | None) -> list[str]:
    """The injection tripwire's findings on the screenshot a step answered (StepRecord.tripwire),
    one line each: the text as read, its kind and where it is on screen."""
    lines = []
    for found in (scan or {}).get("findings") or ():
        text = " ".join(str(found.get("text", "")).split())
        text = text if len(text) <= 160 else text[:159] + "…"
        x0, y0, x1, y1 = [*(found.get("box") or ()), 0, 0, 0, 0][:4]
        where = f"screen ({x0}, {y0}) to ({x1}, {y1})"
        seen = ", read in a zoom" if found.get("seen_in") == "zoom" else ""
        lines.append(f"injection tripwire flagged \"{visible(text)}\" "
                     f"({found.get('kind', '?')}) at {where}{seen}")
    return lines


# Fields left out of the default per-action line when they hold the usual value (-v shows them).
_USUAL = {"button": "left", "count": 1, "repeat": 1}


def _point(name: str, value: dict[str, Any]) -> str:
    screen = value["screen"]
    api = value.get("api")
    where = (f"({api[0]}, {api[1]}) → screen ({screen[0]}, {screen[1]})" if api
             else f"screen ({screen[0]}, {screen[1]})")
    return where if name == "at" else f"{name} {where}"


def action_text(record: ActionRecord, *, verbose: bool = False) -> str:
    """`left_click (512, 300) → screen (686, 402)`, `type "a\\nb"`: the action and its target,
    typed text escaped; with `verbose`, every field. Shared by the live view and `runs show`."""
    parts = [record.name]
    for key, value in record.to_dict()["action"].items():
        if key == "kind" or value is None or (not verbose and _USUAL.get(key) == value):
            continue
        if isinstance(value, dict) and "screen" in value:
            parts.append(_point(key, value))
        elif isinstance(value, str):
            parts.append(f'"{visible(value)}"' if key in ("text", "description")
                         else f"{key}={visible(value)}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _action_line(record: ActionRecord, *, verbose: bool = False) -> str:
    line = f"{action_text(record, verbose=verbose)}  {_ms(record.action_s)}"
    if record.approval_s and record.policy is not None and record.policy.answered_by == (
            "terminal"):  # a person's time, shown apart from the action's
        line += f" (+ {_ms(record.approval_s)} waiting for approval)"
    if record.policy is not None:
        p = record.policy
        answer = f", {_ANSWER_WORDS[p.answer]}" if p.answer is not None else ""
        line += f"  [{p.decision}: {p.rule}{answer}]"
    return line + (f"  error: {visible(record.error)}" if record.error else "")


_ANSWER_WORDS = {"once": "approved once", "always": "approved for the run", "deny": "denied",
                 "abort": "aborted", "stop": "nobody to ask"}


def outcome_style(status: str) -> str:
    """Success green, a failure red, a stop for a budget or a person yellow."""
    if status == "success":
        return "bold green"
    if status in ("budget_exhausted", "timeout", "needs_approval", "aborted", "interrupted"):
        return "bold yellow"
    return "bold red"


class PlainView:
    """One line per thing that happened; for logs, pipes and cron mail.

    Not on a terminal, each line is written whole (no wrapping at a guessed 80 columns); on one,
    Rich wraps at word boundaries to the real width. `verbose` adds settling and overhead.
    """

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.replay_steps = 0  # recorded steps of the run being replayed
        self.verbose = verbose
        # While a replay runs, a step's heading (`replay 2/12 ✓`, with its match) is known only
        # once the step is done: its action lines wait here, to be printed under it.
        self.replaying = False
        self.held: list[Event] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, ReplayStarted):
            self.replaying = event.from_run is not None
        elif isinstance(event, HandedOver | RunFinished):
            self.replaying = False
            self.release()
        if self.replaying and isinstance(event, ActionPerformed):
            self.held.append(event)
            return
        self.print(event)
        if isinstance(event, StepFinished):
            self.release()

    def release(self) -> None:
        held, self.held = self.held, []
        for event in held:
            self.print(event)

    def print(self, event: Event) -> None:
        line = self.render(event)
        if line is not None:
            self.console.print(line, markup=False, highlight=False, style=_style_of(event),
                               soft_wrap=not self.console.is_terminal)

    def render(self, event: Event) -> str | None:
        match event:
            case RunStarted():
                return (f"cua: {event.task!r} with {event.model} ({event.tool_version}); screen "
                        f"{event.screen_size[0]}x{event.screen_size[1]} seen as "
                        f"{event.model_size[0]}x{event.model_size[1]}; run {event.run_dir}")
            case ModelReplied():
                text = f" {event.text.strip()}" if event.text.strip() else ""
                cost = f", ${event.total_cost_usd:.4f}" if event.total_cost_usd is not None else ""
                return (f"step {event.step}: model {_ms(event.model_s)}, "
                        f"{event.total_usage.total} tokens so far{cost}.{text}")
            case ActionPerformed():
                return f"  {_action_line(event.record, verbose=self.verbose)}"
            case ReplayStarted():
                self.replay_steps = event.steps
                if event.from_run is None:
                    return f"replay: {event.note}"
                return (f"replaying run {event.from_run} "
                        f"({counted(event.steps, 'recorded step')}); Claude "
                        "is asked only if the screen differs")
            case StepFinished() if event.record.replayed:
                rec = event.record
                match = "" if rec.match is None else f"  match {rec.match:.3f}"
                return f"replay {rec.step}/{self.replay_steps} ✓ {_ms(rec.overhead_s)}{match}"
            case HandedOver():
                return (f"replay stopped before recorded step {event.diverged_at}: "
                        f"{event.reason}; Claude takes over from step {event.step + 1}")
            case StepFinished():
                rec = event.record
                lines = [f"  {line}" for line in tripwire_lines(rec.tripwire)]
                lines += [f"  {transient_line(t)}" for t in rec.transients]
                if rec.settle_s is not None and self.verbose:
                    captures = counted(rec.settle_captures or 0, "capture")
                    lines.append(f"  settle {_ms(rec.settle_s)} ({captures}), "
                                 f"overhead {_ms(rec.overhead_s)}")
                return "\n".join(lines) or None
            case ModelRetrying():
                return (f"  retrying ({event.retry}/{event.max_retries}) in "
                        f"{_ms(event.delay_s)} after {event.reason}…")
            case CheckFinished():
                r = event.result
                return f"check: `{r.command}` exited {r.exit_code} after {_ms(r.duration_s)}"
            case RunFinished():
                cost = f", ${event.cost_usd:.4f}" if event.cost_usd is not None else ""
                return (f"finished: {event.status} after {counted(event.steps, 'step')} in "
                        f"{event.duration_s:.1f} s, {event.usage.total} tokens{cost}")
            case _:
                return None


def _style_of(event: Event) -> str | None:
    if isinstance(event, RunFinished):
        return outcome_style(event.status)
    return "bold" if isinstance(event, RunStarted | HandedOver) else None


class LiveView:
    """A Rich live status on a terminal: task, model, step k/N, elapsed, tokens, streamed text."""

    def __init__(self, console: Console, *, clock: Any = time.monotonic,
                 verbose: bool = False) -> None:
        self.console = console
        self.clock = clock
        self.plain = PlainView(console, verbose=verbose)
        self.started = clock()
        self.task = self.model = ""
        self.step, self.max_steps = 0, 0
        self.usage = Usage()
        self.cost: float | None = None
        self.streaming = ""
        self.live = Live(console=console, refresh_per_second=8, transient=True,
                         get_renderable=self._renderable)

    def _renderable(self) -> Group:
        elapsed = self.clock() - self.started
        status = Text.from_markup(
            f"[bold]{escape(self.task)}[/]  [dim]{escape(self.model)}[/]  "
            f"step [bold]{self.step}[/]/{self.max_steps}  {elapsed:.1f} s  "
            f"{self.usage.total} tokens"
            + (f"  ${self.cost:.4f}" if self.cost is not None else "")
        )
        parts: list[Any] = [status]
        if self.streaming:
            parts.append(Text(self.streaming[-400:], style="italic"))
        return Group(*parts)

    def __call__(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.task, self.model, self.max_steps = event.task, event.model, event.max_steps
                # Timed from here, as the run's duration is, so the bar and the final line agree
                self.started = self.clock()
                self.live.start()
            case StepStarted():
                self.step, self.streaming = event.step, ""
            case TextStreamed():
                self.streaming += event.text
                return
            case ModelRetrying():
                self.streaming = ""  # the next attempt streams its text afresh
            case ModelReplied():
                self.usage, self.cost, self.streaming = event.total_usage, event.total_cost_usd, ""
            case RunFinished():
                self.live.stop()
        self.plain(event)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop redrawing while someone answers a prompt on the same terminal. After Ctrl-C
        at the prompt the live area stays stopped, so nothing redraws over the prompt's lines."""
        self.live.stop()
        yield  # an exception (Ctrl-C) propagates without restarting the live area
        self.live.start()

    def close(self) -> None:
        self.live.stop()


def make_view(console: Console, *, quiet: bool, verbose: int = 0) -> Any:
    """The event renderer for this console: nothing, plain lines, or the live view."""
    if quiet:
        return lambda event: None
    if console.is_terminal:
        return LiveView(console, verbose=verbose > 0)
    return PlainView(console, verbose=verbose > 0)


class RedactingWriter:
    """A text stream that redacts each write before passing it to `inner`; a write that fails
    because the terminal has gone (EIO: its other side closed) ends the run as a hang-up (exit
    129), as SIGHUP does when the terminal was cua's controlling terminal, and as it must when it
    was only its stdin and stdout (no signal comes then)."""

    def __init__(self, inner: IO[str], redactor: Redactor) -> None:
        self._inner, self._redactor = inner, redactor

    def write(self, text: str) -> int:
        try:
            self._inner.write(self._redactor.redact(text))
        except OSError:
            _lost_or_raise()
        return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except OSError:
            _lost_or_raise()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # bytes written there would bypass the redactor
            raise AttributeError(name)
        return getattr(self._inner, name)


def _lost_or_raise() -> None:
    """Called in an `except OSError`: a hang-up if the terminal has gone, else the error."""
    from ..core.interrupts import terminal_hung_up, terminal_lost  # only when a write failed

    if terminal_hung_up():
        raise terminal_lost("while cua showed the run") from None
    raise  # the OSError being handled: not a lost terminal


@contextmanager
def guarded_stdio(redactor: Redactor) -> Iterator[None]:
    """Route sys.stdout and sys.stderr through `redactor` and the lost-terminal check while the
    block runs (with nothing to redact too: a terminal can go away all the same)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingWriter(sys.stdout, redactor)  # type: ignore[assignment]
    sys.stderr = RedactingWriter(sys.stderr, redactor)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
