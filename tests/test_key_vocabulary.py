"""One key vocabulary: the policy judges a chord by the same parse that types it
(core/vocab/keys.py), so no spelling the typing accepts can slip past a rule written
in another spelling."""

import itertools

import pytest
from claude_cua.core.errors import ActionError
from claude_cua.core.model.context import FLAVOURS
from claude_cua.core.safety.policy import BUILTIN_RULES, Rule, assess, normalize_chord, proposal_for
from claude_cua.core.vocab import keys
from claude_cua.core.vocab.actions import ScreenSpace, parse_action
from claude_cua.core.vocab.desktop import Window
from hypothesis import given, settings
from hypothesis import strategies as st

EDITOR = Window("Gedit", "gedit", "notes.txt")
SPACE = ScreenSpace(1280, 800, 1280, 800)
ALL = FLAVOURS["computer_toolset_20260801"].actions

# Every way the typing parser lets Claude name these keys.
SPELLINGS = {
    "ctrl": ["ctrl", "CTRL", "Ctrl", "control", "Control_L", "Control_R", "lctrl", "rctrl", "ctl"],
    "alt": ["alt", "ALT", "Alt_L", "Alt_R", "lalt", "ralt", "option", "meta", "Meta_L", "Meta_R"],
    "shift": ["shift", "Shift_L", "Shift_R", "lshift", "rshift", "SHIFT"],
    "super": ["super", "Super_L", "Super_R", "win", "windows", "cmd", "command", "Hyper_L"],
    "f4": ["F4", "f4"],
    "q": ["q"],
    "w": ["w"],
    "delete": ["Delete", "delete", "del", "DEL"],
    "backspace": ["BackSpace", "backspace", "back_space"],
    "l": ["l"],
    "return": ["Return", "return", "enter", "Enter", "RETURN"],
}
CLOSE_CHORDS = [("alt", "f4"), ("ctrl", "q"), ("ctrl", "w"), ("ctrl", "alt", "delete"),
                ("ctrl", "alt", "backspace"), ("super", "l"), ("ctrl", "shift", "w")]


@settings(max_examples=400, deadline=None, database=None)
@given(chord=st.sampled_from(CLOSE_CHORDS), data=st.data())
def test_every_spelling_the_typing_accepts_of_a_close_key_is_asked(chord, data):
    *mods, key = chord
    order = [*data.draw(st.permutations(mods)), key]
    separator = data.draw(st.sampled_from(["+", "-"]))
    text = separator.join(data.draw(st.sampled_from(SPELLINGS[p])) for p in order)
    try:
        action = parse_action("key", {"text": text}, allowed=ALL, space=SPACE)
    except ActionError:
        return  # the typing refuses it: nothing would be pressed
    proposal = proposal_for("key", action, window=EDITOR, step=1, secret_names=(),
                            next_action=None)
    verdict = assess(proposal, BUILTIN_RULES)
    assert (verdict.decision, verdict.rule) == ("ask", "close-or-logout-keys"), text


@settings(max_examples=300, deadline=None, database=None)
@given(parts=st.lists(st.sampled_from(sorted(SPELLINGS)), min_size=1, max_size=4, unique=True),
       data=st.data())
def test_chords_that_press_the_same_keys_are_judged_alike(parts, data):
    # The same keys, spelled any way, with the modifiers in any order (the other keys are
    # pressed in the order given, so their order is part of the chord).
    modifiers = [p for p in parts if p in keys.MODIFIER_ORDER]
    others = [p for p in parts if p not in keys.MODIFIER_ORDER]
    first = "+".join(data.draw(st.sampled_from(SPELLINGS[p])) for p in modifiers + others)
    second = "+".join(data.draw(st.sampled_from(SPELLINGS[p]))
                      for p in data.draw(st.permutations(modifiers)) + others)
    assert normalize_chord(first) == normalize_chord(second) != ""


@pytest.mark.parametrize("alias", sorted(keys._ALIASES))
def test_each_typing_alias_is_judged_as_the_key_it_types(alias):
    keysym = keys.parse_chord(alias)[0]
    exact = next(name for name, value in keys._keysym_names()[0].items() if value == keysym)
    assert normalize_chord(alias) == normalize_chord(exact)
    assert normalize_chord(f"ctrl+{alias}") == normalize_chord(f"Control_L+{exact}")


@pytest.mark.parametrize(("typed", "same_as"), [
    ("alt-F4", "alt+F4"), ("ctrl--", "ctrl+minus"), ("ctl+q", "Control_L+q"),
    ("alt+sysrq+b", "Alt_L+Sys_Req+b"),
])
def test_spellings_the_policy_knew_are_typed_too(typed, same_as):
    assert keys.parse_chord(typed) == keys.parse_chord(same_as)


def test_a_name_that_is_no_key_is_typed_by_neither():
    assert normalize_chord("Page-Down") == "page-down"
    with pytest.raises(ActionError):
        keys.parse_chord("Page-Down")


def test_a_capital_letter_is_judged_with_the_shift_the_typing_adds(tmp_path):
    deny = Rule("no-close-window", "deny", "not here", keys=frozenset({"ctrl+shift+w"}))
    for text in ("ctrl+W", "Control_L+W", "ctrl-W"):
        action = parse_action("key", {"text": text}, allowed=ALL, space=SPACE)
        proposal = proposal_for("key", action, window=EDITOR, step=1, secret_names=(),
                                next_action=None)
        assert assess(proposal, [deny]).decision == "deny", text


@pytest.mark.parametrize("length", [1_000, 100_000])
def test_long_chains_are_refused_without_recursion(length):
    for chord in ("+" * length, "ctrl+" * length + "a", "-" * length, "shift-" * length + "a"):
        with pytest.raises(ActionError):
            keys.parse_chord(chord)
        assert normalize_chord(chord) in ("", chord.lower())


def test_modifier_spellings_are_all_modifiers():
    for kind in ("ctrl", "alt", "shift", "super"):
        for name in SPELLINGS[kind]:
            assert set(keys.parse_chord(name)) <= keys.modifier_keysyms(), name
            assert normalize_chord(name) == kind, name


def test_every_pair_of_modifier_spellings_normalizes_in_one_order():
    for a, b in itertools.product(SPELLINGS["ctrl"], SPELLINGS["alt"]):
        assert normalize_chord(f"{b}+{a}+Delete") == "ctrl+alt+delete"
