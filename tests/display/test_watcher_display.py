"""The watcher on a real X server: a change back to what its copy of the screen held before a
repaint too big to read back still counts as a change."""

from __future__ import annotations

import time

from claude_cua.core.x11.watcher import _merged, _subtract, open_watcher
from helpers import wait_until


def test_a_change_back_after_a_big_repaint_is_seen(virtual_display, monkeypatch) -> None:
    import Xlib.display
    import Xlib.X

    monkeypatch.setenv("XAUTHORITY", str(virtual_display.xauthority))
    x = Xlib.display.Display(virtual_display.display)
    screen = x.screen()
    window = screen.root.create_window(
        0, 0, 800, 600, 0, screen.root_depth, Xlib.X.InputOutput, Xlib.X.CopyFromParent,
        background_pixel=screen.black_pixel, override_redirect=True)
    window.map()
    black = window.create_gc(foreground=screen.black_pixel)
    white = window.create_gc(foreground=screen.white_pixel)
    x.sync()
    time.sleep(0.3)  # mapped and painted black before the watcher copies the screen
    watcher, reason = open_watcher(virtual_display.display)
    assert watcher is not None, reason
    try:
        window.fill_rectangle(white, 0, 0, 800, 600)  # too big to read back: not copied
        x.sync()
        wait_until(lambda: watcher.last_change() is not None, 5,
                   message="the watcher did not see the repaint")
        repainted = watcher.last_change()
        window.fill_rectangle(black, 100, 100, 50, 50)  # black again, as its copy still says
        x.sync()
        wait_until(lambda: watcher.last_change() != repainted, 5,
                   message="the change back was taken for no change")
        [(_, box)] = watcher.changes_between(repainted, time.monotonic())
        assert box == (100, 100, 50, 50)
    finally:
        watcher.close()
        window.destroy()
        x.close()


def test_boxes_the_copy_does_not_hold_shrink_as_parts_are_read_back() -> None:
    assert _subtract((0, 0, 100, 100), (200, 200, 10, 10)) == [(0, 0, 100, 100)]
    pieces = _subtract((0, 0, 100, 100), (10, 20, 30, 40))
    assert sum(w * h for _, _, w, h in pieces) == 100 * 100 - 30 * 40
    assert _subtract((0, 0, 100, 100), (0, 0, 100, 100)) == []
    stale = _merged([(0, 0, 10, 10)], (0, 0, 50, 50), (1920, 1080))
    assert stale == [(0, 0, 50, 50)]  # a box inside a newer one goes
    many: list = []
    for i in range(40):
        many = _merged(many, (i * 20, 0, 10, 10), (1920, 1080))
    assert many[-1] == (0, 0, 1920, 1080)  # past the bound: the whole screen, one box
