"""Headless Debian chromium through Playwright, behind a proxy on 127.0.0.1 that refuses
everything, so a page that asks for anything off file:// and data: is seen and never answered.

Chromium contacts Google hosts on its own (updates, safe browsing): only what the page asks
for (Playwright's request events) is counted against it; the proxy's connection count shows
the browser's own attempts went nowhere.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]


def require_browser() -> None:
    """Skip the calling test, with the reason, when the browser or Playwright is missing."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")


class RefusingProxy:
    """Accepts each connection on 127.0.0.1 and closes it at once, counting them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(timeout=5)


@dataclass
class Page:
    """An open page and everything it asked for or complained about."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file://", "data:"))]


@contextmanager
def browser(*, width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A fresh headless chromium (its own user-data-dir) behind the refusing proxy; yields a
    function opening a URL as a `Page`."""
    require_browser()
    from playwright.sync_api import sync_playwright

    proxy = RefusingProxy()
    profile = tempfile.mkdtemp(prefix="cua-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True,
                args=[*ARGS, f"--proxy-server=127.0.0.1:{proxy.port}"],
                viewport={"width": width, "height": height})

            def open_page(url: str, *, wait_until: str = "load") -> Page:
                page = context.new_page()
                seen = Page(page)
                page.on("request", lambda r: seen.requests.append(r.url))
                page.on("console", lambda m: seen.console_errors.append(m.text)
                        if m.type == "error" else None)
                page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
                page.goto(url, wait_until=wait_until)
                return seen

            try:
                yield open_page
            finally:
                context.close()
    finally:
        proxy.close()
        shutil.rmtree(profile, ignore_errors=True)
