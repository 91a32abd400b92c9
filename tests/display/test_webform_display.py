"""A page in Debian's chromium whose Submit answers a round trip later: the screenshot cua
takes after the click shows the answer (the yellow banner), with no retry by the model."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import RefusingProxy, require_browser
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

sys.path.insert(0, str(Path(__file__).parent.parent / "apps"))
from webform import WebForm, chromium_argv


@pytest.fixture
def webform(virtual_display, tmp_path) -> Iterator[WebForm]:
    require_browser()
    import mss
    from claude_cua.core.vocab.actions import frame_to_image
    from claude_cua.core.vocab.desktop import Frame

    form, proxy = WebForm(delay_s=0.06), RefusingProxy()
    proc = virtual_display.start_app(chromium_argv(form.url, str(tmp_path / "profile"),
                                                   proxy.port))
    try:
        with mss.MSS(display=virtual_display.display) as sct:
            def submit_shown() -> bool:
                shot = sct.grab(sct.monitors[1])
                image = frame_to_image(Frame(shot.width, shot.height, bytes(shot.raw)))
                return find_colour(image, colours.SUBMIT) is not None
            old = os.environ.get("XAUTHORITY")
            os.environ["XAUTHORITY"] = str(virtual_display.xauthority)
            try:
                wait_until(submit_shown, 30, message="chromium did not show the form")
            finally:
                if old is None:
                    os.environ.pop("XAUTHORITY", None)
                else:
                    os.environ["XAUTHORITY"] = old
        yield form
    finally:
        stop_process(proc)
        form.close()
        proxy.close()


@pytest.fixture
def cua(api, capsys, monkeypatch, isolated_environment, virtual_display) -> InProcessCli:
    for name, value in virtual_display.env.items():
        monkeypatch.setenv(name, value)
    return InProcessCli.against(api, capsys, monkeypatch, isolated_environment, key="k-test")


def test_the_screenshot_after_submit_shows_the_answer_a_round_trip_later(
        cua, api, webform, tmp_path):
    banners: list[bool] = []

    def submit(request: dict[str, Any]) -> Reply:
        image = latest_image(request)
        point = to_model_space(find_colour(image, colours.SUBMIT), image=image, request=request)
        return Reply([computer_call(request, "left_click", coordinate=point)])

    def look(request: dict[str, Any]) -> Reply:
        banners.append(find_colour(latest_image(request), colours.DIALOG_OK) is not None)
        return Reply([report("success", "submitted")])

    api.queue(submit, look)
    run_dir = tmp_path / "run"
    code, _, err = cua.json("run", "--json", "--max-steps", "3", "--run-dir", str(run_dir),
                            "submit the form")
    assert code == 0, err
    assert webform.posts == 1
    assert banners == [True]
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["is_stable"] is True
