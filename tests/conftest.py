"""Shared fixtures. Display fixtures start a private Xvfb (+ openbox) and stop it by pid."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Let test modules in subfolders import tests/helpers.py as `helpers`.
sys.path.insert(0, str(Path(__file__).parent))

from helpers import ProbeApp, require_xvfb, running_probe

if TYPE_CHECKING:
    from claude_cua.core.xdesktop import XDesktop
    from claude_cua.core.xserver import VirtualDisplay

SCREEN = (1920, 1080)


@pytest.fixture(scope="module")
def virtual_display() -> Iterator[VirtualDisplay]:
    """A 1920x1080 Xvfb with openbox, shared by the tests of one module."""
    require_xvfb()
    from claude_cua.core.xserver import VirtualDisplay

    with VirtualDisplay(size=SCREEN) as display:
        yield display


@pytest.fixture
def desktop(virtual_display: VirtualDisplay) -> Iterator[XDesktop]:
    """An XDesktop on the shared display; closed (keys released, mapping restored) after."""
    from claude_cua.core.xdesktop import XDesktop, display_env_restored

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
