"""The window manager cua starts on --virtual-display consumes no input Claude sends.

openbox's stock configuration binds Alt/Super + mouse buttons and a few dozen keys (Ctrl+Alt+arrows,
Alt+Tab, Super+d, ...); with it an alt+click reaches the X server and never the app. These tests
send such input through XDesktop, on a VirtualDisplay (what --virtual-display starts), to the
probe Tk app, and check what the app itself received.
"""

from __future__ import annotations

import pytest
from claude_cua.core.x11.xdesktop import XDesktop

SHIFT, CONTROL, MOD1, MOD4 = 1, 4, 8, 64
MODIFIER_BITS = SHIFT | CONTROL | MOD1 | MOD4
BUTTONS = {"left": 1, "middle": 2, "right": 3}

display = pytest.mark.display


@display
@pytest.mark.parametrize(("modifiers", "mask"), [
    ("alt", MOD1), ("super", MOD4), ("ctrl+alt", CONTROL | MOD1), ("alt+shift", MOD1 | SHIFT),
    ("ctrl+super", CONTROL | MOD4),
])
@pytest.mark.parametrize("button", ["left", "middle", "right"])
def test_clicks_with_modifiers_reach_the_app(desktop: XDesktop, probe, modifiers: str, mask: int,
                                             button: str) -> None:
    point = probe.canvas_point(300, 250)
    desktop.click(*point, button=button, modifiers=modifiers)
    [press] = probe.wait_for("press")
    [release] = probe.wait_for("release")
    assert press["button"] == release["button"] == BUTTONS[button]
    assert (press["x"], press["y"]) == point
    assert press["state"] & MODIFIER_BITS == mask


@display
def test_alt_drag_reaches_the_app_instead_of_moving_its_window(desktop: XDesktop, probe) -> None:
    start, end = probe.canvas_point(100, 300), probe.canvas_point(500, 380)
    desktop.drag(start, end, modifiers="alt")
    [drag] = probe.wait_for("drag")
    assert (tuple(drag["start"]), tuple(drag["end"])) == (start, end)
    assert probe.canvas_point(0, 0) == tuple(probe.ready["canvas"][:2])  # the window stayed


@display
@pytest.mark.parametrize("modifiers", ["alt", "ctrl+alt", "super"])
def test_scrolling_with_modifiers_reaches_the_app(desktop: XDesktop, probe,
                                                  modifiers: str) -> None:
    desktop.scroll(*probe.canvas_point(300, 300), direction="down", amount=2, modifiers=modifiers)
    wheels = probe.wait_for("wheel", count=2)
    assert all(w["button"] == 5 and w["state"] & (CONTROL | MOD1 | MOD4) for w in wheels)


@display
@pytest.mark.parametrize(("chord", "keysym", "mask"), [
    ("ctrl+alt+Left", "Left", CONTROL | MOD1),
    ("ctrl+alt+Right", "Right", CONTROL | MOD1),
    ("ctrl+alt+d", "d", CONTROL | MOD1),
    ("alt+Tab", "Tab", MOD1),
    ("alt+shift+Tab", "ISO_Left_Tab", MOD1 | SHIFT),
    ("alt+space", "space", MOD1),
    ("alt+Escape", "Escape", MOD1),
    ("alt+F4", "F4", MOD1),
    ("super+d", "d", MOD4),
    ("super+e", "e", MOD4),
    ("super+F1", "F1", MOD4),
])
def test_window_manager_keys_reach_the_app(desktop: XDesktop, probe, chord: str, keysym: str,
                                           mask: int) -> None:
    desktop.key(chord)
    [press] = probe.wait_for("key_press", where=lambda e: e["keysym"] == keysym)
    assert press["state"] & MODIFIER_BITS == mask
    probe.wait_for("key_release", where=lambda e: e["keysym"] == keysym)
