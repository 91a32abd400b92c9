"""core/x11/watcher.py: event streams in, `Since the last screenshot:` lines out (pure)."""

from __future__ import annotations

from claude_cua.core.vocab.actions import ScreenSpace
from claude_cua.core.vocab.desktop import Frame
from claude_cua.core.x11.watcher import (
    HEADER,
    MAX_IMAGES,
    MAX_LINES,
    Damage,
    Notice,
    Observed,
    Snapshot,
    WindowSeen,
    describe,
    find_transients,
)
from PIL import Image, ImageDraw

W, H = 400, 300
SPACE = ScreenSpace(W, H, 200, 150)  # the model sees half size
GREY = (240, 240, 240)


def frame(*boxes: tuple[int, int, int, int, tuple[int, int, int]]) -> Frame:
    image = Image.new("RGB", (W, H), GREY)
    draw = ImageDraw.Draw(image)
    for x, y, w, h, rgb in boxes:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=rgb)
    return Frame(W, H, image.tobytes("raw", "BGRX"))


def snapshot(at: float, box: tuple[int, int, int, int], shown: Frame) -> Snapshot:
    x, y, w, h = box
    image = Image.frombuffer("RGB", (W, H), shown.bgra, "raw", "BGRX", 0, 1)
    return Snapshot(at, box, image.crop((x, y, x + w, y + h)).tobytes("raw", "BGRX"))


PLAIN = frame()
RED_LABEL = frame((100, 60, 80, 20, (255, 0, 0)))


def find(seen: Observed, *, before: Frame = PLAIN, after: Frame = PLAIN,
         actions_at: tuple[float, ...] = (10.0,), shot_at: float = 11.0):
    return find_transients(seen, before=before, after=after, actions_at=actions_at,
                           shot_at=shot_at, space=SPACE)


def test_a_toast_that_came_and_went_is_one_line_in_model_space_and_action_time() -> None:
    seen = Observed(windows=[WindowSeen(7, 10.21, (200, 100, 100, 40), "Saved", "Toast",
                                        is_override=True, gone_at=10.55)])
    found = find(seen)
    assert describe(found) == (
        f'{HEADER}\n- a popup window "Saved" (class Toast) at [100, 50, 149, 69], '
        "+0.21 s … +0.55 s")


def test_a_window_still_mapped_at_the_screenshot_is_not_transient() -> None:
    still = WindowSeen(7, 10.2, (200, 100, 100, 40), "Dialog")
    late = WindowSeen(8, 10.2, (0, 0, 50, 50), "Late", gone_at=11.5)  # gone after the shot
    assert find(Observed(windows=[still, late])) == []
    assert describe([]) is None


def test_tiny_helper_windows_are_ignored() -> None:
    helper = WindowSeen(9, 10.1, (0, 0, 1, 1), gone_at=10.2)
    assert find(Observed(windows=[helper])) == []


def test_a_label_that_flashed_and_changed_back_is_reported_with_its_image() -> None:
    box = (100, 60, 80, 20)
    seen = Observed(damage=[Damage(10.02, box), Damage(10.17, box)],
                    snapshots=[snapshot(10.02, box, RED_LABEL), snapshot(10.17, box, PLAIN)])
    [flash] = find(seen)
    assert flash.kind == "flash"
    assert flash.region == (50, 30, 89, 39)
    assert (flash.came_s, flash.went_s) == (0.02, 0.17)
    assert flash.image is not None and flash.image.size == (40, 10)  # model scale
    assert flash.image.getpixel((5, 5)) == (255, 0, 0)
    assert describe([flash]).endswith(
        "- a region changed and changed back at [50, 30, 89, 39], +0.02 s … +0.17 s "
        "(image below)")


def test_a_lasting_change_is_not_transient_the_screenshot_shows_it() -> None:
    box = (100, 60, 80, 20)
    seen = Observed(damage=[Damage(10.02, box)], snapshots=[snapshot(10.02, box, RED_LABEL)])
    assert find(seen, after=RED_LABEL) == []


def test_a_change_still_going_on_at_the_screenshot_is_not_transient() -> None:
    box = (100, 60, 80, 20)
    seen = Observed(damage=[Damage(10.02, box), Damage(10.99, box)],
                    snapshots=[snapshot(10.02, box, RED_LABEL)])
    assert find(seen, shot_at=11.0) == []


def test_a_blinking_caret_is_never_reported() -> None:
    caret = (150, 60, 2, 18)
    on = frame((150, 60, 2, 18, (0, 0, 0)))
    damage = [Damage(10 + i * 0.3, caret) for i in range(3)]
    seen = Observed(damage=damage, snapshots=[snapshot(10.0, caret, on)])
    assert find(seen) == []


def test_a_spinner_region_gives_one_line_at_most() -> None:
    box = (20, 20, 30, 30)
    spin = frame((20, 20, 30, 30, (0, 0, 255)))
    damage = [Damage(10 + i * 0.016, box) for i in range(40)]  # 60 fps, stopped at 10.64
    snaps = [snapshot(d.at, box, spin if i % 2 else PLAIN) for i, d in enumerate(damage)]
    found = find(Observed(damage=damage, snapshots=snaps))
    assert len(found) == 1


def test_damage_of_a_window_that_came_and_went_is_not_also_a_flash() -> None:
    box = (200, 100, 100, 40)
    toast = frame((200, 100, 100, 40, (255, 255, 0)))
    seen = Observed(windows=[WindowSeen(7, 10.2, box, "Saved", gone_at=10.5)],
                    damage=[Damage(10.2, box), Damage(10.5, box)],
                    snapshots=[snapshot(10.2, box, toast)])
    assert [t.kind for t in find(seen)] == ["window"]


def test_notifications_come_first_with_their_text() -> None:
    seen = Observed(notices=[Notice(10.3, "mail", "New message", "from Ann")],
                    windows=[WindowSeen(7, 10.1, (0, 0, 50, 50), "Tip", gone_at=10.2)])
    lines = describe(find(seen)).splitlines()
    assert lines[1] == '- a desktop notification "New message: from Ann" (class mail), +0.30 s'


def test_several_actions_each_event_follows_the_action_before_it() -> None:
    seen = Observed(windows=[WindowSeen(1, 10.1, (0, 0, 50, 50), "A", gone_at=10.2),
                             WindowSeen(2, 10.7, (0, 0, 50, 50), "B", gone_at=10.8)])
    found = find(seen, actions_at=(10.0, 10.5))
    assert [(t.text, t.action, t.came_s) for t in found] == [("A", 0, 0.1), ("B", 1, 0.2)]


def test_the_block_is_bounded_in_lines_and_images() -> None:
    windows = [WindowSeen(i, 10 + i / 100, (0, 0, 50, 50), f"w{i}", gone_at=10.5)
               for i in range(8)]
    boxes = [(10 + 60 * i, 200, 40, 20) for i in range(4)]
    flashed = frame(*[(*b, (255, 0, 0)) for b in boxes])
    seen = Observed(windows=windows,
                    damage=[Damage(10.1, b) for b in boxes] + [Damage(10.2, b) for b in boxes],
                    snapshots=[snapshot(10.1, b, flashed) for b in boxes])
    found = find(seen)
    assert sum(t.image is not None for t in found) == MAX_IMAGES
    lines = describe(found).splitlines()
    assert len(lines) == 1 + MAX_LINES + 1
    assert lines[-1] == f"- and {len(found) - MAX_LINES} more"


def test_a_button_pressed_and_released_by_the_click_itself_is_not_news() -> None:
    box = (100, 60, 80, 20)
    seen = Observed(damage=[Damage(10.001, box), Damage(10.004, box)],
                    snapshots=[snapshot(10.001, box, RED_LABEL)])
    assert find(seen) == []


def test_the_title_bar_greyed_while_a_dialog_was_up_is_the_dialogs_line_only() -> None:
    title_bar = (0, 0, 400, 20)
    grey = frame((0, 0, 400, 20, (128, 128, 128)))
    seen = Observed(windows=[WindowSeen(7, 10.20, (100, 100, 200, 100), "Confirm",
                                        gone_at=10.50)],
                    damage=[Damage(10.21, title_bar), Damage(10.52, title_bar)],
                    snapshots=[snapshot(10.21, title_bar, grey)])
    assert [t.kind for t in find(seen)] == ["window"]


def test_a_window_shown_before_the_last_screenshot_is_not_news_nor_is_its_going() -> None:
    box = (100, 100, 200, 100)
    dialog = frame((100, 100, 200, 100, (0, 0, 200)))
    seen = Observed(windows=[WindowSeen(7, 9.9, box, "Confirm", gone_at=10.5)],
                    damage=[Damage(10.2, box), Damage(10.5, box)],
                    snapshots=[snapshot(10.2, box, dialog)], since=10.0)
    assert find(seen) == []


def test_with_several_actions_each_tool_result_says_what_followed_it() -> None:
    from claude_cua.core.model.context import tell_transients
    from claude_cua.core.x11.watcher import Found

    seen = Observed(windows=[WindowSeen(1, 10.1, (0, 0, 50, 50), "A", gone_at=10.2),
                             WindowSeen(2, 10.7, (0, 0, 50, 50), "B", gone_at=10.8)])
    found = find(seen, actions_at=(10.0, 10.5))
    results = [{"type": "tool_result", "tool_use_id": i, "content": []} for i in ("t1", "t2")]
    tell_transients(results, results[1], Found(tuple(found), (None, None), ("t1", "t2")))
    [first], [second] = (r["content"] for r in results)
    assert first["text"].startswith(HEADER) and '"A"' in first["text"] and '"B"' not in first[
        "text"]
    assert '"B"' in second["text"] and "+0.20 s … +0.30 s" in second["text"]


def test_nothing_transient_adds_nothing_to_the_request() -> None:
    from claude_cua.core.model.context import tell_transients
    from claude_cua.core.x11.watcher import Found

    results = [{"type": "tool_result", "tool_use_id": "t1", "content": []}]
    tell_transients(results, results[0], Found((), (), ("t1",)))
    assert results[0]["content"] == []
