"""Is the screen where the recording was? Pure comparisons for `--replay`.

Both pictures are in model space: the recorded screenshot Claude saw (stored at the model size)
and the current capture scaled exactly as it would be sent. Points come in screen pixels and are
mapped with the recording's `ScreenSpace`.

The comparison works on grey cells: a region is cropped, turned grey and box-averaged into cells
of `cell` model pixels, and a cell counts as changed when its mean grey level moved by more than
`cell_diff`. Averaging absorbs anti-aliasing and a blinking caret (a 1-2 pixel line moves a
4x4 cell's mean by well under half of what a real edge does, and touches a handful of cells);
counting changed cells, not summing differences, keeps a big but harmless change in one corner
(a panel clock) from adding up with noise elsewhere.

The region around a target is compared at the same offset only, never searched for nearby:
a field that moved by 30 pixels still looks like itself 30 pixels away, and a comparison that
tolerated the shift would then click the recorded point, which is no longer on it. `shift_of`
searches only to say, in the reason, where the target seems to have gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops

from ..vocab.actions import ScreenSpace
from ..vocab.desktop import Window

Point = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How much may differ. Defaults measured on the supplier form and xterm: see
    tests/test_replay_match.py and benchmarks/replay.py."""

    patch: int = 96  # side of the region compared around a target, in model pixels
    cell: int = 4  # model pixels per cell in a target region
    cell_diff: int = 40  # grey levels a cell's mean may move and still count as the same
    max_changed: float = 0.03  # share of a target region's cells that may change
    screen_cell: int = 16  # model pixels per cell when the whole screen is compared
    screen_max_changed: float = 0.01  # share of the screen's cells that may change


DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True, slots=True)
class Match:
    """The verdict for one step: a score (the share of compared cells that agree, worst
    region) and, when it is not a match, why in words."""

    score: float
    reason: str = ""

    @property
    def is_match(self) -> bool:
        return not self.reason


def grey_cells(image: Image.Image, box: tuple[int, int, int, int], cell: int) -> Image.Image:
    """The box of `image` as grey cells of `cell` pixels (box-averaged; the last row and
    column average what is left). About 9 ms for a whole 1920x1080 screen in 16-pixel cells."""
    if box != (0, 0, *image.size):  # cropping to the whole image would copy it for nothing
        image = image.crop(box)
    return image.convert("L").reduce(cell)


def changed_share(a: Image.Image, b: Image.Image, cell_diff: int) -> float:
    """The share of cells whose grey level differs by more than `cell_diff`."""
    diff = ImageChops.difference(a, b).point(lambda v: 255 if v > cell_diff else 0)
    changed = diff.histogram()[255]
    return changed / (diff.width * diff.height)


def patch_box(point: Point, size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """A `side`-square box centred on `point`, shifted to stay inside an image of `size`."""
    w, h = min(side, size[0]), min(side, size[1])
    left = min(max(point[0] - w // 2, 0), size[0] - w)
    top = min(max(point[1] - h // 2, 0), size[1] - h)
    return left, top, left + w, top + h


def compare_region(recorded: Image.Image, current: Image.Image, point: Point,
                   tol: Tolerance = DEFAULT_TOLERANCE) -> float:
    """Share of changed cells in the region around `point` (model pixels), same offset."""
    box = patch_box(point, recorded.size, tol.patch)
    return changed_share(grey_cells(recorded, box, tol.cell), grey_cells(current, box, tol.cell),
                         tol.cell_diff)


def screen_cells(image: Image.Image, tol: Tolerance = DEFAULT_TOLERANCE) -> Image.Image:
    """The whole picture as the grey cells `compare_screen` compares (computable ahead)."""
    return grey_cells(image, (0, 0, *image.size), tol.screen_cell)


def compare_screen(recorded: Image.Image, current: Image.Image,
                   tol: Tolerance = DEFAULT_TOLERANCE, *,
                   recorded_cells: Image.Image | None = None) -> float:
    """Share of changed cells over the whole screen."""
    if recorded_cells is None:
        recorded_cells = screen_cells(recorded, tol)
    return changed_share(recorded_cells, screen_cells(current, tol), tol.cell_diff)


def shift_of(recorded: Image.Image, current: Image.Image, point: Point,
             tol: Tolerance = DEFAULT_TOLERANCE, reach: int = 64) -> Point | None:
    """Where the recorded region around `point` best matches the current picture within
    `reach` model pixels, if it matches somewhere else clearly (its neighbours may not have
    moved with it, hence the looser bound); for messages only."""
    box = patch_box(point, recorded.size, tol.patch)
    want = grey_cells(recorded, box, tol.cell)
    best: tuple[float, int, Point] | None = None  # ties go to the smallest move
    for dy in range(-reach, reach + 1, tol.cell):
        for dx in range(-reach, reach + 1, tol.cell):
            moved = (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
            if moved[0] < 0 or moved[1] < 0 or moved[2] > current.width or (
                    moved[3] > current.height):
                continue
            share = changed_share(want, grey_cells(current, moved, tol.cell), tol.cell_diff)
            candidate = (share, abs(dx) + abs(dy), (dx, dy))
            if best is None or candidate < best:
                best = candidate
    if best is None or best[0] > 3 * tol.max_changed or best[2] == (0, 0):
        return None
    return best[2]


def same_window(recorded: Window | None, current: Window) -> bool:
    """The focused window is the recorded one: same class and title (None: not recorded)."""
    if recorded is None:
        return True
    return (recorded.wm_class, recorded.title) == (current.wm_class, current.title)


def compare_step(recorded: Image.Image, current: Image.Image, targets: Sequence[Point], *,
                 space: ScreenSpace, tol: Tolerance = DEFAULT_TOLERANCE,
                 recorded_cells: Image.Image | None = None) -> Match:
    """Does `current` show what `recorded` showed, around each target (screen pixels) and over
    the whole screen? Both images are model-size; `recorded_cells`, if given, is
    `screen_cells(recorded)` computed ahead."""
    if recorded.size != current.size:
        return Match(0.0, f"the screenshot is {current.width}x{current.height}, the recording's "
                          f"{recorded.width}x{recorded.height}")
    worst = compare_screen(recorded, current, tol, recorded_cells=recorded_cells)
    if worst > tol.screen_max_changed:
        return Match(round(1 - worst, 4), f"{worst:.1%} of the screen differs from the "
                                          "recording (a dialog, another window, a new layout)")
    for point in targets:
        at = space.to_model(*point)
        share = compare_region(recorded, current, at, tol)
        worst = max(worst, share)
        if share > tol.max_changed:
            moved = shift_of(recorded, current, at, tol)
            where = (f"; it seems to have moved by about ({moved[0]:+d}, {moved[1]:+d}) px"
                     if moved else "")
            return Match(round(1 - worst, 4),
                         f"around the target at screen ({point[0]}, {point[1]}), {share:.0%} of "
                         f"the region differs from the recording{where}")
    return Match(round(1 - worst, 4))
