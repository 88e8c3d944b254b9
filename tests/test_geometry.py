"""Property-based tests of the box -> block planning (libjpeg-turbo's transupp tests sweep
every subsampling against every offset; hypothesis does the same, and more)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dctredact.errors import GeometryError
from dctredact.geometry import Box, FrameGeometry, parse_box, plan_blocks

FACTOR = st.integers(1, 4)


@st.composite
def frames(draw: st.DrawFn) -> FrameGeometry:
    n = draw(st.sampled_from([1, 3, 3, 3, 4]))
    sampling = []
    for _ in range(n):
        sampling.append((draw(FACTOR), draw(FACTOR)))
    if n > 1:
        # T.81: an interleaved MCU holds at most 10 blocks.
        while sum(h * v for h, v in sampling) > 10:
            sampling = [(max(1, h - 1), max(1, v - 1)) for h, v in sampling]
    columns = draw(st.integers(1, 300))
    rows = draw(st.integers(1, 300))
    return FrameGeometry(columns, rows, tuple(sampling))


@st.composite
def boxes(draw: st.DrawFn, geometry: FrameGeometry) -> Box:
    x = draw(st.integers(-40, geometry.columns + 20))
    y = draw(st.integers(-40, geometry.rows + 20))
    w = draw(st.integers(0, geometry.columns + 60))
    h = draw(st.integers(0, geometry.rows + 60))
    return Box(x, y, w, h)


def footprint(geometry: FrameGeometry, index: int, row: int, col: int) -> tuple[float, ...]:
    """Image-pixel rectangle [x0, x1) x [y0, y1) covered by one block (exact rationals)."""
    h, v = geometry.sampling[index]
    sx, sy = geometry.hmax / h, geometry.vmax / v
    return (8 * col * sx, 8 * (col + 1) * sx, 8 * row * sy, 8 * (row + 1) * sy)


@given(st.data())
def test_planned_blocks_cover_the_box_in_every_component(data: st.DataObject) -> None:
    geometry = data.draw(frames())
    box = data.draw(boxes(geometry))
    masks = plan_blocks(geometry, [box])
    clipped = box.clip(geometry.columns, geometry.rows)
    for index, mask in enumerate(masks):
        comp = geometry.component(index)
        assert mask.shape == (comp.alloc_high, comp.alloc_wide)
        if clipped.is_empty():
            assert not mask.any()
            continue
        # Every image pixel of the box maps to a component sample whose block is planned.
        h, v = geometry.sampling[index]
        xs = np.arange(clipped.x, clipped.x1)
        ys = np.arange(clipped.y, clipped.y1)
        # Sample s covers pixels [s*Hmax/h, (s+1)*Hmax/h): pixel p lies in sample p*h//Hmax.
        cols = (xs * h // geometry.hmax) // 8
        rows = (ys * v // geometry.vmax) // 8
        assert mask[np.ix_(np.unique(rows), np.unique(cols))].all()


@given(st.data())
def test_no_block_outside_the_outward_mcu_rounding(data: st.DataObject) -> None:
    geometry = data.draw(frames())
    box = data.draw(boxes(geometry))
    masks = plan_blocks(geometry, [box])
    clipped = box.clip(geometry.columns, geometry.rows)
    mw, mh = geometry.mcu_width, geometry.mcu_height
    if len(geometry.sampling) == 1:
        mw = mh = 8
    x0 = clipped.x // mw * mw
    x1 = math.ceil(clipped.x1 / mw) * mw
    y0 = clipped.y // mh * mh
    y1 = math.ceil(clipped.y1 / mh) * mh
    for index, mask in enumerate(masks):
        for row, col in zip(*np.nonzero(mask), strict=True):
            fx0, fx1, fy0, fy1 = footprint(geometry, index, int(row), int(col))
            assert x0 <= fx0 and fx1 <= x1 + 1e-9, (index, row, col)
            assert y0 <= fy0 and fy1 <= y1 + 1e-9, (index, row, col)
            # ...and each planned block really meets the box (no over-planning at all).
            assert fx0 < clipped.x1 and fx1 > clipped.x
            assert fy0 < clipped.y1 and fy1 > clipped.y


@given(st.data())
def test_planning_is_the_union_of_single_boxes(data: st.DataObject) -> None:
    geometry = data.draw(frames())
    many = data.draw(st.lists(boxes(geometry), max_size=4))
    together = plan_blocks(geometry, many)
    for index, mask in enumerate(together):
        expected = np.zeros_like(mask)
        for b in many:
            expected |= plan_blocks(geometry, [b])[index]
        assert np.array_equal(mask, expected)


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [
        (((1, 1),), [(0, 1, 0, 2)]),
        (((2, 2), (1, 1), (1, 1)), [(0, 1, 0, 2), (0, 1, 0, 1), (0, 1, 0, 1)]),
        (((2, 1), (1, 1), (1, 1)), [(0, 1, 0, 2), (0, 1, 0, 1), (0, 1, 0, 1)]),
    ],
)
def test_known_plans(sampling, expected) -> None:
    # Box columns 3..12, rows 2..6 of a 64x48 image.
    geometry = FrameGeometry(64, 48, sampling)
    for index, (r0, r1, c0, c1) in enumerate(expected):
        rows, cols = geometry.block_range(index, Box(3, 2, 10, 5))
        assert (rows.start, rows.stop, cols.start, cols.stop) == (r0, r1, c0, c1)


def test_component_grids_of_an_odd_422_frame() -> None:
    # 975x743 4:2:2 (the Issue164 ultrasound): MCU 16x8.
    g = FrameGeometry(975, 743, ((2, 1), (1, 1), (1, 1)))
    y, cb = g.component(0), g.component(1)
    assert (g.mcus_wide, g.mcus_high) == (61, 93)
    assert (y.width, y.height, y.blocks_wide, y.blocks_high) == (975, 743, 122, 93)
    assert (y.alloc_wide, y.alloc_high) == (122, 93)
    assert (cb.width, cb.height, cb.blocks_wide, cb.alloc_wide) == (488, 743, 61, 61)


def test_parse_box_and_errors() -> None:
    assert parse_box(" 1, 2,3 ,4").as_tuple() == (1, 2, 3, 4)
    with pytest.raises(GeometryError, match="four integers"):
        parse_box("1,2,3")
    with pytest.raises(GeometryError, match="negative"):
        parse_box("1,2,-3,4")
    with pytest.raises(GeometryError):
        FrameGeometry(10, 10, ((5, 1),))
