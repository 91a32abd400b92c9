"""The input watchdog: after cua is SIGKILLed holding keys and buttons, nothing stays pressed.

A child process drives the display with XDesktop and is killed mid-hold; the test then asks the
X server itself (QueryKeymap, QueryPointer, GetKeyboardMapping) what is still pressed or mapped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from claude_cua.core.x11.watchdog import Pressed
from claude_cua.core.x11.xserver import VirtualDisplay
from helpers import keyboard_mapping, keys_down, pointer_state, wait_until

CONTROL_L, SHIFT_L = 37, 50  # keycodes in Xvfb's default layout
BUTTON_MASKS = 0x1F00

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from claude_cua.core.x11.xdesktop import XDesktop

    desk = XDesktop(display=sys.argv[1], xauthority=Path(sys.argv[2]))
    desk.key("日")  # borrows a spare keycode, which stays mapped until the run ends
    desk.mouse_down(400, 300)
    print("watchdog", desk._watchdog.pid, flush=True)
    desk.hold_key("ctrl+shift", seconds=60)
""")


def test_pressed_reads_announcements_and_ignores_torn_lines() -> None:
    pressed = Pressed()
    for line in [b"k 37", b"k 50", b"b 1", b"m 200 233 201", b"m 201 1 2", b"u 201", b"k",
                 b"x 1", b"k nan", b""]:
        pressed.read(line)
    assert (pressed.keycodes, pressed.buttons, pressed.mapped) == ({37, 50}, {1},
                                                                   {200: (233, 201)})
    assert not pressed.said_goodbye
    pressed.read(b"bye")
    assert pressed.said_goodbye


@pytest.mark.display
def test_after_sigkill_the_watchdog_releases_keys_buttons_and_keycodes(
        virtual_display: VirtualDisplay) -> None:
    screen = virtual_display
    before = keyboard_mapping(screen)
    env = {**os.environ, **screen.env}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, screen.display,
                              str(screen.xauthority)], env=env, stdout=subprocess.PIPE,
                             text=True)
    try:
        watchdog_pid = int(child.stdout.readline().split()[1])
        wait_until(lambda: {CONTROL_L, SHIFT_L} <= set(keys_down(screen)), 20,
                   message="ctrl+shift to be held")
        assert pointer_state(screen)[2] & 0x100  # button 1 is down
        assert keyboard_mapping(screen) != before  # a keycode is borrowed
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    wait_until(lambda: keys_down(screen) == [], 10, message="every key to be released")
    wait_until(lambda: pointer_state(screen)[2] & BUTTON_MASKS == 0, 10,
               message="every button to be released")
    wait_until(lambda: keyboard_mapping(screen) == before, 10,
               message="the borrowed keycode to be emptied")
    wait_until(lambda: not is_running(watchdog_pid), 10, message="the watchdog to exit")


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.display
def test_after_a_clean_close_the_watchdog_leaves_the_keyboard_alone(
        virtual_display: VirtualDisplay) -> None:
    from claude_cua.core.x11.xdesktop import XDesktop, display_env_restored
    from helpers import x_connection
    from Xlib import X
    from Xlib.ext import xtest

    with display_env_restored():
        desk = XDesktop(display=virtual_display.display, xauthority=virtual_display.xauthority)
        desk.key("shift")  # announces Shift_L to the watchdog
        with x_connection(virtual_display) as person:
            # Someone else holds Shift when cua ends: the watchdog must not release it.
            xtest.fake_input(person, X.KeyPress, SHIFT_L)
            person.sync()
            try:
                desk.close()
                assert SHIFT_L in keys_down(virtual_display)
            finally:
                xtest.fake_input(person, X.KeyRelease, SHIFT_L)
                person.sync()
