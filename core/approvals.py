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

from .actions import Action
from .context import APPROVAL_TOOL_NAME as APPROVAL
from .desktop import Desktop, Frame, Window
from .events import ApprovalPictureTaken, EventSink
from .gate import ApprovalRequest, Decision, Gate
from .policy import Proposal, Verdict, proposal_for
from .record import ActionRecord, ApprovalRecord, action_to_dict, approval_picture_name
from .screen import crop_around, encode_png

if TYPE_CHECKING:
    from .secrets import Secrets

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

    def judge_action(self, step: int, name: str, action: Action, *, tool_input: dict[str, Any],
                     next_action: Action | None) -> Judged:
        window = self.desktop.focused_window()
        proposal = proposal_for(name, action, window=window, step=step,
                                secret_names=self.secrets.names, next_action=next_action,
                                tool_input=tool_input)
        return self._judge(step, name, proposal, action_to_dict(action))

    def judge_request(self, step: int, description: str) -> Judged:
        """Claude's own request_approval."""
        proposal = Proposal(kind=APPROVAL, description=description,
                            window=self.desktop.focused_window(), step=step)
        return self._judge(step, APPROVAL, proposal,
                           {"kind": APPROVAL, "description": description})

    def _judge(self, step: int, name: str, proposal: Proposal,
               described: dict[str, Any]) -> Judged:
        """The gate's decision; ends the run (EndRun) on abort or when nobody can answer."""
        shown: list[str] = []

        def request(verdict: Verdict) -> ApprovalRequest:
            png, path = self._picture(step, proposal.point, shown)
            return ApprovalRequest(step, proposal.kind, described, verdict, proposal.window,
                                   proposal.point, png, path)

        decision = self.gate.judge(proposal, request=request)
        picture = shown[0] if shown else None
        if decision.ends_run:
            raise self._end(step, name, proposal, described, decision, picture)
        return Judged(decision, proposal.window, picture)

    def _picture(self, step: int, point: tuple[int, int] | None,
                 shown: list[str]) -> tuple[bytes | None, str | None]:
        """A picture of what the action targets (the whole screenshot without a point)."""
        if self.screen.frame is None:
            return None, None
        png = encode_png(crop_around(self.screen.frame, point)) if point else self.screen.picture()
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
        approval = ApprovalRecord(step, name,
                                  ActionRecord.from_dict({"name": name, "action": described}),
                                  decision.record(), window, path)
        if decision.answer == "abort":
            return EndRun("aborted", f"aborted at step {step} when asked to approve "
                          f"{proposal.kind} (rule {v.rule})", approval)
        return EndRun("needs_approval", (
            f"stopped before step {step}'s {proposal.kind}: rule {v.rule} asks for approval "
            f"({v.reason}) and nobody can answer; rerun on a terminal, or with --yes to approve "
            "such actions, or allow it in a --policy file"), approval)
