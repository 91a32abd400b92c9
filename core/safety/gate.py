"""The gate every action passes before it runs: the policy's verdict, then, for `ask`, a person.

The gate never prints: asking is the job of an `Approver` the caller supplies (a terminal prompt,
`--yes`, or "nobody is here", which stops the run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..vocab.desktop import Window
from ..vocab.record import PolicyRecord
from .policy import Proposal, Rule, Verdict, assess

Answer = Literal["once", "always", "deny", "abort", "stop"]
ANSWERS: tuple[Answer, ...] = ("once", "always", "deny", "abort", "stop")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One `ask`: what Claude wants to do, where, and why the policy wants a person to decide."""

    step: int
    name: str
    action: dict[str, Any]  # as recorded: typed text carries {{NAME}}, never a secret's value
    verdict: Verdict
    window: Window
    point: tuple[int, int] | None
    crop_png: bytes | None = field(default=None, repr=False)
    crop_path: str | None = None  # where crop_png was saved in the run folder
    flagged: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()  # screen text and its box


Approver = Callable[[ApprovalRequest], Answer]
"""Answers an `ask`. An optional `who` attribute names it in the record ("terminal", "--yes")."""


def refuse_all(_: ApprovalRequest) -> Answer:
    """Nobody to ask: the run stops at the first `ask` with status needs_approval."""
    return "stop"


def approve_all(_: ApprovalRequest) -> Answer:
    """`--yes`: every `ask` is approved; `deny` verdicts never reach an approver."""
    return "once"


refuse_all.who = "nobody"  # type: ignore[attr-defined]
approve_all.who = "--yes"  # type: ignore[attr-defined]
REMEMBERED = "earlier approval"  # who answered when "always" covered a later action


def answerer_name(approver: Approver) -> str:
    """How the record names an approver: its `who`, else "approver"."""
    return str(getattr(approver, "who", "approver"))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate decided for one action."""

    verdict: Verdict
    answer: Answer | None = None  # None when nobody was asked
    answered_by: str | None = None  # the approver's `who`, or REMEMBERED
    waited_s: float = 0.0  # time spent waiting for the approver (a person at the prompt)

    @property
    def runs(self) -> bool:
        if self.verdict.decision == "allow":
            return True
        return self.verdict.decision == "ask" and self.answer in ("once", "always")

    @property
    def ends_run(self) -> bool:
        return self.answer in ("abort", "stop")

    def record(self) -> PolicyRecord:
        v = self.verdict
        return PolicyRecord(v.decision, v.rule, v.reason, v.source, self.answer,
                            self.answered_by)

    def message_for_claude(self) -> str:
        """The tool result Claude gets when the action did not run."""
        v = self.verdict
        if v.decision == "deny":
            return (f"Blocked by cua's policy (rule {v.rule}: {v.reason}). The action was not "
                    "carried out. Do not try to reach the same effect another way; pick a "
                    "different approach or call report_outcome with status \"failure\".")
        return (f"The person running cua denied this action (rule {v.rule}: {v.reason}). It was "
                "not carried out. Do not retry it; pick a different approach or call "
                "report_outcome with status \"failure\".")


class Gate:
    """Judges proposals with `rules` and asks `approver` about the ones that need a person.

    "always" approves the same rule for the same kind of action for the rest of the run; for
    rules about what a typed command does, only that same text (approving one `rm -rf` must
    not approve every other).
    """

    EXACT_TEXT_RULES = frozenset({"destructive-shell"})
    # "always" for these covers only the same flagged screen text, not every later action.
    SCREEN_TEXT_RULES = frozenset({"screen-injection"})

    def __init__(self, rules: Sequence[Rule], approver: Approver, *,
                 who: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = list(rules)
        self.approver = approver
        self.who = who or answerer_name(approver)
        self.clock = clock
        self.approved: set[tuple[str, str, str | None]] = set()

    def judge(self, proposal: Proposal, *, request: Callable[[Verdict], ApprovalRequest]
              ) -> Decision:
        verdict = assess(proposal, self.rules)
        if verdict.decision != "ask":
            return Decision(verdict)
        kind = (verdict.rule, proposal.kind,
                proposal.text if verdict.rule in self.EXACT_TEXT_RULES
                else "\n".join(proposal.flagged) if verdict.rule in self.SCREEN_TEXT_RULES
                else None)
        if kind in self.approved:
            return Decision(verdict, "always", REMEMBERED)
        asked = request(verdict)
        started = self.clock()
        answer = self.approver(asked)
        waited = self.clock() - started
        if answer not in ANSWERS:
            raise ValueError(f"approver answered {answer!r}")
        if answer == "always":
            self.approved.add(kind)
        return Decision(verdict, answer, self.who, waited)
