"""A signal can land anywhere in an XDesktop operation -- inside a python-xlib request or reply,
between two XTest events, in the middle of a keyboard remap -- and release_all must still
return promptly and leave nothing pressed or remapped, asked of the X server itself.

The signal is a timer (SIGALRM) whose handler raises what cua's handlers raise (Ctrl-C,
SIGTERM, SIGHUP, the --timeout deadline), at a random moment of a random operation, many times
over on one desktop. A hang shows as the second alarm: 30 s after the interruption."""

from __future__ import annotations

import random
import signal
from collections.abc import Callable

import pytest
from claude_cua.core.errors import DeadlineExceeded, HungUp, Terminated
from claude_cua.core.x11.xdesktop import XDesktop
from helpers import keyboard_mapping, keys_down, pointer_state, wait_until

pytestmark = pytest.mark.display

BUTTONS = 0x1F00
INTERRUPTIONS: list[Callable[[], BaseException]] = [
    KeyboardInterrupt, lambda: Terminated("terminated by SIGTERM"),
    lambda: HungUp("hung up (SIGHUP)"), DeadlineExceeded]


class Hung(AssertionError):
    pass


def operations(desktop: XDesktop, rng: random.Random) -> list[Callable[[], None]]:
    ascii_text = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz ABCDEF.,\n") for _ in range(30000))
    unicode_text = "".join(rng.choice([*"ab ", *(chr(0x4E00 + i) for i in range(300)), "é", "🙂"])
                           for _ in range(400))
    return [
        lambda: desktop.type_text(ascii_text),
        lambda: desktop.type_text(unicode_text),
        lambda: desktop.key("ctrl+shift+a alt+b super+c", repeat=200),
        lambda: desktop.hold_key("shift+ctrl", seconds=0.2),
        lambda: desktop.drag((100, 100), (700, 500), modifiers="shift"),
        lambda: desktop.scroll(400, 400, direction="down", amount=40, modifiers="ctrl"),
        lambda: desktop.click(300, 300, count=3, modifiers="alt"),
    ]


def test_an_interruption_anywhere_in_an_operation_leaves_nothing_pressed_or_remapped(
        desktop: XDesktop, virtual_display) -> None:
    rng = random.Random(8)
    before = keyboard_mapping(virtual_display)
    ops = operations(desktop, rng)
    interrupted = 0

    def hung(signum, frame):
        raise Hung("still running 30 s after the interruption")

    previous = signal.getsignal(signal.SIGALRM)
    try:
        for _ in range(80):
            make = rng.choice(INTERRUPTIONS)

            def fire(signum, frame, make=make):
                signal.signal(signal.SIGALRM, hung)
                signal.setitimer(signal.ITIMER_REAL, 30)
                raise make()

            signal.signal(signal.SIGALRM, fire)
            try:
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.001, 0.2))
                rng.choice(ops)()
                signal.setitimer(signal.ITIMER_REAL, 0)
            except (KeyboardInterrupt, DeadlineExceeded):
                interrupted += 1
            desktop.release_all()
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert keys_down(virtual_display) == []
            assert pointer_state(virtual_display)[2] & BUTTONS == 0
            assert keyboard_mapping(virtual_display) == before
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert interrupted >= 30  # most operations were cut short, not finished first
    # And the desktop still works afterwards, over its replacement connections.
    desktop.click(200, 200)
    wait_until(lambda: pointer_state(virtual_display)[:2] == (200, 200), 10,
               message="the pointer to move after the interruptions")
