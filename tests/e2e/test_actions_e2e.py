"""Every action kind through `cua run`, checked by what a real Tk window received."""

import json
import sys
from pathlib import Path

import pytest
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import (
    computer_call,
    find_colour,
    latest_image,
    report,
    to_model_space,
)

from .conftest import summary_of

pytestmark = pytest.mark.display
PROBE = Path(__file__).resolve().parent.parent / "apps" / "probe.py"
SWATCH_RGB = (0x12, 0xAB, 0x34)
TYPED = "a<b> é Ü 日本 עברית 🙂"


def at_swatch(action, dx=0, dy=0, **inp):
    """A policy step: find the swatch in the screenshot and act on its centre (+dx, dy)."""

    def step(request):
        image = latest_image(request, search_back=True)
        point = find_colour(image, SWATCH_RGB)
        if point is None:
            return Reply([report("failure", "swatch not visible")])
        x, y = to_model_space(point, image=image, request=request)
        return Reply([computer_call(request, action, coordinate=[x + dx, y + dy], **inp)])

    return step


def plain(action, **inp):
    return lambda request: Reply([computer_call(request, action, **inp)])


def drag(request):
    image = latest_image(request, search_back=True)
    x, y = to_model_space(find_colour(image, SWATCH_RGB), image=image, request=request)
    return Reply([computer_call(request, "left_click_drag", start_coordinate=[x, y],
                                coordinate=[x + 100, y + 50])])


def zoom(request):
    image = latest_image(request, search_back=True)
    x, y = to_model_space(find_colour(image, SWATCH_RGB), image=image, request=request)
    return Reply([computer_call(request, "zoom", region=[x - 40, y - 20, x + 40, y + 20])])


def events(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_action_kind_reaches_the_window(cua, api, tmp_path):
    out = tmp_path / "probe.jsonl"
    api.queue(
        at_swatch("left_click", text="shift"),
        at_swatch("right_click"),
        at_swatch("middle_click"),
        at_swatch("double_click"),
        at_swatch("triple_click"),
        drag,
        at_swatch("left_mouse_down"),
        at_swatch("left_mouse_up", dx=30),
        at_swatch("scroll", scroll_direction="down", scroll_amount=2, text="ctrl"),
        at_swatch("scroll", scroll_direction="left", scroll_amount=1),
        at_swatch("mouse_move", dx=-20, dy=10),
        plain("cursor_position"),
        plain("key", text="KP_Enter"),
        plain("key", text="ctrl+Page_Down"),
        plain("type", text=TYPED),
        plain("hold_key", text="shift", duration=0.2),
        plain("wait", duration=0.1),
        zoom,
        plain("screenshot"),
        lambda request: Reply([report("success", "all actions done")]),
    )
    proc = cua.run("run", "--json", "--virtual-display", "1920x1080", "--model",
                   "claude-sonnet-5-5", "--max-steps", "25", "--app",
                   f"{sys.executable} {PROBE} --out {out} --geometry 1600x900+0+0", "probe")
    assert proc.returncode == 0, proc.stderr
    summary = summary_of(proc)
    assert summary["status"] == "success"
    steps = [json.loads(line) for line in
             (Path(summary["run_dir"]) / "steps.jsonl").read_text().splitlines()]
    moved_to = steps[10]["actions"][0]["action"]["at"]["api"]

    seen = events(out)
    ready = next(e for e in seen if e["event"] == "ready")
    sx, sy, sw, sh = ready["swatch"]
    centre = (sx + sw // 2, sy + sh // 2)
    presses = [e for e in seen if e["event"] == "press" and e["button"] <= 3]
    # left, right, middle, double (2 presses), triple (3), drag, mouse_down
    assert [p["button"] for p in presses] == [1, 3, 2, 1, 1, 1, 1, 1, 1, 1]
    # Tk counts quick presses into double and triple clicks (across buttons, so only >=)
    assert presses[4]["clicks"] >= 2 and presses[7]["clicks"] >= 3
    first = presses[0]
    assert abs(first["x"] - centre[0]) <= 2 and abs(first["y"] - centre[1]) <= 2
    assert first["state"] & 1, "shift was held during the click"
    drag_event = next(e for e in seen if e["event"] == "drag")
    assert abs(drag_event["end"][0] - drag_event["start"][0] - 134) <= 3  # 100 model px
    assert abs(drag_event["end"][1] - drag_event["start"][1] - 67) <= 3
    releases = [e for e in seen if e["event"] == "release" and e["button"] == 1]
    assert abs(releases[-1]["x"] - (centre[0] + 40)) <= 3  # mouse_up 30 model px to the right
    wheels = [e for e in seen if e["event"] == "wheel"]
    assert [w["button"] for w in wheels] == [5, 5, 6]
    assert wheels[0]["state"] & 4, "ctrl was held during the scroll"
    keys = [e["keysym"] for e in seen if e["event"] == "key_press"]
    assert "KP_Enter" in keys and "Next" in keys and "Shift_L" in keys
    texts = [e["text"] for e in seen if e["event"] == "text"]
    assert texts[-1].endswith(TYPED)

    bodies = [r.json for r in api.requests]
    cursor = bodies[12]["messages"][-1]["content"][0]["content"][0]["text"]
    x, y = (int(v.split("=")[1]) for v in cursor.split(","))
    assert [x, y] == moved_to  # cursor_position answers in the model's coordinates
    zoom_result = bodies[18]["messages"][-1]["content"][0]
    assert zoom_result["toolset_name"] == "computer"
    assert [b["type"] for b in zoom_result["content"]] == ["text", "image"]
    image = latest_image(bodies[18])
    assert image.width > 1000  # an 80x40 region filled the image budget
    assert find_colour(image, SWATCH_RGB) is not None
