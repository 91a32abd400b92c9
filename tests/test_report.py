"""The run report and GIF: overlay geometry, escaping, secrets, and `cua runs report`."""

import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from claude_cua.core.report.animation import MAX_FRAME_S, MIN_FRAME_S, animate, frame_seconds
from claude_cua.core.report.html import Attachments, gather, render_html, visible
from claude_cua.core.report.marks import image_point, marks_for
from claude_cua.core.store.runs import Run, load_run
from claude_cua.core.vocab.actions import Click, Drag, ScreenSpace, Target, TypeText, Zoom
from claude_cua.core.vocab.record import ActionRecord, RunHeader, StepRecord
from helpers import wait_until
from PIL import Image
from sample_run import TRICKY_TEXT, record_sample_run

SECRET = "pa55-Word-4-report"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A 12-step run recorded by the real loop (every kind of action), with a secret typed."""
    folder = tmp_path_factory.mktemp("runs") / "20261201-120000-abcd"
    record_sample_run(folder, steps=12, secret=SECRET)
    return load_run(folder.parent, str(folder))


# -- geometry ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("screen", "model", "image"), [
    ((1920, 1080), (1429, 804), (1429, 804)),  # the screenshot Claude saw
    ((1920, 1080), (1429, 804), (640, 360)),  # a downscaled GIF frame
    ((1280, 800), (1280, 800), (1280, 800)),  # not scaled at all
    ((3840, 2160), (1366, 768), (1366, 768)),
    ((1024, 768), (1024, 768), (300, 225)),
])
def test_a_click_lands_on_the_pixel_claude_named_on_any_scaled_image(screen, model, image):
    space = ScreenSpace(*screen, *model)
    for api in [(0, 0), (model[0] - 1, model[1] - 1), (model[0] // 3, model[1] // 2),
                (714, 402), (17, model[1] - 5)]:
        api = (min(api[0], model[0] - 1), min(api[1], model[1] - 1))
        sx, sy = space.to_screen(*api)
        x, y = image_point((sx, sy), screen, image)
        # the centre of the api pixel, in the image's pixels: within one model pixel of it
        scale = image[0] / model[0], image[1] / model[1]
        assert abs(x - (api[0] + 0.5) * scale[0]) <= max(1.0, scale[0])
        assert abs(y - (api[1] + 0.5) * scale[1]) <= max(1.0, scale[1])
        assert 0 <= x <= image[0] and 0 <= y <= image[1]


def test_marks_put_drags_zooms_and_typing_where_they_belong():
    step = StepRecord(1, actions=(
        ActionRecord("left_click", action=Click(Target((10, 10), (20, 20)), "right", 2),
                     points=((20, 20),)),
        ActionRecord("left_click_drag", action=Drag(None, Target((50, 50), (100, 100))),
                     points=((0, 0), (100, 100))),
        ActionRecord("zoom", action=Zoom((0, 0, 50, 25)), region=(0, 0, 100, 50)),
        ActionRecord("type", action=TypeText("hi")),
    ))
    click, drag, zoom, typed = marks_for(step, (200, 100), (100, 50))
    assert (click.number, click.at, click.label) == (1, (10.25, 10.25), "right x2")
    assert (drag.at, drag.to) == ((0.25, 0.25), (50.25, 50.25))
    assert zoom.box == (0, 0, 50, 25)
    assert (typed.number, typed.kind, typed.label, typed.at) == (4, "type", "hi", None)


# -- escaping ---------------------------------------------------------------------------------

class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(v or "" for _, v in attrs)

    def handle_data(self, data):
        self.text.append(data)


def _one_step_run(tmp_path, typed, *, text="", summary=""):
    header = RunHeader("r1", task=typed, model="m", status="failure", summary=summary or typed,
                       screen_size=(100, 50), model_size=(100, 50))
    step = StepRecord(1, text=text or typed, actions=(
        ActionRecord("type", {"text": typed}, TypeText(typed), result=typed),), )
    return Run("r1", tmp_path, header, (step,))


@pytest.mark.parametrize("typed", [
    '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "it's & \"quoted\"",
    "line one\nline two\r\n</p></section>", "abc\u202eevil\u202cdef", "zero\u200bwidth\ufeff",
    "\u05e9\u05dc\u05d5\u05dd <b>bold</b>", "</script><script>alert(2)</script>",
])
def test_typed_text_shows_as_text_never_as_markup(tmp_path, typed):
    page = render_html(_one_step_run(tmp_path, typed))
    parsed = _Elements()
    parsed.feed(page)
    assert parsed.tags.count("script") == 2  # the record's JSON and the page's own script
    assert "img" not in parsed.tags and "b" not in parsed.tags
    assert not any("alert" in a for a in parsed.attrs)
    shown = "".join(parsed.text)
    spelt = typed.split("\n")[0]
    for ch in "\u202e\u202c\u200b\ufeff\r":
        spelt = spelt.replace(ch, f"U+{ord(ch):04X}")
    assert spelt in shown  # as text, character for character, controls spelt out
    for ch in "\u202e\u202c\u200b\ufeff":  # direction and zero-width controls are spelt out
        if ch in typed:
            assert ch not in page.split('id="cua-run"')[0]
            assert f"U+{ord(ch):04X}" in shown
    data = json.loads(page.split('id="cua-run">')[1].split("</script>")[0])
    assert data["steps"][0]["actions"][0]["action"]["text"] == typed


def test_visible_marks_newlines_and_keeps_plain_text_plain():
    assert visible("a < b") == "a &lt; b"
    assert visible("x\ny", newlines=True) == 'x<span class="ctl">\u23ce</span>\ny'
    assert visible("\u202e") == '<span class="ctl">U+202E</span>'


# -- secrets ----------------------------------------------------------------------------------

def test_a_secret_never_appears_in_the_report_text_attributes_or_json(sample):
    page = render_html(sample, gather(sample))
    assert SECRET not in page
    assert "{{PASSWORD}}" in page
    parsed = _Elements()
    parsed.feed(page)
    assert not any(SECRET in a for a in parsed.attrs)
    assert SECRET not in json.dumps(json.loads(
        page.split('id="cua-run">')[1].split("</script>")[0]))


def test_the_redactor_catches_a_value_that_reached_the_record_anyway(tmp_path):
    run = _one_step_run(tmp_path, f"typed {SECRET} by mistake")
    page = render_html(run, redact=lambda s: s.replace(SECRET, "{{PASSWORD}}"))
    assert SECRET not in page and "typed {{PASSWORD}} by mistake" in page


# -- the content ------------------------------------------------------------------------------

def test_every_step_has_its_section_screenshot_and_actions(sample):
    page = render_html(sample, gather(sample))
    sections = re.findall(r'<section class="step" id="step-(\d+)" data-step="(\d+)"', page)
    assert [int(n) for n, _ in sections] == [s.step for s in sample.steps]
    assert page.count('alt="Screenshot Claude saw before step') == len(sample.steps)
    assert "off screen" not in page and "is outside the screen" in page  # the refused click
    assert "claude-sonnet-5-5" in page and sample.header.status in page
    assert "U+202E" in page and "&lt;script&gt;" in page  # the tricky text, as text
    assert TRICKY_TEXT not in page


def test_gif_has_a_frame_per_step_within_bounds_and_small(sample):
    pictures = gather(sample).pictures
    data = animate(sample, pictures, max_width=480)
    gif = Image.open(io.BytesIO(data))
    assert (gif.format, gif.mode, gif.width) == ("GIF", "P", 480)  # palette, downscaled
    assert gif.n_frames == len(sample.steps) + 1  # and the end
    durations = []
    for i in range(gif.n_frames):
        gif.seek(i)
        durations.append(gif.info["duration"] / 1000)
    assert all(MIN_FRAME_S <= d <= max(MAX_FRAME_S, 3.0) for d in durations)
    assert len(data) < 60_000 * gif.n_frames
    assert frame_seconds(0.01, 0.0) == MIN_FRAME_S and frame_seconds(30, 1) == MAX_FRAME_S
    assert frame_seconds(1.0, 0.5) == 1.5


def test_a_run_with_no_screenshots_still_renders(tmp_path):
    run = _one_step_run(tmp_path, "x")
    assert 'data-step="1"' in render_html(run, Attachments())
    assert Image.open(io.BytesIO(animate(run, {}))).n_frames == 1


# -- the command ------------------------------------------------------------------------------

def _cua(*args, env):
    return subprocess.run([sys.executable, "-m", "claude_cua.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)


def test_cua_runs_report_writes_the_report_and_gif_of_the_latest_run(sample, tmp_path):
    env = {**os.environ, "CUA_DATA_DIR": str(tmp_path), "PASSWORD": SECRET}
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / sample.run_id).symlink_to(sample.path)
    proc = _cua("runs", "report", "latest", "--gif", str(tmp_path / "run.gif"), env=env)
    assert proc.returncode == 0, proc.stderr
    report_path, gif_line = proc.stdout.splitlines()
    assert Path(report_path) == runs / sample.run_id / "report.html"
    page = Path(report_path).read_text()
    assert page.count("data-step=") >= len(sample.steps) and SECRET not in page
    assert gif_line.startswith(f"{tmp_path / 'run.gif'} (") and gif_line.endswith(" KiB)")
    with Image.open(tmp_path / "run.gif") as gif:
        assert gif.n_frames == len(sample.steps) + 1
    out = tmp_path / "elsewhere.html"
    proc = _cua("runs", "report", sample.run_id[:8], "-o", str(out), env=env)
    assert (proc.returncode, proc.stdout.strip()) == (0, str(out)) and out.stat().st_size > 0
    proc = _cua("runs", "report", "nosuchrun", env=env)
    assert proc.returncode == 2 and "no run matching 'nosuchrun'" in proc.stderr


def test_open_hands_the_report_to_the_desktops_browser(sample, tmp_path):
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake_browser.chmod(0o755)
    out = tmp_path / "r.html"
    env = {**os.environ, "CUA_DATA_DIR": str(tmp_path), "BROWSER": f"{fake_browser} %s"}
    proc = _cua("runs", "report", str(sample.path), "-o", str(out), "--open", env=env)
    assert proc.returncode == 0, proc.stderr
    wait_until(opened.exists, 30, message="the browser was started")
    assert wait_until(lambda: opened.read_text().strip(), 10) == out.resolve().as_uri()
