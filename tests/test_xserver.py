"""The X environment without an X server: which display, the Xauthority file, sizes, monitors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from claude_cua.core.errors import DesktopError
from claude_cua.core.x11.xdesktop import select_monitor
from claude_cua.core.x11.xserver import VirtualDisplay, check_display, ensure_xauthority, parse_size


def test_check_display_without_display_suggests_virtual_display() -> None:
    with pytest.raises(DesktopError) as caught:
        check_display({})
    assert "DISPLAY is not set" in str(caught.value)
    assert "--virtual-display 1920x1080" in str(caught.value)


def test_check_display_on_wayland_without_x_asks_for_xwayland() -> None:
    with pytest.raises(DesktopError, match="XWayland"):
        check_display({"WAYLAND_DISPLAY": "wayland-0"})


def test_check_display_names_an_unreachable_display(tmp_path: Path) -> None:
    with pytest.raises(DesktopError, match="':987'"):
        check_display({"DISPLAY": ":987", "XAUTHORITY": str(tmp_path / "none")})


def test_ensure_xauthority_creates_an_empty_private_file_in_home(tmp_path: Path) -> None:
    path = ensure_xauthority({"HOME": str(tmp_path)})
    assert path == tmp_path / ".Xauthority"
    assert path.read_bytes() == b""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_ensure_xauthority_prefers_xauthority_and_keeps_existing_files(tmp_path: Path) -> None:
    existing = tmp_path / "auth"
    existing.write_bytes(b"cookie")
    assert ensure_xauthority({"XAUTHORITY": str(existing), "HOME": "/nonexistent"}) == existing
    assert existing.read_bytes() == b"cookie"


def test_ensure_xauthority_reports_paths_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DesktopError, match="XAUTHORITY"):
        ensure_xauthority({"XAUTHORITY": str(blocker / "Xauthority")})
    with pytest.raises(DesktopError, match="HOME"):
        ensure_xauthority({})


@pytest.mark.parametrize(("text", "size"), [("1920x1080", (1920, 1080)), (" 800X600 ", (800, 600))])
def test_parse_size_reads_width_and_height(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1920", "1920x", "axb", "0x100", "1920x1080x24", "99999x10"])
def test_parse_size_rejects_other_forms_clearly(text: str) -> None:
    with pytest.raises(ValueError, match=r"1920x1080|out of range"):
        parse_size(text)


def test_missing_xvfb_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(DesktopError, match="apt-get install xvfb"):
        VirtualDisplay(base_env={"PATH": str(tmp_path)}).start()


def test_unknown_monitor_lists_the_available_ones() -> None:
    monitors = [{"left": 0, "top": 0, "width": 2720, "height": 1080},
                {"left": 0, "top": 0, "width": 1920, "height": 1080},
                {"left": 1920, "top": 0, "width": 800, "height": 600}]
    assert select_monitor(monitors, 2).left == 1920
    with pytest.raises(DesktopError, match=r"monitor 3 .* 2: 800x600\+1920\+0"):
        select_monitor(monitors, 3)


