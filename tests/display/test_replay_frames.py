"""replay_match on real frames: the supplier form on Xvfb (with openbox), captured and scaled as
cua sends it, compared with itself over time (caret blinking, a clock drawn in a corner, pixel
noise) and with its variants (fields moved, a dialog on top, another window in front)."""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from claude_cua.cli.demo import colours
from claude_cua.cli.demo.policies import find_colour
from claude_cua.core.model.context import DEFAULT_MAX_LONG_EDGE, DEFAULT_MAX_PIXELS
from claude_cua.core.replay.match import Tolerance, compare_step
from claude_cua.core.vocab.actions import frame_to_image, scale_image, space_for
from claude_cua.core.x11.xserver import stop_process
from helpers import wait_until
from PIL import Image, ImageChops, ImageDraw

pytestmark = pytest.mark.display

FORM = [sys.executable, "-m", "claude_cua.cli.demo.supplier_form"]
TARGETS = (colours.COMPANY, colours.EMAIL, colours.COUNTRY, colours.NOTES, colours.SUBMIT)


@contextlib.contextmanager
def form(display, tmp_path, *variant: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = display.start_app([*FORM, "--out", str(tmp_path / "out.json"), *variant])
    try:
        yield proc
    finally:
        stop_process(proc)


def model_image(desktop, space) -> Image.Image:
    return scale_image(frame_to_image(desktop.capture()), (space.model_w, space.model_h))


def drawn(desktop, colour) -> tuple[int, int] | None:
    return find_colour(frame_to_image(desktop.capture()), colour)


def ready(desktop) -> list[tuple[int, int]]:
    """The form is drawn: every target found (screen pixels)."""
    points = [drawn(desktop, c) for c in TARGETS]
    return points if all(points) else []


def settled(desktop, space) -> Image.Image:
    """A frame once two captures in a row agree (ignoring the caret: compared scaled down)."""
    def same():
        a, b = model_image(desktop, space), model_image(desktop, space)
        return a if a.reduce(8).tobytes() == b.reduce(8).tobytes() else None
    return wait_until(same, 15, message="the screen to settle")


def field_box(image: Image.Image, at: tuple[int, int], rgb) -> tuple[int, int, int, int]:
    """The bounding box of the field of colour `rgb` around `at`, with its 3-pixel border."""
    x0, y0 = max(0, at[0] - 400), max(0, at[1] - 80)
    region = image.crop((x0, y0, at[0] + 400, at[1] + 80))
    r, g, b = (band.point(lambda v, c=c: 255 if abs(v - c) <= 8 else 0)
               for band, c in zip(region.split(), rgb, strict=True))
    mask = ImageChops.darker(ImageChops.darker(r, g), b)
    left, top, right, bottom = mask.getbbox()
    return x0 + left - 4, y0 + top - 4, x0 + right + 4, y0 + bottom + 4


@pytest.fixture
def space(virtual_display):
    return space_for(1920, 1080, max_long_edge=DEFAULT_MAX_LONG_EDGE,
                     max_pixels=DEFAULT_MAX_PIXELS)


def company_clicked(desktop, space):
    """On the open form: Company clicked (its caret blinking), then the settled frame."""
    targets = wait_until(lambda: ready(desktop), 20, message="the form")
    desktop.click(*targets[0])
    return settled(desktop, space), targets


@pytest.fixture
def live(virtual_display, desktop, space, tmp_path):
    """The standard form, Company clicked (its caret blinking): frame and targets."""
    with form(virtual_display, tmp_path):
        frame, targets = company_clicked(desktop, space)
        yield frame, targets, desktop


@pytest.fixture
def recorded(virtual_display, desktop, space, tmp_path):
    """As `live`, but the form is closed again (and gone from the screen) when the test runs."""
    with form(virtual_display, tmp_path):
        frame, targets = company_clicked(desktop, space)
    wait_until(lambda: not drawn(desktop, colours.COMPANY), 20, message="the form to close")
    return frame, targets, desktop


def test_the_unchanged_form_matches_itself_over_50_frames(live, space):
    frame, targets, desktop = live
    # Frames as fast as they come, until the caret has blinked at least twice: no sleeping.
    # Each frame is compared as it comes and then dropped, and the wait is bounded: a caret
    # that never blinks (the field did not take the focus) fails here instead of filling memory.
    deadline = time.monotonic() + 20
    frames, caret_changes, previous, alarms = 0, 0, frame.tobytes(), []
    while frames < 50 or caret_changes < 2:
        assert time.monotonic() < deadline, (
            f"the caret blinked {caret_changes} times in {frames} frames over 20 s: "
            "the Company field never showed a blinking caret")
        current = model_image(desktop, space)
        data = current.tobytes()
        caret_changes += data != previous
        previous = data
        frames += 1
        match = compare_step(frame, current, targets, space=space)
        if not match.is_match:
            alarms.append(match.reason)
    assert alarms == []


def test_a_clock_and_pixel_noise_are_tolerated(recorded, space):
    frame, targets, _ = recorded
    rng = random.Random(7)
    for minute in range(10):
        changed = frame.copy()
        draw = ImageDraw.Draw(changed)
        draw.rectangle((1300, 0, 1428, 24), fill=(30, 30, 30))
        draw.text((1310, 5), f"14:{minute:02d}", fill=(255, 255, 255))
        for _ in range(400):  # anti-aliasing-like noise: single pixels off by up to 30 levels
            x, y = rng.randrange(changed.width), rng.randrange(changed.height)
            d = rng.randint(-30, 30)
            pixel = tuple(max(0, min(255, v + d)) for v in changed.getpixel((x, y)))
            changed.putpixel((x, y), pixel)
        match = compare_step(frame, changed, targets, space=space)
        assert match.is_match, match.reason


@pytest.mark.parametrize("offset", ["0,8", "0,20", "0,40", "30,0", "-40,0", "30,40"])
def test_moved_fields_never_match(recorded, virtual_display, space, tmp_path, offset):
    frame, targets, desktop = recorded
    with form(virtual_display, tmp_path, f"--offset={offset}"):
        wait_until(lambda: ready(desktop), 20, message="the moved form")
        moved = settled(desktop, space)
    match = compare_step(frame, moved, targets, space=space)
    assert not match.is_match


def test_a_moved_field_fails_at_its_target_even_where_the_screen_barely_changes(recorded,
                                                                               space):
    """Only the Email field moved, by 8 model pixels: with the whole-screen check switched off,
    the region around the target, compared at the same offset, still catches it."""
    frame, targets, _ = recorded
    email = targets[1]
    at = space.to_model(*email)
    box = field_box(frame, at, colours.EMAIL)
    moved = frame.copy()
    piece = frame.crop(box)
    ImageDraw.Draw(moved).rectangle(box, fill=(242, 242, 242))  # the form's background
    moved.paste(piece, (box[0], box[1] + 8))
    region_only = Tolerance(screen_max_changed=1.0)
    match = compare_step(frame, moved, [email], space=space, tol=region_only)
    assert not match.is_match
    assert "around the target" in match.reason
    # the same picture, unmoved, passes that check
    assert compare_step(frame, frame.copy(), [email], space=space, tol=region_only).is_match


def test_a_dialog_on_top_never_matches(recorded, virtual_display, space, tmp_path):
    frame, targets, desktop = recorded
    with form(virtual_display, tmp_path, "--dialog-after-clicks", "1"):
        again = wait_until(lambda: ready(desktop), 20, message="the second form")
        desktop.click(*again[0])
        wait_until(lambda: drawn(desktop, colours.DIALOG_OK), 20, message="the dialog")
        with_dialog = settled(desktop, space)
    assert not compare_step(frame, with_dialog, targets, space=space).is_match


def test_another_window_in_front_never_matches(live, virtual_display, space):
    frame, targets, desktop = live
    xterm = virtual_display.start_app(["xterm", "-geometry", "60x12+1200+600"])
    try:
        wait_until(lambda: desktop.focused_window().wm_class == "XTerm", 20,
                   message="xterm focused")
        other = settled(desktop, space)
    finally:
        stop_process(xterm)
    assert not compare_step(frame, other, targets, space=space).is_match
