"""core/x11/notices.py on a private session bus: a Notify call any program sends is seen."""

from __future__ import annotations

import queue

from bus import notify, private_bus
from claude_cua.core.x11.notices import open_listener


def test_a_notification_sent_on_the_bus_is_seen_with_its_text() -> None:
    seen: queue.Queue = queue.Queue()
    with private_bus() as address:
        listener, reason = open_listener({"DBUS_SESSION_BUS_ADDRESS": address}, seen.put)
        assert listener is not None, reason
        try:
            notify(address, "builder", "Build done", "all green")
            notice = seen.get(timeout=5)
        finally:
            listener.close()
    assert (notice.app, notice.summary, notice.body) == ("builder", "Build done", "all green")


def test_without_a_bus_there_is_no_listener_and_a_reason() -> None:
    listener, reason = open_listener({}, lambda notice: None)
    assert listener is None and "DBUS_SESSION_BUS_ADDRESS" in reason
