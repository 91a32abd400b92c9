"""The Desktop protocol (screen-pixel coordinates) and FakeDesktop, a deterministic stand-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Button = Literal["left", "right", "middle"]
ScrollDirection = Literal["up", "down", "left", "right"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One raw capture: BGRA bytes as mss returns them, plus the size in screen pixels."""

    width: int
    height: int
    bgra: bytes


@dataclass(frozen=True, slots=True)
class Window:
    """The window that has the keyboard focus, as X names it (empty strings when unknown)."""

    wm_class: str = ""  # the class part of WM_CLASS, e.g. "XTerm"
    instance: str = ""  # the instance part of WM_CLASS, e.g. "xterm"
    title: str = ""  # _NET_WM_NAME, else WM_NAME


class Desktop(Protocol):
    """What the loop needs from a screen. All coordinates are real screen pixels."""

    def size(self) -> tuple[int, int]: ...
    def capture(self) -> Frame: ...
    def cursor_position(self) -> tuple[int, int]: ...
    def move(self, x: int, y: int) -> None: ...
    def click(self, x: int | None, y: int | None, *, button: Button = "left", count: int = 1,
              modifiers: str | None = None) -> None: ...
    def drag(self, start: tuple[int, int], end: tuple[int, int], *,
             modifiers: str | None = None) -> None: ...
    def mouse_down(self, x: int | None, y: int | None, *, button: Button = "left") -> None: ...
    def mouse_up(self, x: int | None, y: int | None, *, button: Button = "left") -> None: ...
    def scroll(self, x: int | None, y: int | None, *, direction: ScrollDirection, amount: int,
               modifiers: str | None = None) -> None: ...
    def key(self, chord: str, *, repeat: int = 1) -> None: ...
    def hold_key(self, chord: str, *, seconds: float) -> None: ...
    def type_text(self, text: str) -> None: ...
    def focused_window(self) -> Window: ...
    def release_all(self) -> None: ...
    def close(self) -> None: ...


class FakeDesktop:
    """A deterministic in-memory desktop: a fixed image, a pointer, and a list of calls made.

    Satisfies `Desktop` without X, for tests of the loop and for trying cua without a display.
    """

    def __init__(self, width: int = 1920, height: int = 1080, *,
                 rgb: tuple[int, int, int] = (40, 44, 52)) -> None:
        from PIL import Image

        self.image = Image.new("RGB", (width, height), rgb)
        self.pointer = (0, 0)
        self.calls: list[tuple[object, ...]] = []
        self.held: set[str] = set()
        self.released_all = 0
        self.window = Window()

    def size(self) -> tuple[int, int]:
        return self.image.size

    def capture(self) -> Frame:
        w, h = self.image.size
        return Frame(w, h, self.image.tobytes("raw", "BGRX"))

    def cursor_position(self) -> tuple[int, int]:
        return self.pointer

    def _at(self, x: int | None, y: int | None) -> tuple[int, int]:
        if x is not None and y is not None:
            self.pointer = (x, y)
        return self.pointer

    def move(self, x: int, y: int) -> None:
        self.calls.append(("move", self._at(x, y)))

    def click(self, x: int | None, y: int | None, *, button: Button = "left", count: int = 1,
              modifiers: str | None = None) -> None:
        self.calls.append(("click", self._at(x, y), button, count, modifiers))

    def drag(self, start: tuple[int, int], end: tuple[int, int], *,
             modifiers: str | None = None) -> None:
        self.pointer = end
        self.calls.append(("drag", start, end, modifiers))

    def mouse_down(self, x: int | None, y: int | None, *, button: Button = "left") -> None:
        self.held.add(button)
        self.calls.append(("mouse_down", self._at(x, y), button))

    def mouse_up(self, x: int | None, y: int | None, *, button: Button = "left") -> None:
        self.held.discard(button)
        self.calls.append(("mouse_up", self._at(x, y), button))

    def scroll(self, x: int | None, y: int | None, *, direction: ScrollDirection, amount: int,
               modifiers: str | None = None) -> None:
        self.calls.append(("scroll", self._at(x, y), direction, amount, modifiers))

    def key(self, chord: str, *, repeat: int = 1) -> None:
        self.calls.append(("key", chord, repeat))

    def hold_key(self, chord: str, *, seconds: float) -> None:
        self.calls.append(("hold_key", chord, seconds))

    def type_text(self, text: str) -> None:
        self.calls.append(("type", text))

    def focused_window(self) -> Window:
        return self.window

    def release_all(self) -> None:
        self.held.clear()
        self.released_all += 1

    def close(self) -> None:
        self.release_all()
