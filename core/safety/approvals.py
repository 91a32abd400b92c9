"""The gate as a step meets it: build the policy's Proposal for an action, let the Gate decide,
show the person asked a picture of the target, and end the run when nobody can answer.

The picture is handed to the recorder as bytes on an `ApprovalPictureTaken` event (it is
written before the person is asked, so the prompt can name its path); nothing here writes files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.context import APPROVAL_TOOL_NAME as APPROVAL
from ..vocab.actions import Action
from ..vocab.desktop import Desktop, Frame, Window
from ..vocab.events import ApprovalPictureTaken, EventSink
from ..vocab.record import ActionRecord, ApprovalRecord, action_to_dict, approval_picture_name
from ..vocab.screen import crop_around, crop_box, encode_png
from .gate import ApprovalRequest, Decision, Gate
from .policy import Proposal, Verdict, proposal_for

if TYPE_CHECKING:
    from .injection import Finding
    from .secrets import Secrets

INJECTION_RULE = "screen-injection"


class EndRun(Exception):
    """Raised inside a step when the run must end there: a person (or nobody) ended it at an
    approval (`approval` says which), or a budget ran out mid-replay."""

    def __init__(self, status: str, summary: str, approval: ApprovalRecord | None = None
                 ) -> None:
        super().__init__(summary)
        self.status, self.summary, self.approval = status, summary, approval


@dataclass(frozen=True, slots=True)
class Judged:
    """The gate's decision for one action, the window it was judged in, and the picture shown
    to the person asked (its file name in the run folder), if anyone was."""

    decision: Decision
    window: Window
    picture: str | None = None


@dataclass(slots=True)
class Screen:
    """The newest screenshot Claude was sent: the raw frame and the PNG of it."""

    frame: Frame | None = None
    png: bytes = b""
    pending: Callable[[], bytes] | None = None  # the PNG, when it is encoded only if wanted

    def picture(self) -> bytes:
        return self.png if self.pending is None else self.pending()


class Approvals:
    """Judges a step's actions through `gate`; `screen` is kept current by the step."""

    def __init__(self, gate: Gate, *, desktop: Desktop, secrets: Secrets, emit: EventSink,
                 run_dir: str, screen: Screen) -> None:
        self.gate, self.desktop, self.secrets, self.emit = gate, desktop, secrets, emit
        self.run_dir, self.screen = run_dir, screen
        self.pictures = 0
        # What the tripwire flagged on the screenshot Claude answered; set by the step.
        self.findings: tuple[Finding, ...] = ()
        self.wants_target = any(rule.scope is not None for rule in gate.rules)

    def judge_action(self, step: int, name: str, action: Action, *, tool_input: dict[str, Any],
                     next_action: Action | None) -> Judged:
        window = self.desktop.focused_window()
        proposal = proposal_for(name, action, window=window, step=step,
                                secret_names=self.secrets.names, next_action=next_action,
                                tool_input=tool_input, flagged=self._flagged())
        window_at = getattr(self.desktop, "window_at", None)
        if self.wants_target and proposal.point is not None and window_at is not None:
            proposal = replace(proposal, target=window_at(*proposal.point))
        return self._judge(step, name, proposal, action_to_dict(action))

    def _flagged(self) -> tuple[str, ...]:
        return tuple(self.secrets.redact(f.text) for f in self.findings)

    def judge_request(self, step: int, description: str) -> Judged:
        """Claude's own request_approval."""
        proposal = Proposal(kind=APPROVAL, description=description,
                            window=self.desktop.focused_window(), step=step,
                            flagged=self._flagged())
        return self._judge(step, APPROVAL, proposal,
                           {"kind": APPROVAL, "description": description})

    def _judge(self, step: int, name: str, proposal: Proposal,
               described: dict[str, Any]) -> Judged:
        """The gate's decision; ends the run (EndRun) on abort or when nobody can answer."""
        shown: list[str] = []

        def request(verdict: Verdict) -> ApprovalRequest:
            box = (self.findings[0].box if verdict.rule == INJECTION_RULE and self.findings
                   else None)
            png, path = self._picture(step, proposal.point, shown, box=box)
            return ApprovalRequest(step, proposal.kind, described, verdict, proposal.window,
                                   proposal.point, png, path,
                                   tuple((self.secrets.redact(f.text), f.box)
                                         for f in self.findings))

        decision = self.gate.judge(proposal, request=request)
        picture = shown[0] if shown else None
        if decision.ends_run:
            raise self._end(step, name, proposal, described, decision, picture)
        return Judged(decision, proposal.window, picture)

    def _picture(self, step: int, point: tuple[int, int] | None, shown: list[str], *,
                 box: tuple[int, int, int, int] | None = None
                 ) -> tuple[bytes | None, str | None]:
        """A picture of what the action targets (the whole screenshot without a point), or of
        the flagged text's `box`."""
        if self.screen.frame is None:
            return None, None
        if box is not None:
            png = encode_png(crop_box(self.screen.frame, box))
        elif point:
            png = encode_png(crop_around(self.screen.frame, point))
        else:
            png = self.screen.picture()
        if not self.run_dir:
            return png, None
        self.pictures += 1
        name = approval_picture_name(step, self.pictures)
        self.emit(ApprovalPictureTaken(step, name, png))
        shown.append(name)
        return png, str(Path(self.run_dir) / name)

    def _end(self, step: int, name: str, proposal: Proposal, described: dict[str, Any],
             decision: Decision, picture: str | None) -> EndRun:
        v = decision.verdict
        window = replace(proposal.window, title=self.secrets.redact(proposal.window.title))
        path = str(Path(self.run_dir) / picture) if picture else None
        screen_text = tuple({**f.to_dict(), "text": self.secrets.redact(f.text)}
                            for f in self.findings) if v.rule == INJECTION_RULE else ()
        approval = ApprovalRecord(step, name,
                                  ActionRecord.from_dict({"name": name, "action": described}),
                                  decision.record(), window, path, screen_text)
        if decision.answer == "abort":
            return EndRun("aborted", f"aborted at step {step} when asked to approve "
                          f"{proposal.kind} (rule {v.rule})", approval)
        return EndRun("needs_approval", (
            f"stopped before step {step}'s {proposal.kind}: rule {v.rule} asks for approval "
            f"({v.reason}) and nobody can answer; rerun on a terminal, or with --yes to approve "
            "such actions, or allow it in a --policy file"), approval)
