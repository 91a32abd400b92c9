"""A run as an animated GIF: one frame per step, the screenshot Claude saw with the step's
marks (core/report/marks.py, as in the HTML report) and a caption,
timed after the run's own pace."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

from PIL import Image, ImageDraw, ImageFont

from ..store.runs import Run
from .html import shrink
from .marks import Mark, action_line, arrow_head, marks_for

MAX_WIDTH = 640
MIN_FRAME_S, MAX_FRAME_S = 0.6, 4.0
LAST_FRAME_S = 3.0
COLOURS = 96
MARK = (232, 89, 12)
FAIL = (207, 34, 46)


def frame_seconds(model_s: float, overhead_s: float) -> float:
    """How long a step's frame shows: the step's real time, kept within bounds so a quick step
    can still be read and a slow one does not stall the animation."""
    return min(MAX_FRAME_S, max(MIN_FRAME_S, model_s + overhead_s))


def animate(run: Run, pictures: Mapping[str, bytes], *, max_width: int = MAX_WIDTH,
            redact: Callable[[str], str] | None = None) -> bytes:
    """The GIF's bytes (a run without any screenshot gives a one-frame GIF of its caption)."""
    redact = redact or (lambda s: s)
    screen = run.header.screen_size or run.header.model_size or (1280, 800)
    frames: list[Image.Image] = []
    durations: list[int] = []
    total = len(run.steps)
    for step in run.steps:
        base = _open(pictures.get(step.screenshot_before or ""), max_width)
        if base is None:
            continue
        marks = marks_for(step, screen, base.size)
        first = step.actions[0] if step.actions else None
        what = action_line(first)[0] if first is not None else (step.text.strip() or "reply")
        more = f" (+{len(step.actions) - 1})" if len(step.actions) > 1 else ""
        caption = redact(f"step {step.step}/{total}: {what}{more}")
        frames.append(_frame(base, marks, caption))
        durations.append(round(frame_seconds(step.model_s, step.overhead_s) * 1000))
    last = next((s.screenshot for s in reversed(run.steps) if s.screenshot), None)
    end = _open(pictures.get(last or ""), max_width)
    if end is not None or not frames:
        end = end or Image.new("RGB", (max_width, max_width * 10 // 16), (40, 44, 52))
        caption = redact(f"end: {run.header.status}: {run.header.summary or ''}")
        frames.append(_frame(end, (), caption))
        durations.append(round(LAST_FRAME_S * 1000))
    return _encode(frames, durations)


def _open(png: bytes | None, max_width: int) -> Image.Image | None:
    if not png:
        return None
    try:
        image = Image.open(io.BytesIO(png)).convert("RGB")
    except OSError:
        return None
    return shrink(image, max_width) if image.width > max_width else image


def _frame(base: Image.Image, marks: tuple[Mark, ...] | tuple[()], caption: str) -> Image.Image:
    w, h = base.size
    bar = max(18, h // 18)
    frame = Image.new("RGB", (w, h + bar), (31, 35, 40))
    frame.paste(base, (0, 0))
    draw = ImageDraw.Draw(frame)
    u = max(w, h) / 100
    font = ImageFont.load_default(size=max(10, round(bar * 0.6)))
    small = ImageFont.load_default(size=max(9, round(u * 1.8)))
    badges = 0
    for m in marks:
        colour = FAIL if m.failed else MARK
        if m.box is not None:
            draw.rectangle(m.box, outline=(9, 105, 218), width=max(1, round(u * 0.3)))
        if m.at is not None:
            x, y = m.at
            if m.to is not None:
                draw.line((x, y, *m.to), fill=colour, width=max(1, round(u * 0.4)))
                draw.polygon(arrow_head((x, y), m.to, u * 1.6), fill=colour)
            r = u * 1.4
            draw.ellipse((x - r, y - r, x + r, y + r), outline=colour,
                         width=max(1, round(u * 0.35)))
            draw.text((x, y), str(m.number), fill=colour, font=small, anchor="mm")
        elif m.kind in ("key", "type"):
            label = f"{m.number} {m.label[:40]}".replace("\n", " ")
            draw.text((4 + u, 4 + u + badges * u * 3), label, fill=(255, 255, 255), font=small,
                      stroke_width=2, stroke_fill=(31, 35, 40))
            badges += 1
    draw.text((6, h + bar / 2), caption.replace("\n", " ")[:120], fill=(255, 255, 255),
              font=font, anchor="lm")
    return frame


def _encode(frames: list[Image.Image], durations: list[int]) -> bytes:
    """One palette for the whole animation, taken from a strip of sample frames (screens of
    one run share their colours), so each frame is only mapped onto it."""
    samples = frames[:: max(1, len(frames) // 8)][:8]
    w, h = samples[0].size
    strip = Image.new("RGB", (w, h * len(samples)))
    for i, sample in enumerate(samples):
        strip.paste(sample.resize((w, h)), (0, i * h))
    palette = strip.reduce(2).quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT)
    paletted = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    paletted[0].save(out, "GIF", save_all=True, append_images=paletted[1:], duration=durations,
                     loop=0, optimize=True, disposal=1)
    return out.getvalue()
