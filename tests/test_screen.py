import itertools

import pytest
from claude_cua.core.errors import ActionError
from claude_cua.core.vocab.actions import (
    ScreenSpace,
    encode_png,
    fit_size,
    frame_to_image,
    space_for,
    wait_for_settle,
    zoom_region,
)
from claude_cua.core.vocab.desktop import Frame
from PIL import Image


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), (1429, 804)),
        ((1280, 800), (1280, 800)),
        ((1024, 768), (1024, 768)),
        ((2560, 1440), (1429, 804)),
        ((3840, 2160), (1429, 804)),
        ((1080, 1920), (804, 1429)),
    ],
)
def test_fit_size_keeps_aspect_and_fits_both_limits(size, expected):
    w, h = fit_size(*size)
    assert (w, h) == expected
    assert max(w, h) <= 1568
    assert w * h <= 1_150_000
    assert abs(w / h - size[0] / size[1]) < 0.01


def test_large_image_models_are_not_scaled_at_1080p():
    assert fit_size(1920, 1080, max_long_edge=2576, max_pixels=3_750_000) == (1920, 1080)


@pytest.mark.parametrize(
    ("point", "screen"),
    [((0, 0), (0, 0)), ((1428, 803), (1919, 1079)), ((714, 402), (960, 540)),
     ((100, 50), (135, 67))],
)
def test_model_points_map_to_screen_pixels(point, screen):
    space = space_for(1920, 1080, max_long_edge=1568, max_pixels=1_150_000)
    assert space.to_screen(*point) == screen


def test_round_trip_lands_within_one_model_pixel():
    space = ScreenSpace(1920, 1080, 1429, 804)
    for x in range(0, 1429, 37):
        for y in range(0, 804, 41):
            back = space.to_model(*space.to_screen(x, y))
            assert abs(back[0] - x) <= 1 and abs(back[1] - y) <= 1


@pytest.mark.parametrize("point", [(-1, 0), (0, -1), (1429, 0), (0, 804), (5000, 5000)])
def test_points_outside_the_declared_space_are_refused(point):
    space = ScreenSpace(1920, 1080, 1429, 804)
    with pytest.raises(ActionError, match="outside the screen"):
        space.to_screen(*point)


def _frame(image):
    return Frame(image.width, image.height, image.tobytes("raw", "BGRX"))


def test_frame_to_image_keeps_colours():
    image = Image.new("RGB", (4, 2), (10, 200, 30))
    assert frame_to_image(_frame(image)).getpixel((3, 1)) == (10, 200, 30)
    assert encode_png(image)[:8] == b"\x89PNG\r\n\x1a\n"


def _transitions(row):
    light = [v > 128 for v in row]
    return sum(1 for a, b in itertools.pairwise(light) if a != b)


def test_zoom_crops_from_full_resolution_and_shows_more_detail():
    image = Image.new("RGB", (1920, 1080), (0, 0, 0))
    for x in range(100, 120):  # one-pixel stripes: a 0.74 downscale blurs them into grey
        for y in range(180, 220):
            image.putpixel((x, y), (255, 255, 255) if x % 2 else (0, 0, 0))
    space = ScreenSpace(1920, 1080, 1429, 804)
    downscaled = frame_to_image(_frame(image)).resize((1429, 804), Image.Resampling.BILINEAR)
    assert _transitions([downscaled.getpixel((x, 148))[0] for x in range(60, 100)]) < 20
    zoomed = zoom_region(_frame(image), space, (70, 140, 90, 160))
    assert zoomed.width > 500  # fills the image budget
    row = [zoomed.getpixel((x, zoomed.height // 2))[0] for x in range(zoomed.width)]
    assert _transitions(row) >= 19


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_settle_stops_at_the_first_unchanged_frame():
    frames = iter([b"a", b"b", b"c", b"c", b"c"])
    clock = FakeClock()
    settled = wait_for_settle(lambda: Frame(1, 1, next(frames)), interval_s=0.02,
                              ceiling_s=2, clock=clock, sleep=clock.sleep)
    assert settled.is_stable and settled.captures == 4
    assert settled.frame.bgra == b"c"
    assert settled.waited_s == pytest.approx(0.06)


def test_static_screen_settles_after_one_interval():
    clock = FakeClock()
    settled = wait_for_settle(lambda: Frame(1, 1, b"x"), interval_s=0.02, ceiling_s=2,
                              clock=clock, sleep=clock.sleep)
    assert settled.captures == 2 and settled.waited_s == pytest.approx(0.02)


def test_hold_waits_out_a_pause_between_two_bursts_of_drawing():
    """An app frames its window, pauses, then draws its widgets: with `hold_s` the second
    burst is waited for; without it the pause looks like the end."""
    def screens():
        return iter([b"frame", b"frame", b"frame", b"widgets", *[b"widgets"] * 20])
    for hold, expected in ((0.0, b"frame"), (0.1, b"widgets")):
        clock, frames = FakeClock(), screens()
        settled = wait_for_settle(lambda f=frames: Frame(1, 1, next(f)), interval_s=0.02,
                                  ceiling_s=2, hold_s=hold, clock=clock, sleep=clock.sleep)
        assert settled.is_stable and settled.frame.bgra == expected
    assert settled.waited_s == pytest.approx(0.06 + 0.1)  # the change, then the hold


def test_animation_gives_up_at_the_ceiling():
    counter = iter(range(10_000))
    clock = FakeClock()
    settled = wait_for_settle(lambda: Frame(1, 1, bytes([next(counter) % 256])), interval_s=0.05,
                              ceiling_s=1.0, clock=clock, sleep=clock.sleep)
    assert not settled.is_stable
    assert 1.0 <= settled.waited_s < 1.1


def test_an_unchanged_screen_gets_a_grace_period_to_repaint():
    frames = iter([b"old", b"old", b"old", b"new", b"new"])
    clock = FakeClock()
    settled = wait_for_settle(lambda: Frame(1, 1, next(frames)), baseline=Frame(1, 1, b"old"),
                              interval_s=0.02, ceiling_s=2, quiet_grace_s=0.1, clock=clock,
                              sleep=clock.sleep)
    assert settled.frame.bgra == b"new"
    assert settled.captures == 5


def test_a_screen_that_never_changes_stops_after_the_grace():
    clock = FakeClock()
    settled = wait_for_settle(lambda: Frame(1, 1, b"old"), baseline=Frame(1, 1, b"old"),
                              interval_s=0.02, ceiling_s=2, quiet_grace_s=0.1, clock=clock,
                              sleep=clock.sleep)
    assert settled.is_stable and settled.waited_s == pytest.approx(0.1)
