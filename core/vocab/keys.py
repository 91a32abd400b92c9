"""Key names as Claude sends them (xdotool style) → X keysyms, and the plan for typing them.

Pure: nothing here talks to an X server. `Keymap` is a snapshot of the server's keyboard mapping
that xdesktop.py fetches, so every decision about which keycode to press (and when a character
has to be mapped onto a spare keycode first) is testable without a display.

Chords are X keysym names or common aliases joined with '+' ('ctrl+shift+t', 'KP_Enter',
'pagedown'), or with '-' when every name before the last is a modifier ('alt-F4'); a literal
plus is '+', 'ctrl++' or 'ctrl+plus'. Like xdotool, key() also accepts a space-separated
sequence ('ctrl+a Delete'), and a keysym on the shifted level ('A', 'ctrl+T', 'exclam') gets
Shift added, so 'ctrl+T' is ctrl+shift+t.

This is cua's one key vocabulary: the action parser checks chords with it, XDesktop types them
with it, and the policy judges them by `chord_spellings`, built on the same parse.

Xlib is imported lazily, inside functions: no core module may import it at import time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ActionError, DesktopError

KEY_HINT = "use X keysym names such as Return, Tab, Page_Down, ctrl+shift+t"

# Lower-case names Claude (or a person) commonly uses, mapped to X keysym names. Exact keysym names
# ("Return", "KP_Enter", "Page_Down") need no entry; they are looked up in Xlib's tables.
_ALIASES: dict[str, str] = {
    "ctrl": "Control_L", "control": "Control_L", "lctrl": "Control_L", "rctrl": "Control_R",
    "shift": "Shift_L", "lshift": "Shift_L", "rshift": "Shift_R",
    "alt": "Alt_L", "lalt": "Alt_L", "ralt": "Alt_R", "option": "Alt_L",
    "altgr": "ISO_Level3_Shift", "meta": "Meta_L", "ctl": "Control_L", "sysrq": "Sys_Req",
    "super": "Super_L", "win": "Super_L", "windows": "Super_L", "cmd": "Super_L",
    "command": "Super_L",
    "enter": "Return", "return": "Return", "esc": "Escape", "escape": "Escape", "tab": "Tab",
    "pagedown": "Page_Down", "page_down": "Page_Down", "pgdn": "Page_Down", "next": "Page_Down",
    "pageup": "Page_Up", "page_up": "Page_Up", "pgup": "Page_Up", "prior": "Page_Up",
    "del": "Delete", "delete": "Delete", "backspace": "BackSpace", "back_space": "BackSpace",
    "up": "Up", "down": "Down", "left": "Left", "right": "Right",
    "home": "Home", "end": "End", "insert": "Insert", "ins": "Insert",
    "space": "space", "spacebar": "space", "minus": "minus", "plus": "plus",
    "capslock": "Caps_Lock", "caps_lock": "Caps_Lock", "numlock": "Num_Lock",
    "printscreen": "Print", "print": "Print", "prtsc": "Print", "menu": "Menu",
    "pause": "Pause", "break": "Break", "scrolllock": "Scroll_Lock",
}

_MODIFIER_NAMES = (
    "Shift_L", "Shift_R", "Control_L", "Control_R", "Alt_L", "Alt_R", "Meta_L", "Meta_R",
    "Super_L", "Super_R", "Hyper_L", "Hyper_R", "ISO_Level3_Shift", "Mode_switch",
)
MAX_CHORD_KEYS = 16  # keys held at once in one chord
MAX_CHORDS = 100  # chords in one space-separated sequence
_KEYSYM_GROUPS = ("miscellany", "latin1", "latin2", "latin3", "latin4", "greek", "xkb", "xf86")

SHIFT_L = 0xFFE1
RETURN = 0xFF0D
TAB = 0xFF09
NO_SYMBOL = 0
_UNICODE_KEYSYM_BASE = 0x0100_0000
_SPAN_WORTH_ALONE = 4  # empty keycodes in one span that make it worth using that span alone


@functools.cache
def _keysym_names() -> tuple[dict[str, int], dict[str, int]]:
    """Every keysym name python-xlib knows: exact, and lower-cased where that is unambiguous."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    import Xlib.XK

    for group in _KEYSYM_GROUPS:
        Xlib.XK.load_keysym_group(group)
    exact: dict[str, int] = {}
    for attr, value in vars(Xlib.XK).items():
        if attr.startswith("XK_") and isinstance(value, int):
            exact[attr[3:]] = value
            # python-xlib spells them XF86_AudioMute; X (and xdotool) spell XF86AudioMute.
            if attr.startswith("XK_XF86_"):
                exact["XF86" + attr[8:]] = value
    folded: dict[str, int] = {}
    clashes: set[str] = set()
    for name, value in exact.items():
        key = name.lower()
        if key in folded and folded[key] != value:
            clashes.add(key)
        folded[key] = value
    for key in clashes:
        del folded[key]
    return exact, folded


@functools.cache
def modifier_keysyms() -> frozenset[int]:
    """Keysyms of modifier keys: pressed without Shift, and released last."""
    exact, _ = _keysym_names()
    return frozenset(exact[name] for name in _MODIFIER_NAMES)


def keysym_for_char(ch: str) -> int:
    """The keysym that types one character: Latin-1 keysyms below 0x100, Unicode keysyms above."""
    code = ord(ch)
    if code in (0x0A, 0x0D):
        return RETURN
    if code == 0x09:
        return TAB
    if code < 0x20 or 0x7F <= code < 0xA0:
        raise ActionError(
            f"cannot type control character U+{code:04X}; use the key action for special keys"
        )
    if 0xD800 <= code <= 0xDFFF:
        raise ActionError(f"cannot type a lone surrogate U+{code:04X}; send valid Unicode text")
    if code < 0x100:
        return code
    return _UNICODE_KEYSYM_BASE + code


def keysyms_for_text(text: str) -> list[int]:
    """One keysym per character; newlines become Return (a CRLF pair becomes one) and tabs Tab."""
    return [keysym_for_char(ch) for ch in text.replace("\r\n", "\n")]


def _lookup(name: str) -> int | None:
    """The keysym a key name stands for (an alias, one character, or a keysym name), or None."""
    alias = _ALIASES.get(name.lower())
    exact, folded = _keysym_names()
    if alias is not None:
        return exact[alias]
    if len(name) == 1:
        return keysym_for_char(name)
    return exact.get(name) or folded.get(name.lower())


def _keysym_for_name(name: str, chord: str) -> int:
    keysym = _lookup(name)
    if keysym is None:
        raise ActionError(f"unknown key {_shown(name)} in {_shown(chord)}; {KEY_HINT}")
    return keysym


def _shown(text: str, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _is_modifier(name: str) -> bool:
    try:
        keysym = _lookup(name)
    except ActionError:
        return False
    return keysym in modifier_keysyms()


def chord_names(chord: str) -> list[str]:
    """The key names of one chord, in the order given: split on '+' (a trailing '++' is the
    plus key), or on '-' when every name before the last is a modifier ('alt-F4', 'ctrl--');
    otherwise the whole text is one name ('Page-Down'). Never recursive: any length is fine."""
    if chord in ("+", "-"):
        return [chord]
    if "+" in chord:
        names = [*chord[:-2].split("+"), "+"] if chord.endswith("++") else chord.split("+")
        if any(not name for name in names):
            raise ActionError(f"malformed key chord {_shown(chord)}; {KEY_HINT}")
    elif "-" in chord:
        names = [*chord[:-2].split("-"), "-"] if chord.endswith("--") else chord.split("-")
        if not (names[-1] and all(name and _is_modifier(name) for name in names[:-1])):
            return [chord]
    else:
        return [chord]
    if len(names) > MAX_CHORD_KEYS:
        raise ActionError(f"a chord holds at most {MAX_CHORD_KEYS} keys, not {len(names)}")
    return names


def parse_chord(chord: str) -> list[int]:
    """Keysyms of one chord such as 'ctrl+shift+t', in the order they are pressed."""
    stripped = chord.strip()
    if not stripped:
        raise ActionError(f"empty key name {_shown(chord)}; {KEY_HINT}")
    return [_keysym_for_name(name, stripped) for name in chord_names(stripped)]


def parse_chords(keys: str) -> list[list[int]]:
    """A whitespace-separated sequence of chords, as xdotool accepts: 'ctrl+a Delete'."""
    chords = keys.split()
    if not chords:
        raise ActionError(f"empty key name {_shown(keys)}; {KEY_HINT}")
    if len(chords) > MAX_CHORDS:
        raise ActionError(f"a key sequence holds at most {MAX_CHORDS} chords, not {len(chords)}; "
                          "use repeat, or several key actions")
    return [parse_chord(chord) for chord in chords]


# How the policy names keys: a modifier by its kind (Meta is Alt: on X it sits on the Alt key),
# any other key by its keysym name, lower-cased; chords list modifiers in this order.
MODIFIER_ORDER = ("ctrl", "alt", "shift", "super")
_MODIFIER_KINDS = {
    "Control_L": "ctrl", "Control_R": "ctrl", "Alt_L": "alt", "Alt_R": "alt", "Meta_L": "alt",
    "Meta_R": "alt", "Shift_L": "shift", "Shift_R": "shift", "Super_L": "super",
    "Super_R": "super", "Hyper_L": "super", "Hyper_R": "super",
}


@functools.cache
def _keysym_spellings() -> dict[int, str]:
    """keysym -> the one name the policy compares, for keysyms with several names."""
    exact, _ = _keysym_names()
    preferred = set(_ALIASES.values())
    names: dict[int, str] = {}
    for name, keysym in exact.items():
        current = names.get(keysym)
        if current is None or (name in preferred and current not in preferred) or (
                current.startswith("XF86_") and name.startswith("XF86")):
            names[keysym] = name
    kinds = {exact[name]: kind for name, kind in _MODIFIER_KINDS.items()}
    return {keysym: kinds.get(keysym, name.lower()) for keysym, name in names.items()}


def key_spelling(name: str) -> str:
    """The policy's name for one key name: 'Control_R' -> 'ctrl', 'Prior' -> 'page_up',
    'Q' -> 'q'; a name that is no key stays as it is, lower-cased (it cannot be typed)."""
    try:
        keysym = _lookup(name)
    except ActionError:
        keysym = None
    if keysym is None:
        return name.lower()
    spelled = _keysym_spellings().get(keysym)
    if spelled is None:  # a character with no keysym name: its Unicode keysym
        return chr(keysym - _UNICODE_KEYSYM_BASE if keysym > _UNICODE_KEYSYM_BASE
                   else keysym).lower()
    return spelled


def chord_spellings(chord: str) -> list[str]:
    """How the policy matches one chord: its canonical spelling ('Delete+alt+Control_L' ->
    'ctrl+alt+delete') and, when a capital letter makes the typing add Shift ('ctrl+Q'),
    the spelling with shift too ('ctrl+shift+q'). Empty when the chord is malformed."""
    try:
        names = chord_names(chord)
    except ActionError:
        return []
    spelled = [key_spelling(name) for name in names]
    modifiers = {m for m in MODIFIER_ORDER if m in spelled}
    rest = [n for n in spelled if n not in MODIFIER_ORDER]

    def join(held: set[str]) -> str:
        return "+".join([*(m for m in MODIFIER_ORDER if m in held), *rest])

    spellings = [join(modifiers)]
    shifted = any(len(name) == 1 and name != name.lower() for name in names)
    if shifted and "shift" not in modifiers:
        spellings.append(join(modifiers | {"shift"}))
    return spellings


@dataclass(frozen=True, slots=True)
class KeyStroke:
    """Which keycode to press for a keysym, and whether Shift must be held for it."""

    keycode: int
    shift: bool = False


@dataclass(frozen=True, slots=True)
class Keymap:
    """A snapshot of the server's core keyboard mapping (one row of keysyms per keycode).

    `borrowed` are spare keycodes we mapped a keysym onto earlier: reusable, and free to
    overwrite, but not part of the layout.
    """

    min_keycode: int
    rows: tuple[tuple[int, ...], ...]
    modifier_keycodes: frozenset[int] = frozenset()
    borrowed: frozenset[int] = frozenset()

    def row(self, keycode: int) -> tuple[int, ...]:
        """The keysyms on one keycode (empty tuple for a keycode outside the map)."""
        offset = keycode - self.min_keycode
        return self.rows[offset] if 0 <= offset < len(self.rows) else ()

    def find(self, keysym: int) -> KeyStroke | None:
        """The layout keycode typing `keysym` on group 1: unshifted level first, then shifted."""
        return self.strokes().get(keysym)

    def strokes(self) -> dict[int, KeyStroke]:
        """Every keysym the layout reaches on group 1 → the keystroke producing it, in one pass."""
        found: dict[int, KeyStroke] = {}
        modifiers = modifier_keysyms()
        for level in (0, 1):
            for offset, row in enumerate(self.rows):
                keycode = self.min_keycode + offset
                keysym = row[level] if len(row) > level else NO_SYMBOL
                if keysym == NO_SYMBOL or keysym in found or keycode in self.borrowed:
                    continue
                # A modifier works from any level (Meta_L sits on Shift+Alt_L): never add Shift.
                shift = level == 1 and keysym not in modifiers
                found[keysym] = KeyStroke(keycode, shift=shift)
        return found

    def spare_keycodes(self) -> list[int]:
        """Keycodes we may map keysyms onto: empty ones (highest first), then borrowed ones.

        When enough empty keycodes lie in one span that a single mapping change can cover
        (see mapping_spans), only those are used: fewer mapping changes per character
        beat more keycodes per change, since each change costs every client a keymap reload.
        """
        empty = [
            self.min_keycode + offset
            for offset, row in enumerate(self.rows)
            if not any(row) and self.min_keycode + offset not in self.modifier_keycodes
            and self.min_keycode + offset not in self.borrowed
        ]
        rows = {self.min_keycode + offset: row for offset, row in enumerate(self.rows)}
        groups = [[code for code in empty if low <= code <= high]
                  for low, high in mapping_spans(empty, rows, self.modifier_keycodes)]
        largest = max(groups, key=len, default=[])
        chosen = largest if len(largest) >= _SPAN_WORTH_ALONE else empty
        return sorted(chosen, reverse=True) + sorted(self.borrowed)


@dataclass(frozen=True, slots=True)
class Batch:
    """Keystrokes to send after putting `remap` rows (keycode, (unshifted, shifted) keysyms) onto
    spare keycodes, all in one keyboard-mapping change."""

    remap: tuple[tuple[int, tuple[int, int]], ...]
    strokes: tuple[KeyStroke, ...]


def plan_typing(keysyms: Sequence[int], keymap: Keymap) -> list[Batch]:
    """Split keysyms into batches whose missing keysyms fit on the spare keycodes at once.

    Keysyms in the layout use their own keycode. Every spare keycode carries two missing
    keysyms, one unshifted and one shifted, and a keysym still sitting on a borrowed keycode is
    reused where it is. Each batch is one mapping change: every change makes each X client
    refetch the mapping and window managers regrab their keys (openbox: ~40 ms with the pointer
    frozen), so the number of changes is what typing costs the desktop, and it is at most
    one per `2 * len(spare keycodes)` missing characters.
    """
    layout = keymap.strokes()
    spare = keymap.spare_keycodes()
    slots = [(code, level) for level in (0, 1) for code in spare]
    held: dict[tuple[int, int], int] = {}  # slot → keysym on it
    for code in keymap.borrowed:
        row = keymap.row(code)
        held[(code, 0)] = row[0] if row else NO_SYMBOL
        if len(row) > 1 and row[1] != row[0]:
            held[(code, 1)] = row[1]
    where = {keysym: slot for slot, keysym in held.items() if keysym != NO_SYMBOL}
    batches: list[Batch] = []
    changed: set[int] = set()
    pinned: set[tuple[int, int]] = set()  # slots the current batch types with
    strokes: list[KeyStroke] = []

    def close_batch() -> None:
        remap = tuple((code, _row(held, code)) for code in sorted(changed))
        batches.append(Batch(remap, tuple(strokes)))

    for keysym in keysyms:
        stroke = layout.get(keysym)
        if stroke is None:
            slot = where.get(keysym)
            if slot is None:
                slot = next((s for s in slots if s not in pinned), None)
                if slot is None:
                    if not slots:
                        raise DesktopError(
                            "the keyboard mapping has no free keycode to type characters "
                            "missing from the layout; free one with xmodmap"
                        )
                    close_batch()
                    changed, pinned, strokes = set(), set(), []
                    slot = slots[0]
                where.pop(held.get(slot, NO_SYMBOL), None)
                held[slot] = keysym
                where[keysym] = slot
                changed.add(slot[0])
            pinned.add(slot)
            stroke = KeyStroke(slot[0], shift=slot[1] == 1)
        strokes.append(stroke)
    if strokes:
        close_batch()
    return batches


def _row(held: dict[tuple[int, int], int], code: int) -> tuple[int, int]:
    """The two keysyms to put on a borrowed keycode.

    A keycode given one keysym would not type it on both levels: X treats a lone upper-case
    letter as the shifted level of its lower-case form, so É alone would type é. An empty level
    repeats the other one.
    """
    low, high = held.get((code, 0), NO_SYMBOL), held.get((code, 1), NO_SYMBOL)
    return (low or high, high or low)


def mapping_spans(codes: Sequence[int], rows: Mapping[int, Sequence[int]],
                  modifiers: frozenset[int]) -> list[tuple[int, int]]:
    """Group sorted keycodes into (low, high) ranges that one two-keysym-wide mapping change
    can cover: every keycode between two of them must be `rewritable`."""
    spans: list[tuple[int, int]] = []
    for code in codes:
        if spans and all(rewritable(rows.get(gap, ()), gap in modifiers)
                         for gap in range(spans[-1][1] + 1, code)):
            spans[-1] = (spans[-1][0], code)
        else:
            spans.append((code, code))
    return spans


def rewritable(row: Sequence[int], is_modifier: bool) -> bool:
    """Whether writing a key's first two keysyms back leaves the key exactly as it was.

    With XKB, the server reports each key through the core protocol as [group 1 level 1,
    level 2, group 2 level 1, level 2, further levels...] and rebuilds the key from what a
    client writes. Measured on Xvfb: a one-group key of at most two levels (group 2 repeating
    group 1) comes back unchanged from a two-wide write; keys with more levels or groups (F1
    carries XF86Switch_VT_1 on level 5; a second layout) would lose them, and a full-width
    write of the rows as read adds groups to every key. Modifier keys are never rewritten.
    """
    trimmed = list(row)
    while trimmed and trimmed[-1] == NO_SYMBOL:
        trimmed.pop()
    if is_modifier or len(trimmed) > 4:
        return False
    padded = [*trimmed, NO_SYMBOL, NO_SYMBOL, NO_SYMBOL, NO_SYMBOL]
    return len(trimmed) <= 2 or padded[2:4] == padded[0:2]
