"""Asking a person on the terminal whether an action may run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..core.errors import HungUp
from ..core.interrupts import terminal_hung_up, terminal_lost
from ..core.safety.policy import Answer, ApprovalRequest, Gate
from .view import visible

CHOICES: dict[str, tuple[Answer, str]] = {
    "o": ("once", "approve once"),
    "a": ("always", "approve this kind of action for the rest of the run"),
    "d": ("deny", "deny (Claude is told, and goes on)"),
    "q": ("abort", "abort the run"),
}
def describe_action(name: str, action: dict[str, Any]) -> str:
    """One line: the action in words, typed text escaped and quoted."""
    parts = [name]
    for key, value in action.items():
        if key == "kind":
            continue
        if isinstance(value, str):
            parts.append(f'{key} "{visible(value)}"')
        elif isinstance(value, dict) and "screen" in value:
            parts.append(f"{key} at screen ({value['screen'][0]}, {value['screen'][1]})")
        elif value is not None:
            parts.append(f"{key} {value}")
    return "  ".join(parts)


def choices_for(request: ApprovalRequest) -> dict[str, str]:
    """The menu for this request: what `a` covers depends on the rule (see Gate)."""
    labels = {key: label for key, (_, label) in CHOICES.items()}
    if request.verdict.rule in Gate.EXACT_TEXT_RULES:
        labels["a"] = "approve this exact text for the rest of the run (nothing else like it)"
    if request.verdict.rule in Gate.SCREEN_TEXT_RULES:
        labels["a"] = "approve while this same text is on screen (other flagged text is asked)"
    return labels


class TerminalApprover:
    """Shows the request and reads one of o/a/d/q from the terminal.

    `pause` is the live view's way of getting out of the way while we ask.
    """

    who = "terminal"  # how the run record names who answered

    def __init__(self, console: Console,
                 pause: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self.console = console
        self.pause = pause or nullcontext

    def __call__(self, request: ApprovalRequest) -> Answer:
        """The person's answer. A terminal that goes away meanwhile (reads and writes fail
        with EIO; SIGHUP comes only if it was cua's controlling terminal) ends the run as a
        hang-up, exit 129, whatever wraps cua; end of input on a live terminal (Ctrl-D) is
        nobody there to answer: "stop", exit 4."""
        try:
            return self._ask(request)
        except (EOFError, OSError, KeyboardInterrupt) as exc:
            # An end of input can come from a pty whose other side is closing: give it a
            # moment (returned from at once when it hangs up) before taking it for Ctrl-D.
            lost = terminal_hung_up(wait_s=0.5 if isinstance(exc, EOFError) else 0.0)
            if lost and type(exc) is not HungUp:
                raise terminal_lost("while cua waited at the approval prompt") from None
            if not isinstance(exc, EOFError):
                raise
            with contextlib.suppress(OSError):
                self.console.print("(no answer: stopping the run)")
            return "stop"

    def _ask(self, request: ApprovalRequest) -> Answer:
        with self.pause():
            self.console.print(self.panel(request))
            if request.crop_path:  # outside the box, so that it copies in one piece
                what = ("the flagged text" if request.verdict.rule in Gate.SCREEN_TEXT_RULES
                        else "the target")
                self.console.print(f"picture of {what}: {request.crop_path}", markup=False,
                                   highlight=False, soft_wrap=True)
            menu = "  ".join(f"[{key}] {label}" for key, label in choices_for(request).items())
            self.console.print(menu, markup=False, highlight=False)
            while True:
                try:
                    reply = self.console.input(Text("Your choice [o/a/d/q]: ")).strip().lower()
                except KeyboardInterrupt as exc:
                    if type(exc) is KeyboardInterrupt and terminal_hung_up():
                        raise  # not Ctrl-C: a dead terminal's read, which __call__ reports
                    # End the prompt's line, so what follows starts below it, not over it.
                    self.console.print("^C")
                    raise
                if reply[:1] in CHOICES:
                    return CHOICES[reply[:1]][0]
                self.console.print("Please answer o, a, d or q.", markup=False)

    def panel(self, request: ApprovalRequest) -> Panel:
        v, w = request.verdict, request.window
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("action", Text(describe_action(request.name, request.action)))
        window = w.wm_class or w.instance or "unknown"
        grid.add_row("window", Text(f'{window} "{visible(w.title)}"' if w.title else window))
        grid.add_row("rule", Text(f"{v.rule} ({v.source}): {v.reason}"))
        for text, box in request.flagged:
            grid.add_row("on screen", Text(f'"{visible(text)}" at ({box[0]}, {box[1]})-'
                                           f"({box[2]}, {box[3]})"))
        if request.flagged:
            grid.add_row("note", Text("cua read this text on the screenshot Claude answered; it "
                                      "talks to the agent, which a prompt injection does. "
                                      "Approve only if the action is what you asked for."))
        if v.rule in Gate.EXACT_TEXT_RULES:
            grid.add_row("note", Text("[a] approves only this same text for the rest of the run; "
                                      "any other command this rule catches is asked again."))
        title = f"Approve step {request.step}? ({v.decision})"
        return Panel(grid, title=title, title_align="left", border_style="yellow")
