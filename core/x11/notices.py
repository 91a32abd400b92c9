"""Desktop notifications seen on a session bus, for the watcher (optional: `claude-cua[notify]`).

A connection of its own to the run's session bus becomes a monitor for
`org.freedesktop.Notifications.Notify` calls (D-Bus's Monitoring interface): every
notification any program sends is seen, whoever shows it (or nobody, on a bare Xvfb). jeepney
is pure Python; without it, or without a bus, `open_listener` returns None and the reason, and
runs go on without notifications.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """A desktop notification (org.freedesktop.Notifications.Notify)."""

    at: float
    app: str
    summary: str
    body: str = ""

INSTALL = "pip install 'claude-cua[notify]' (or CUA_EXTRAS=notify sh scripts/setup.sh)"


class Listener:
    """Calls `on_notice` from a background thread for each Notify call on the bus."""

    def __init__(self, address: str, on_notice: Callable[[Notice], None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Imported here: an optional extra, needed only on this path.
        from jeepney import MatchRule
        from jeepney.bus_messages import Monitoring
        from jeepney.io.blocking import open_dbus_connection

        self._on_notice, self._clock = on_notice, clock
        self._conn = open_dbus_connection(bus=address)
        rule = MatchRule(type="method_call", interface="org.freedesktop.Notifications",
                         member="Notify")
        try:
            reply = self._conn.send_and_get_reply(
                Monitoring().BecomeMonitor([rule.serialise()]), timeout=2)
            if reply.header.message_type.name == "error":
                raise OSError(f"the session bus refused to let cua monitor it: {reply.body}")
        except BaseException:
            self._conn.close()
            raise
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="cua-notices", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            try:
                message = self._conn.receive(timeout=0.5)
            except TimeoutError:
                continue
            except Exception:  # the bus went away: listen no more
                log.debug("the notification listener stopped", exc_info=True)
                return
            body = message.body
            if len(body) >= 5 and message.header.fields.get(_MEMBER) == "Notify":
                self._on_notice(Notice(self._clock(), str(body[0]), str(body[3]), str(body[4])))

    def close(self) -> None:
        self._stopping = True
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self._conn.close()


def _member_field() -> object:
    try:
        # Imported here: an optional extra, needed only on this path.
        from jeepney.low_level import HeaderFields
    except ImportError:
        return None
    return HeaderFields.member


_MEMBER = _member_field()


def open_listener(env: Mapping[str, str], on_notice: Callable[[Notice], None]
                  ) -> tuple[Listener | None, str]:
    """A Listener on the session bus `env` names (DBUS_SESSION_BUS_ADDRESS), or None and why."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        return None, "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    try:
        import jeepney  # noqa: F401
    except ImportError:
        return None, f"jeepney is not installed: {INSTALL}"
    try:
        return Listener(address, on_notice), ""
    except Exception as exc:  # any failure to connect or monitor: run without notifications
        return None, f"cannot monitor the session bus {address!r}: {exc}"
