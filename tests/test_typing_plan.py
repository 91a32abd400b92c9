"""keys.plan_typing: which keycodes a text is typed with, and how few mapping changes it needs.

Pure: a Keymap is a snapshot, so every plan is checked without an X server.
"""

from __future__ import annotations

import random

import pytest
from claude_cua.core.errors import DesktopError
from claude_cua.core.vocab.keys import Keymap, KeyStroke, keysyms_for_text, plan_typing


def _keymap(rows: dict[int, tuple[int, ...]], *, spare: list[int],
            borrowed: dict[int, tuple[int, int]] | None = None) -> Keymap:
    table = {code: (0,) * 4 for code in spare} | rows | dict(borrowed or {})
    first, last = min(table), max(table)
    return Keymap(min_keycode=first, rows=tuple(table.get(c, (0x1,)) for c in
                                                 range(first, last + 1)),
                  borrowed=frozenset(borrowed or {}))


def _typed(batches, keymap: Keymap) -> list[int]:
    """Replay a plan: the keysym each stroke produces with the mapping in force at the time."""
    rows = {code: keymap.row(code) for code in range(keymap.min_keycode,
                                                     keymap.min_keycode + len(keymap.rows))}
    typed = []
    for batch in batches:
        rows.update(batch.remap)
        typed += [rows[s.keycode][1 if s.shift else 0] for s in batch.strokes]
    return typed


def test_layout_keys_are_used_with_shift_and_a_missing_keysym_is_mapped_once() -> None:
    keymap = _keymap({38: (0x61, 0x41), 50: (0xFFE1, 0)}, spare=[200, 201])
    [batch] = plan_typing([0x61, 0x41, 0xE9, 0xE9], keymap)
    assert batch.remap == ((201, (0xE9, 0xE9)),)
    assert batch.strokes == (KeyStroke(38), KeyStroke(38, shift=True), KeyStroke(201),
                             KeyStroke(201))


def test_each_spare_keycode_carries_two_keysyms_an_unshifted_and_a_shifted_one() -> None:
    keymap = _keymap({}, spare=[200, 201])
    [batch] = plan_typing([0xE9, 0xEA, 0xEB, 0xEC, 0xE9], keymap)
    assert batch.remap == ((200, (0xEA, 0xEC)), (201, (0xE9, 0xEB)))
    assert batch.strokes == (KeyStroke(201), KeyStroke(200), KeyStroke(201, shift=True),
                             KeyStroke(200, shift=True), KeyStroke(201))


def test_a_new_batch_starts_only_when_every_slot_is_taken() -> None:
    keymap = _keymap({}, spare=[200])
    batches = plan_typing([0xE9, 0xEA, 0xEB, 0xE9], keymap)
    assert [b.remap for b in batches] == [((200, (0xE9, 0xEA)),), ((200, (0xEB, 0xE9)),)]
    assert [len(b.strokes) for b in batches] == [2, 2]


def test_keysyms_left_on_borrowed_keycodes_are_reused_without_a_change() -> None:
    keymap = _keymap({}, spare=[200], borrowed={201: (0xE9, 0xE9)})
    [batch] = plan_typing([0xE9, 0xEA], keymap)
    assert batch.remap == ((200, (0xEA, 0xEA)),)
    assert batch.strokes == (KeyStroke(201), KeyStroke(200))


def test_no_spare_keycode_is_a_desktop_error() -> None:
    with pytest.raises(DesktopError, match="no free keycode"):
        plan_typing([0xE9], _keymap({38: (0x61, 0x41)}, spare=[]))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("pool", "spares"), [(40, 3), (500, 19), (3000, 19), (60, 1)])
def test_any_text_is_typed_exactly_in_at_most_one_change_per_full_set_of_slots(
        seed: int, pool: int, spares: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice([*"abc ABC", *(chr(0x4E00 + i) for i in range(pool))])
                   for _ in range(rng.randrange(1, 2000)))
    keymap = _keymap({38: (0x61, 0x41), 56: (0x62, 0x42), 54: (0x63, 0x43), 65: (0x20, 0x20),
                      50: (0xFFE1, 0)}, spare=list(range(200, 200 + spares)))
    keysyms = keysyms_for_text(text)
    batches = plan_typing(keysyms, keymap)
    assert _typed(batches, keymap) == keysyms
    missing = [k for k in keysyms if k > 0xFF]
    # A batch ends only when it has used every slot, so each one but the last covers at least
    # 2 * spares missing characters: changes <= missing / slots + 1.
    assert len(batches) <= len(missing) // (2 * spares) + 1
    for earlier in batches[:-1]:
        assert len({s for s in earlier.strokes if s.keycode >= 200}) == 2 * spares
