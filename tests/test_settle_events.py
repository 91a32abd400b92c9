"""Settling on the display's events (core/x11/watcher.py's rule), on a fake clock: no X, no
real waiting. The last tests replay event streams recorded from real X runs
(tests/data/settle_streams.json, made by tests/data/record_streams.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_cua.core.vocab.actions import ScreenSpace
from claude_cua.core.vocab.desktop import Frame
from claude_cua.core.x11.watcher import (
    ASYNC_HOLD_S,
    GRACE_S,
    LATE_S,
    LEARN_MARGIN_S,
    MAX_RETAKES,
    Between,
    Observed,
)

ENCODE_S = 0.018  # what scaling and encoding a 1920x1080 screenshot takes, about
STREAMS = json.loads((Path(__file__).parent / "data" / "settle_streams.json").read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeWatcher:
    """The watcher's answers, from a list of changes (time, box), each seen once it is due."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.changes = clock, []
        self.stayed = True  # whether late changes are still on the screen at the next action

    def seen(self):
        return [t for t, _ in self.changes if t <= self.clock.now]

    def last_change(self):
        return max(self.seen(), default=None)

    def first_change_after(self, since, until=None):
        return min((t for t in self.seen() if t > since and (until is None or t <= until)),
                   default=None)

    def changes_between(self, since, until):
        return [(t, b) for t, b in self.changes if since < t <= until and t <= self.clock.now]

    def still_differs(self, boxes, frame):
        return self.stayed

    def caught_up(self):
        return True

    def take(self, until):
        return Observed()


class Run:
    """One run's Between on a fake clock, a fake watcher and a fake desktop's input times.
    Its screen is the number of changes seen so far; a capture shows that number, and making
    the screenshot takes ENCODE_S."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.watcher = FakeWatcher(self.clock)
        self.inputs: list[tuple[float, bool]] = []
        self.captured_at: list[float] = []
        self.between = Between(self.watcher, space=ScreenSpace(4, 4, 4, 4), ceiling_s=2,
                               clock=self.clock, sleep=self.clock.sleep,
                               inputs_since=self.inputs_since)

    def inputs_since(self, since):
        return [(t, press) for t, press in self.inputs if t >= since]

    def capture(self) -> Frame:
        self.captured_at.append(self.clock.now)
        return Frame(1, 1, bytes([min(255, len(self.watcher.seen()))]))

    def make(self, frame: Frame) -> int:
        self.clock.now += ENCODE_S
        return frame.bgra[0]

    def act(self, *, presses=(0.001,), changes=(), took=0.002, after_input=True, moves=()):
        """An action starting now: its presses and the app's changes (seconds after its
        start), then the screenshot after it."""
        start = self.clock.now
        self.between.action_started(f"toolu_{start}")
        self.inputs += sorted([(start + t, True) for t in presses]
                              + [(start + t, False) for t in moves])
        self.watcher.changes += [(start + t, (0, 0, 2, 2)) for t in changes]
        self.clock.now = start + took
        self.captured_at = []
        return self.between.screenshot(self.capture, self.make, before=None,
                                       after_input=after_input)

    def later(self, seconds: float = 1.0) -> None:
        self.clock.now += seconds


def test_an_app_that_answers_at_once_is_captured_as_it_stops_drawing_and_encoded_meanwhile(
        ) -> None:
    run = Run()
    shot = run.act(changes=[0.002])
    assert shot.captures == 1 and shot.made == 1 and shot.is_stable
    assert run.captured_at == [pytest.approx(100.003, abs=0.0015)]  # 1 ms after the change
    # the quiet window after the capture passed while it was encoded: nothing more to wait
    assert shot.waited_s < 0.001 + ENCODE_S + 0.002


def test_a_change_while_the_screenshot_is_encoded_takes_it_again() -> None:
    run = Run()
    shot = run.act(changes=[0.002, 0.010])
    assert shot.captures == 2 and shot.made == 2 and run.captured_at[1] > 100.010
    assert shot.waited_s < 0.003 + 2 * ENCODE_S + 0.003  # taken again once encoded


def test_an_app_that_draws_a_frame_later_is_held_for_its_answer_a_round_trip_later() -> None:
    run = Run()
    # a focus ring 11 ms after the press, the page's answer 85 ms after it
    shot = run.act(changes=[0.012, 0.086])
    assert shot.made == 2 and shot.is_stable
    assert run.captured_at[-1] > 100.086
    assert shot.waited_s >= ASYNC_HOLD_S - 0.002
    assert run.between.late_seen


def test_a_late_drawer_with_no_second_answer_is_still_held_once() -> None:
    run = Run()
    shot = run.act(changes=[0.009])  # 8 ms after the press: a frame clock's paint
    assert shot.captures == 1 and shot.made == 1
    assert shot.waited_s == pytest.approx(0.001 + ASYNC_HOLD_S - 0.002, abs=0.002)


def test_an_action_that_changes_nothing_is_captured_at_once_and_sent_after_the_grace() -> None:
    run = Run()
    shot = run.act()
    assert shot.captures == 1 and shot.made == 0
    assert run.captured_at == [pytest.approx(100.001 + LATE_S, abs=0.0015)]
    assert GRACE_S - 0.002 <= shot.waited_s <= GRACE_S
    run.later()
    shot = run.act(changes=[0.030])  # nothing for 30 ms, then the app's change
    assert shot.captures == 2 and shot.made == 1


def test_once_an_app_answered_late_an_action_that_changes_nothing_is_held_as_long() -> None:
    run = Run()
    run.act(changes=[0.012])  # a frame later: such an app may answer a round trip later
    run.later()
    shot = run.act(changes=[0.120])  # nothing at once, the answer 120 ms after the click
    assert shot.made == 2 and run.captured_at[-1] > 100.120 + 1.0


def test_one_slow_paint_in_a_run_of_quick_answers_does_not_hold_actions_that_change_nothing(
        ) -> None:
    run = Run()
    for _ in range(3):
        run.act(changes=[0.002])
        run.later()
    run.act(changes=[0.025])  # a busy moment: held, this once
    run.later()
    shot = run.act()
    assert run.between.late_seen and shot.waited_s <= GRACE_S + 0.001


def test_a_paint_a_few_ms_late_is_judged_by_what_the_run_has_seen() -> None:
    fresh = Run()
    shot = fresh.act(changes=[0.007])  # nothing seen before: may be a frame clock's paint
    assert shot.waited_s >= ASYNC_HOLD_S - 0.008
    busy = Run()
    for _ in range(3):
        busy.act(changes=[0.002])  # an app that answers at once, seen three times
        busy.later()
    shot = busy.act(changes=[0.007])  # the same app, a little late on a busy machine
    assert shot.captures == 1 and shot.waited_s < 0.03


def test_a_screen_already_changing_before_the_press_cannot_time_the_answer() -> None:
    run = Run()
    for _ in range(3):
        run.act(changes=[0.002])  # an app that answers at once, seen three times
        run.later()
    # a page still animating (a frame every 17 ms from before the action), one of its frames
    # 1 ms after the press, the page's answer 80 ms after it
    start = run.clock.now
    run.watcher.changes += [(start - 0.05 + i * 0.017, (0, 0, 2, 2)) for i in range(3)]
    shot = run.act(changes=[0.002, 0.081])
    assert run.captured_at[-1] > start + 0.081 and shot.waited_s >= ASYNC_HOLD_S - 0.003


def test_a_button_lit_as_the_pointer_comes_over_it_is_an_answer_not_drawing_under_way(
        ) -> None:
    run = Run()
    # the pointer moves over a Tk button (lit 0.5 ms later), the press 1 ms after the move
    # (the button drawn sunken 1 ms after that)
    shot = run.act(moves=[0.0002], presses=[0.0012], changes=[0.0007, 0.0022], took=0.003)
    assert not run.between.late_seen and shot.captures == 1
    assert shot.waited_s < 0.001 + ENCODE_S + 0.002


def test_an_answer_that_came_after_the_screenshot_and_stayed_holds_later_requests() -> None:
    run = Run()
    run.act(changes=[0.002, 0.090])  # the answer 90 ms after the press, after the request
    assert run.between.hold_s == 0.0
    run.later()
    shot = run.act(changes=[0.002])
    assert run.between.hold_s == pytest.approx(0.090 - 0.001 + LEARN_MARGIN_S, abs=0.002)
    assert shot.waited_s >= run.between.hold_s - 0.003


def test_a_toast_that_came_and_went_after_the_screenshot_is_not_waited_for() -> None:
    run = Run()
    run.watcher.stayed = False  # gone by the next action: told as a transient instead
    run.act(changes=[0.002, 0.300])
    run.later()
    shot = run.act(changes=[0.002])
    assert run.between.hold_s == 0.0 and shot.waited_s < 0.03


def test_a_screen_that_never_stops_changing_ends_at_the_ceiling_unsettled() -> None:
    run = Run()
    shot = run.act(changes=[i * 0.0005 for i in range(1, 8000)])
    assert not shot.is_stable
    assert shot.captures <= MAX_RETAKES + 1 and shot.waited_s <= 2 * 2 + 0.05


def test_a_screenshot_without_input_is_taken_at_once_or_once_the_screen_is_still() -> None:
    run = Run()
    shot = run.act(presses=(), after_input=False)
    assert shot.captures == 1 and shot.waited_s == pytest.approx(ENCODE_S, abs=0.001)
    run.later()
    shot = run.act(presses=(), changes=[0.001, 0.005], took=0.0, after_input=False)
    assert shot.made == 2 and run.captured_at[-1] >= 101.0 + 0.005 + 0.015 - 0.001


def replay(run: Run, stream: dict) -> tuple[object, list[float]]:
    """One recorded action, replayed at the fake clock's now."""
    start = run.clock.now
    run.between.action_started("toolu_rec")
    run.inputs += [(start + t, bool(press)) for t, press in stream["inputs"]]
    run.watcher.changes += [(start + t, tuple(box)) for t, box in stream["changes"]]
    run.clock.now = start + stream["end"]
    run.captured_at = []
    shot = run.between.screenshot(run.capture, run.make, before=None, after_input=True)
    return shot, [t - start for t in run.captured_at]


def test_recorded_tk_steps_are_sent_as_soon_as_encoded_and_show_every_change() -> None:
    run = Run()
    for stream in [s for s in STREAMS if s["app"] == "tk"]:
        shot, captured = replay(run, stream)
        changes = [t for t, _ in stream["changes"]]
        assert all(t < captured[-1] for t in changes), stream  # every change is in it
        if changes:  # clicks and typing: no wait beyond the encoding
            assert shot.waited_s < stream["end"] + 0.006 + ENCODE_S + 0.002, stream
        else:  # a click on the background: the grace, nothing more
            assert shot.waited_s <= GRACE_S + 0.001, stream
        run.later()
    assert not run.between.late_seen and run.between.hold_s == 0.0


@pytest.mark.parametrize("stream", [s for s in STREAMS if s["app"] == "chromium"],
                         ids=lambda s: f"answer-at-{s['changes'][-1][0] * 1000:.0f}ms")
def test_recorded_chromium_submit_is_screenshotted_with_its_answer_in_a_fresh_run(
        stream) -> None:
    run = Run()
    shot, captured = replay(run, stream)
    answer = stream["changes"][-1][0]
    assert captured[-1] > answer and shot.made == len(stream["changes"])


def test_a_display_that_cannot_be_watched_is_said_once_and_settles_as_before(caplog) -> None:
    import logging

    from claude_cua.core.x11.watcher import open_between

    class Unwatchable:
        def watch(self):
            return None, "the X server on :9 lacks the DAMAGE extension"

    clock = Clock()
    with caplog.at_level(logging.INFO, logger="claude_cua.core.x11.watcher"):
        between = open_between(Unwatchable(), space=ScreenSpace(4, 4, 4, 4), ceiling_s=2,
                               clock=clock, sleep=clock.sleep, env={})
    assert between is None
    [message] = [r.getMessage() for r in caplog.records]
    assert "lacks the DAMAGE extension" in message and "comparing captures" in message
    assert open_between(object(), space=ScreenSpace(4, 4, 4, 4), ceiling_s=2, clock=clock,
                        sleep=clock.sleep, env={}) is None  # FakeDesktop: nothing to watch
