import pytest
from claude_cua.core.errors import ActionError
from claude_cua.core.model.context import FLAVOURS
from claude_cua.core.vocab.actions import (
    Click,
    CursorPosition,
    Drag,
    HoldKey,
    Key,
    MouseButton,
    MouseMove,
    Screenshot,
    ScreenSpace,
    Scroll,
    Target,
    TypeText,
    Wait,
    Zoom,
    describe,
    parse_action,
    perform,
)
from claude_cua.core.vocab.desktop import FakeDesktop

SPACE = ScreenSpace(1920, 1080, 1429, 804)
CENTRE = Target((714, 402), (960, 540))
CORNER = Target((0, 0), (0, 0))
ALL = FLAVOURS["computer_toolset_20260801"].actions


def parse(name, **inp):
    return parse_action(name, inp, allowed=ALL, space=SPACE)


@pytest.mark.parametrize(
    ("name", "inp", "expected"),
    [
        ("key", {"text": "ctrl+shift+t"}, Key("ctrl+shift+t")),
        ("key", {"text": "Page_Down", "repeat": 3}, Key("Page_Down", 3)),
        ("hold_key", {"text": "shift", "duration": 1}, HoldKey("shift", 1.0)),
        ("type", {"text": "héllo <wörld> 日本"}, TypeText("héllo <wörld> 日本")),
        ("mouse_move", {"coordinate": [714, 402]}, MouseMove(Target((714, 402), (960, 540)))),
        ("left_click", {"coordinate": [0, 0]}, Click(Target((0, 0), (0, 0)))),
        ("left_click", {}, Click(None)),
        ("right_click", {"coordinate": [714, 402]}, Click(Target((714, 402), (960, 540)), "right")),
        ("middle_click", {"coordinate": [714, 402]}, Click(CENTRE, "middle")),
        ("double_click", {"coordinate": [714, 402]}, Click(CENTRE, count=2)),
        ("triple_click", {"coordinate": [714, 402], "text": "shift"},
         Click(Target((714, 402), (960, 540)), count=3, modifiers="shift")),
        ("left_click_drag", {"start_coordinate": [0, 0], "coordinate": [714, 402]},
         Drag(Target((0, 0), (0, 0)), Target((714, 402), (960, 540)))),
        ("left_mouse_down", {}, MouseButton(None, is_down=True)),
        ("left_mouse_up", {"coordinate": [0, 0]}, MouseButton(CORNER, is_down=False)),
        ("scroll", {"coordinate": [714, 402], "scroll_direction": "down", "scroll_amount": 5},
         Scroll(Target((714, 402), (960, 540)), "down", 5)),
        ("scroll", {"scroll_direction": "left", "scroll_amount": 2, "text": "ctrl"},
         Scroll(None, "left", 2, "ctrl")),
        ("wait", {"duration": 0.5}, Wait(0.5)),
        ("screenshot", {}, Screenshot()),
        ("cursor_position", {}, CursorPosition()),
        ("zoom", {"region": [0, 0, 100, 50]}, Zoom((0, 0, 100, 50))),
    ],
)
def test_every_action_parses_to_screen_pixels(name, inp, expected):
    assert parse(name, **inp) == expected


@pytest.mark.parametrize(
    ("name", "inp", "message"),
    [
        ("left_click", {"coordinate": [1429, 10]}, "outside the screen"),
        ("left_click", {"coordinate": [10]}, r"must be \[x, y\]"),
        ("left_click", {"coordinate": "10,10"}, r"must be \[x, y\]"),
        ("left_click", {"coordinate": [1.5, 2]}, "whole number"),
        ("mouse_move", {}, "needs coordinate"),
        ("key", {}, "non-empty string"),
        ("key", {"text": "a", "repeat": 0}, "between 1 and 100"),
        ("scroll", {"scroll_direction": "sideways", "scroll_amount": 1}, "scroll_direction"),
        ("wait", {"duration": 600}, "seconds from 0 to 60"),
        ("zoom", {"region": [10, 10, 5, 5]}, "x0 < x1"),
        ("zoom", {"region": [0, 0, 2000, 10]}, "between|x1 <="),
        ("fly", {}, "unknown action 'fly'"),
    ],
)
def test_wrong_input_is_an_action_error_claude_can_read(name, inp, message):
    with pytest.raises(ActionError, match=message):
        parse(name, **inp)


def test_older_flavours_refuse_actions_they_do_not_have():
    v2024 = FLAVOURS["computer_20241022"]
    with pytest.raises(ActionError, match="unknown action 'scroll'"):
        parse_action("scroll", {"scroll_direction": "up", "scroll_amount": 1},
                     allowed=v2024.actions, space=SPACE)
    with pytest.raises(ActionError, match="unknown action 'zoom'"):
        parse_action("zoom", {"region": [0, 0, 9, 9]},
                     allowed=FLAVOURS["computer_20250124"].actions, space=SPACE)


def test_2024_clicks_happen_at_the_pointer():
    v2024 = FLAVOURS["computer_20241022"]
    action = parse_action("left_click", {"coordinate": [5, 5]}, allowed=v2024.actions,
                          space=SPACE, clicks_take_coordinate=False)
    assert action == Click(None)


def test_perform_drives_the_desktop_in_screen_pixels():
    desktop = FakeDesktop()
    perform(parse("left_click", coordinate=[714, 402], text="ctrl"), desktop)
    perform(parse("left_click_drag", coordinate=[714, 402]), desktop)
    perform(parse("scroll", scroll_direction="up", scroll_amount=3), desktop)
    assert desktop.calls == [
        ("click", (960, 540), "left", 1, "ctrl"),
        ("drag", (960, 540), (960, 540), None),
        ("scroll", (960, 540), "up", 3, None),
    ]


def test_describe_shows_api_and_screen_coordinates():
    assert describe(parse("left_click", coordinate=[714, 402])) == {
        "kind": "Click", "at": {"api": [714, 402], "screen": [960, 540]}, "button": "left",
        "count": 1,
    }


# --- hostile input: every field of every action of every tool version --------------------------

FIELDS = ("coordinate", "start_coordinate", "text", "repeat", "duration", "scroll_direction",
          "scroll_amount", "region")
HOSTILE = [
    None, True, False, 0, -1, 1.5, 2**64, -(2**64), float("nan"), float("inf"), float("-inf"),
    "", "x", "\ud800", "+" * 10_000, "ctrl+" * 50 + "a", "a " * 500, [], [1], [1, 2, 3],
    [float("nan"), 1], [True, 1], ["1", "2"], [[1], [2]], [2**64, 1], {}, {"x": 1},
    [0, 0, 1e308, 1], "\x00\x1b", "alt+F4", 10**400, -(10**400), [10**400, 1], [1, -(10**400)],
    "\ud800abc", "abc\udfff", ["\udc00", 1],
]


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = [nested(3_000), nested(100_000), [nested(3_000), 1], [1, nested(100_000)]]
HOSTILE += DEEP


@pytest.mark.parametrize("version", sorted(FLAVOURS))
def test_any_value_in_any_field_of_any_action_parses_or_is_an_action_error(version):
    flavour = FLAVOURS[version]
    for name in [*sorted(flavour.actions), "fly", ""]:
        for field in FIELDS:
            for value in HOSTILE:
                try:
                    parse_action(name, {"coordinate": [5, 5], field: value},
                                 allowed=flavour.actions, space=SPACE,
                                 clicks_take_coordinate=flavour.clicks_take_coordinate)
                except ActionError as exc:
                    assert len(str(exc)) < 400, (name, field, value)


@pytest.mark.parametrize("name", [None, 3, ["key"], {"a": 1}])
def test_an_action_name_that_is_not_a_string_is_an_action_error(name):
    with pytest.raises(ActionError, match="unknown action"):
        parse_action(name, {}, allowed=ALL, space=SPACE)


@pytest.mark.parametrize(("name", "inp", "message"), [
    ("key", {"text": "+" * 100_000}, "malformed key chord"),
    ("key", {"text": "ctrl+" * 100_000 + "a"}, "at most 16 keys"),
    ("key", {"text": "a " * 1000}, "at most 100 chords"),
    ("left_click", {"coordinate": [1, 1], "text": "shift+" * 50_000 + "ctrl"}, "at most 16"),
    ("key", {"text": "ctrl+Foo"}, "unknown key 'Foo'"),
    ("hold_key", {"text": "nosuchkey", "duration": 1}, "unknown key"),
    ("left_click", {"coordinate": [1, 1], "text": "alt+F4"}, "must be modifiers"),
    ("scroll", {"scroll_direction": "up", "text": "a"}, "must be modifiers"),
    ("type", {"text": "line\x07bell"}, "control character U\\+0007"),
    ("key", {"text": "a", "repeat": float("nan")}, "whole number"),
    ("wait", {"duration": float("nan")}, "seconds from 0 to 60"),
    ("left_click", {"coordinate": [float("inf"), 1]}, "whole number"),
    ("zoom", {"region": [0, 0, float("nan"), 5]}, "whole number"),
    ("scroll", {"scroll_direction": ["up"]}, "scroll_direction"),
    ("scroll", {"scroll_direction": "up", "scroll_amount": 0}, "between 1 and 50"),
    ("scroll", {"scroll_direction": "up", "scroll_amount": 51}, "between 1 and 50"),
])
def test_hostile_values_are_refused_with_a_reason_and_no_recursion(name, inp, message):
    with pytest.raises(ActionError, match=message):
        parse(name, **inp)


def test_null_optional_fields_mean_not_given():
    assert parse("key", text="a", repeat=None) == Key("a", 1)
    assert parse("scroll", scroll_direction="up", scroll_amount=None) == Scroll(None, "up", 3)
    assert parse("left_click", coordinate=None, text=None) == Click(None)


def test_an_error_quotes_a_huge_value_only_in_part():
    with pytest.raises(ActionError) as info:
        parse("left_click", coordinate="9" * 100_000)
    assert len(str(info.value)) < 200


# --- one conversion for every number from the wire, one check for every text field ------------

# Every numeric field of every action, with an input that parses when the field is valid; a list
# field has each element tried.
NUMERIC = [
    ("left_click", "coordinate", {"coordinate": [5, 5]}, 2),
    ("mouse_move", "coordinate", {"coordinate": [5, 5]}, 2),
    ("left_click_drag", "coordinate", {"coordinate": [5, 5], "start_coordinate": [1, 1]}, 2),
    ("left_click_drag", "start_coordinate", {"coordinate": [5, 5], "start_coordinate": [1, 1]},
     2),
    ("left_mouse_down", "coordinate", {"coordinate": [5, 5]}, 2),
    ("scroll", "coordinate", {"coordinate": [5, 5], "scroll_direction": "up"}, 2),
    ("scroll", "scroll_amount", {"scroll_direction": "up", "scroll_amount": 2}, None),
    ("key", "repeat", {"text": "a", "repeat": 2}, None),
    ("hold_key", "duration", {"text": "a", "duration": 1}, None),
    ("wait", "duration", {"duration": 1}, None),
    ("zoom", "region", {"region": [0, 0, 10, 10]}, 4),
]
BAD_NUMBERS = [10**400, -(10**400), 10**5000, -1, -(2**63), float("nan"), float("inf"),
               float("-inf"), True, False, "1", None, *DEEP]


@pytest.mark.parametrize(("name", "field", "good", "width"), NUMERIC)
def test_every_numeric_field_refuses_huge_negative_nan_bool_and_deep_values(
        name, field, good, width):
    parse(name, **good)  # the base input is valid: only the bad value makes it fail
    for bad in BAD_NUMBERS:
        spots = [None] if width is None else range(width)
        for spot in spots:
            inp = dict(good)
            if spot is None:
                inp[field] = bad
            else:
                inp[field] = [*good[field][:spot], bad, *good[field][spot + 1:]]
            if bad is None and spot is None and field in ("repeat", "scroll_amount"):
                continue  # null means "not given" for an optional field
            with pytest.raises(ActionError) as info:
                parse(name, **inp)
            assert field in str(info.value) and len(str(info.value)) < 200, (field, spot)


@pytest.mark.parametrize(("name", "inp"), [
    ("type", {"text": "\ud800abc"}),
    ("type", {"text": "abc\udc00"}),
    ("type", {"text": "a\udbff"}),
    ("key", {"text": "\udfff"}),
    ("hold_key", {"text": "\ud800", "duration": 1}),
    ("left_click", {"coordinate": [1, 1], "text": "shift\udc00"}),
    ("scroll", {"scroll_direction": "up\ud800"}),
    ("scroll", {"scroll_direction": "up", "text": "\ud800"}),
    ("left_click_drag", {"coordinate": [1, 1], "text": "\udc00ctrl"}),
])
def test_every_text_field_with_a_lone_surrogate_is_refused(name, inp):
    with pytest.raises(ActionError, match=r"surrogate|scroll_direction") as info:
        parse(name, **inp)
    info.value.args[0].encode("utf-8")  # the message itself is valid Unicode


def test_a_valid_astral_character_still_types():
    assert parse("type", text="ok \U0001F600") == TypeText("ok \U0001F600")
