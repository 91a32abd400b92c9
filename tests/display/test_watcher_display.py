"""The watcher on a real X server: a change back to what its copy of the screen held before a
repaint too big to read back still counts as a change."""

from __future__ import annotations

import time

from claude_cua.core.x11.watcher import _bounds, _merged, _subtract, open_watcher
from helpers import wait_until


def test_a_change_back_after_a_big_repaint_is_seen(virtual_display, monkeypatch) -> None:
    import Xlib.display
    import Xlib.X

    green = 0x00C000  # a 24-bit TrueColor pixel
    monkeypatch.setenv("XAUTHORITY", str(virtual_display.xauthority))
    x = Xlib.display.Display(virtual_display.display)
    screen = x.screen()
    window = screen.root.create_window(
        0, 0, 1200, 900, 0, screen.root_depth, Xlib.X.InputOutput, Xlib.X.CopyFromParent,
        background_pixel=green, override_redirect=True)
    window.map()
    painted = window.create_gc(foreground=green)
    white = window.create_gc(foreground=screen.white_pixel)

    def pixel(px: int, py: int) -> int:
        data = screen.root.get_image(px, py, 1, 1, Xlib.X.ZPixmap, 0xFFFFFFFF).data
        return int.from_bytes(bytes(data)[:3], "little")

    wait_until(lambda: pixel(400, 300) == green, 5, message="the window was not painted")
    watcher, reason = open_watcher(virtual_display.display)  # its copy: the green window
    assert watcher is not None, reason
    start = time.monotonic()

    def boxes() -> list:
        return [box for _, box in watcher.changes_between(start, time.monotonic())]

    try:
        window.fill_rectangle(white, 0, 0, 1200, 900)  # too big to read back: not copied
        x.sync()
        wait_until(lambda: _covers(_bounds(boxes()), (0, 0, 1200, 900)), 5,
                   message="the watcher to see the repaint")
        window.fill_rectangle(painted, 100, 100, 50, 50)  # green again, as its copy says
        x.sync()
        wait_until(lambda: (100, 100, 50, 50) in boxes(), 5,
                   message=f"the change back was taken for no change: {boxes()}")
    finally:
        watcher.close()
        window.destroy()
        x.close()


def _covers(bounds, area) -> bool:
    return bounds is not None and bounds[0] <= area[0] and bounds[1] <= area[1] and (
        bounds[2] >= area[2] and bounds[3] >= area[3])


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
