"""Record a run of any length without a display: the real loop, the real SDK against the fake
Messages API, and a FakeDesktop that paints what was done onto its screen.

For the report's tests and benchmark (benchmarks/report.py): every kind of action appears
(clicks, a drag, scrolls, keys, typed text with a secret's placeholder and awkward characters,
zoom, a refused action), so each step's screenshot differs and the record is like a real one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call, report, text
from claude_cua.core.vocab.desktop import Button, FakeDesktop
from PIL import ImageDraw

TRICKY_TEXT = ('a <script>alert("x")</script> & \'q\'\nline two \u202eevil\u202c \u200bzw '
               '\u05e9\u05dc\u05d5\u05dd')


class PaintedDesktop(FakeDesktop):
    """A FakeDesktop whose screen shows a window with rows of text and a dot for every click."""

    def __init__(self, width: int = 1920, height: int = 1080) -> None:
        super().__init__(width, height, rgb=(236, 239, 243))
        self.draw = ImageDraw.Draw(self.image)
        self.rows = 0
        self._paint_window()

    def _paint_window(self) -> None:
        w, h = self.image.size
        d = self.draw
        d.rectangle((40, 40, w - 40, h - 40), fill=(255, 255, 255), outline=(120, 120, 120))
        d.rectangle((40, 40, w - 40, 76), fill=(52, 73, 94))
        d.text((56, 50), "Supplier portal - invoices", fill=(255, 255, 255))
        for i in range(8):
            y = 110 + i * 70
            d.rectangle((80, y, 700, y + 40), outline=(160, 160, 160))
            d.text((90, y + 12), f"Field {i + 1}", fill=(90, 90, 90))

    def click(self, x: int | None, y: int | None, *, button: Button = "left", count: int = 1,
              modifiers: str | None = None) -> None:
        super().click(x, y, button=button, count=count, modifiers=modifiers)
        px, py = self.pointer
        self.draw.ellipse((px - 6, py - 6, px + 6, py + 6), fill=(200, 60, 40))

    def type_text(self, text: str) -> None:
        super().type_text(text)
        w, _ = self.image.size
        y = 110 + (self.rows % 14) * 36
        self.rows += 1
        self.draw.rectangle((760, y, w - 80, y + 30), fill=(250, 250, 220))
        self.draw.text((770, y + 8), f"row {self.rows}: {len(text)} characters typed",
                       fill=(20, 20, 20))


def _plan(request: Mapping[str, Any], n: int, total: int) -> Reply:
    """Step n (from 1) of a run of `total`: the last reports success."""
    if n >= total:
        return Reply([text("All rows are filled in."), report("success", "filled every row")])
    call = computer_call
    x, y = 200 + (n * 97) % 1100, 130 + (n * 53) % 600
    kinds: list[Callable[[], dict[str, Any]]] = [
        lambda: call(request, "left_click", coordinate=[x, y]),
        lambda: call(request, "type", text=f"row {n} {{{{PASSWORD}}}}"),
        lambda: call(request, "double_click", coordinate=[x + 40, y + 10]),
        lambda: call(request, "scroll", coordinate=[700, 400], scroll_direction="down",
                     scroll_amount=3),
        lambda: call(request, "key", text="ctrl+s"),
        lambda: call(request, "left_click_drag", start_coordinate=[300, 300],
                     coordinate=[600, 450]),
        lambda: call(request, "type", text=TRICKY_TEXT),
        lambda: call(request, "zoom", region=[100, 100, 500, 340]),
        lambda: call(request, "right_click", coordinate=[5000, 10]),  # off screen: refused
    ]
    blocks = [text(f"Step {n}: working on row {n}.")]
    blocks.append(kinds[(n - 1) % len(kinds)]())
    if n % 4 == 0:
        blocks.append(call(request, "mouse_move", coordinate=[x // 2, y // 2]))
    return Reply(blocks)


def record_sample_run(run_dir: Path, *, steps: int = 20, secret: str = "s3cr3t-Value!",
                      width: int = 1920, height: int = 1080, model: str = "claude-sonnet-5-5",
                      ) -> Path:
    """Record a `steps`-step run into `run_dir` (which must not hold one) and return it. The
    secret PASSWORD (value `secret`) is typed as {{PASSWORD}}: it must never show in a record."""
    from claude_cua.core.engine.loop import LoopConfig, run_task
    from claude_cua.core.model.claude import ClaudeClient
    from claude_cua.core.model.context import flavour_for, image_limits_for
    from claude_cua.core.safety.policy import approve_all
    from claude_cua.core.safety.secrets import Secrets
    from claude_cua.core.store.runs import RunRecorder, prepare_run_dir

    prepare_run_dir(run_dir)
    secrets = Secrets.from_specs(["PASSWORD"], {"PASSWORD": secret})
    counter = itertools.count(1)
    with FakeMessagesAPI() as api:
        api.queue(*[lambda req: _plan(req, next(counter), steps) for _ in range(steps)])
        client = ClaudeClient(api_key="sample-key", base_url=api.url, max_retries=0)
        config = LoopConfig(model=model, flavour=flavour_for(model, None), max_steps=steps,
                            limits=image_limits_for(model), secrets=secrets)
        recorder = RunRecorder(run_dir, meta={"cua_version": "sample", "host": "sample-host",
                                              "display": "fake", "secrets": ["PASSWORD"]})
        try:
            run_task(f"fill in {steps - 1} rows of the supplier portal as {{{{PASSWORD}}}}",
                     desktop=PaintedDesktop(width, height), client=client, config=config,
                     on_event=recorder, run_id=run_dir.name, run_dir=str(run_dir),
                     sleep=lambda s: None, approver=approve_all)
        finally:
            recorder.close()
            client.close()
    return run_dir
