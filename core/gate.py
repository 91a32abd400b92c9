"""The gate every action passes before it runs: the policy's verdict, then, for `ask`, a person.

The gate never prints: asking is the job of an `Approver` the caller supplies (a terminal prompt,
`--yes`, or "nobody is here", which stops the run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .desktop import Window
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


Approver = Callable[[ApprovalRequest], Answer]


def refuse_all(_: ApprovalRequest) -> Answer:
    """Nobody to ask: the run stops at the first `ask` with status needs_approval."""
    return "stop"


def approve_all(_: ApprovalRequest) -> Answer:
    """`--yes`: every `ask` is approved; `deny` verdicts never reach an approver."""
    return "once"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate decided for one action."""

    verdict: Verdict
    answer: Answer | None = None  # None when nobody was asked

    @property
    def runs(self) -> bool:
        if self.verdict.decision == "allow":
            return True
        return self.verdict.decision == "ask" and self.answer in ("once", "always")

    @property
    def ends_run(self) -> bool:
        return self.answer in ("abort", "stop")

    def as_dict(self) -> dict[str, Any]:
        v = self.verdict
        out: dict[str, Any] = {"decision": v.decision, "rule": v.rule, "reason": v.reason,
                               "source": v.source}
        if self.answer is not None:
            out["answer"] = self.answer
        return out

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

    def __init__(self, rules: Sequence[Rule], approver: Approver) -> None:
        self.rules = list(rules)
        self.approver = approver
        self.approved: set[tuple[str, str, str | None]] = set()

    def judge(self, proposal: Proposal, *, request: Callable[[Verdict], ApprovalRequest]
              ) -> Decision:
        verdict = assess(proposal, self.rules)
        if verdict.decision != "ask":
            return Decision(verdict)
        kind = (verdict.rule, proposal.kind,
                proposal.text if verdict.rule in self.EXACT_TEXT_RULES else None)
        if kind in self.approved:
            return Decision(verdict, "always")
        answer = self.approver(request(verdict))
        if answer not in ANSWERS:
            raise ValueError(f"approver answered {answer!r}")
        if answer == "always":
            self.approved.add(kind)
        return Decision(verdict, answer)
