"""Long Unicode texts on a real Xvfb with openbox: typed exactly into a real Tk app, in a
bounded number of keyboard-mapping changes, with the mapping restored afterwards.

The mapping changes are counted as the MappingNotify events a separate X client receives: what
every client on the display (the window manager included) has to handle.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from claude_cua.core.vocab.keys import Keymap
from claude_cua.core.x11.xdesktop import XDesktop
from claude_cua.core.x11.xserver import VirtualDisplay
from helpers import keyboard_mapping, keys_down, mixed_text, x_connection

pytestmark = pytest.mark.display



class MappingWatcher:
    """A separate X client: keyboard MappingNotify events it received since it connected."""

    def __init__(self, x: Any) -> None:
        self._x = x
        x.sync()  # start from a clean slate: drop anything queued before
        while x.pending_events():
            x.next_event()
        self.changes = 0

    def count(self) -> int:
        from Xlib import X

        self._x.sync()  # a round trip: every event sent before it has arrived
        while self._x.pending_events():
            event = self._x.next_event()
            if event.type == X.MappingNotify and event.request == X.MappingKeyboard:
                self.changes += 1
        return self.changes


@contextmanager
def mapping_watcher(screen: VirtualDisplay) -> Iterator[MappingWatcher]:
    with x_connection(screen) as x:
        yield MappingWatcher(x)


def slots(screen: VirtualDisplay) -> int:
    """Keysyms one mapping change can place: two per spare keycode typing will use."""
    with x_connection(screen) as x:
        info = x.display.info
        rows = x.get_keyboard_mapping(info.min_keycode, info.max_keycode - info.min_keycode + 1)
        modifiers = frozenset(code for codes in x.get_modifier_mapping() for code in codes)
    keymap = Keymap(min_keycode=info.min_keycode, rows=tuple(tuple(r) for r in rows),
                    modifier_keycodes=modifiers)
    return 2 * len(keymap.spare_keycodes())


def test_a_long_unicode_text_arrives_exactly_in_tk(desktop: XDesktop, probe,
                                                   virtual_display: VirtualDisplay) -> None:
    text = mixed_text(1500, random.Random(7))
    before = keyboard_mapping(virtual_display)
    desktop.type_text(text)
    probe.wait_for_text(text, timeout=60)
    assert keyboard_mapping(virtual_display) == before
    assert keys_down(virtual_display) == []


@pytest.mark.parametrize(("length", "seed"), [(600, 1), (1500, 2)])
def test_mapping_changes_are_bounded_by_the_text_over_the_spare_keycodes(
        desktop: XDesktop, probe, virtual_display: VirtualDisplay, length: int,
        seed: int) -> None:
    rng = random.Random(seed)
    # Mostly characters missing from the layout, from a pool far wider than the spare keycodes.
    text = "".join(rng.choice([chr(0x4E00 + i) for i in range(2000)] + [*"abc "])
                   for _ in range(length))
    missing = sum(1 for ch in text if ord(ch) > 0xFF)
    per_change = slots(virtual_display)
    assert per_change >= 16  # Xvfb's layout leaves 8 empty keycodes in one mapping span
    before = keyboard_mapping(virtual_display)
    with mapping_watcher(virtual_display) as watcher:
        desktop.type_text(text)
        probe.wait_for_text(text, timeout=120)
        changes = watcher.count()
    # One change per full set of slots, one for the rest, one to restore; the server may add
    # one when it switches the core keyboard to the XTest device.
    assert 2 <= changes <= missing // per_change + 3, (changes, missing, per_change)
    assert keyboard_mapping(virtual_display) == before


def test_text_typed_into_the_layout_changes_no_mapping(desktop: XDesktop, probe,
                                                       virtual_display: VirtualDisplay) -> None:
    desktop.type_text("warm up")  # the XTest device becomes the core keyboard
    probe.wait_for_text("warm up")
    with mapping_watcher(virtual_display) as watcher:
        desktop.type_text(" and then Some ASCII, typed <fast>!")
        probe.wait_for_text("warm up and then Some ASCII, typed <fast>!")
        assert watcher.count() == 0
