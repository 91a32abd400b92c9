"""Size and load time of `cua runs report` for runs of 20 and 200 steps, and the GIF's size.

Each run is recorded by the real loop (the real SDK against the fake Messages API, on the
painted FakeDesktop of tests/sample_run.py, 1920x1080 scaled to 1429x804), then rendered;
the load time is Playwright's navigation of headless Debian chromium to the `load` event of the
file:// page (behind a refusing proxy, as in the tests), the median of several loads, each in a
new page. Run:  python benchmarks/report.py [--steps 20 200] [--loads 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import browser
from claude_cua.core.report.animation import animate
from claude_cua.core.report.html import gather, write_report
from claude_cua.core.store.runs import load_run
from sample_run import record_sample_run


def measure(steps: int, loads: int, root: Path) -> dict[str, float]:
    folder = root / f"run-{steps}"
    t0 = time.perf_counter()
    record_sample_run(folder, steps=steps)
    recorded = time.perf_counter() - t0
    run = load_run(root, str(folder))
    pngs = sum(len(b) for b in gather(run).pictures.values())
    t0 = time.perf_counter()
    path = write_report(run, folder / "report.html")
    rendered = time.perf_counter() - t0
    t0 = time.perf_counter()
    gif = animate(run, gather(run).pictures)
    animated = time.perf_counter() - t0
    times = []
    with browser(width=1400, height=900) as open_page:
        for _ in range(loads + 1):  # the first load warms the browser up and is not counted
            t0 = time.perf_counter()
            page = open_page(path.as_uri(), wait_until="load")
            times.append(time.perf_counter() - t0)
            assert page.foreign_requests() == [] and page.console_errors == []
            page.page.close()
    return {"steps": steps, "record_s": recorded, "pngs_mb": pngs / 1e6,
            "html_mb": path.stat().st_size / 1e6, "render_s": rendered,
            "load_s": statistics.median(times[1:]), "gif_kb": len(gif) / 1024,
            "gif_s": animated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, args.loads, Path(tmp)) for n in args.steps]
    print("steps  screenshots  report.html  render  load (median)  GIF      GIF time")
    for r in rows:
        print(f"{r['steps']:>5}  {r['pngs_mb']:>8.1f} MB  {r['html_mb']:>8.1f} MB  "
              f"{r['render_s']:>5.2f} s  {r['load_s']:>10.2f} s  {r['gif_kb']:>6.0f} KiB  "
              f"{r['gif_s']:>5.2f} s")


if __name__ == "__main__":
    main()
