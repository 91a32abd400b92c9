"""The supplier form's colour code, shared by the Tk app and the scripted policies that look for it.

Each patch is a saturated colour that window managers, terminals and Tk's greys do not use, and
every pair differs by at least 80 on some channel. So a tolerance of 32 still tells them apart in
a downscaled screenshot, where edges blend into their neighbours.
"""

from __future__ import annotations

from typing import TypeAlias

RGB: TypeAlias = tuple[int, int, int]

COMPANY: RGB = (236, 0, 140)  # hot pink
EMAIL: RGB = (0, 168, 80)  # green
COUNTRY: RGB = (255, 150, 0)  # orange
NOTES: RGB = (0, 110, 255)  # azure
SUBMIT: RGB = (120, 0, 200)  # violet
SUBMITTED: RGB = (0, 215, 200)  # turquoise: the confirmation banner
DIALOG_OK: RGB = (250, 240, 0)  # yellow: the OK button of the form's surprise dialog

COLOUR_NAMES: dict[RGB, str] = {
    COMPANY: "hot pink",
    EMAIL: "green",
    COUNTRY: "orange",
    NOTES: "azure",
    SUBMIT: "violet",
    SUBMITTED: "turquoise",
    DIALOG_OK: "yellow",
}


def hex_colour(rgb: RGB) -> str:
    """Return `rgb` as Tk and humans write it, e.g. `#ec008c`."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def describe(rgb: RGB) -> str:
    """Return a colour's name and hex code, e.g. `hot pink (#ec008c)`, for messages."""
    name = COLOUR_NAMES.get(rgb)
    return f"{name} ({hex_colour(rgb)})" if name else hex_colour(rgb)
