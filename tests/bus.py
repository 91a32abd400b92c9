"""A private D-Bus session bus for tests (dbus-daemon), and a Notify call sent over it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def private_bus() -> Iterator[str]:
    """The address of a session bus of our own, stopped (by pid) afterwards."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (apt-get install dbus-daemon)")
    pytest.importorskip("jeepney", reason="pip install 'claude-cua[notify]'")
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address, "dbus-daemon printed no address"
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def notify(address: str, app: str, summary: str, body: str) -> None:
    """Send org.freedesktop.Notifications.Notify as a program would (nobody need answer)."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    target = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                         interface="org.freedesktop.Notifications")
    message = new_method_call(target, "Notify", "susssasa{sv}i",
                              (app, 0, "", summary, body, [], {}, 3000))
    with open_dbus_connection(bus=address) as conn:
        conn.send(message)
