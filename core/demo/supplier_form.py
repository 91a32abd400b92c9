"""A small Tk "Supplier form" for demos and display tests: four colour-coded fields and a Submit.

Run it as `python -m claude_cua.core.demo.supplier_form --out FILE.json`. Submit writes the field
values to FILE.json (UTF-8, atomically) and shows a large "Submitted" banner. The colours come from
`colours.py`, so scripted policies find each field in a screenshot without knowing the layout.

Geometry is fixed (see the constants) and the entries are large, so each patch stays about 400x40
pixels even when a 1920x1080 screen is sent to the model at 1456x819.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import tkinter as tk
from collections.abc import Mapping, Sequence
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


def _add_field(root: tk.Tk, *, label: str, colour: RGB, y: int) -> tk.Entry:
    tk.Label(root, text=label, font=FONT, bg=BACKGROUND, anchor="w").place(
        x=24, y=y, width=ENTRY_X - 30, height=ENTRY_H
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
    entry.place(x=ENTRY_X, y=y, width=ENTRY_W, height=ENTRY_H)
    entry.bind("<Button-1>", _focus_on_click)
    return entry


def build_form(root: tk.Tk, *, out: Path) -> None:
    """Lay out the form in `root`; Submit saves to `out` and shows the banner."""
    root.title(TITLE)
    root.geometry(f"{WINDOW_W}x{WINDOW_H}+{WINDOW_X}+{WINDOW_Y}")
    root.resizable(False, False)
    root.configure(bg=BACKGROUND)
    tk.Label(root, text=TITLE, font=("DejaVu Sans", 20, "bold"), bg=BACKGROUND).place(x=24, y=16)
    entries = {
        key: _add_field(root, label=label, colour=rgb, y=y)
        for (key, label, rgb), y in zip(FIELDS, ROW_Y, strict=True)
    }
    banner = tk.Label(
        root,
        text="Submitted",
        font=("DejaVu Sans", 28, "bold"),
        fg="black",
        bg=hex_colour(colours.SUBMITTED),
    )

    def submit() -> None:
        save_atomically({key: entry.get() for key, entry in entries.items()}, out=out)
        x, y, w, h = BANNER_BOX
        banner.place(x=x, y=y, width=w, height=h)

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
    button.place(x=x, y=y, width=w, height=h)
    root.after(200, root.focus_force)


def main(argv: Sequence[str] | None = None) -> int:
    """Show the form until its window is closed."""
    parser = argparse.ArgumentParser(description="A colour-coded supplier form for cua demos.")
    parser.add_argument("--out", type=Path, required=True, help="where Submit writes its JSON")
    args = parser.parse_args(argv)
    root = tk.Tk()
    build_form(root, out=args.out.resolve())
    root.mainloop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
