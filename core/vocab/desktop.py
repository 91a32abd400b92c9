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
    `fail(method, error)` makes a method raise, the way a real desktop fails mid-run.
    """

    def __init__(self, width: int = 1920, height: int = 1080, *,
                 rgb: tuple[int, int, int] = (40, 44, 52)) -> None:
        # Imported here: slow to import; only this path pays for it (start-up time).
        from PIL import Image

        self.image = Image.new("RGB", (width, height), rgb)
        self.pointer = (0, 0)
        self.calls: list[tuple[object, ...]] = []
        self.held: set[str] = set()
        self.released_all = 0
        self.window = Window()
        self._failures: dict[str, tuple[BaseException, int]] = {}

    @classmethod
    def from_spec(cls, spec: str) -> FakeDesktop:
        """The desktop `cua run --desktop SPEC` (hidden; for tests) asks for:
        `fake[:WxH][:window=CLASS[/TITLE]][:fail=METHOD[@N]]`, e.g. `fake:1280x800:fail=click@1`
        (the second click raises DesktopError); `crash=METHOD[@N]` raises RuntimeError instead,
        as a bug in cua would."""
        # Imported here: keeps importing this module light (start-up time).
        from ..errors import ConfigError, DesktopError

        kind, *parts = spec.split(":")
        if kind != "fake":
            raise ConfigError(f"--desktop {spec!r}: only "
                              "fake[:WxH][:window=C][:fail=M[@N]][:crash=M[@N]]")
        size, window, failures = (1920, 1080), Window(), []
        try:
            for part in parts:
                name, _, value = part.partition("=")
                if name == "window":
                    wm_class, _, title = value.partition("/")
                    window = Window(wm_class, wm_class.lower(), title)
                elif name in ("fail", "crash"):
                    method, _, after = value.partition("@")
                    failures.append((method, int(after or 0), name == "crash"))
                else:
                    width, height = (int(v) for v in part.lower().split("x"))
                    size = (width, height)
            desktop = cls(*size)
            desktop.window = window
            for method, after, is_bug in failures:
                error: Exception = (
                    RuntimeError(f"the fake desktop's {method} crashed (as asked)") if is_bug
                    else DesktopError(f"the fake desktop's {method} failed (as asked)"))
                desktop.fail(method, error, after=after)
        except ValueError as exc:
            raise ConfigError(f"--desktop {spec!r}: {exc}") from exc
        return desktop

    def fail(self, method: str, error: BaseException, *, after: int = 0) -> None:
        """From its `after`+1-th call on, `method` (e.g. "type_text", "click", "capture")
        raises `error` instead of doing anything."""
        if not callable(getattr(self, method, None)):
            raise ValueError(f"FakeDesktop has no method {method!r}")
        self._failures[method] = (error, after)

    def _call(self, method: str) -> None:
        if method in self._failures:
            error, remaining = self._failures[method]
            if remaining <= 0:
                raise error
            self._failures[method] = (error, remaining - 1)

    def size(self) -> tuple[int, int]:
        return self.image.size

    def capture(self) -> Frame:
        self._call("capture")
        w, h = self.image.size
        return Frame(w, h, self.image.tobytes("raw", "BGRX"))

    def cursor_position(self) -> tuple[int, int]:
        self._call("cursor_position")
        return self.pointer

    def _at(self, x: int | None, y: int | None) -> tuple[int, int]:
        if x is not None and y is not None:
            self.pointer = (x, y)
        return self.pointer

    def move(self, x: int, y: int) -> None:
        self._call("move")
        self.calls.append(("move", self._at(x, y)))

    def click(self, x: int | None, y: int | None, *, button: Button = "left", count: int = 1,
              modifiers: str | None = None) -> None:
        self._call("click")
        self.calls.append(("click", self._at(x, y), button, count, modifiers))

    def drag(self, start: tuple[int, int], end: tuple[int, int], *,
             modifiers: str | None = None) -> None:
        self._call("drag")
        self.pointer = end
        self.calls.append(("drag", start, end, modifiers))

    def mouse_down(self, x: int | None, y: int | None, *, button: Button = "left") -> None:
        self._call("mouse_down")
        self.held.add(button)
        self.calls.append(("mouse_down", self._at(x, y), button))

    def mouse_up(self, x: int | None, y: int | None, *, button: Button = "left") -> None:
        self._call("mouse_up")
        self.held.discard(button)
        self.calls.append(("mouse_up", self._at(x, y), button))

    def scroll(self, x: int | None, y: int | None, *, direction: ScrollDirection, amount: int,
               modifiers: str | None = None) -> None:
        self._call("scroll")
        self.calls.append(("scroll", self._at(x, y), direction, amount, modifiers))

    def key(self, chord: str, *, repeat: int = 1) -> None:
        self._call("key")
        self.calls.append(("key", chord, repeat))

    def hold_key(self, chord: str, *, seconds: float) -> None:
        self._call("hold_key")
        self.calls.append(("hold_key", chord, seconds))

    def type_text(self, text: str) -> None:
        self._call("type_text")
        self.calls.append(("type", text))

    def focused_window(self) -> Window:
        self._call("focused_window")
        return self.window

    def window_at(self, x: int, y: int) -> Window:
        """The window at a point: on the fake desktop, the one window it has."""
        self._call("window_at")
        return self.window

    def release_all(self) -> None:
        self._call("release_all")
        self.held.clear()
        self.released_all += 1

    def close(self) -> None:
        # Imported here: keeps importing this module light (start-up time).
        import contextlib

        from ..errors import DesktopError

        with contextlib.suppress(DesktopError):  # as XDesktop.close: the display may be gone
            self.release_all()
