"""A Tk window that records what it receives, as ground truth for the display tests.

Run: python tests/apps/probe.py --out FILE.jsonl [--title T] [--geometry 1600x900+0+0]

Every line of FILE is one JSON object, flushed at once:
  {"event": "ready", ...geometry...}          once mapped and the Text widget has focus
  {"event": "key_press" | "key_release", "keysym", "keysym_num", "char", "state", "keycode",
   "time"}
  {"event": "press" | "release", "button", "x", "y", "state", "clicks", "time"}  (canvas; x/y
      in root coordinates; clicks is 1, 2 or 3 from Tk's double/triple detection)
  {"event": "wheel", "button", "x", "y", "state"}   X button 4 up, 5 down, 6 left, 7 right
  {"event": "motion", "x", "y", "state"}      pointer motion over the canvas
  {"event": "drag", "start": [x, y], "end": [x, y]}   button 1 pressed, moved, released
  {"event": "text", "text": ...}              the Text widget's whole content after a change
                                              (changes within 20 ms share one line)
State bits are X's: 1 Shift, 4 Control, 8 Mod1 (Alt), 64 Mod4 (Super), 256 Button1.
"""

from __future__ import annotations

import argparse
import json
import tkinter as tk
from typing import Any, TextIO

SWATCH_RGB = (0x12, 0xAB, 0x34)  # a colour nothing else on screen uses, for capture tests
SWATCH = (40, 40, 240, 140)  # canvas coordinates of the swatch rectangle


def _unicode(text: str) -> str:
    """Tcl 8.6 hands astral characters (emoji) to Python as surrogate pairs; join them."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


class Probe:
    def __init__(self, root: tk.Tk, out: TextIO) -> None:
        self.root, self.out = root, out
        self.ready = False
        self.text_pending = False
        self.shifts_down: set[str] = set()
        self.drag_start: tuple[int, int] | None = None
        self.dragged = False
        self.text = tk.Text(root, height=8, font=("DejaVu Sans", 14), undo=False)
        self.text.pack(fill="x")
        self.canvas = tk.Canvas(root, background="white", highlightthickness=0)
        self.canvas.pack(fill="both", expand=True)
        rgb = "#" + "".join(f"{c:02x}" for c in SWATCH_RGB)
        self.canvas.create_rectangle(*SWATCH, fill=rgb, outline=rgb)
        self._bind()

    def _bind(self) -> None:
        # Widget-level bindings run before the Text class bindings, which `break` on some keys.
        self.text.bind("<KeyPress>", lambda e: self._key("key_press", e), add="+")
        self.text.bind("<KeyRelease>", lambda e: self._key("key_release", e), add="+")
        self.text.bind("<<Modified>>", self._modified)
        self.text.bind("<FocusIn>", lambda e: self._maybe_ready())
        for clicks, pattern in ((1, "<ButtonPress>"), (2, "<Double-ButtonPress>"),
                                (3, "<Triple-ButtonPress>")):
            self.canvas.bind(pattern, lambda e, n=clicks: self._button("press", e, n))
        self.canvas.bind("<ButtonRelease>", lambda e: self._button("release", e, 0))
        self.canvas.bind("<Motion>", self._motion)
        self.root.bind("<Map>", lambda e: self._maybe_ready())

    def write(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps({"event": event, **fields}) + "\n")
        self.out.flush()

    def _key(self, kind: str, e: tk.Event) -> None:
        if e.keysym in ("Shift_L", "Shift_R"):
            (self.shifts_down.add if kind == "key_press" else self.shifts_down.discard)(e.keysym)
        self.write(kind, keysym=e.keysym, keysym_num=e.keysym_num, char=_unicode(e.char),
                   state=e.state, keycode=e.keycode, time=e.time)

    def _button(self, kind: str, e: tk.Event, clicks: int) -> None:
        if kind == "press" and e.num in (4, 5):
            self._wheel(e)
        self.write(kind, button=e.num, x=e.x_root, y=e.y_root, state=e.state, clicks=clicks,
                   time=e.time)
        if e.num != 1:
            return
        if kind == "press":
            self.drag_start, self.dragged = (e.x_root, e.y_root), False
        elif self.drag_start is not None:
            if self.dragged:
                self.write("drag", start=list(self.drag_start), end=[e.x_root, e.y_root])
            self.drag_start = None

    def _wheel(self, e: tk.Event) -> None:
        """Undo Tk 8.6's encoding of X buttons 6/7 (horizontal) as Shift toggled on 4/5."""
        shift_held = bool(self.shifts_down)
        horizontal = bool(e.state & 1) != shift_held
        button = e.num + 2 if horizontal else e.num
        state = (e.state & ~1) | (1 if shift_held else 0)
        self.write("wheel", button=button, x=e.x_root, y=e.y_root, state=state)

    def _motion(self, e: tk.Event) -> None:
        if self.drag_start is not None and (e.x_root, e.y_root) != self.drag_start:
            self.dragged = True
        self.write("motion", x=e.x_root, y=e.y_root, state=e.state)

    def _modified(self, _e: tk.Event) -> None:
        # At most one text line per 20 ms: a long text typed fast would otherwise write its
        # whole content once per character (quadratic in its length).
        if self.text.edit_modified():
            self.text.edit_modified(False)
            if not self.text_pending:
                self.text_pending = True
                self.root.after(20, self._write_text)

    def _write_text(self) -> None:
        self.text_pending = False
        self.write("text", text=_unicode(self.text.get("1.0", "end-1c")))

    def _maybe_ready(self) -> None:
        if self.ready or not self.root.winfo_viewable():
            return
        if self.root.focus_get() is not self.text:
            self.text.focus_force()
            return  # the FocusIn that follows calls back here
        self.ready = True
        self.root.update_idletasks()
        c = self.canvas
        cx, cy = c.winfo_rootx(), c.winfo_rooty()
        self.write("ready", canvas=[cx, cy, c.winfo_width(), c.winfo_height()],
                   swatch=[cx + SWATCH[0], cy + SWATCH[1], SWATCH[2] - SWATCH[0],
                           SWATCH[3] - SWATCH[1]],
                   swatch_rgb=list(SWATCH_RGB),
                   text_widget=[self.text.winfo_rootx(), self.text.winfo_rooty(),
                                self.text.winfo_width(), self.text.winfo_height()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="cua probe")
    parser.add_argument("--geometry", default="1600x900+0+0")
    args = parser.parse_args()
    with open(args.out, "a", encoding="utf-8") as out:
        root = tk.Tk()
        root.title(args.title)
        root.geometry(args.geometry)
        Probe(root, out)
        root.mainloop()


if __name__ == "__main__":
    main()
