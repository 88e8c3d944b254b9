"""Redaction boxes and their mapping onto 8x8 DCT blocks.

Planning happens before any coefficient is read (as in libjpeg-turbo's ``transupp.c``):
a box in image pixels becomes, for every component of a JPEG frame, the set of 8x8
blocks whose pixel footprint intersects the box. Rounding is always *outward*, so the
whole requested area is covered in every component, chroma included.

The footprint of a component block follows ITU-T T.81 A.1.1: a component with sampling
factors ``(H, V)`` in a frame whose largest factors are ``(Hmax, Vmax)`` has one sample per
``Hmax / H`` by ``Vmax / V`` image pixels, so block column ``b`` covers image columns
``[8 b Hmax / H, 8 (b + 1) Hmax / H)``. All arithmetic below is exact integer arithmetic,
so non-integral ratios (e.g. ``H = 2`` with ``Hmax = 3``) are handled too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import GeometryError

__all__ = [
    "Box",
    "ComponentGeometry",
    "FrameGeometry",
    "boxes_mask",
    "parse_box",
    "plan_blocks",
]


@dataclass(frozen=True, order=True)
class Box:
    """A rectangle in image pixel coordinates: columns ``[x, x + w)``, rows ``[y, y + h)``.

    Parameters
    ----------
    x, y : int
        Top-left corner (column, row), 0-based.
    w, h : int
        Width and height in pixels (>= 0).
    source : str
        What produced the box: ``"explicit"``, ``"ocr"``, ``"rules"``, ``"us-regions"``.
    confidence : float or None
        Detector confidence in percent, when the detector has one.
    """

    x: int
    y: int
    w: int
    h: int
    source: str = field(default="explicit", compare=False)
    confidence: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.w < 0 or self.h < 0:
            raise GeometryError(
                f"box ({self.x},{self.y},{self.w},{self.h}) has a negative size; "
                "expected width and height >= 0"
            )

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x + self.w

    @property
    def y1(self) -> int:
        """One past the last row."""
        return self.y + self.h

    @property
    def area(self) -> int:
        """Area in pixels."""
        return self.w * self.h

    def is_empty(self) -> bool:
        """True when the box covers no pixel."""
        return self.w == 0 or self.h == 0

    def clip(self, columns: int, rows: int) -> Box:
        """Return the part of the box inside a ``columns`` x ``rows`` image (maybe empty)."""
        x0 = min(max(self.x, 0), columns)
        y0 = min(max(self.y, 0), rows)
        x1 = min(max(self.x1, 0), columns)
        y1 = min(max(self.y1, 0), rows)
        return Box(x0, y0, x1 - x0, y1 - y0, self.source, self.confidence)

    def pad(self, pixels: int) -> Box:
        """Return the box grown by `pixels` on every side (not clipped)."""
        return Box(
            self.x - pixels,
            self.y - pixels,
            self.w + 2 * pixels,
            self.h + 2 * pixels,
            self.source,
            self.confidence,
        )

    def intersects(self, other: Box) -> bool:
        """True when the two boxes share at least one pixel."""
        return self.x < other.x1 and other.x < self.x1 and self.y < other.y1 and other.y < self.y1

    def union(self, other: Box) -> Box:
        """The smallest box holding both boxes."""
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1, y1 = max(self.x1, other.x1), max(self.y1, other.y1)
        return Box(x0, y0, x1 - x0, y1 - y0, self.source, self.confidence)

    def scaled(self, sx: float, sy: float) -> Box:
        """Return the box scaled by (sx, sy), rounded outward."""
        x0 = math.floor(self.x * sx)
        y0 = math.floor(self.y * sy)
        x1 = math.ceil(self.x1 * sx)
        y1 = math.ceil(self.y1 * sy)
        return Box(x0, y0, x1 - x0, y1 - y0, self.source, self.confidence)

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)``."""
        return (self.x, self.y, self.w, self.h)

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


def boxes_mask(boxes: Iterable[Box], rows: int, columns: int) -> npt.NDArray[np.bool_]:
    """The pixels of a ``rows`` x ``columns`` image inside any of `boxes` (clipped)."""
    mask = np.zeros((rows, columns), dtype=bool)
    for b in boxes:
        c = b.clip(columns, rows)
        mask[c.y : c.y1, c.x : c.x1] = True
    return mask


def parse_box(text: str) -> Box:
    """Parse ``"x,y,w,h"`` (integers; spaces allowed) into an explicit :class:`Box`.

    Raises
    ------
    GeometryError
        When the text is not four integers or the size is negative.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise GeometryError(f"box {text!r} must be four integers 'x,y,w,h'")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise GeometryError(f"box {text!r} must be four integers 'x,y,w,h'") from None
    return Box(x, y, w, h, "explicit")


@dataclass(frozen=True)
class ComponentGeometry:
    """The block grid of one JPEG component.

    Attributes
    ----------
    h, v : int
        Horizontal and vertical sampling factors (1..4).
    width, height : int
        Component dimensions in samples (T.81 A.1.1: ``ceil(X * H / Hmax)``).
    blocks_wide, blocks_high : int
        Blocks that carry image data: ``ceil(width / 8)``, ``ceil(height / 8)``.
    alloc_wide, alloc_high : int
        Blocks stored for the component, including the dummy blocks that pad the last
        MCU of an interleaved scan.
    """

    h: int
    v: int
    width: int
    height: int
    blocks_wide: int
    blocks_high: int
    alloc_wide: int
    alloc_high: int


@dataclass(frozen=True)
class FrameGeometry:
    """Dimensions and sampling of a JPEG frame (from its SOF segment).

    Parameters
    ----------
    columns, rows : int
        Image width ``X`` and height ``Y`` in pixels.
    sampling : sequence of (H, V)
        Sampling factors, one pair per component, in frame order.
    """

    columns: int
    rows: int
    sampling: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        # A hashable, immutable sampling (plans are cached by geometry).
        object.__setattr__(self, "sampling", tuple((int(h), int(v)) for h, v in self.sampling))
        if self.columns <= 0 or self.rows <= 0:
            raise GeometryError(
                f"frame size {self.columns}x{self.rows} is empty; expected X, Y >= 1"
            )
        if not self.sampling:
            raise GeometryError("frame has no components")
        for h, v in self.sampling:
            if not (1 <= h <= 4 and 1 <= v <= 4):
                raise GeometryError(f"sampling factors {h}x{v} out of range; expected 1..4")

    @functools.cached_property
    def hmax(self) -> int:
        """Largest horizontal sampling factor."""
        return max(h for h, _ in self.sampling)

    @functools.cached_property
    def vmax(self) -> int:
        """Largest vertical sampling factor."""
        return max(v for _, v in self.sampling)

    @property
    def mcu_width(self) -> int:
        """MCU width in pixels for an interleaved scan (``8 Hmax``)."""
        return 8 * self.hmax

    @property
    def mcu_height(self) -> int:
        """MCU height in pixels for an interleaved scan (``8 Vmax``)."""
        return 8 * self.vmax

    @property
    def mcus_wide(self) -> int:
        """MCUs per row of an interleaved scan."""
        return -(-self.columns // self.mcu_width)

    @property
    def mcus_high(self) -> int:
        """MCU rows of an interleaved scan."""
        return -(-self.rows // self.mcu_height)

    def component(self, index: int) -> ComponentGeometry:
        """The block grid of component `index`."""
        return self.components[index]

    def _component(self, index: int) -> ComponentGeometry:
        h, v = self.sampling[index]
        width = -(-self.columns * h // self.hmax)
        height = -(-self.rows * v // self.vmax)
        bw, bh = -(-width // 8), -(-height // 8)
        if len(self.sampling) == 1:
            # A single-component frame is coded non-interleaved: no MCU padding.
            aw, ah = bw, bh
        else:
            aw, ah = self.mcus_wide * h, self.mcus_high * v
        return ComponentGeometry(h, v, width, height, bw, bh, aw, ah)

    @functools.cached_property
    def components(self) -> tuple[ComponentGeometry, ...]:
        """Block grids of every component, in frame order (computed once)."""
        return tuple(self._component(i) for i in range(len(self.sampling)))

    def block_range(self, index: int, box: Box) -> tuple[range, range]:
        """Block rows and columns of component `index` whose footprint meets `box`.

        The box is clipped to the image first; an empty box gives empty ranges.
        """
        clipped = box.clip(self.columns, self.rows)
        if clipped.is_empty():
            return range(0), range(0)
        h, v = self.sampling[index]
        hmax, vmax = self.hmax, self.vmax
        # Block b covers image columns [8*b*hmax/h, 8*(b+1)*hmax/h): it meets
        # [x0, x1) iff 8*b*hmax < x1*h and 8*(b+1)*hmax > x0*h.
        c0 = (clipped.x * h) // (8 * hmax)
        c1 = -(-(clipped.x1 * h) // (8 * hmax))
        r0 = (clipped.y * v) // (8 * vmax)
        r1 = -(-(clipped.y1 * v) // (8 * vmax))
        comp = self.component(index)
        return range(r0, min(r1, comp.blocks_high)), range(c0, min(c1, comp.blocks_wide))


def plan_blocks(geometry: FrameGeometry, boxes: Iterable[Box]) -> list[npt.NDArray[np.bool_]]:
    """Plan which blocks to edit: one boolean mask per component (see :func:`_plan`).

    Plans are cached (the frames of a cine share geometry and boxes); the returned
    arrays are read-only.
    """
    return list(_plan(geometry, tuple(boxes)))


@functools.lru_cache(maxsize=64)
def _plan(geometry: FrameGeometry, boxes: tuple[Box, ...]) -> tuple[npt.NDArray[np.bool_], ...]:
    """Plan which blocks to edit: one boolean mask per component.

    Parameters
    ----------
    geometry : FrameGeometry
        The frame's size and sampling.
    boxes : tuple of Box
        Boxes in image pixels; parts outside the image are ignored.

    Returns
    -------
    tuple of numpy.ndarray
        For component ``i`` a read-only ``(alloc_high, alloc_wide)`` boolean array, True
        where the block is to be edited.
    """
    masks = []
    for index, comp in enumerate(geometry.components):
        mask = np.zeros((comp.alloc_high, comp.alloc_wide), dtype=bool)
        for box in boxes:
            rows, cols = geometry.block_range(index, box)
            if len(rows) and len(cols):
                mask[rows.start : rows.stop, cols.start : cols.stop] = True
        mask.flags.writeable = False
        masks.append(mask)
    return tuple(masks)
