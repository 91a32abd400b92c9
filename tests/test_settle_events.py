"""Settling on the display's events (screen.wait_for_quiet, between.Between), on a fake clock:
no X, no real waiting."""

from __future__ import annotations

from claude_cua.core.vocab.desktop import Frame
from claude_cua.core.vocab.screen import ScreenSpace, wait_for_quiet
from claude_cua.core.vocab.transients import Observed
from claude_cua.core.x11.between import BASE_QUIET_S, HOLD_S, LEARN_MARGIN_S, Between


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def changes_at(clock: Clock, times: list[float]):
    """last_change as a watcher would answer it, for changes at these times."""
    return lambda: max((t for t in times if t <= clock.now), default=None)


def test_it_waits_for_the_quiet_window_after_the_last_change() -> None:
    clock = Clock()
    last = changes_at(clock, [100.003, 100.010])
    quiet = wait_for_quiet(last, since=100.0, quiet_s=0.015, grace_s=0.1, ceiling_s=2,
                           clock=clock, sleep=clock.sleep)
    assert quiet.is_stable and 0.025 <= quiet.waited_s < 0.03


def test_an_action_that_changed_nothing_waits_the_grace() -> None:
    clock = Clock()
    quiet = wait_for_quiet(lambda: None, since=100.0, quiet_s=0.015, grace_s=0.1, ceiling_s=2,
                           clock=clock, sleep=clock.sleep)
    assert quiet.is_stable and 0.1 <= quiet.waited_s < 0.105


def test_an_app_slow_to_draw_gets_three_times_its_delay_as_its_quiet_window() -> None:
    clock = Clock()
    last = changes_at(clock, [100.030])
    quiet = wait_for_quiet(last, since=100.0, quiet_s=0.015, grace_s=0.1, ceiling_s=2,
                           first_change=lambda: 100.030 if clock.now >= 100.030 else None,
                           latency_factor=3, latency_from=100.0, clock=clock, sleep=clock.sleep)
    assert 0.12 <= quiet.waited_s < 0.125  # 30 ms, then 90 ms of quiet


def test_a_screen_that_never_stops_changing_ends_at_the_ceiling_unsettled() -> None:
    clock = Clock()
    quiet = wait_for_quiet(lambda: clock.now, since=100.0, quiet_s=0.015, grace_s=0.1,
                           ceiling_s=0.5, clock=clock, sleep=clock.sleep)
    assert not quiet.is_stable and 0.5 <= quiet.waited_s < 0.51


class FakeWatcher:
    """The watcher's answers, from a list of change times."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.changes = clock, []

    def last_change(self):
        return max(self.seen(), default=None)

    def first_change_after(self, since, until=None):
        return min((t for t in self.seen() if t > since and (until is None or t <= until)),
                   default=None)

    def last_change_before(self, until, since):
        return max((t for t in self.seen() if since <= t <= until), default=None)

    def seen(self):
        return [t for t in self.changes if t <= self.clock.now]

    def take(self, until):
        return Observed()


def test_a_late_answer_after_a_screenshot_lengthens_the_quiet_window_for_the_run() -> None:
    clock = Clock()
    watcher = FakeWatcher(clock)
    between = Between(watcher, space=ScreenSpace(4, 4, 4, 4), ceiling_s=2, clock=clock,
                      sleep=clock.sleep)
    frame = Frame(4, 4, bytes(64))
    between.action_started("a")
    watcher.changes.append(100.0)  # the app answers at once (during the action) ...
    shot = between.screenshot(lambda: frame, lambda f: b"", before=frame, after_input=True)
    assert shot.waited_s < 0.03 and between.quiet_s == BASE_QUIET_S
    late = clock.now + 0.08
    watcher.changes.append(late)  # ... and again 80 ms after the screenshot
    clock.now += 1.0
    between.action_started("b")
    between.settle(after_input=True)
    # the quiet window is now the gap between the two changes, and a margin
    assert abs(between.quiet_s - (late - 100.0 + LEARN_MARGIN_S)) < 1e-6
    assert between.hold_s == HOLD_S


def test_nothing_then_a_late_answer_lengthens_the_hold_instead() -> None:
    clock = Clock()
    watcher = FakeWatcher(clock)
    between = Between(watcher, space=ScreenSpace(4, 4, 4, 4), ceiling_s=2, clock=clock,
                      sleep=clock.sleep)
    frame = Frame(4, 4, bytes(64))
    between.action_started("a")
    between.screenshot(lambda: frame, lambda f: b"", before=frame, after_input=True)
    watcher.changes.append(100.15)  # the page's answer, 150 ms after the click
    clock.now += 1.0
    between.action_started("b")
    between.settle(after_input=True)
    assert abs(between.hold_s - (0.15 + LEARN_MARGIN_S)) < 0.005
    assert between.quiet_s == BASE_QUIET_S


def test_after_an_action_that_changed_nothing_the_request_is_held_and_retaken_on_a_change(
        ) -> None:
    clock = Clock()
    watcher = FakeWatcher(clock)
    between = Between(watcher, space=ScreenSpace(4, 4, 4, 4), ceiling_s=2, clock=clock,
                      sleep=clock.sleep)
    frames = iter([Frame(4, 4, bytes(64)), Frame(4, 4, bytes([255]) * 64)])
    watcher.changes.append(100.09)  # the answer, 90 ms after the click
    between.action_started("a")
    shot = between.screenshot(lambda: next(frames), lambda f: f.bgra[:1], before=None,
                              after_input=True)
    assert shot.captures == 2 and shot.made == bytes([255])  # the answer is in it


def test_a_display_that_cannot_be_watched_is_said_once_and_settles_as_before(caplog) -> None:
    import logging

    from claude_cua.core.x11.between import open_between

    class Unwatchable:
        def watch(self):
            return None, "the X server on :9 lacks the DAMAGE extension"

    clock = Clock()
    with caplog.at_level(logging.INFO, logger="claude_cua.core.x11.between"):
        between = open_between(Unwatchable(), space=ScreenSpace(4, 4, 4, 4), ceiling_s=2,
                               clock=clock, sleep=clock.sleep, env={})
    assert between is None
    [message] = [r.getMessage() for r in caplog.records]
    assert "lacks the DAMAGE extension" in message and "comparing captures" in message
    assert open_between(object(), space=ScreenSpace(4, 4, 4, 4), ceiling_s=2, clock=clock,
                        sleep=clock.sleep, env={}) is None  # FakeDesktop: nothing to watch
