"""The private Xvfb keeps accepting clients when its last one leaves (an X server resets then
by default, and drops whoever connects during the reset: "Display connection closed by
server" in a run's probe or a test's own connection)."""

import contextlib
import io
import os
import signal

import pytest
import Xlib.display
import Xlib.error
from claude_cua.core.x11.xserver import VirtualDisplay
from helpers import require_xvfb, wait_until

pytestmark = pytest.mark.display


def test_connections_after_the_last_client_left_are_never_dropped(monkeypatch):
    require_xvfb()
    with VirtualDisplay(size=(640, 480)) as display:
        monkeypatch.setenv("XAUTHORITY", str(display.xauthority))
        pid = display.window_manager_pid
        if pid is not None:  # the window manager is a client that never leaves: stop it
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: display.window_manager_pid is None, 10,
                       message="openbox to exit")
        dropped = []
        for attempt in range(100):  # each close leaves the server without a client
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # python-xlib's xauth notes
                    x = Xlib.display.Display(display.display)
                x.sync()
                x.close()
            except (Xlib.error.ConnectionClosedError, Xlib.error.DisplayConnectionError) as exc:
                dropped.append((attempt, str(exc)))
        assert dropped == []
