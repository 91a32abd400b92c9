"""A Tk window whose buttons make things come and go, as ground truth for the watcher's tests.

Run: python tests/apps/transients.py --log FILE.jsonl [--timings D:T,D:T,...] [--spinner]

Colour-coded buttons (colours from claude_cua.cli.demo.colours, so policies find them):
  COMPANY (pink)  a toast: an override-redirect window titled "Saved N" shown T seconds,
                  D seconds after the click (N counts toasts from 1);
  EMAIL (green)   a flash: the status label turns red with "Invalid N" for T seconds, D later;
  COUNTRY (orange) a dialog: a managed window titled "Confirm N" that opens D later and
                  closes T after;
  NOTES (azure)   nothing at all (a click that changes nothing).
An entry below has the focus and a blinking caret. `--spinner` adds a square that changes
colour every 50 ms forever. Each click takes the next D:T pair of --timings (cycling).

Every line of FILE is one JSON object, flushed at once:
  {"event": "ready"}
  {"event": "shown", "kind": "toast"|"flash"|"dialog", "text": ..., "shown_s": ...,
   "hidden_s": ...}  (times on this process's monotonic clock, when Tk was told)
"""

from __future__ import annotations

import argparse
import json
import time
import tkinter as tk

from claude_cua.cli.demo import colours
from claude_cua.cli.demo.colours import hex_colour

TOAST_AT = (900, 700)  # root coordinates of toasts
FLASH_BG = "#ff2020"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--timings", default="0.05:0.3")
    parser.add_argument("--spinner", action="store_true")
    args = parser.parse_args()
    timings = [tuple(float(v) for v in pair.split(":")) for pair in args.timings.split(",")]
    log = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 - open for the app's life

    def write(**event: object) -> None:
        log.write(json.dumps(event) + "\n")
        log.flush()

    root = tk.Tk()
    root.title("Transients")
    root.geometry("700x420+40+40")
    root.configure(bg="#f2f2f2")
    counts = {"toast": 0, "flash": 0, "dialog": 0}
    clicks = [0]

    def next_timing() -> tuple[float, float]:
        pair = timings[clicks[0] % len(timings)]
        clicks[0] += 1
        return pair[0], pair[1]

    def later(seconds: float, fn) -> None:
        root.after(max(1, round(seconds * 1000)), fn)

    def toast() -> None:
        delay, shown = next_timing()
        counts["toast"] += 1
        text = f"Saved {counts['toast']}"

        def show() -> None:
            window = tk.Toplevel(root)
            window.overrideredirect(True)
            window.title(text)
            window.geometry(f"220x60+{TOAST_AT[0]}+{TOAST_AT[1]}")
            tk.Label(window, text=text, bg=hex_colour(colours.SUBMITTED), fg="black",
                     font=("DejaVu Sans", 16)).pack(fill="both", expand=True)
            window.update_idletasks()
            t0 = time.monotonic()

            def hide() -> None:
                window.destroy()
                write(event="shown", kind="toast", text=text, shown_s=t0,
                      hidden_s=time.monotonic())

            later(shown, hide)

        later(delay, show)

    status = tk.Label(root, text="All good", bg="#f2f2f2", font=("DejaVu Sans", 16), width=14)

    def flash() -> None:
        delay, shown = next_timing()
        counts["flash"] += 1
        text = f"Invalid {counts['flash']}"

        def show() -> None:
            status.configure(text=text, bg=FLASH_BG)
            t0 = time.monotonic()

            def hide() -> None:
                status.configure(text="All good", bg="#f2f2f2")
                write(event="shown", kind="flash", text=text, shown_s=t0,
                      hidden_s=time.monotonic())

            later(shown, hide)

        later(delay, show)

    def dialog() -> None:
        delay, shown = next_timing()
        counts["dialog"] += 1
        text = f"Confirm {counts['dialog']}"

        def show() -> None:
            window = tk.Toplevel(root)
            window.title(text)
            window.geometry("300x120+300+300")
            tk.Label(window, text="Working...").pack(expand=True)
            t0 = time.monotonic()

            def hide() -> None:
                window.destroy()
                write(event="shown", kind="dialog", text=text, shown_s=t0,
                      hidden_s=time.monotonic())

            later(shown, hide)

        later(delay, show)

    row = tk.Frame(root, bg="#f2f2f2")
    row.pack(pady=20)
    for rgb, command in ((colours.COMPANY, toast), (colours.EMAIL, flash),
                         (colours.COUNTRY, dialog), (colours.NOTES, lambda: None)):
        tk.Button(row, bg=hex_colour(rgb), activebackground=hex_colour(rgb), width=8, height=3,
                  relief="flat", command=command).pack(side="left", padx=12)
    status.pack(pady=20)
    entry = tk.Entry(root, font=("DejaVu Sans", 16), width=30)
    entry.pack(pady=10)
    entry.insert(0, "focused entry")
    if args.spinner:
        spinner = tk.Canvas(root, width=40, height=40, bg="#000000", highlightthickness=0)
        spinner.pack(pady=10)
        shades = ["#000000", "#404040", "#808080", "#c0c0c0"]
        tick = [0]

        def spin() -> None:
            tick[0] += 1
            spinner.configure(bg=shades[tick[0] % len(shades)])
            root.after(50, spin)

        spin()

    def ready() -> None:
        entry.focus_force()
        write(event="ready")

    root.after(200, ready)
    root.mainloop()


if __name__ == "__main__":
    main()
