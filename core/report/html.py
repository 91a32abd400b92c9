"""A run as one self-contained HTML page: every step as Claude saw it and what cua did about it.

`render_html` is a pure function of the typed record (`runs.load_run`) and the files it names
(`gather` reads them): images are embedded as data: URIs, style and script are inline, and a
Content-Security-Policy forbids the page any other request, so it works from file:// and mailed
as an attachment. Every string from the record passes through `redact` before it is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.runs import Run
from ..vocab.record import ActionRecord, RunHeader, StepRecord
from ..x11.watcher import transient_text
from .marks import Mark, action_line, arrow_head, marks_for, pointer_before, verdict_line
from .page import CSP, SCRIPT, STYLE

Redact = Callable[[str], str]
PASSIVE = frozenset({"screenshot", "wait", "zoom", "cursor_position"})
KEEP_PNG_BYTES = 200_000  # a larger screenshot is embedded as JPEG when that is smaller
THUMB_WIDTH = 120
BADGE = {"key": "\u2328", "type": "\u270e"}  # keyboard, pencil
STATUS_CLASS = {
    "success": "s-ok", "failure": "s-bad", "check_failed": "s-bad", "error": "s-bad",
    "needs_approval": "s-warn", "aborted": "s-warn", "budget_exhausted": "s-warn",
    "timeout": "s-warn", "running": "s-info",
}


@dataclass(frozen=True, slots=True)
class Attachments:
    """The files of a run folder the report shows: pictures by file name, and crash.txt."""

    pictures: Mapping[str, bytes] = field(default_factory=dict)
    crash: str | None = None


def gather(run: Run) -> Attachments:
    """Read every picture the record names (missing ones are left out) and crash.txt."""
    names: set[str] = set()
    for step in run.steps:
        names.update(n for n in (step.screenshot_before, step.screenshot) if n)
        names.update(a.approval_picture for a in step.actions if a.approval_picture)
        names.update(str(t["image"]) for t in step.transients if t.get("image"))
    if run.header.approval is not None and run.header.approval.picture:
        names.add(Path(run.header.approval.picture).name)
    pictures = {}
    for name in sorted(names):
        path = run.path / Path(name).name  # only files inside the run folder
        if path.is_file():
            pictures[name] = path.read_bytes()
    crash = run.path / "crash.txt"
    return Attachments(pictures, crash.read_text("utf-8", "replace") if crash.is_file() else None)


# -- text -------------------------------------------------------------------------------------

# Characters that would be invisible or reorder what is around them: shown as their code point.
_HIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u17b4\u17b5"
                     r"\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f"
                     r"\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f]")


def visible(text: str, *, newlines: bool = False) -> str:
    """`text` as HTML that shows as text: escaped, with invisible and direction-changing
    characters written as their code point; with `newlines`, line breaks are marked too."""
    out = []
    last = 0
    for m in _HIDDEN.finditer(text):
        out.append(_escape_lines(text[last:m.start()], newlines))
        out.append(f'<span class="ctl">U+{ord(m.group()):04X}</span>')
        last = m.end()
    out.append(_escape_lines(text[last:], newlines))
    return "".join(out)


def _escape_lines(text: str, newlines: bool) -> str:
    escaped = html.escape(text, quote=True)
    if newlines:
        escaped = escaped.replace("\n", '<span class="ctl">\u23ce</span>\n').replace(
            "\t", '<span class="ctl">\u21e5</span>\t')
    return escaped


def _redact_tree(data: Any, redact: Redact) -> Any:
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, list | tuple):
        return [_redact_tree(x, redact) for x in data]
    if isinstance(data, dict):
        return {k: _redact_tree(v, redact) for k, v in data.items()}
    return data


def _script_json(data: Any) -> str:
    """JSON that cannot end the <script> element it sits in."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# -- images -----------------------------------------------------------------------------------


def embedded(png: bytes, *, keep_png_bytes: int = KEEP_PNG_BYTES) -> str:
    """A data: URI for a screenshot: the PNG as recorded, or a JPEG of it when the PNG is large
    and the JPEG smaller (photos, gradients)."""
    if len(png) > keep_png_bytes:
        jpeg = _jpeg(png, width=None, quality=88)
        if jpeg is not None and len(jpeg) < len(png):
            return _uri("image/jpeg", jpeg)
    return _uri("image/png", png)


def thumbnail(png: bytes, *, width: int = THUMB_WIDTH) -> str | None:
    """A small JPEG data: URI for the filmstrip, or None if `png` is not an image."""
    jpeg = _jpeg(png, width=width, quality=70)
    return None if jpeg is None else _uri("image/jpeg", jpeg)


def _jpeg(png: bytes, *, width: int | None, quality: int) -> bytes | None:
    # Imported here: slow to import; only this path pays for it (start-up time).
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (UnidentifiedImageError, OSError):
        return None
    if image.mode != "RGB":
        image = image.convert("RGB")
    if width is not None and image.width > width:
        image = shrink(image, width)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def shrink(image: Any, width: int) -> Any:
    """`image` scaled down to `width` (aspect kept): a fast integer reduction first, then a
    filtered resize of what is left."""
    # Imported here: slow to import; only this path pays for it (start-up time).
    from PIL import Image

    factor = image.width // (width * 2)
    if factor > 1:
        image = image.reduce(factor)
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def _uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# -- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    run: Run
    files: Attachments
    redact: Redact
    exit_code: int | None

    def t(self, text: str | None, *, newlines: bool = False) -> str:
        """A string from the record, redacted, as HTML text."""
        return visible(self.redact(text or ""), newlines=newlines)

    @property
    def image_size(self) -> tuple[int, int]:
        h = self.run.header
        return h.model_size or h.screen_size or (1280, 800)

    @property
    def screen_size(self) -> tuple[int, int]:
        h = self.run.header
        return h.screen_size or self.image_size


def render_html(run: Run, files: Attachments | None = None, *, exit_code: int | None = None,
                redact: Redact | None = None) -> str:
    """The whole report as one HTML document (see the module docstring)."""
    page = _Page(run, files or Attachments(), redact or (lambda s: s), exit_code)
    h = run.header
    title = f"cua run {h.run_id or run.run_id}: {h.status}"
    parts = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{page.t(title)}</title><style>{STYLE}</style></head><body>",
        _header(page), _filmstrip(page), "<main>",
        *(_step(page, i) for i in range(len(run.steps))),
        _final(page), "</main>",
        f'<script type="application/json" id="cua-run">{_script_json(_data(page))}</script>',
        f"<script>{SCRIPT}</script></body></html>\n",
    ]
    return "".join(parts)


def _data(page: _Page) -> dict[str, Any]:
    """The record itself, for tools that read the report (secrets as placeholders)."""
    run = page.run
    data = {"run_id": run.run_id, "run": run.header.to_dict(),
            "steps": [s.to_dict() for s in run.steps]}
    return _redact_tree(data, page.redact)  # type: ignore[no-any-return]


def _status_class(status: str) -> str:
    return STATUS_CLASS.get(status, "s-dim")


def _fact(name: str, value_html: str) -> str:
    return f"<div><dt>{name}</dt><dd>{value_html}</dd></div>"


def _header(page: _Page) -> str:
    h, t = page.run.header, page.t
    exit_code = h.exit_code if h.exit_code is not None else page.exit_code
    facts = [
        _fact("exit code", "—" if exit_code is None else str(exit_code)),
        _fact("model", t(h.model)),
        _fact("provider", t(" ".join(x for x in (h.provider or "anthropic", h.region) if x))),
        _fact("tool", t(h.tool_version)),
        _fact("screen", _size(h.screen_size)), _fact("scaled to", _size(h.model_size)),
        _fact("steps", _steps_text(h, len(page.run.steps))),
        _fact("duration", "—" if h.duration_s is None else f"{h.duration_s:.1f} s"),
        _fact("tokens", _tokens(h)),
        _fact("cost", "—" if h.cost_usd is None else f"${h.cost_usd:.4f}"),
        _fact("cua", t(h.cua_version or "?")), _fact("host", t(h.host or "?")),
        _fact("display", t(" ".join(x for x in (h.display, h.virtual_display) if x) or "?")),
        _fact("started", t((h.started_at or "?").replace("T", " ")[:23])),
        _fact("run", t(page.run.run_id)),
    ]
    if h.secrets:
        facts.append(_fact("secrets", t(", ".join("{{" + n + "}}" for n in h.secrets))))
    if h.app:
        facts.append(_fact("app", t(" ".join(h.app))))
    summary = f'<p class="summary">{t(h.summary)}</p>' if h.summary else ""
    return (f'<header class="run"><h1>{t(h.task)}</h1>'
            f'<span class="status {_status_class(h.status)}">{t(h.status)}</span>{summary}'
            f'<dl class="facts">{"".join(facts)}</dl>'
            '<p class="keys">Keys: \u2190/\u2192 or k/j step back and forth; Home/End.</p>'
            "</header>")


def _size(size: tuple[int, int] | None) -> str:
    return "?" if size is None else f"{size[0]}\u00d7{size[1]}"


def _steps_text(h: RunHeader, recorded: int) -> str:
    steps = h.steps if h.steps is not None else recorded
    return f"{steps}" + (f" of {h.max_steps}" if h.max_steps else "")


def _tokens(h: RunHeader) -> str:
    if h.usage is None:
        return "—"
    u = h.usage
    return (f"{u.input_tokens:,} in, {u.output_tokens:,} out, "
            f"{u.cache_read_input_tokens:,} cache read, "
            f"{u.cache_creation_input_tokens:,} cache write")


def _filmstrip(page: _Page) -> str:
    links = []
    for step in page.run.steps:
        png = page.files.pictures.get(step.screenshot_before or "")
        thumb = thumbnail(png) if png else None
        image = (f'<img src="{thumb}" alt="" width="{THUMB_WIDTH}">'
                 if thumb else "")
        err = " err" if any(a.error for a in step.actions) else ""
        links.append(f'<a href="#step-{step.step}" data-step="{step.step}" class="t{err}">'
                     f"{image}{step.step}</a>")
    links.append('<a href="#final" class="t">end</a>')
    return f'<nav class="strip" aria-label="Steps">{"".join(links)}</nav>'


def _step(page: _Page, index: int) -> str:
    step = page.run.steps[index]
    marks = marks_for(step, page.screen_size, page.image_size)
    pointer = pointer_before(page.run.steps, index)
    shot = _shot(page, step.screenshot_before, marks, pointer,
                 alt=f"Screenshot Claude saw before step {step.step}")
    extra = ""
    if step.outcome:
        extra += (f' <span class="status {_status_class(step.outcome)}">'
                  f"reported {step.outcome}</span>")
    if step.replayed:
        extra += ' <span class="status s-info">replayed</span>'
    text = f'<p class="text">{page.t(step.text.strip())}</p>' if step.text.strip() else ""
    text += _tripwire(page, step)
    actions = "".join(_action(page, a) for a in step.actions)
    actions_html = f'<ol class="actions">{actions}</ol>' if actions else ""
    return (f'<section class="step" id="step-{step.step}" data-step="{step.step}">{shot}'
            f'<div class="side"><h2>Step {step.step}{extra}</h2>{text}{actions_html}'
            f'{_transients(page, step)}'
            f'<p class="times">{_step_times(step)}</p></div></section>')


def _tripwire(page: _Page, step: StepRecord) -> str:
    """The injection tripwire's findings on the screenshot this step answered."""
    scan = step.tripwire or {}
    found = [f for f in scan.get("findings") or () if isinstance(f, dict)]
    if not found:
        return ""
    items = "".join(
        f'<li>\u201c{page.t(str(f.get("text", "")))}\u201d ({page.t(str(f.get("kind", "")))}, '
        f"at {page.t(str(f.get('box', '')))})</li>" for f in found)
    return (f'<div class="verdict">injection tripwire: text on the screen addresses the agent'
            f"<ul>{items}</ul></div>")


def _transients(page: _Page, step: StepRecord) -> str:
    """What came and went after this step's actions, before its screenshot, with pictures."""
    if not step.transients:
        return ""
    items = []
    for t in step.transients:
        body = f'<span class="what">{page.t(transient_text(t))}</span>'
        png = page.files.pictures.get(str(t.get("image") or ""))
        if png is not None:
            body += (f'<div class="picture"><img src="{embedded(png)}" '
                     f'alt="What flashed by" loading="lazy"></div>')
        items.append(f"<li>{body}</li>")
    return (f'<div class="transients"><p>came and went before the next screenshot:</p>'
            f'<ul>{"".join(items)}</ul></div>')


def _step_times(step: StepRecord) -> str:
    acted = sum(a.action_s for a in step.actions)
    parts = [f"model {step.model_s:.2f} s", f"actions {acted:.2f} s"]
    scan = step.tripwire or {}
    if isinstance(scan.get("wait_s"), int | float) and isinstance(scan.get("scan_s"), int | float):
        parts.append(f"screen scan {scan['scan_s']:.2f} s (waited {scan['wait_s']:.2f} s)")
    if step.settle_s is not None:
        parts.append(f"settle {step.settle_s:.2f} s"
                     + ("" if step.is_stable is not False else " (still changing)"))
    u = step.usage
    parts.append(f"tokens {u.input_tokens:,} in, {u.output_tokens:,} out, "
                 f"{u.cache_read_input_tokens:,} cache read, "
                 f"{u.cache_creation_input_tokens:,} cache write")
    if step.cost_usd is not None:
        parts.append(f"${step.cost_usd:.4f}")
    return " · ".join(parts)


def _action(page: _Page, record: ActionRecord) -> str:
    line, typed = action_line(record)
    body = f'<span class="what">{page.t(line)}</span>'
    if typed is not None:
        body += f'<span class="typed" dir="ltr">{page.t(typed, newlines=True)}</span>'
    if (record.name not in PASSIVE and record.action is not None) or record.policy is not None:
        body += f'<div class="verdict">policy: {page.t(verdict_line(record.policy))}</div>'
    if record.window is not None and (record.window.title or record.window.wm_class):
        body += (f'<div class="verdict">window: {page.t(record.window.wm_class)} '
                 f'\u201c{page.t(record.window.title)}\u201d</div>')
    if record.error:
        body += f'<div class="result bad">error: {page.t(record.error)}</div>'
    elif record.result:
        cls = "result bad" if record.is_error else "result"
        body += f'<div class="{cls}">result: {page.t(record.result)}</div>'
    body += f'<div class="times">{record.action_s:.3f} s</div>'
    if record.approval_picture:
        body += _picture(page, record.approval_picture, "The picture shown for approval")
    return f"<li>{body}</li>"


def _picture(page: _Page, name: str, alt: str) -> str:
    png = page.files.pictures.get(name)
    if png is None:
        return ""
    return (f'<div class="picture">approval picture:<br><img src="{embedded(png)}" '
            f'alt="{alt}"></div>')


def _shot(page: _Page, name: str | None, marks: Iterable[Mark],
          pointer: tuple[int, int] | None, *, alt: str) -> str:
    png = page.files.pictures.get(name or "")
    w, h = page.image_size
    if png is None:
        return (f'<div class="shot"><p class="noimg">no screenshot ({page.t(name or "none")})'
                "</p></div>")
    marks = list(marks)
    svg = _svg(page, marks, pointer)
    badges = "".join(
        f'<li class="{"failed" if m.failed else ""}">{m.number} {BADGE[m.kind]} '
        f"{page.t(m.label[:80])}</li>" for m in marks if m.kind in BADGE)
    badges_html = f'<ol class="badges">{badges}</ol>' if badges else ""
    return (f'<div class="shot"><img src="{embedded(png)}" width="{w}" height="{h}" '
            f'alt="{alt}">{svg}{badges_html}</div>')


def _svg(page: _Page, marks: list[Mark], pointer: tuple[int, int] | None) -> str:
    # Imported here: keeps importing this module light (start-up time).
    from .marks import image_point

    w, h = page.image_size
    u = max(w, h) / 100  # one unit: a hundredth of the long edge
    out = [f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" aria-hidden="true">']
    if pointer is not None:
        x, y = image_point(pointer, page.screen_size, page.image_size)
        s = u * 1.6
        out.append(f'<path class="cursor" d="M{x:.1f} {y:.1f} l0 {s * 1.4:.1f} '
                   f'l{s * 0.4:.1f} -{s * 0.35:.1f} l{s * 0.35:.1f} {s * 0.7:.1f} '
                   f'l{s * 0.25:.1f} -{s * 0.12:.1f} l-{s * 0.35:.1f} -{s * 0.7:.1f} '
                   f'l{s * 0.55:.1f} 0 z" stroke-width="{u * 0.12:.2f}"/>')
    for m in marks:
        out.append(_svg_mark(page, m, u))
    out.append("</svg>")
    return "".join(out)


def _svg_mark(page: _Page, m: Mark, u: float) -> str:
    failed = " failed" if m.failed else ""
    g = f'<g class="mark {m.kind}{failed}" data-action="{m.number}">'
    sw = f'stroke-width="{u * 0.3:.2f}"'
    if m.kind == "zoom" and m.box is not None:
        x0, y0, x1, y1 = m.box
        return (g + f'<rect class="zoom" x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" '
                f'height="{y1 - y0:.1f}" {sw}/>{_tag(page, m.number, x0, y0 - u, u, "zoom")}</g>')
    if m.at is None:
        return ""
    x, y = m.at
    body = ""
    if m.to is not None:
        tx, ty = m.to
        body += (f'<line class="line" x1="{x:.1f}" y1="{y:.1f}" x2="{tx:.1f}" y2="{ty:.1f}" '
                 f'{sw}/>{_arrow_head(x, y, tx, ty, u)}')
        if m.kind == "drag":
            body += f'<circle class="end" cx="{tx:.2f}" cy="{ty:.2f}" r="{u * 0.6:.2f}"/>'
    r = u * (1.5 if m.kind in ("click", "drag") else 1.1)
    body += (f'<circle class="dot" cx="{x:.2f}" cy="{y:.2f}" r="{r:.2f}" {sw}/>'
             f'<text class="num" x="{x:.1f}" y="{y:.1f}" font-size="{u * 1.6:.1f}" '
             f'stroke-width="{u * 0.25:.2f}">{m.number}</text>')
    label = m.label or ("move" if m.kind == "move" else "")
    if label:
        body += _tag(page, None, x + r + u * 0.4, y + u * 0.4, u, label)
    return g + body + "</g>"


def _tag(page: _Page, number: int | None, x: float, y: float, u: float, label: str) -> str:
    text = f"{number} {label}" if number is not None else label
    return (f'<text class="tag" x="{x:.1f}" y="{y:.1f}" font-size="{u * 1.6:.1f}" '
            f'stroke-width="{u * 0.3:.2f}">{page.t(text)}</text>')


def _arrow_head(x: float, y: float, tx: float, ty: float, u: float) -> str:
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in arrow_head((x, y), (tx, ty), u * 1.4))
    return f'<polygon class="head" points="{points}"/>'


def _final(page: _Page) -> str:
    h, t = page.run.header, page.t
    steps = page.run.steps
    last = next((s.screenshot for s in reversed(steps) if s.screenshot), None)
    last = last or (steps[-1].screenshot_before if steps else "step-000.png")
    pointer = pointer_before(steps, len(steps))
    shot = _shot(page, last, (), pointer, alt="The screen when the run ended")
    side = [f'<h2>End: <span class="status {_status_class(h.status)}">{t(h.status)}</span></h2>']
    if h.summary:
        side.append(f'<p class="summary">{t(h.summary)}</p>')
    if h.approval is not None:
        a = h.approval
        line, typed = action_line(a.action)
        side.append(f'<p>Stopped before step {a.step}\'s <b>{t(line)}</b>'
                    + (f'<span class="typed">{t(typed, newlines=True)}</span>' if typed else "")
                    + f'</p><p class="verdict">policy: {t(verdict_line(a.policy))}</p>')
        for found in a.screen_text:
            side.append(f'<p class="verdict">flagged on screen: '
                        f'\u201c{t(str(found.get("text", "")))}\u201d</p>')
        if a.picture:
            side.append(_picture(page, Path(a.picture).name, "What the action would target"))
    check = h.check
    if check is not None:
        verdict = "passed" if check.passed else f"failed (exit {check.exit_code})"
        side.append(f'<p>check <code>{t(check.command)}</code> {verdict} in '
                    f'{check.duration_s:.2f} s</p><pre class="out">{t(check.output)}</pre>')
    elif h.check_command:
        side.append(f'<p>check <code>{t(h.check_command)}</code> did not run</p>')
    if page.files.crash:
        side.append('<p class="bad">cua itself failed (a bug; crash.txt):</p>'
                    f'<pre class="out">{t(page.files.crash)}</pre>')
    return (f'<section class="final" id="final">{shot}<div class="side">{"".join(side)}'
            "</div></section>")


def write_report(run: Run, path: Path, *, exit_code: int | None = None,
                 redact: Redact | None = None) -> Path:
    """Render `run` and write it to `path` (atomically); the whole page goes through `redact`
    once more, so a value that reached the record some other way is still caught."""
    page = render_html(run, gather(run), exit_code=exit_code, redact=redact)
    if redact is not None:
        page = redact(page)
    # Imported here: keeps importing this module light (start-up time).
    from ..store.runs import write_private_atomically

    write_private_atomically(path, page, encoding="utf-8")  # 0600: it shows the screenshots
    return path
