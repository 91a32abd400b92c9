"""Typing stays exact under load: long mixed texts (ASCII, accented, Greek, CJK, emoji, newlines
and tabs) typed into the real Tk probe on Xvfb with openbox while busy processes load every core,
several times over, the text read back from the app each time.

A keycode remapped while the app still held unread events typed with its previous mapping would
type the wrong characters (a run of characters from elsewhere in the text) only when the app
falls behind, which is what the load is for. benchmarks/typing_stress.py runs the long version.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from claude_cua.core.x11.xdesktop import XDesktop
from claude_cua.core.x11.xserver import VirtualDisplay
from helpers import keyboard_mapping, keys_down, mixed_text

pytestmark = pytest.mark.display

BUSY = "import itertools\nfor _ in itertools.count(): pass"


@contextmanager
def cores_loaded(processes: int | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One busy process per core (at least two), stopped by pid afterwards."""
    count = processes or max(2, os.cpu_count() or 2)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(count)]
    try:
        yield busy
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def wrong_characters(expected: str, got: str) -> int:
    """Characters that differ, position by position, plus any missing or extra at the end."""
    return sum(a != b for a, b in zip(expected, got, strict=False)) + abs(len(expected) - len(got))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_long_mixed_texts_arrive_exactly_while_every_core_is_busy(
        desktop: XDesktop, probe, virtual_display: VirtualDisplay, seed: int) -> None:
    before = keyboard_mapping(virtual_display)
    typed = ""
    with cores_loaded() as busy:
        for round_ in range(2):
            text = mixed_text(700, random.Random(seed * 10 + round_))
            typed += text
            desktop.type_text(text)
            got = probe.wait_for_text(typed, timeout=120)
            assert wrong_characters(typed, got) == 0
            assert all(proc.poll() is None for proc in busy)  # the load lasted the typing
    assert keyboard_mapping(virtual_display) == before
    assert keys_down(virtual_display) == []


def test_no_keycode_is_remapped_before_a_frozen_app_has_read_the_keys_typed_with_it(
        virtual_display: VirtualDisplay, probe) -> None:
    """The race at its worst, made certain: the app stopped (SIGSTOP) while cua types, so every
    key sits unread in its queue, and no timed wait (remap_settle_s=0) to hide behind. A
    keycode changed before the app read its keys would type the later mapping's characters."""
    from claude_cua.core.x11.xdesktop import display_env_restored

    text = "".join(chr(0x4E00 + (i * 7) % 900) for i in range(120))  # ~4 mapping changes
    with display_env_restored():
        desk = XDesktop(display=virtual_display.display, xauthority=virtual_display.xauthority,
                        remap_settle_s=0.0, watchdog=False)
        try:
            desk.type_text("\u4e00")  # the app answers a ping: it can prove what it has read
            probe.wait_for_text("\u4e00")
            before = keyboard_mapping(virtual_display)
            failure: list[BaseException] = []

            def type_it() -> None:
                try:
                    desk.type_text(text)
                except BaseException as exc:  # reported by the test's thread below
                    failure.append(exc)

            os.kill(probe.proc.pid, signal.SIGSTOP)
            try:
                typing = threading.Thread(target=type_it)
                typing.start()
                # The app stays frozen while cua would have typed everything (well under a
                # second unfrozen): cua must be waiting for it, not typing on.
                typing.join(timeout=2.0)
            finally:
                os.kill(probe.proc.pid, signal.SIGCONT)
            typing.join(timeout=60)
            assert not typing.is_alive() and not failure, failure
            got = probe.wait_for_text("\u4e00" + text, timeout=60)
            assert wrong_characters("\u4e00" + text, got) == 0
            assert keyboard_mapping(virtual_display) == before
        finally:
            desk.close()


def test_an_app_busy_past_the_bound_stops_the_typing_and_nothing_arrives_wrong(
        virtual_display: VirtualDisplay, probe, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app that cannot show it has read the keys typed so far (frozen past the bound) never
    gets a keycode remapped under them: the typing stops with an error Claude can act on, and
    what reached the app is a correct beginning of the text, never other characters."""
    from claude_cua.core.errors import ActionError
    from claude_cua.core.x11 import xdesktop
    from claude_cua.core.x11.xdesktop import display_env_restored

    monkeypatch.setattr(xdesktop, "_IDLE_TIMEOUT_S", 1.0)
    text = "".join(chr(0x4E00 + (i * 7) % 900) for i in range(120))  # ~4 mapping changes
    with display_env_restored():
        desk = XDesktop(display=virtual_display.display, xauthority=virtual_display.xauthority,
                        remap_settle_s=0.0, watchdog=False)
        try:
            desk.type_text("\u4e00")
            probe.wait_for_text("\u4e00")
            os.kill(probe.proc.pid, signal.SIGSTOP)
            try:
                with pytest.raises(ActionError, match="stopped typing"):
                    desk.type_text(text)
            finally:
                os.kill(probe.proc.pid, signal.SIGCONT)
            monkeypatch.setattr(xdesktop, "_IDLE_TIMEOUT_S", 30.0)
            assert desk._app_idle(probe.proc.pid)  # it has handled every key it was sent
            got, expected = probe.text(), "\u4e00" + text
            assert len(got) < len(expected)  # it stopped ...
            assert got == expected[:len(got)]  # ... and what arrived is the text's beginning
        finally:
            desk.close()
