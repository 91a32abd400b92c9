"""XDesktop, keys and xserver against a real Xvfb; the probe app's JSONL is the ground truth.

The pure parts (key parsing, environment checks) are tested in tests/test_keys.py and
tests/test_xserver.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from claude_cua.core.errors import ActionError, DesktopError, FailSafeTriggered
from claude_cua.core.x11.xdesktop import XDesktop
from claude_cua.core.x11.xserver import VirtualDisplay
from helpers import (
    keyboard_mapping,
    keys_down,
    pointer_state,
    randr_monitor,
    require_xvfb,
    running_probe,
    wait_until,
    warp_pointer,
)

SHIFT, LOCK, CONTROL, MOD1, MOD4, BUTTON1 = 1, 2, 4, 8, 64, 256

display = pytest.mark.display


# -- screen --------------------------------------------------------------------------------------

@display
def test_capture_is_screen_sized_and_shows_the_probe_swatch(desktop: XDesktop, probe) -> None:
    frame = desktop.capture()
    assert (frame.width, frame.height) == desktop.size() == (1920, 1080)
    assert len(frame.bgra) == 1920 * 1080 * 4
    left, top, width, height = probe.ready["swatch"]
    r, g, b = probe.ready["swatch_rgb"]
    for x, y in [(left + 2, top + 2), (left + width - 3, top + height - 3)]:
        offset = (y * frame.width + x) * 4
        assert tuple(frame.bgra[offset:offset + 3]) == (b, g, r)


@display
def test_capture_is_fast_enough_for_every_step(desktop: XDesktop) -> None:
    desktop.capture()
    started = time.perf_counter()
    for _ in range(5):
        desktop.capture()
    assert (time.perf_counter() - started) / 5 < 0.1


# -- mouse ---------------------------------------------------------------------------------------

@display
@pytest.mark.parametrize(("button", "number"), [("left", 1), ("middle", 2), ("right", 3)])
def test_click_reaches_the_app_with_the_button_at_the_point(
        desktop: XDesktop, probe, button: str, number: int) -> None:
    x, y = probe.canvas_point(300, 200)
    desktop.click(x, y, button=button)
    [press] = probe.wait_for("press", where=lambda e: e["button"] == number)
    [release] = probe.wait_for("release", where=lambda e: e["button"] == number)
    assert (press["x"], press["y"]) == (release["x"], release["y"]) == (x, y)
    assert desktop.cursor_position() == (x, y)


@display
@pytest.mark.parametrize("count", [2, 3])
def test_double_and_triple_clicks_are_detected_by_the_app(
        desktop: XDesktop, probe, count: int) -> None:
    desktop.click(*probe.canvas_point(400, 300), count=count)
    presses = probe.wait_for("press", count)
    assert [p["clicks"] for p in presses] == list(range(1, count + 1))
    probe.wait_for("release", count)


@display
def test_click_in_place_uses_the_current_pointer_position(desktop: XDesktop, probe) -> None:
    x, y = probe.canvas_point(123, 234)
    desktop.move(x, y)
    desktop.click(None, None)
    [press] = probe.wait_for("press")
    assert (press["x"], press["y"]) == (x, y)


@display
@pytest.mark.parametrize(("modifiers", "mask"), [("shift", SHIFT), ("ctrl", CONTROL),
                                                 ("ctrl+shift", CONTROL | SHIFT)])
def test_click_with_modifiers_holds_them_and_releases_them_after(
        desktop: XDesktop, probe, modifiers: str, mask: int) -> None:
    desktop.click(*probe.canvas_point(200, 200), modifiers=modifiers)
    [press] = probe.wait_for("press")
    assert press["state"] & (SHIFT | CONTROL | MOD1) == mask
    mark = probe.mark()
    desktop.click(*probe.canvas_point(220, 200))
    [plain] = probe.wait_for("press", after=mark)
    assert plain["state"] & (SHIFT | CONTROL | MOD1) == 0


@display
def test_drag_presses_at_start_moves_and_releases_at_end(desktop: XDesktop, probe) -> None:
    start, end = probe.canvas_point(100, 300), probe.canvas_point(600, 420)
    desktop.drag(start, end)
    [drag] = probe.wait_for("drag")
    assert (tuple(drag["start"]), tuple(drag["end"])) == (start, end)
    moves = [e for e in probe.events("motion") if e["state"] & BUTTON1]
    assert moves and (moves[-1]["x"], moves[-1]["y"]) == end


@display
def test_mouse_down_holds_the_button_until_mouse_up(desktop: XDesktop, probe) -> None:
    desktop.mouse_down(*probe.canvas_point(100, 100))
    probe.wait_for("press")
    desktop.move(*probe.canvas_point(150, 160))
    probe.wait_for("motion", where=lambda e: e["state"] & BUTTON1 and
                   (e["x"], e["y"]) == probe.canvas_point(150, 160))
    assert not probe.events("release")
    desktop.mouse_up(None, None)
    [release] = probe.wait_for("release")
    assert (release["x"], release["y"]) == probe.canvas_point(150, 160)


@display
def test_release_all_after_mouse_down_leaves_nothing_pressed(
        desktop: XDesktop, probe, virtual_display: VirtualDisplay) -> None:
    desktop.mouse_down(*probe.canvas_point(300, 300), button="right")
    probe.wait_for("press", where=lambda e: e["button"] == 3)
    desktop.release_all()
    probe.wait_for("release", where=lambda e: e["button"] == 3)
    wait_until(lambda: pointer_state(virtual_display)[2] & 0x1F00 == 0, 5,
               message="no mouse button to be down")
    assert keys_down(virtual_display) == []


@display
@pytest.mark.parametrize(("direction", "button"), [("up", 4), ("down", 5), ("left", 6),
                                                   ("right", 7)])
@pytest.mark.parametrize(("modifiers", "mask"), [(None, 0), ("shift", SHIFT), ("ctrl", CONTROL)])
def test_scroll_sends_wheel_clicks_with_modifiers(
        desktop: XDesktop, probe, direction: str, button: int, modifiers: str | None,
        mask: int) -> None:
    x, y = probe.canvas_point(500, 300)
    desktop.scroll(x, y, direction=direction, amount=3, modifiers=modifiers)
    wheels = probe.wait_for("wheel", 3)
    assert [(w["button"], w["x"], w["y"]) for w in wheels] == [(button, x, y)] * 3
    assert [w["state"] & (SHIFT | CONTROL) for w in wheels] == [mask] * 3
    probe.wait_for("release", 3)
    assert len(probe.events("wheel")) == 3


@display
@pytest.mark.parametrize("point", [(0, 0), (1919, 0), (0, 1079), (1919, 1079)])
def test_fail_safe_corner_points_are_refused(desktop: XDesktop, point: tuple[int, int]) -> None:
    with pytest.raises(ActionError, match="1 px inside"):
        desktop.click(*point)
    with pytest.raises(ActionError, match="corner"):
        desktop.move(*point)
    inside = (1 if point[0] == 0 else point[0] - 1, 1 if point[1] == 0 else point[1] - 1)
    desktop.move(*inside)  # one pixel inside is fine
    assert desktop.cursor_position() == inside


@display
@pytest.mark.parametrize("point", [(-1, 10), (10, -1), (1920, 10), (10, 1080)])
def test_off_screen_points_are_refused(desktop: XDesktop, point: tuple[int, int]) -> None:
    with pytest.raises(ActionError, match="outside the screen"):
        desktop.click(*point)


@display
def test_pointer_pushed_into_a_corner_stops_the_run(
        desktop: XDesktop, virtual_display: VirtualDisplay) -> None:
    warp_pointer(virtual_display, 0, 0)
    try:
        with pytest.raises(FailSafeTriggered, match="corner"):
            desktop.click(500, 500)
        with pytest.raises(FailSafeTriggered):
            desktop.key("a")
    finally:
        warp_pointer(virtual_display, 960, 540)


# -- keyboard ------------------------------------------------------------------------------------

@display
@pytest.mark.parametrize(("chord", "keysym", "mask"), [
    ("ctrl+shift+t", "T", CONTROL | SHIFT),
    ("KP_Enter", "KP_Enter", 0),
    ("Page_Down", "Next", 0),
    ("pagedown", "Next", 0),
    ("super", "Super_L", 0),
    ("alt+x", "x", MOD1),
    ("super+q", "q", MOD4),
    ("shift+Tab", "ISO_Left_Tab", SHIFT),
    ("enter", "Return", 0),
    ("F5", "F5", 0),
])
def test_key_chords_arrive_with_their_modifiers(
        desktop: XDesktop, probe, chord: str, keysym: str, mask: int) -> None:
    desktop.key(chord)
    [press] = probe.wait_for("key_press", where=lambda e: e["keysym"] == keysym)
    assert press["state"] & (SHIFT | CONTROL | MOD1 | MOD4) == mask
    probe.wait_for("key_release", where=lambda e: e["keysym"] == keysym)


@display
def test_key_releases_every_key_it_pressed(desktop: XDesktop, probe,
                                           virtual_display: VirtualDisplay) -> None:
    desktop.key("ctrl+shift+t")
    desktop.key("a")
    [press] = probe.wait_for("key_press", where=lambda e: e["keysym"] == "a")
    assert press["state"] & (SHIFT | CONTROL) == 0
    assert keys_down(virtual_display) == []


@display
def test_key_repeat_and_sequences(desktop: XDesktop, probe) -> None:
    desktop.key("x", repeat=3)
    probe.wait_for_text("xxx")
    desktop.key("BackSpace Left y")
    probe.wait_for_text("xyx")


@display
def test_hold_key_holds_for_the_requested_time(desktop: XDesktop, probe) -> None:
    desktop.hold_key("shift", seconds=0.3)
    [press] = probe.wait_for("key_press", where=lambda e: e["keysym"] == "Shift_L")
    [release] = probe.wait_for("key_release", where=lambda e: e["keysym"] == "Shift_L")
    assert release["state"] & SHIFT
    assert release["time"] - press["time"] >= 250  # X server milliseconds


@display
@pytest.mark.parametrize("text", [
    "<",
    "a<b>c",
    "Hello, World!",
    "punctuation: <>|~\"'\\`!@#$%^&*()_+-={}[]:;?,./",
    "line one\nline two\n\tindented",
    "accents: é ü ñ ø É Ü Ñ Ø ß ç",
    "Ελληνικά Ω and кириллица Ж",
    "日本語 中文 한국어",
    "עברית and العربية",
    "emoji 🙂 👍🏽 🎉",
    "mixed: a<b 日本 é 🙂\nend",
], ids=lambda text: text[:12])
def test_type_text_reproduces_unicode_exactly(desktop: XDesktop, probe, text: str) -> None:
    desktop.type_text(text)
    probe.wait_for_text(text)


@display
def test_type_text_with_more_distinct_characters_than_spare_keycodes(
        desktop: XDesktop, probe) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(0, 120, 3))  # 40 distinct CJK characters
    desktop.type_text(text + " " + text[::-1])
    probe.wait_for_text(text + " " + text[::-1], timeout=30)


@display
def test_crlf_becomes_one_newline(desktop: XDesktop, probe) -> None:
    desktop.type_text("a\r\nb")
    probe.wait_for_text("a\nb")


@display
def test_shift_does_not_leak_after_typing(desktop: XDesktop, probe,
                                          virtual_display: VirtualDisplay) -> None:
    desktop.type_text("ABC")
    desktop.type_text("d")
    probe.wait_for_text("ABCd")
    [press] = probe.wait_for("key_press", where=lambda e: e["keysym"] == "d")
    assert press["state"] & SHIFT == 0
    assert keys_down(virtual_display) == []


@display
def test_typing_ascii_is_fast(desktop: XDesktop, probe) -> None:
    text = ("The quick brown fox jumps over the lazy dog; PACK MY BOX with 5 dozen jugs! " * 2)
    started = time.perf_counter()
    desktop.type_text(text[:100])
    took = time.perf_counter() - started
    probe.wait_for_text(text[:100])
    assert took < 0.1


@display
def test_typing_restores_the_keyboard_mapping_once_done(virtual_display: VirtualDisplay,
                                                        probe) -> None:
    before = keyboard_mapping(virtual_display)
    desk = XDesktop(display=virtual_display.display, xauthority=virtual_display.xauthority)
    try:
        desk.type_text("日é🙂")
        probe.wait_for_text("日é🙂")
        assert keyboard_mapping(virtual_display) == before
        desk.key("日")  # a key chord's borrowed keycode stays until the run ends
        assert keyboard_mapping(virtual_display) != before
    finally:
        desk.close()
    assert keyboard_mapping(virtual_display) == before


# -- monitors -------------------------------------------------------------------------------------

@pytest.fixture
def offset_monitor_display() -> Iterator[VirtualDisplay]:
    """A 1920x1080 screen whose only monitor is 800x600 at (300, 200)."""
    require_xvfb()
    saved = {name: os.environ.get(name) for name in ("DISPLAY", "XAUTHORITY")}
    with VirtualDisplay(size=(1920, 1080)) as screen, randr_monitor(
            screen, left=300, top=200, width=800, height=600):
        yield screen
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@display
def test_coordinates_are_relative_to_the_chosen_monitor(
        offset_monitor_display: VirtualDisplay, tmp_path: Path) -> None:
    screen = offset_monitor_display
    with running_probe(screen, tmp_path / "probe.jsonl", geometry="760x560+320+220") as app:
        desk = XDesktop(display=screen.display, xauthority=screen.xauthority, monitor=1)
        try:
            assert desk.size() == (800, 600)
            cx, cy, _, _ = app.ready["canvas"]
            desk.click(cx - 300 + 50, cy - 200 + 60)
            [press] = app.wait_for("press")
            assert (press["x"], press["y"]) == (cx + 50, cy + 60)
            assert desk.cursor_position() == (cx - 300 + 50, cy - 200 + 60)
            frame = desk.capture()
            assert (frame.width, frame.height) == (800, 600)
            left, top, _, _ = app.ready["swatch"]
            offset = ((top - 200 + 5) * frame.width + (left - 300 + 5)) * 4
            assert tuple(frame.bgra[offset:offset + 3]) == tuple(reversed(app.ready["swatch_rgb"]))
            with pytest.raises(ActionError, match="outside the screen"):
                desk.click(800, 10)
        finally:
            desk.close()
    with pytest.raises(DesktopError, match="monitor 2 does not exist"):
        XDesktop(display=screen.display, xauthority=screen.xauthority, monitor=2)
