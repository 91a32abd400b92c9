"""core.interrupts: the first signal raises, every later one (and any once the run is ending) is
held and noted once, the ending is bounded, and outside a run Python's own handlers apply.
Real signals, sent to this process (or to a child, for the bound, which ends the process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from claude_cua.core.errors import HungUp, Terminated
from claude_cua.core.exits import exit_code_for
from claude_cua.core.interrupts import handling_signals, run_ending


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)  # delivered to this (main) thread before kill() returns
    time.sleep(0)  # and its Python handler runs at the next bytecode


@pytest.mark.parametrize(("signum", "raised", "code"), [
    (signal.SIGINT, KeyboardInterrupt, 130), (signal.SIGTERM, Terminated, 143),
    (signal.SIGHUP, HungUp, 129)])
def test_the_first_signal_raises_and_the_later_ones_are_held_and_noted_once(signum, raised,
                                                                             code):
    noted: list[int] = []
    with handling_signals(on_held=noted.append) as handling:
        with pytest.raises(raised) as caught:
            send(signum)
        assert exit_code_for(caught.value) == code
        for later in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            send(later)  # the cleanup goes on: nothing raised
        assert noted == [signal.SIGINT]
        assert handling.first == signum
        assert handling.held == [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


def test_once_the_run_is_ending_even_the_first_signal_is_held():
    noted: list[int] = []
    with handling_signals(on_held=noted.append):
        run_ending()  # what run_task does as its cleanup starts, however the run ended
        send(signal.SIGTERM)
        assert noted == [signal.SIGTERM]


def test_outside_a_run_pythons_own_handlers_apply_again():
    before = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with handling_signals():
        pass
    run_ending()  # no run: nothing to hold
    assert {n: signal.getsignal(n) for n in before} == before
    with pytest.raises(KeyboardInterrupt):
        send(signal.SIGINT)


CHILD = """
import os, signal, sys, time
from claude_cua.core.interrupts import handling_signals
with handling_signals(grace_s=1.0, on_overdue=lambda code: print("overdue", code, flush=True)):
    try:
        os.kill(os.getpid(), signal.SIG{name})
        time.sleep(0)
    except KeyboardInterrupt:
        print("unwinding", flush=True)
        time.sleep(60)  # an ending that hangs (an X server that stopped answering, say)
print("never")
"""


@pytest.mark.parametrize(("name", "code"), [("INT", 130), ("TERM", 143), ("HUP", 129)])
def test_an_ending_that_hangs_ends_the_process_with_the_signals_code(name, code):
    started = time.monotonic()
    child = subprocess.run([sys.executable, "-c", CHILD.format(name=name)], capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert child.returncode == code, child.stderr
    assert child.stdout.split() == ["unwinding", "overdue", str(code)]
    assert time.monotonic() - started < 30


def test_the_cua_entry_point_turns_sigterm_and_sighup_into_exits_for_every_command(tmp_path):
    # `python -m claude_cua.cli` and the console script go through cli.main.entry; a SIGTERM
    # there (in any command, here one stopped at its first line) exits 143, not by the signal.
    for name, code in (("TERM", 143), ("HUP", 129)):
        script = ("import os, signal, sys\n"
                  "import claude_cua.cli.main as m\n"
                  "def run_cli(argv=None):\n"
                  "    try:\n"
                  f"        os.kill(os.getpid(), signal.SIG{name}); signal.pause()\n"
                  "    except KeyboardInterrupt as exc:\n"
                  "        return m.exit_code_for(exc)\n"
                  "m.run_cli = run_cli\n"
                  "m.entry()\n")
        child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
        assert child.returncode == code, (name, child.returncode, child.stderr)
