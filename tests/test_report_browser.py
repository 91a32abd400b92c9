"""The report in a real browser: Debian's chromium, headless, behind a refusing proxy.

What a person opening the file would check: it asks no host for anything, the console stays
clean, every step is there, each marker sits on the point the action went to, and the keys
move between steps.
"""

import pytest
from browser import browser, require_browser
from claude_cua.core.report.html import write_report
from claude_cua.core.store.runs import load_run
from helpers import wait_until
from sample_run import record_sample_run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    require_browser()
    folder = tmp_path_factory.mktemp("runs") / "20261201-130000-beef"
    record_sample_run(folder, steps=14)
    run = load_run(folder.parent, str(folder))
    return run, write_report(run, folder / "report.html")


@pytest.fixture(scope="module")
def open_page():
    with browser(width=1400, height=900) as opener:
        yield opener


@pytest.fixture(scope="module")
def page(report, open_page):
    return open_page(report[1].as_uri())


def test_the_report_asks_for_nothing_but_file_and_data_and_logs_no_error(page, report):
    assert page.requests[0] == report[1].as_uri()
    for section in page.page.query_selector_all("section"):
        section.scroll_into_view_if_needed()
    # polled from here: the page's CSP (rightly) refuses wait_for_function's string eval
    wait_until(lambda: page.page.evaluate(
        "() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"), 30,
        message="every image decoded")
    assert page.foreign_requests() == []
    assert page.console_errors == []


def test_one_section_per_step_numbered_from_one(page, report):
    run = report[0]
    numbers = page.page.eval_on_selector_all("section[data-step]",
                                             "els => els.map(e => Number(e.dataset.step))")
    assert numbers == [s.step for s in run.steps] == list(range(1, len(run.steps) + 1))


MARKERS = """([step, action]) => {
  const s = document.querySelector(`section[data-step="${step}"]`);
  s.scrollIntoView();
  const img = s.querySelector('.shot img').getBoundingClientRect();
  const dots = [...s.querySelectorAll(`g.mark[data-action="${action}"] circle`)].map(c => {
    const r = c.getBoundingClientRect();
    return [r.left + r.width / 2, r.top + r.height / 2];
  });
  return {img: [img.left, img.top, img.width, img.height], dots};
}"""


def test_each_marker_is_within_2px_of_the_actions_point_on_the_rendered_image(page, report):
    run = report[0]
    sw, sh = run.header.screen_size
    checked = 0
    for step in run.steps:
        for number, action in enumerate(step.actions, start=1):
            if not action.points or action.error:
                continue
            found = page.page.evaluate(MARKERS, [step.step, number])
            left, top, width, height = found["img"]
            expected = [(left + (x + 0.5) * width / sw, top + (y + 0.5) * height / sh)
                        for x, y in action.points]
            dots = found["dots"]
            assert len(dots) == len(expected), (step.step, number, action.name)
            # a drag: the start's numbered circle comes last, the end's dot first
            for want in expected:
                assert min(abs(d[0] - want[0]) + abs(d[1] - want[1]) for d in dots) <= 2, (
                    step.step, number, action.name, dots, want)
            checked += 1
    assert checked >= len(run.steps) // 2


def test_keys_move_between_steps(page, report):
    p = page.page
    p.evaluate("window.scrollTo(0, 0)")
    wait_until(lambda: p.evaluate("() => window.scrollY === 0"), 10, message="scrolled to top")

    def current():
        return p.evaluate("""() => {
          const s = document.querySelector('section.current');
          return s ? [Number(s.dataset.step), Math.round(s.getBoundingClientRect().top)] : null;
        }""")

    p.keyboard.press("j")
    assert current()[0] == 1
    p.keyboard.press("ArrowRight")
    p.keyboard.press("j")
    step, top = current()
    assert step == 3 and 0 <= top <= 120  # scrolled to it, below the sticky filmstrip
    p.keyboard.press("k")
    assert current()[0] == 2
    p.keyboard.press("ArrowLeft")
    assert current()[0] == 1
    p.keyboard.press("End")
    assert current()[0] == len(report[0].steps)
    p.keyboard.press("j")  # past the last step stays there
    assert current()[0] == len(report[0].steps)
    assert p.evaluate("document.querySelector('nav.strip a.current').dataset.step") == str(
        len(report[0].steps))


SHOTS = """() => [...document.querySelectorAll('section[data-step] .shot img')].map(e => {
  const r = e.getBoundingClientRect();
  return [Number(e.closest('section').dataset.step), r.left + scrollX, r.top + scrollY,
          r.width, r.height];
})"""


def test_a_screenshot_of_the_whole_page_right_after_load_shows_every_step(report, open_page):
    """Print and headless screenshots take the page as it is once loaded: every step's picture
    must be there then, not only once scrolled into view (lazy images were blank frames)."""
    import io

    from PIL import Image, ImageChops, ImageStat

    run, html = report
    page = open_page(html.as_uri()).page  # a page of its own: loaded, never scrolled
    assert page.evaluate("() => [...document.images].every(i => i.complete && "
                         "i.naturalWidth > 0)")
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L")
    frames = page.evaluate(SHOTS)
    steps = {s.step: s for s in run.steps}
    assert sorted(f[0] for f in frames) == sorted(steps)
    for number, left, top, width, height in frames:
        box = (round(left) + 2, round(top) + 2, round(left + width) - 2, round(top + height) - 2)
        seen = shot.crop(box)
        with Image.open(run.file(steps[number].screenshot_before)) as recorded:
            expected = recorded.convert("L").resize((box[2] - box[0], box[3] - box[1]))
        # the step's own picture (markers drawn over it differ a little), not an empty frame
        assert ImageStat.Stat(ImageChops.difference(seen, expected)).mean[0] < 12, number
        assert ImageStat.Stat(seen).stddev[0] > 10, number
