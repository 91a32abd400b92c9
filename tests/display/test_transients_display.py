"""What came and went between screenshots, on a real X server: cua runs against our Tk app
(tests/apps/transients.py) and the fake model reads what each request's new user message says.

One Xvfb for the module; the app restarts per test (its counters and timings differ).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_cua.cli.demo import colours
from claude_cua.cli.demo.fakeapi import Reply
from claude_cua.cli.demo.policies import (
    computer_call,
    find_colour,
    latest_image,
    report,
    to_model_space,
)
from claude_cua.core.x11.xserver import stop_process
from helpers import InProcessCli, wait_until
from PIL import Image

APP = Path(__file__).parent.parent / "apps" / "transients.py"
HEADER = "Since the last screenshot:"


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment, virtual_display) -> InProcessCli:
    for name, value in virtual_display.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUA_SETTLE_CEILING_S", "0.6")
    return InProcessCli.against(api, capsys, monkeypatch, isolated_environment, key="k-test")


def start_app(display: Any, tmp_path: Path, *extra: str) -> Iterator[Path]:
    log = tmp_path / "app.jsonl"
    proc = display.start_app([sys.executable, str(APP), "--log", str(log), *extra])
    try:
        wait_until(lambda: log.exists() and "ready" in log.read_text(), 20,
                   message="the transients app did not start")
        yield log
    finally:
        stop_process(proc)


def told(request: dict[str, Any]) -> tuple[list[str], list[Image.Image]]:
    """The texts and images of the newest user message, the screenshot (its last image) aside."""
    import base64
    import io

    texts, images = [], []
    for block in request["messages"][-1]["content"]:
        for part in block.get("content", []) if block.get("type") == "tool_result" else [block]:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") == "image":
                data = base64.b64decode(part["source"]["data"])
                images.append(Image.open(io.BytesIO(data)).convert("RGB"))
    return texts, images[:-1]


def click(colour: colours.RGB, seen: list) -> Callable[[dict[str, Any]], Reply]:
    def step(request: dict[str, Any]) -> Reply:
        seen.append(told(request))
        image = latest_image(request, search_back=True)
        point = to_model_space(find_colour(image, colour), image=image, request=request)
        return Reply([computer_call(request, "left_click", coordinate=point)])
    return step


def wait(seen: list, seconds: float = 1.0) -> Callable[[dict[str, Any]], Reply]:
    def step(request: dict[str, Any]) -> Reply:
        seen.append(told(request))
        return Reply([computer_call(request, "wait", duration=seconds)])
    return step


def done(seen: list) -> Callable[[dict[str, Any]], Reply]:
    def step(request: dict[str, Any]) -> Reply:
        seen.append(told(request))
        return Reply([report("success", "done")])
    return step


def blocks(seen: list) -> list[str]:
    return [t for texts, _ in seen for t in texts if t.startswith(HEADER)]


@pytest.fixture
def app(virtual_display, tmp_path) -> Iterator[Path]:
    # toast, flash and dialog each 0.5 s after their click (later than a screenshot could wait
    # for), shown 0.3, 0.15 and 0.3 s
    yield from start_app(virtual_display, tmp_path, "--timings", "0.5:0.3,0.5:0.15,0.5:0.3")


def test_claude_is_told_of_a_toast_a_flash_and_a_dialog_and_nothing_on_a_still_screen(
        cua, api, app, tmp_path):
    seen: list = []
    quiet_steps = 12
    api.queue(click(colours.COMPANY, seen), wait(seen), click(colours.EMAIL, seen), wait(seen),
              click(colours.COUNTRY, seen), wait(seen),
              *[click(colours.NOTES, seen) for _ in range(quiet_steps)], done(seen))
    run_dir = tmp_path / "run"
    code, _, err = cua.json("run", "--json", "--max-steps", "30", "--run-dir",
                                  str(run_dir), "watch the app")
    assert code == 0, err
    shown = [json.loads(line) for line in app.read_text().splitlines()][1:]
    assert [e["text"] for e in shown] == ["Saved 1", "Invalid 1", "Confirm 1"]
    # Each came and went between two screenshots (during the wait after its click).
    after_toast, after_flash, after_dialog = seen[2], seen[4], seen[6]
    [toast] = [t for t in after_toast[0] if t.startswith(HEADER)]
    assert '- a popup window "Saved 1" (class Toplevel) at [' in toast
    [flash] = [t for t in after_flash[0] if t.startswith(HEADER)]
    assert "- a region changed and changed back at [" in flash and "(image below)" in flash
    [picture] = after_flash[1]
    assert find_colour(picture, (255, 32, 32)) is not None  # the label's red, as it flashed
    [dialog] = [t for t in after_dialog[0] if t.startswith(HEADER)] or [str(seen[4:9])]
    assert '"Confirm 1"' in dialog
    # A static screen with a focused, blinking entry: nothing is reported for any step.
    assert blocks(seen[7:]) == []
    assert len(seen[7:]) == quiet_steps
    # On the record: the step lists its transients, with the flash's picture in the run folder.
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    recorded = [t for s in steps for t in s["transients"]]
    assert [t["kind"] for t in recorded] == ["popup", "flash", "window"], [
        (s["step"], s["transients"]) for s in steps if s["transients"]]
    assert (run_dir / recorded[1]["image"]).exists()
    assert all(s["format"] == 2 for s in steps)
    # `cua runs show` lists them; the report shows them on their step, with the picture.
    code, out, _ = cua("runs", "show", str(run_dir))
    assert code == 0
    assert 'came and went: a popup window "Saved 1" (class Toplevel) at [' in out
    assert f"picture: {run_dir / recorded[1]['image']}" in out
    code, _, _ = cua("runs", "report", str(run_dir))
    page = (run_dir / "report.html").read_text()
    assert code == 0 and "came and went before the next screenshot" in page
    assert "a region changed and changed back" in page and 'alt="What flashed by"' in page


def test_a_spinner_that_never_stops_floods_nothing(cua, api, virtual_display, tmp_path):
    seen: list = []
    for _ in start_app(virtual_display, tmp_path, "--spinner"):
        api.queue(*[click(colours.NOTES, seen) for _ in range(3)], done(seen))
        code, _, err = cua.json("run", "--json", "--max-steps", "6", "spin")
        assert code == 0, err
    assert blocks(seen) == []


def test_a_desktop_notification_on_the_session_bus_is_told(cua, api, monkeypatch, app):
    from bus import notify, private_bus

    seen: list = []
    with private_bus() as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)

        def send_then_wait(request: dict[str, Any]) -> Reply:
            notify(address, "builder", "Build done", "all green")
            return wait(seen, 0.3)(request)

        api.queue(send_then_wait, done(seen))
        code, _, err = cua.json("run", "--json", "--max-steps", "3", "notify")
    assert code == 0, err
    [block] = blocks(seen)
    assert '- a desktop notification "Build done: all green" (class builder), ' in block
