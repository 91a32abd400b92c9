"""Between two screenshots, with a watcher: settle on the display's own events, and say what
came and went. The step (core/engine/step.py) asks this; the watcher (core/x11/watcher.py)
listens to X; core/vocab/transients.py decides what Claude is told.

The settling rule, for apps that answer at once and apps that answer a round trip later. How
soon the app's first change came after the key or button press it answered tells them apart:
- within 4 ms (or within 10 ms, in a run whose apps have mostly answered at once: a busy
  machine): the app answered at once, as Tk and xterm do, drawing as they handle the event.
  The screenshot is captured as soon as the drawing pauses (1 ms) and is scaled and encoded
  straight away; it may leave once the screen has been still for the quiet window (15 ms)
  after its last change, which the encoding covers. A change meanwhile takes it again;
- later: the app draws on a frame clock, and its answer may be a round trip away (Chromium
  paints a click's focus ring a frame later, and a page's answer to Submit 70-110 ms after the
  click), or the screen was already changing in the 100 ms before the input (since the last
  screenshot), so the delay says nothing. The quiet window is three times that delay (at
  least 35 ms, two frames; at most 300 ms), and the request leaves no sooner than 150 ms
  after the input; a change before then retakes the screenshot. In a run whose apps have
  answered so at least as often as at once, an action that changes nothing is held as long;
- nothing changed at all: captured 10 ms after the input (an app that answers at once has
  drawn by then), sent 40 ms after the action started unless a change retakes it;
- a change that came within 300 ms after a screenshot taken after input and was still there
  when the next action started (an answer Claude did not see; a toast that came and went was
  told as such and needs no wait) holds every later request of the run until that delay after
  the input plus 20 ms (at most 400 ms).
At most two retakes; the ceiling stays the settle ceiling.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..vocab.desktop import Frame
from ..vocab.screen import ScreenSpace, encode_png
from ..vocab.transients import Transient, find_transients
from .notices import Listener, open_listener
from .watcher import Watcher

log = logging.getLogger(__name__)
T = TypeVar("T")

BASE_QUIET_S = 0.015
CAPTURE_QUIET_S = 0.001  # a first capture once the drawing pauses; the quiet is checked after
SYNC_S = 0.004  # an app whose first change came this soon after the press answered at once
LATE_S = 0.01  # ... this late, it did not; in between, as most of the run's apps did so far
BUSY_S = 0.1  # a change this soon before the input: drawing under way, the answer untimed
LATE_QUIET_S = 0.035  # two frames at 60 Hz: the least quiet window of a frame-clock app
GRACE_S = 0.04
ASYNC_HOLD_S = 0.15
MAX_HOLD_S = 0.4
LATENCY_FACTOR = 3.0
MAX_QUIET_S = 0.3
LEARN_WINDOW_S = 0.3
LEARN_MARGIN_S = 0.02
MAX_RETAKES = 2
POLL_S = 0.0005


@dataclass(frozen=True, slots=True)
class Shot(Generic[T]):
    """A screenshot taken on the display's events: the frame, what was made of it, how long
    the step waited for it to be settled, how many captures it took, and what came and went
    before it."""

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


@dataclass(frozen=True, slots=True)
class Settling:
    """One screenshot's wait: `since` the last action started (or the screenshot was asked
    for, with no input), `sent` its last input went out."""

    since: float
    sent: float
    after_input: bool
    inputs: tuple[tuple[float, bool], ...] = ()  # (sent at, is a press) of the action's input


class Between:
    def __init__(self, watcher: Watcher, *, space: ScreenSpace, ceiling_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 inputs_since: Callable[[float], list[tuple[float, bool]]] | None = None
                 ) -> None:
        self.watcher, self.space, self.ceiling_s = watcher, space, ceiling_s
        self.clock, self.sleep = clock, sleep
        # the desktop's: the input events sent since a time (when, and whether a press)
        self.inputs_since = inputs_since
        self.listener: Listener | None = None  # desktop notifications, where a bus is
        self.quiet_s = BASE_QUIET_S
        self.shots = 0
        self.hold_s = 0.0  # learned: after input, the request waits this long
        self.late_seen = False  # an app answered a frame or more after the input
        self.answers = {"at once": 0, "late": 0}  # steps whose app answered so, this run
        self.judged: dict[float, float | None] = {}  # action start -> its latency, if late
        self.turn: list[tuple[float, str]] = []  # (start, tool_use_id) of each action
        self.shot_at: float | None = None  # when the last screenshot was captured
        # the last screenshot after input, for learning: (captured at, input sent at, frame)
        self.learn_from: tuple[float, float, Frame] | None = None

    def action_started(self, tool_use_id: str) -> None:
        now = self.clock()
        if not self.turn:
            self._learn(now)
        self.turn.append((now, tool_use_id))

    def _learn(self, now: float) -> None:
        """Hold later requests when the app answered after the last screenshot, and the
        answer stayed (a toast that came and went was told as such: nothing to wait for)."""
        if self.learn_from is None:
            return
        shot_at, sent, frame = self.learn_from
        self.learn_from = None
        late = self.watcher.changes_between(shot_at, min(shot_at + LEARN_WINDOW_S, now))
        if not late or not self.watcher.still_differs([box for _, box in late], frame):
            return
        hold = min(MAX_HOLD_S, late[0][0] - sent + LEARN_MARGIN_S)
        if hold > self.hold_s:
            self.hold_s = hold
            log.info("the screen changed %.0f ms after a screenshot and stayed so: requests "
                     "after input now leave no sooner than %.0f ms after it",
                     (late[0][0] - shot_at) * 1000, hold * 1000)

    def changed_since(self, at: float) -> float | None:
        """A change after `at` (the capture): the screenshot is out of date."""
        changed = self.watcher.last_change()
        return changed if changed is not None and changed > at else None

    def _settling(self, *, after_input: bool, now: float) -> Settling:
        if not (after_input and self.turn):
            return Settling(now, now, False)
        since = self.turn[-1][0]
        inputs = self.inputs_since(since) if self.inputs_since is not None else []
        return Settling(since, inputs[-1][0] if inputs else since, True, tuple(inputs))

    def _answered_late(self, step: Settling) -> float | None:
        """How long after the press the app's first change came, when that is too late for
        an app that answers at once; None when it answered at once or not at all."""
        if step.since in self.judged:
            return self.judged[step.since]
        # The answer to the action's first press (to its first input, without one), timed
        # from the newest press (or input) before it.
        began = step.inputs[0][0] if step.inputs else step.since
        presses = [at for at, is_press in step.inputs if is_press]
        origin = presses[0] if presses else began
        first = self.watcher.first_change_after(origin)
        if first is None:
            return None
        before = ([at for at in presses if at <= first]
                  or [at for at, _ in step.inputs if at <= first] or [origin])
        latency = first - before[-1]
        # Drawing already under way before the action's input (an animation, a page still
        # loading): its next frame says nothing of how soon the app answers. Late, the safe
        # side. (A change between the first input and the press, such as a button lit as
        # the pointer comes over it, is an answer, not drawing under way.)
        busy = self.watcher.first_change_after(
            max(began - BUSY_S, -1.0 if self.shot_at is None else self.shot_at),
            began) is not None
        # A paint 4-10 ms after the input: an app that answers at once on a busy machine, or
        # one that draws on a frame clock and caught a frame early; what most of the run's
        # apps did so far decides (a fresh run: late, the safe side).
        at_once = not busy and (latency <= SYNC_S or (
            latency <= LATE_S and self.answers["at once"] > self.answers["late"]))
        self.answers["at once" if at_once else "late"] += 1
        self.judged = {step.since: None if at_once else latency}
        if at_once:
            return None
        if not self.late_seen:
            self.late_seen = True
            log.info("the app answered %.0f ms after the input: it may answer a round trip "
                     "later, so requests after input are held %.0f ms", latency * 1000,
                     max(ASYNC_HOLD_S, self.hold_s) * 1000)
        return latency

    @property
    def mostly_late(self) -> bool:
        """Whether the run's apps have answered late at least as often as at once (one slow
        paint of an app that answers at once, on a busy machine, does not make it so)."""
        return self.answers["late"] > 0 and self.answers["late"] >= self.answers["at once"]

    def _window(self, late: float | None) -> float:
        """How long the screen must stay still after its last change."""
        if late is None:
            return self.quiet_s
        return max(self.quiet_s, LATE_QUIET_S, min(MAX_QUIET_S, LATENCY_FACTOR * late))

    def _due(self, step: Settling, after: float) -> float:
        """When a screenshot may leave whose screen last changed at `after` (`step.since`
        if it has not changed), provided nothing changes until then."""
        if not step.after_input:
            changed = self.watcher.first_change_after(step.since) is not None
            return after + self.quiet_s if changed else after
        if self.watcher.first_change_after(step.since) is None:
            hold = max(self.hold_s, ASYNC_HOLD_S if self.mostly_late else 0.0)
            return max(step.since + GRACE_S, step.sent + hold)
        late = self._answered_late(step)
        hold = self.hold_s if late is None else max(self.hold_s, ASYNC_HOLD_S)
        return max(after + self._window(late), step.sent + hold)

    def _ready(self, step: Settling, since: float, t0: float, *, early: bool) -> bool:
        """Wait until a capture is worth taking; False at the ceiling. `early`: the first
        capture after input, taken once the app's drawing pauses (checked after, in `_holds`);
        otherwise once the screen has been still for as long as the rule asks."""
        while True:
            now = self.clock()
            last = self.watcher.last_change()
            changed = last is not None and last >= since
            if early:
                if changed:
                    late = self._answered_late(step)
                    if now - last >= (CAPTURE_QUIET_S if late is None
                                      else self._window(late)):
                        return True
                elif now >= step.sent + LATE_S:  # an app that answers at once has drawn
                    return True
            elif now >= self._due(step, last if changed and last is not None else since):
                return True
            if now - t0 >= self.ceiling_s:
                return False
            self.sleep(POLL_S)

    def _holds(self, step: Settling, shot_at: float, last: float | None, t0: float
               ) -> tuple[float | None, bool]:
        """After an early capture (at `shot_at`, the screen having last changed at `last`):
        wait until it may leave; the change that outdated it, if one came first, and whether
        the wait ended before the ceiling."""
        after = last if last is not None and last >= step.since else step.since
        while True:
            now = self.clock()
            # caught up first: every change drawn by now is then known to changed_since
            caught_up = self.watcher.caught_up()
            changed = self.changed_since(shot_at)
            if changed is not None:
                return changed, True
            if caught_up and now >= self._due(step, after):
                return None, True
            if now - t0 >= self.ceiling_s:
                return None, False
            self.sleep(POLL_S)

    def screenshot(self, capture: Callable[[], Frame], make: Callable[[Frame], T], *,
                   before: Frame | None, after_input: bool, retake: bool = True) -> Shot[T]:
        """Settle, capture and `make` (scale and encode); after input, the first capture is
        taken early and made while the screen is watched for the rest of the wait. A change
        before the request may leave takes it again (at most MAX_RETAKES times)."""
        t0 = self.clock()
        step = self._settling(after_input=after_input, now=t0)
        since, early, captures = step.since, step.after_input and retake, 0
        while True:
            is_stable = self._ready(step, since, t0, early=early)
            last = self.watcher.last_change()
            shot_at = self.clock()
            frame = capture()
            captures += 1
            captured = self.clock()
            made = make(frame)
            ready = self.clock()
            changed = None
            if early:
                changed, held = self._holds(step, shot_at, last, t0)
                is_stable = is_stable and held
            elif retake:
                changed = self.changed_since(shot_at)
            log.debug("screenshot %d: waited %.1f ms, captured in %.1f, made in %.1f, then "
                      "watched %.1f ms; the app answered %s", captures, (shot_at - t0) * 1000,
                      (captured - shot_at) * 1000, (ready - captured) * 1000,
                      (self.clock() - ready) * 1000, "late" if self.judged.get(step.since)
                      else "at once or not at all")
            if changed is None or captures > MAX_RETAKES:
                break
            log.debug("the screen changed %.0f ms after its capture: taken again",
                      (changed - shot_at) * 1000)
            since = changed
        waited = self.clock() - t0
        if step.after_input:
            self.learn_from = (shot_at, step.sent, frame)
        found = self.found(before=before, after=frame, shot_at=shot_at)
        return Shot(frame, made, waited, captures, is_stable, found)

    def found(self, *, before: Frame | None, after: Frame, shot_at: float) -> Found:
        """What came and went up to the screenshot captured at `shot_at`; starts a new turn."""
        seen = self.watcher.take(shot_at)
        self.shots += 1
        transients = find_transients(seen, before=before, after=after,
                                     actions_at=[t for t, _ in self.turn] or [shot_at],
                                     shot_at=shot_at, space=self.space)
        ids = tuple(i for _, i in self.turn)
        self.shot_at, self.turn = shot_at, []
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
    between = Between(watcher, space=space, ceiling_s=ceiling_s, clock=clock, sleep=sleep,
                      inputs_since=getattr(desktop, "inputs_since", None))
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
