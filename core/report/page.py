"""The report's inline style sheet and script (no request leaves the file: see report.py)."""

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")

STYLE = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --info: #0969da; --dim: #57606a;
  --line: #d0d7de; --bg: #f6f8fa; --mark: #e8590c; --fail: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1f2328; background: #fff; }
header.run { padding: 16px 24px 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 0 0 8px; }
.status { display: inline-block; padding: 1px 10px; border-radius: 12px; color: #fff;
  font-weight: 600; }
.s-ok { background: var(--ok); } .s-bad { background: var(--bad); }
.s-warn { background: var(--warn); } .s-info { background: var(--info); }
.s-dim { background: var(--dim); }
.summary { margin: 8px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr));
  gap: 2px 18px; margin: 8px 0; }
dl.facts div { display: flex; gap: 6px; min-width: 0; }
dl.facts dt { color: var(--dim); white-space: nowrap; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
nav.strip { position: sticky; top: 0; z-index: 5; display: flex; gap: 4px; overflow-x: auto;
  padding: 6px 24px; background: var(--bg); border-bottom: 1px solid var(--line); }
nav.strip a { flex: none; display: block; border: 2px solid transparent; border-radius: 3px;
  text-decoration: none; color: var(--dim); font-size: 11px; text-align: center; }
nav.strip a.current { border-color: var(--mark); color: #1f2328; }
nav.strip a.err { color: var(--bad); }
nav.strip img { display: block; width: 96px; height: auto; }
main { padding: 0 24px 48px; }
section.step, section.final { display: grid;
  grid-template-columns: minmax(0, 3fr) minmax(280px, 2fr);
  gap: 18px; padding: 18px 0; border-bottom: 1px solid var(--line); scroll-margin-top: 90px; }
section.current h2 { color: var(--mark); }
@media (max-width: 900px) { section.step, section.final { grid-template-columns: 1fr; } }
.shot { position: relative; align-self: start; border: 1px solid var(--line); line-height: 0; }
.shot img { display: block; width: 100%; height: auto; }
.shot svg { position: absolute; inset: 0; width: 100%; height: 100%; overflow: visible;
  pointer-events: none; }
.shot .noimg { line-height: 1.4; padding: 40px; color: var(--dim); }
svg .dot { fill: rgba(232, 89, 12, 0.35); stroke: var(--mark); }
svg .end { fill: var(--mark); stroke: #fff; }
svg .line { stroke: var(--mark); fill: none; }
svg .head { fill: var(--mark); }
svg .zoom { fill: rgba(9, 105, 218, 0.08); stroke: var(--info); stroke-dasharray: 6 4; }
svg .num { fill: #fff; font-weight: 700; text-anchor: middle; dominant-baseline: central;
  paint-order: stroke; stroke: var(--mark); }
svg .tag { fill: #1f2328; paint-order: stroke; stroke: #fff; font-weight: 600; }
svg .cursor { fill: #fff; stroke: #000; }
svg .failed .dot, svg .failed .line { stroke: var(--fail); stroke-dasharray: 4 3; }
ol.badges { position: absolute; left: 6px; top: 6px; margin: 0; padding: 0; list-style: none;
  line-height: 1.3; max-width: 70%; }
ol.badges li { background: rgba(31, 35, 40, 0.85); color: #fff; border-radius: 4px;
  padding: 2px 6px; margin-bottom: 3px; font: 12px ui-monospace, monospace;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
ol.badges li.failed { background: rgba(207, 34, 46, 0.9); }
.side { min-width: 0; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg);
  border-left: 3px solid var(--info); padding: 6px 10px; margin: 0 0 10px; }
ol.actions { padding-left: 22px; margin: 0 0 10px; }
ol.actions li { margin-bottom: 8px; }
.what { font-weight: 600; }
code, pre, .typed { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
.typed { display: block; white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg);
  border: 1px solid var(--line); padding: 3px 6px; margin-top: 2px; unicode-bidi: isolate; }
.ctl { color: var(--info); background: #ddf4ff; border-radius: 3px; padding: 0 2px;
  font-size: 11px; }
.verdict, .result, .times { color: var(--dim); }
.bad, .result.bad { color: var(--bad); }
.picture img { max-width: 100%; border: 1px solid var(--line); margin-top: 4px; }
pre.out { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg);
  border: 1px solid var(--line); padding: 8px; max-height: 360px; overflow: auto; }
.keys { color: var(--dim); font-size: 12px; margin: 4px 0 0; }
"""

SCRIPT = """
(function () {
  var steps = Array.prototype.slice.call(document.querySelectorAll('section[data-step]'));
  var thumbs = Array.prototype.slice.call(document.querySelectorAll('nav.strip a[data-step]'));
  var current = -1;
  function mark(i) {
    if (i === current) return;  // -1: above the first step, none is current
    current = i;
    steps.forEach(function (s, j) { s.classList.toggle('current', j === i); });
    thumbs.forEach(function (t, j) {
      var on = j === i;
      t.classList.toggle('current', on);
      if (on) { t.setAttribute('aria-current', 'step'); }
      else { t.removeAttribute('aria-current'); }
      if (on && t.scrollIntoView) { t.scrollIntoView({block: 'nearest', inline: 'nearest'}); }
    });
  }
  function go(i) {
    if (!steps.length) return;
    i = Math.max(0, Math.min(steps.length - 1, i));
    mark(i);
    steps[i].scrollIntoView({block: 'start'});
    left = window.scrollY;
  }
  var left = null;  // where go() left the page: scrolled elsewhere since, start from there
  function visible() {
    var best = -1;  // above the first step (the header): the next step is step 1
    for (var j = 0; j < steps.length; j++) {
      if (steps[j].getBoundingClientRect().top <= 120) { best = j; } else { break; }
    }
    return best;
  }
  var pending = false;
  window.addEventListener('scroll', function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; mark(visible()); });
  }, {passive: true});
  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var at = (left === window.scrollY) ? current : visible();
    if (e.key === 'ArrowRight' || e.key === 'j') { go(at + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft' || e.key === 'k') { go(at - 1); e.preventDefault(); }
    else if (e.key === 'Home') { go(0); e.preventDefault(); }
    else if (e.key === 'End') { go(steps.length - 1); e.preventDefault(); }
  });
  thumbs.forEach(function (t, j) {
    t.addEventListener('click', function (e) { e.preventDefault(); go(j); });
  });
  mark(visible());
})();
"""
