"""replay_match on drawn pictures: what must match, what must not, and the messages."""

import pytest
from claude_cua.core.replay.match import Tolerance, compare_step, same_window, shift_of
from claude_cua.core.vocab.actions import ScreenSpace
from claude_cua.core.vocab.desktop import Window
from PIL import Image, ImageDraw

SPACE = ScreenSpace(800, 600, 800, 600)
FIELD = (100, 280, 640, 336)
TARGET = (370, 308)


def form(*, dy=0, caret=False, clock=None, dialog=False):
    image = Image.new("RGB", (800, 600), (242, 242, 242))
    draw = ImageDraw.Draw(image)
    draw.rectangle((FIELD[0], FIELD[1] + dy, FIELD[2], FIELD[3] + dy), fill=(0, 168, 80))
    draw.text((20, 300 + dy), "Contact email", fill=(0, 0, 0))
    if caret:
        draw.line((110, 290 + dy, 110, 326 + dy), fill=(255, 255, 255), width=2)
    if clock:
        draw.rectangle((700, 0, 799, 20), fill=(30, 30, 30))
        draw.text((710, 4), clock, fill=(255, 255, 255))
    if dialog:
        draw.rectangle((250, 230, 550, 380), fill=(255, 255, 255), outline=(0, 0, 0))
    return image


@pytest.mark.parametrize(("recorded", "current"), [
    (form(), form()), (form(), form(caret=True)), (form(clock="13:59"), form(clock="14:02")),
], ids=["same", "caret", "clock"])
def test_what_does_not_matter_matches(recorded, current):
    match = compare_step(recorded, current, [TARGET], space=SPACE)
    assert match.is_match, match.reason
    assert match.score > 0.97


@pytest.mark.parametrize("current", [form(dy=8), form(dy=30), form(dy=-20), form(dialog=True)],
                         ids=["moved-8", "moved-30", "moved-up-20", "dialog"])
def test_what_matters_never_matches(current):
    match = compare_step(form(), current, [TARGET], space=SPACE)
    assert not match.is_match
    assert match.score < 1


def test_a_moved_target_is_caught_at_the_same_offset_and_its_move_is_named():
    region_only = Tolerance(screen_max_changed=1.0)
    match = compare_step(form(), form(dy=8), [TARGET], space=SPACE, tol=region_only)
    assert "around the target at screen (370, 308)" in match.reason
    assert "moved by about (+0, +8) px" in match.reason
    assert shift_of(form(), form(dy=8), TARGET) == (0, 8)
    assert shift_of(form(), form(), TARGET) is None


def test_screen_points_are_mapped_to_the_scaled_screenshot():
    space = ScreenSpace(1600, 1200, 800, 600)
    match = compare_step(form(), form(dy=8), [(740, 616)], space=space,
                         tol=Tolerance(screen_max_changed=1.0))
    assert "around the target at screen (740, 616)" in match.reason


def test_pictures_of_different_sizes_never_match():
    match = compare_step(form(), form().resize((400, 300)), [], space=SPACE)
    assert not match.is_match and "400x300" in match.reason


def test_the_focused_window_must_be_the_recorded_one():
    recorded = Window("Tk", "tk", "Supplier form")
    assert same_window(recorded, Window("Tk", "other-instance", "Supplier form"))
    assert not same_window(recorded, Window("Tk", "tk", "Supplier form: notice"))
    assert not same_window(recorded, Window("XTerm", "xterm", "Supplier form"))
    assert same_window(None, Window("XTerm", "xterm", "bash"))
