"""Shared fixtures. Display fixtures start a private Xvfb (+ openbox) and stop it by pid.

Markers: every test that starts an X server carries `display`, so `-m 'not display'` is the
fast suite and starts none. The hook below marks every test in tests/e2e (its `cua`
subprocesses start their own Xvfb) and every test that uses an X fixture, directly or through
another fixture; a test that starts an X server itself marks itself `@pytest.mark.display`.
Pure tests live in tests/ itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Let test modules in subfolders import tests/helpers.py as `helpers`.
sys.path.insert(0, str(Path(__file__).parent))

from helpers import ProbeApp, require_xvfb, running_probe

if TYPE_CHECKING:
    from claude_cua.cli.demo.fakeapi import FakeMessagesAPI
    from claude_cua.core.x11.xdesktop import XDesktop
    from claude_cua.core.x11.xserver import VirtualDisplay

SCREEN = (1920, 1080)
X_FIXTURES = frozenset({"virtual_display", "desktop", "probe"})
X_FOLDERS = ("e2e",)
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).relative_to(TESTS).parts[0]
        uses_x = X_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if folder in X_FOLDERS or uses_x:
            item.add_marker(pytest.mark.display)


ISOLATED_PREFIXES = ("CUA_", "ANTHROPIC_", "XDG_")
ISOLATED_NAMES = ("HOME", "DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch,
                         tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No test sees the developer's settings, keys, folders or display: CUA_*, ANTHROPIC_*
    and XDG_* are removed, and HOME and XDG_RUNTIME_DIR are fresh private folders. The injection
    tripwire is off (CUA_TRIPWIRE=off) unless a test turns it on."""
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    # The injection tripwire reads every screenshot with Tesseract; the tests that are about it
    # turn it on (CUA_TRIPWIRE=on), the rest are spared a scan per step.
    monkeypatch.setenv("CUA_TRIPWIRE", "off")
    return home


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    """The fake Messages API on 127.0.0.1; the real SDK talks to it over HTTP."""
    from claude_cua.cli.demo.fakeapi import FakeMessagesAPI

    with FakeMessagesAPI() as fake:
        yield fake


@pytest.fixture(scope="module")
def virtual_display() -> Iterator[VirtualDisplay]:
    """A 1920x1080 Xvfb with openbox, shared by the tests of one module."""
    require_xvfb()
    from claude_cua.core.x11.xserver import VirtualDisplay

    with VirtualDisplay(size=SCREEN) as display:
        yield display


@pytest.fixture
def desktop(virtual_display: VirtualDisplay) -> Iterator[XDesktop]:
    """An XDesktop on the shared display; closed (keys released, mapping restored) after."""
    from claude_cua.core.x11.xdesktop import XDesktop, display_env_restored

    with display_env_restored():
        desk = XDesktop(display=virtual_display.display, xauthority=virtual_display.xauthority,
                        pointer_timeout_s=15.0)
        try:
            yield desk
        finally:
            desk.close()


@pytest.fixture
def probe(virtual_display: VirtualDisplay, tmp_path: Path) -> Iterator[ProbeApp]:
    """The probe app, mapped and focused, recording to tmp_path/probe.jsonl."""
    with running_probe(virtual_display, tmp_path / "probe.jsonl") as app:
        yield app
