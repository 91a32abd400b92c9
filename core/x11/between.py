"""Between two screenshots, with a watcher: settle on the display's own events, and say what
came and went. The step (core/engine/step.py) asks this; the watcher (core/x11/watcher.py)
listens to X; core/vocab/transients.py decides what Claude is told.

The settling rule, for apps that answer at once and apps that answer a round trip later:
- the screen is settled when it has had no damage for the run's quiet window (15 ms to start
  with), or, when the action changed nothing at all, 50 ms after it; then the screenshot is
  taken and encoded, but a request after an action that changed nothing leaves no sooner
  than 120 ms after it, and is retaken if the screen changes meanwhile (Chromium shows
  nothing at all for a click on Submit until the page's answer, some 80-110 ms later);
- an app slow to show its first change (counted from the end of the action) gets a quiet
  window eight times that delay (capped at 300 ms): a program that draws late may draw again;
  Tk paints within a few milliseconds, during the action itself, and pays nothing;
- both learn: a change that came within 300 ms after a screenshot taken after input means the
  app answered late; the quiet window (or, when nothing had changed, the 120 ms) grows to that
  gap plus 20 ms for the rest of the run (at most 300 and 400 ms);
- a change that arrives while the screenshot is being scaled and encoded (before the request
  leaves) means it is retaken, at most twice.
The ceiling stays the settle ceiling.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..vocab.desktop import Frame
from ..vocab.screen import Quiet, ScreenSpace, encode_png, wait_for_quiet
from ..vocab.transients import Transient, find_transients
from .notices import Listener, open_listener
from .watcher import Watcher

log = logging.getLogger(__name__)
T = TypeVar("T")

BASE_QUIET_S = 0.015
GRACE_S = 0.05
HOLD_S = 0.12
MAX_HOLD_S = 0.4
LATENCY_FACTOR = 8.0
MAX_QUIET_S = 0.3
LEARN_WINDOW_S = 0.3
LEARN_MARGIN_S = 0.02
MAX_RETAKES = 2


@dataclass(frozen=True, slots=True)
class Shot(Generic[T]):
    """A screenshot taken on the display's events: the frame, what was made of it, how long
    it waited, how many captures it took, and what came and went before it."""

    frame: Frame
    made: T
    waited_s: float
    captures: int
    is_stable: bool
    found: Found


@dataclass(frozen=True, slots=True)
class Found:
    """The transients of one interval, with their pictures (PNG) where they have one."""

    transients: tuple[Transient, ...]
    pngs: tuple[bytes | None, ...]
    action_ids: tuple[str, ...]  # the tool_use ids of the turn's actions, in order


class Between:
    def __init__(self, watcher: Watcher, *, space: ScreenSpace, ceiling_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.watcher, self.space, self.ceiling_s = watcher, space, ceiling_s
        self.clock, self.sleep = clock, sleep
        self.listener: Listener | None = None  # desktop notifications, where a bus is
        self.quiet_s = BASE_QUIET_S
        self.shots = 0
        self.grace_s = GRACE_S
        self.hold_s = HOLD_S  # after an action that changed nothing, the request waits this long
        self.settled_on_damage = False  # the last screenshot followed a change, not the grace
        self.turn: list[tuple[float, str]] = []  # (start, tool_use_id) of each action
        self.shot_at: float | None = None  # when the last screenshot was captured
        self.shot_after_input = False
        self.settled_change: float | None = None  # the last change before that screenshot

    def action_started(self, tool_use_id: str) -> None:
        self.turn.append((self.clock(), tool_use_id))

    def settle(self, *, after_input: bool) -> Quiet:
        """Wait for the display to be quiet after this turn's actions."""
        self._learn()
        since = self.turn[-1][0] if self.turn and after_input else self.clock()
        return self._wait(since, grace_s=self.grace_s if after_input else 0.0,
                          latency_from=self.clock())

    def _hold(self, *, until: float, shot_at: float) -> None:
        """Nothing has changed since the action: the screenshot is taken and encoded, but the
        request waits until `until` in case the answer is a round trip away (a change retakes
        it)."""
        while self.clock() < until and self.changed_since(shot_at) is None:
            self.sleep(0.002)

    def changed_since(self, at: float) -> float | None:
        """A change after `at` (the capture): the screenshot is out of date."""
        changed = self.watcher.last_change()
        return changed if changed is not None and changed > at else None

    def retake_wait(self, since: float) -> Quiet:
        return self._wait(since, grace_s=0.0)

    def _wait(self, since: float, *, grace_s: float, latency_from: float | None = None
              ) -> Quiet:
        return wait_for_quiet(
            self.watcher.last_change, since=since, quiet_s=self.quiet_s, grace_s=grace_s,
            ceiling_s=self.ceiling_s, first_change=lambda: self.watcher.first_change_after(since),
            latency_factor=LATENCY_FACTOR, latency_from=latency_from, max_quiet_s=MAX_QUIET_S,
            clock=self.clock,
            sleep=self.sleep)

    def _learn(self) -> None:
        """Grow the quiet window when the app answered after the last screenshot."""
        if self.shot_at is None or not self.shot_after_input:
            return
        until = min(self.shot_at + LEARN_WINDOW_S,
                    self.turn[0][0] if self.turn else self.clock())
        late = self.watcher.first_change_after(self.shot_at, until)
        self.shot_after_input = False
        if late is None or self.settled_change is None:
            return
        gap = late - self.settled_change
        if not self.settled_on_damage:  # nothing had changed: the grace was too short
            if gap + LEARN_MARGIN_S > self.hold_s:
                self.hold_s = min(MAX_HOLD_S, gap + LEARN_MARGIN_S)
                log.info("the screen changed %.0f ms after an action that had changed nothing "
                         "by its screenshot; settling now gives such actions %.0f ms",
                         gap * 1000, self.hold_s * 1000)
        elif gap + LEARN_MARGIN_S > self.quiet_s:
            self.quiet_s = min(MAX_QUIET_S, gap + LEARN_MARGIN_S)
            log.info("the screen changed %.0f ms after a screenshot was taken; settling now "
                     "waits for %.0f ms of quiet", (late - self.shot_at) * 1000,
                     self.quiet_s * 1000)

    def screenshot(self, capture: Callable[[], Frame], make: Callable[[Frame], T], *,
                   before: Frame | None, after_input: bool, retake: bool = True) -> Shot[T]:
        """Settle, capture, `make` (scale and encode), and capture again when the screen
        changed before the request leaves (at most MAX_RETAKES times)."""
        t0 = self.clock()
        action_at = self.turn[-1][0] if self.turn and after_input else None
        quiet = self.settle(after_input=after_input)
        captures = 0
        while True:
            shot_at = self.clock()
            frame = capture()
            captures += 1
            waited = shot_at - t0
            made = make(frame)
            if action_at is not None and self.watcher.first_change_after(action_at) is None:
                self._hold(until=action_at + self.hold_s, shot_at=shot_at)
            changed = self.changed_since(shot_at)
            if changed is None or not retake or captures > MAX_RETAKES:
                break
            log.debug("the screen changed %.0f ms after its capture: taken again",
                      (changed - shot_at) * 1000)
            quiet = self.retake_wait(changed)
        found = self.found(before=before, after=frame, shot_at=shot_at, after_input=after_input)
        return Shot(frame, made, waited, captures, quiet.is_stable, found)

    def found(self, *, before: Frame | None, after: Frame, shot_at: float,
              after_input: bool) -> Found:
        """What came and went up to the screenshot captured at `shot_at`; starts a new turn."""
        seen = self.watcher.take(shot_at)
        self.shots += 1
        transients = find_transients(seen, before=before, after=after,
                                     actions_at=[t for t, _ in self.turn] or [shot_at],
                                     shot_at=shot_at, space=self.space)
        ids = tuple(i for _, i in self.turn)
        first = self.turn[0][0] if self.turn else shot_at
        changed = self.watcher.last_change_before(shot_at, since=first)
        self.settled_on_damage = changed is not None
        self.settled_change = changed or (self.turn[-1][0] if self.turn else None)
        self.shot_at, self.shot_after_input, self.turn = shot_at, after_input, []
        pngs = tuple(None if t.image is None else encode_png(t.image) for t in transients)
        return Found(tuple(transients), pngs, ids)

    def restart(self, shot_at: float) -> None:
        """The first screenshot: what came before it is not news."""
        self.watcher.take(shot_at)
        self.shot_at, self.turn = shot_at, []

    def close(self) -> None:
        cpu = self.watcher.cpu_s()
        log.info("the watcher used %.0f ms of CPU in its thread for %d screenshots (%.2f ms "
                 "each)", cpu * 1000, self.shots, cpu * 1000 / max(self.shots, 1))
        if self.listener is not None:
            self.listener.close()
        self.watcher.close()


def open_between(desktop: object, *, space: ScreenSpace, ceiling_s: float,
                 clock: Callable[[], float], sleep: Callable[[float], None],
                 env: Mapping[str, str] = os.environ) -> Between | None:
    """A Between for `desktop` when it can be watched (an XDesktop with DAMAGE); None, said
    once in the log (cua -v), when it cannot, and the step settles by comparing captures."""
    watch = getattr(desktop, "watch", None)
    if watch is None:
        return None
    watcher, reason = watch()
    if watcher is None:
        log.info("not watching between screenshots (%s): settling by comparing captures, "
                 "and Claude is not told what came and went", reason)
        return None
    between = Between(watcher, space=space, ceiling_s=ceiling_s, clock=clock, sleep=sleep)
    listener, reason = open_listener(env, watcher.add_notice)
    if listener is None:
        log.debug("not listening for desktop notifications: %s", reason)
    between.listener = listener
    return between


def transient_name(step: int, index: int) -> str:
    """File name, in the run folder, of a step's `index`-th transient picture (from 1)."""
    return f"step-{step:03d}-transient-{index}.png"


def for_record(found: Found | None, step: int
               ) -> tuple[tuple[dict[str, object], ...], tuple[tuple[str, bytes], ...]]:
    """A step's transients as the record lists them, and their pictures (file name, PNG)."""
    if found is None:
        return (), ()
    records, pictures = [], []
    for t, png in zip(found.transients, found.pngs, strict=True):
        name = None
        if png is not None:
            name = transient_name(step, len(pictures) + 1)
            pictures.append((name, png))
        records.append(t.record(name))
    return tuple(records), tuple(pictures)
