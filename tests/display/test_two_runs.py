"""Two runs at once in one process (issue 16): core.engine.run on two threads, each on its own
private Xvfb with its own supplier form and its own scripted Claude, each typing a secret of its
own. Nothing of one run may reach the other: not the display, not the steps, not the secret;
and a Ctrl-C to the process (the entry point's handler) ends both cleanly."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from claude_cua.cli.demo.fakeapi import FakeMessagesAPI
from claude_cua.cli.demo.policies import SUPPLIER_VALUES, supplier_form_policy
from claude_cua.core.engine.root import Cancel, RunHooks, RunOutcome, RunRequest, run
from claude_cua.core.interrupts import handling_signals
from claude_cua.core.safety.policy import approve_all
from claude_cua.core.settings import Settings
from claude_cua.core.vocab.events import Event, StepFinished
from helpers import require_xvfb, wait_until

pytestmark = pytest.mark.display

TOOLSET = "computer_toolset_20260801"


def values_of(name: str) -> dict[str, str]:
    """What this run's Claude types: its own company, and its own secret into Notes."""
    return {**SUPPLIER_VALUES, "company": f"{name} Tools Ltd", "notes": "{{PIN}}"}


@dataclass
class Side:
    """One of the two runs: its form, its scripted Claude, its secret, what it reported."""

    name: str
    size: str
    secret: str
    tmp: Path
    api: FakeMessagesAPI
    events: list[Event] = field(default_factory=list)
    outcome: RunOutcome | None = None

    @property
    def out(self) -> Path:
        return self.tmp / f"{self.name}-submitted.json"

    @property
    def run_dir(self) -> Path:
        return self.tmp / f"{self.name}-run"

    @property
    def values(self) -> dict[str, str]:
        return values_of(self.name)

    def request(self) -> RunRequest:
        env = {**os.environ, "PIN_OF_" + self.name.upper(): self.secret}
        return RunRequest(
            task=f"fill in the supplier form for {self.name}",
            settings=Settings(model="cua-demo-stand-in", tool_version=TOOLSET, max_steps=30),
            env=env, virtual_display=self.size, run_dir=self.run_dir,
            app=[sys.executable, "-m", "claude_cua.cli.demo.supplier_form", "--out",
                 str(self.out)],
            base_url=self.api.url, api_key="stand-in", known_model=True,
            secret_specs=(f"PIN=PIN_OF_{self.name.upper()}",))

    def start(self, cancel: Cancel | None = None) -> threading.Thread:
        hooks = RunHooks(on_event=self.events.append, approver=approve_all, cancel=cancel)

        def go() -> None:
            self.outcome = run(self.request(), hooks)

        thread = threading.Thread(target=go, name=f"run-{self.name}")
        thread.start()
        return thread

    def record_text(self) -> str:
        return "".join(p.read_text(encoding="utf-8", errors="replace")
                       for p in sorted(self.run_dir.glob("*")) if p.suffix in (".json", ".jsonl"))

    def steps(self) -> list[dict[str, Any]]:
        lines = (self.run_dir / "steps.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def header(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text(encoding="utf-8"))


@pytest.fixture
def sides(tmp_path: Path) -> Any:
    require_xvfb()
    made: list[Side] = []

    def make(reply_delay_s: float = 0.0) -> tuple[Side, Side]:
        for name, size, secret in (("alpha", "1024x768", "alpha-pin-7391"),
                                   ("bravo", "1280x800", "bravo-pin-2846")):
            api = FakeMessagesAPI(default=supplier_form_policy(values_of(name)),
                                  reply_delay_s=reply_delay_s)
            made.append(Side(name, size, secret, tmp_path, api.start()))
        return made[0], made[1]

    yield make
    for side in made:
        side.api.stop()


def test_two_runs_in_one_process_each_fill_their_own_form(sides: Any) -> None:
    alpha, bravo = sides()
    threads = [alpha.start(), bravo.start()]
    for thread in threads:
        thread.join(timeout=240)
    for side, other in ((alpha, bravo), (bravo, alpha)):
        assert side.outcome is not None
        assert side.outcome.exit_code == 0, (side.outcome.summary, side.outcome.error)
        assert side.outcome.summary["status"] == "success"
        # The form on this run's display got this run's values, its secret typed for real.
        assert json.loads(side.out.read_text(encoding="utf-8")) == {
            **side.values, "notes": side.secret}
        # Its record holds its own steps only, on its own screen.
        header = side.header()
        assert header["task"] == f"fill in the supplier form for {side.name}"
        assert header["screen_size"] == [int(n) for n in side.size.split("x")]
        assert header["display"] != other.header()["display"]
        steps = side.steps()
        assert [s["step"] for s in steps] == list(range(1, side.outcome.summary["steps"] + 1))
        assert len(steps) == len(side.api.requests)
        # No secret, its own or the other's, in its record, events or summary.
        said = side.record_text() + repr(side.events) + json.dumps(side.outcome.summary)
        for secret in (side.secret, other.secret):
            assert secret not in said
        assert "{{PIN}}" in side.record_text()


def test_a_signal_to_the_process_ends_both_runs_cleanly(sides: Any) -> None:
    alpha, bravo = sides(reply_delay_s=0.4)
    with handling_signals(raise_here=False):  # as an entry point that runs several at once
        threads = [alpha.start(Cancel()), bravo.start(Cancel())]

        def both_acted() -> bool:
            return all(any(isinstance(e, StepFinished) and e.record.actions for e in s.events)
                       for s in (alpha, bravo))

        wait_until(both_acted, 120, message="both runs to carry out an action")
        os.kill(os.getpid(), signal.SIGINT)
        for thread in threads:
            thread.join(timeout=60)
    for side in (alpha, bravo):
        assert side.outcome is not None
        assert (side.outcome.exit_code, side.outcome.summary["status"]) == (130, "interrupted")
        assert isinstance(side.outcome.error, KeyboardInterrupt)
        header = side.header()  # the record is complete: the status and code of the signal
        assert (header["status"], header["exit_code"]) == ("interrupted", 130)
        assert not side.out.exists()  # stopped before Submit


def test_a_desktop_opens_every_connection_with_its_own_xauthority() -> None:
    """No XAUTHORITY in the process: the desktop's input, capture and watcher connections all
    reach a cookie-protected private display through the run's own Xauthority file."""
    require_xvfb()
    from claude_cua.core.x11.xdesktop import XDesktop
    from claude_cua.core.x11.xserver import VirtualDisplay

    assert "XAUTHORITY" not in os.environ and "DISPLAY" not in os.environ
    with VirtualDisplay(size=(640, 480)) as display:
        desktop = XDesktop(display=display.display, xauthority=display.xauthority,
                           watchdog=False)
        try:
            assert desktop.capture().width == 640
            watcher, reason = desktop.watch()
            assert watcher is not None, reason
            watcher.close()
        finally:
            desktop.close()
    assert "XAUTHORITY" not in os.environ and "DISPLAY" not in os.environ
