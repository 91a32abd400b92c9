"""A small Tk "Supplier form" for demos and display tests: four colour-coded fields and a Submit.

Run it as `python -m claude_cua.cli.demo.supplier_form --out FILE.json`. Submit writes the field
values to FILE.json (UTF-8, atomically) and shows a large "Submitted" banner. The colours come from
`colours.py`, so scripted policies find each field in a screenshot without knowing the layout.

Geometry is fixed (see the constants) and the entries are large, so each patch stays about 400x40
pixels even when a 1920x1080 screen is sent to the model at 1456x819.

Variants for replay tests (`Variant`): `--offset DX,DY` moves every field and the Submit button;
`--slow SECONDS` draws the fields that long after the window appears and shows the banner that
long after Submit; `--dialog-after-clicks N` opens a small dialog (focused, on top, a yellow OK
button that closes it) after the Nth click into a field.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import tkinter as tk
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import colours
from .colours import RGB, hex_colour

TITLE = "Supplier form"
WINDOW_X, WINDOW_Y = 40, 40
WINDOW_W, WINDOW_H = 760, 600
ENTRY_X, ENTRY_W, ENTRY_H = 190, 540, 56
ROW_Y = (80, 160, 240, 320)  # top of each field's entry, inside the window
SUBMIT_BOX = (190, 410, 220, 64)  # x, y, width, height inside the window
BANNER_BOX = (24, 500, 712, 76)

BACKGROUND = "#f2f2f2"
FONT = ("DejaVu Sans", 14)
BOLD = ("DejaVu Sans", 16, "bold")

# (JSON key, label, entry colour), top to bottom.
FIELDS: tuple[tuple[str, str, RGB], ...] = (
    ("company", "Company", colours.COMPANY),
    ("email", "Contact email", colours.EMAIL),
    ("country", "Country", colours.COUNTRY),
    ("notes", "Notes", colours.NOTES),
)


DIALOG_TITLE = "Supplier form: notice"


@dataclass(frozen=True, slots=True)
class Variant:
    """How this run of the form differs from the standard one (all off by default)."""

    offset: tuple[int, int] = (0, 0)  # moves the fields and the Submit button, in pixels
    slow_s: float = 0.0  # delay before the fields are drawn, and before the banner shows
    dialog_after_clicks: int | None = None  # open the notice after this many field clicks


def save_atomically(values: Mapping[str, str], *, out: Path) -> None:
    """Write `values` as UTF-8 JSON to `out` via a temp file and a rename: never half a file."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(dict(values), f, ensure_ascii=False, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _focus_on_click(event: tk.Event[tk.Entry]) -> None:
    # Without a window manager nobody gives the window keyboard focus; take it explicitly so
    # typing after a click lands in this entry.
    event.widget.focus_force()


def _add_field(root: tk.Tk, *, label: str, colour: RGB, y: int, dx: int = 0) -> tk.Entry:
    tk.Label(root, text=label, font=FONT, bg=BACKGROUND, anchor="w").place(
        x=24 + dx, y=y, width=ENTRY_X - 30, height=ENTRY_H
    )
    colour_hex = hex_colour(colour)
    entry = tk.Entry(
        root,
        font=FONT,
        bg=colour_hex,
        fg="white",
        insertbackground="white",
        selectbackground="black",
        relief="flat",
        highlightthickness=3,
        highlightcolor="black",
        highlightbackground=BACKGROUND,
    )
    entry.place(x=ENTRY_X + dx, y=y, width=ENTRY_W, height=ENTRY_H)
    entry.bind("<Button-1>", _focus_on_click)
    return entry


def _open_dialog(root: tk.Tk) -> None:
    """A small focused notice on top of the form, closed by its yellow OK button."""
    dialog = tk.Toplevel(root, bg="white")
    dialog.title(DIALOG_TITLE)
    dialog.geometry(f"420x200+{WINDOW_X + 170}+{WINDOW_Y + 120}")
    tk.Label(dialog, text="Your session will expire soon.", font=FONT, bg="white").place(
        x=20, y=30)
    ok = hex_colour(colours.DIALOG_OK)
    tk.Button(dialog, text="OK", font=BOLD, bg=ok, activebackground=ok, relief="flat", bd=0,
              highlightthickness=0, command=dialog.destroy).place(x=150, y=110, width=120,
                                                                  height=56)
    dialog.transient(root)
    dialog.lift()
    dialog.focus_force()


def build_form(root: tk.Tk, *, out: Path, variant: Variant = Variant()) -> None:
    """Lay out the form in `root`; Submit saves to `out` and shows the banner."""
    root.title(TITLE)
    root.geometry(f"{WINDOW_W}x{WINDOW_H}+{WINDOW_X}+{WINDOW_Y}")
    root.resizable(False, False)
    root.configure(bg=BACKGROUND)
    tk.Label(root, text=TITLE, font=("DejaVu Sans", 20, "bold"), bg=BACKGROUND).place(x=24, y=16)
    if variant.slow_s:
        root.after(round(variant.slow_s * 1000),
                   lambda: _build_fields(root, out=out, variant=variant))
    else:
        _build_fields(root, out=out, variant=variant)
    # Take the keyboard focus once drawn (no window manager may give it), but never from a
    # field a click has focused in the meantime: that would swallow the typing that follows.
    root.after(200, lambda: root.focus_get() is None and root.focus_force())


def _build_fields(root: tk.Tk, *, out: Path, variant: Variant) -> None:
    dx, dy = variant.offset
    entries = {
        key: _add_field(root, label=label, colour=rgb, y=y + dy, dx=dx)
        for (key, label, rgb), y in zip(FIELDS, ROW_Y, strict=True)
    }
    if variant.dialog_after_clicks is not None:
        clicks = [0]

        def count_click(event: tk.Event[tk.Entry]) -> None:
            clicks[0] += 1
            if clicks[0] == variant.dialog_after_clicks:
                _open_dialog(root)  # at once: the screen settles with the dialog on it

        for entry in entries.values():
            entry.bind("<Button-1>", count_click, add="+")
    banner = tk.Label(
        root,
        text="Submitted",
        font=("DejaVu Sans", 28, "bold"),
        fg="black",
        bg=hex_colour(colours.SUBMITTED),
    )

    def show_banner() -> None:
        x, y, w, h = BANNER_BOX
        banner.place(x=x, y=y, width=w, height=h)

    def submit() -> None:
        save_atomically({key: entry.get() for key, entry in entries.items()}, out=out)
        if variant.slow_s:
            root.after(round(variant.slow_s * 1000), show_banner)
        else:
            show_banner()

    violet = hex_colour(colours.SUBMIT)
    # activebackground matches, or the button turns grey while the pointer rests on it and its
    # colour vanishes from the screenshot.
    button = tk.Button(
        root,
        text="Submit",
        font=BOLD,
        command=submit,
        fg="white",
        bg=violet,
        activebackground=violet,
        activeforeground="white",
        relief="flat",
        bd=0,
        highlightthickness=0,
    )
    x, y, w, h = SUBMIT_BOX
    button.place(x=x + dx, y=y + dy, width=w, height=h)


def main(argv: Sequence[str] | None = None) -> int:
    """Show the form until its window is closed."""
    parser = argparse.ArgumentParser(description="A colour-coded supplier form for cua demos.")
    parser.add_argument("--out", type=Path, required=True, help="where Submit writes its JSON")
    parser.add_argument("--offset", default="0,0", metavar="DX,DY",
                        help="move the fields and Submit by this many pixels")
    parser.add_argument("--slow", type=float, default=0.0, metavar="SECONDS",
                        help="draw the fields, and the banner after Submit, this much later")
    parser.add_argument("--dialog-after-clicks", type=int, default=None, metavar="N",
                        help="open a focused notice after the Nth click into a field")
    args = parser.parse_args(argv)
    dx, _, dy = args.offset.partition(",")
    variant = Variant((int(dx), int(dy or 0)), args.slow, args.dialog_after_clicks)
    root = tk.Tk()
    build_form(root, out=args.out.resolve(), variant=variant)
    root.mainloop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
