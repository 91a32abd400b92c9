"""Key names as Claude sends them, parsed to X keysyms: pure, no X server."""

from __future__ import annotations

import pytest
from claude_cua.core.errors import ActionError
from claude_cua.core.vocab.keys import keysyms_for_text, parse_chord, parse_chords


@pytest.mark.parametrize(("chord", "expected"), [
    ("Return", [0xFF0D]),
    ("enter", [0xFF0D]),
    ("KP_Enter", [0xFF8D]),
    ("kp_enter", [0xFF8D]),
    ("Page_Down", [0xFF56]),
    ("pagedown", [0xFF56]),
    ("PgDn", [0xFF56]),
    ("BackSpace", [0xFF08]),
    ("backspace", [0xFF08]),
    ("F5", [0xFFC2]),
    ("a", [0x61]),
    ("A", [0x41]),
    ("space", [0x20]),
    ("esc", [0xFF1B]),
    ("ctrl+shift+t", [0xFFE3, 0xFFE1, 0x74]),
    ("Control+Alt+Delete", [0xFFE3, 0xFFE9, 0xFFFF]),
    ("super", [0xFFEB]),
    ("cmd+c", [0xFFEB, 0x63]),
    ("win", [0xFFEB]),
    ("meta+x", [0xFFE7, 0x78]),
    ("ctrl+plus", [0xFFE3, 0x2B]),
    ("ctrl++", [0xFFE3, 0x2B]),
    ("+", [0x2B]),
    ("ctrl+minus", [0xFFE3, 0x2D]),
    ("<", [0x3C]),
    ("XF86AudioMute", [0x1008FF12]),
])
def test_parse_chord_knows_keysyms_and_aliases(chord: str, expected: list[int]) -> None:
    assert parse_chord(chord) == expected


def test_unknown_key_names_the_key_and_suggests_keysyms() -> None:
    with pytest.raises(ActionError) as caught:
        parse_chord("ctrl+Foo")
    assert str(caught.value) == (
        "unknown key 'Foo' in 'ctrl+Foo'; use X keysym names such as Return, Tab, Page_Down, "
        "ctrl+shift+t"
    )


@pytest.mark.parametrize("chord", ["", "  ", "ctrl+", "+ctrl", "ctrl++shift+a"])
def test_malformed_chords_are_action_errors(chord: str) -> None:
    with pytest.raises(ActionError):
        parse_chord(chord)


def test_space_separated_chords_form_a_sequence() -> None:
    assert parse_chords("ctrl+a Delete") == [[0xFFE3, 0x61], [0xFFFF]]


def test_text_keysyms_cover_newlines_tabs_and_astral_characters() -> None:
    assert keysyms_for_text("a\r\nb\tc\n") == [0x61, 0xFF0D, 0x62, 0xFF09, 0x63, 0xFF0D]
    assert keysyms_for_text("é日🙂") == [0xE9, 0x0100_65E5, 0x0101_F642]
    with pytest.raises(ActionError, match="U\\+0007"):
        keysyms_for_text("bell\a")


