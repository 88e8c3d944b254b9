"""The DCT-domain engine against an independent oracle (libjpeg through jpeglib).

Streams are built from random coefficients with every legal sampling combination,
odd sizes, restart intervals, RGB and YCbCr, interleaved and non-interleaved scans; then
random boxes are redacted and libjpeg must read back exactly the edited coefficients.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import libjpeg_coefficients, pillow_decode
from dctredact.errors import JpegStreamError
from dctredact.geometry import Box, FrameGeometry, plan_blocks
from dctredact.handlers.base import Fill
from dctredact.jpeg.builder import build_stream, empty_coefficients
from dctredact.jpeg.codec import (
    apply_fill,
    decode_coefficients,
    encode_stream,
    fill_dc_values,
    recode_stream,
    redact_stream,
)
from dctredact.jpeg.huffman import optimal_table
from dctredact.jpeg.stream import parse_jpeg

SAMPLINGS = [
    ((1, 1),),
    ((1, 1), (1, 1), (1, 1)),
    ((2, 1), (1, 1), (1, 1)),
    ((1, 2), (1, 1), (1, 1)),
    ((2, 2), (1, 1), (1, 1)),
    ((4, 1), (1, 1), (1, 1)),
    ((2, 2), (2, 1), (1, 2)),
    ((3, 1), (1, 1), (1, 1)),
    ((1, 1), (1, 1), (1, 1), (1, 1)),  # CMYK / YCCK (Adobe)
    ((2, 2), (1, 1), (1, 1), (2, 2)),
]


@st.composite
def streams(draw: st.DrawFn) -> tuple[FrameGeometry, list[np.ndarray], bytes, dict]:
    sampling = draw(st.sampled_from(SAMPLINGS))
    geometry = FrameGeometry(draw(st.integers(1, 70)), draw(st.integers(1, 70)), sampling)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    quant = [rng.integers(1, 60, 64).tolist(), rng.integers(1, 60, 64).tolist()]
    coefs = empty_coefficients(geometry)
    for index, comp in enumerate(coefs):
        q = quant[0 if index == 0 else 1]
        comp[..., 0] = rng.integers(-1024 // q[0], 1023 // q[0] + 1, comp.shape[:2])
        density = rng.random()
        nz = rng.random((*comp.shape[:2], 63)) < density * 0.3
        limit = np.array([1023 // v for v in q[1:]])
        vals = rng.integers(-limit, limit + 1, (*comp.shape[:2], 63))
        comp[..., 1:] = np.where(nz, vals, 0)
    options = {
        "restart_interval": draw(st.sampled_from([0, 0, 1, 2, 3, 7])),
        "interleaved": draw(st.booleans()),
    }
    if len(sampling) == 3 and draw(st.booleans()):
        options.update(adobe_transform=0, jfif=False)
    if len(sampling) == 4:
        options.update(adobe_transform=draw(st.sampled_from([0, 2])), jfif=False)
    stream = build_stream(geometry, coefs, quant, **options)
    return geometry, coefs, stream, options


def data_blocks(geometry: FrameGeometry, coefs: list[np.ndarray]) -> list[np.ndarray]:
    return [
        c[: g.blocks_high, : g.blocks_wide] for c, g in zip(coefs, geometry.components, strict=True)
    ]


@given(streams())
def test_decoder_agrees_with_libjpeg(case) -> None:
    geometry, coefs, stream, _ = case
    ours = data_blocks(geometry, decode_coefficients(parse_jpeg(stream)))
    theirs = libjpeg_coefficients(stream)
    expected = data_blocks(geometry, coefs)
    for a, b, c in zip(ours, theirs, expected, strict=True):
        assert np.array_equal(a, c)
        assert np.array_equal(b, c)


@given(streams(), st.data())
def test_redaction_edits_exactly_the_planned_blocks(case, data) -> None:
    geometry, coefs, stream, options = case
    box = Box(
        data.draw(st.integers(-10, geometry.columns)),
        data.draw(st.integers(-10, geometry.rows)),
        data.draw(st.integers(0, geometry.columns + 10)),
        data.draw(st.integers(0, geometry.rows + 10)),
    )
    fill = data.draw(st.sampled_from(list(Fill)))
    result = redact_stream(stream, [box], fill)
    masks = plan_blocks(geometry, [box])
    after = libjpeg_coefficients(result.data)
    before = data_blocks(geometry, coefs)
    dc = fill_dc_values(parse_jpeg(stream), fill)
    assert result.blocks == [int(m.sum()) for m in masks]
    for index, (a, b) in enumerate(zip(before, after, strict=True)):
        g = geometry.component(index)
        mask = masks[index][: g.blocks_high, : g.blocks_wide]
        assert np.array_equal(a[~mask], b[~mask]), "a block outside the plan changed"
        if mask.any():
            assert not b[mask][:, 1:].any(), "AC left in a planned block"
            if fill is Fill.FLAT:
                assert np.array_equal(b[mask][:, 0], a[mask][:, 0])
            else:
                assert (b[mask][:, 0] == dc[index]).all()
    pillow_decode(result.data)  # a second decoder accepts the stream
    if options["restart_interval"]:
        assert parse_jpeg(result.data).restart_interval == options["restart_interval"]


def test_black_fill_decodes_black_for_every_colour_model() -> None:
    rng = np.random.default_rng(1)
    for sampling, extra, mono1 in [
        (((1, 1),), {}, False),
        (((1, 1),), {}, True),
        (((2, 2), (1, 1), (1, 1)), {}, False),
        (((1, 1), (1, 1), (1, 1)), {"adobe_transform": 0, "jfif": False}, False),
    ]:
        geometry = FrameGeometry(48, 40, sampling)
        coefs = empty_coefficients(geometry)
        for c in coefs:
            c[..., 0] = rng.integers(-60, 60, c.shape[:2])
            c[..., 1:6] = rng.integers(-5, 6, (*c.shape[:2], 5))
        quant = [[3] * 64, [7] * 64]  # DC quantizers that do not divide 1024
        stream = build_stream(geometry, coefs, quant, **extra)
        out = redact_stream(
            stream, [Box(0, 0, 48, 16)], Fill.BLACK, photometric="MONOCHROME1" if mono1 else None
        ).data
        pixels = pillow_decode(out, raw="adobe_transform" not in extra).astype(int)
        region = pixels[:16, :48]
        if len(sampling) == 1:
            assert (region == (255 if mono1 else 0)).all()
        elif "adobe_transform" in extra:
            assert (region == 0).all()
        else:
            assert (region[..., 0] == 0).all()  # luma black in the whole box
            # Neutral chroma, except where the decoder's chroma upsampling blends in the
            # (unplanned) neighbouring chroma samples: the outermost 2 pixels.
            assert (np.abs(region[:-2, :-2, 1:] - 128) <= 1).all()


def test_tables_without_eob_are_replaced_not_broken() -> None:
    # Every block has a non-zero last coefficient, so the optimal AC table has no EOB
    # symbol: zeroing AC terms needs one. CTP writes an undecodable stream here.
    geometry = FrameGeometry(32, 16, ((1, 1),))
    coefs = empty_coefficients(geometry)
    coefs[0][..., 63] = 1
    coefs[0][..., 0] = 5
    stream = build_stream(geometry, coefs, [[2] * 64])
    table = parse_jpeg(stream).scans[0].ac_tables[0]
    assert table is not None and 0x00 not in table.values
    result = redact_stream(stream, [Box(0, 0, 8, 8)], Fill.BLACK)
    assert result.new_tables
    after = libjpeg_coefficients(result.data)[0]
    assert not after[0, 0, 1:].any()
    assert np.array_equal(after[:, 1:], coefs[0][:, 1:])


def test_a_fill_the_dc_table_cannot_code_rebuilds_that_table_only() -> None:
    # Flat image content (every DC difference 0): the optimal DC table has no code for
    # the jump to black. The DC table is rebuilt; the AC table, which still codes every
    # AC symbol (the fill only zeroes AC terms), is kept as it was.
    geometry = FrameGeometry(64, 32, ((1, 1),))
    rng = np.random.default_rng(4)
    coefs = empty_coefficients(geometry)
    coefs[0][..., 1:8] = rng.integers(-20, 21, (*coefs[0].shape[:2], 7))
    stream = build_stream(geometry, coefs, [[1] * 64])
    before = parse_jpeg(stream).scans[0]
    assert before.dc_tables[0] is not None and 11 not in before.dc_tables[0].values
    result = redact_stream(stream, [Box(16, 8, 8, 8)], Fill.BLACK)
    assert result.new_tables
    after = parse_jpeg(result.data).scans[0]
    assert after.dc_tables[0] is not None and 11 in after.dc_tables[0].values
    assert after.ac_tables[0] == before.ac_tables[0]
    expected = [c.copy() for c in coefs]
    expected[0][1, 2, 0] = -1024  # black: (0 - 128) * 8 / 1
    expected[0][1, 2, 1:] = 0
    assert np.array_equal(libjpeg_coefficients(result.data)[0], expected[0])


@given(streams())
def test_counting_dc_symbols_alone_gives_the_full_counts_dc_part(case) -> None:
    from dctredact.jpeg import _entropy
    from dctredact.jpeg.codec import _scan_layout, frame_geometry

    _, coefs, stream, _ = case
    parsed = parse_jpeg(stream)
    geometry = frame_geometry(parsed)
    for scan in parsed.scans:
        layout = _scan_layout(parsed, scan, coefs, geometry)
        args = (geometry.mcus_wide, geometry.mcus_high, scan.restart_interval)
        dc, _ = _entropy.count_symbols(layout, *args)
        dc_alone, ac_alone = _entropy.count_symbols(layout, *args, True)
        assert dc_alone == dc and not any(ac_alone) and any(dc)


@given(streams(), st.data())
def test_decodes_to_notices_any_single_changed_coefficient(case, data) -> None:
    from dctredact.jpeg.codec import decodes_to

    geometry, coefs, stream, _ = case
    parsed = parse_jpeg(stream)
    assert decodes_to(parsed, coefs)
    index = data.draw(st.integers(0, len(coefs) - 1))
    comp = geometry.component(index)
    y = data.draw(st.integers(0, comp.blocks_high - 1))
    x = data.draw(st.integers(0, comp.blocks_wide - 1))
    k = data.draw(st.integers(0, 63))
    other = [c.copy() for c in coefs]
    other[index][y, x, k] += 1 if other[index][y, x, k] < 0 else -1
    assert not decodes_to(parsed, other)


def test_an_encoder_output_that_decodes_otherwise_is_not_returned(monkeypatch) -> None:
    from dctredact.jpeg import codec

    geometry = FrameGeometry(64, 32, ((1, 1),))
    coefs = empty_coefficients(geometry)
    coefs[0][..., 1] = 3
    stream = build_stream(geometry, coefs, [[1] * 64])
    real = codec.encode_stream

    def off_by_one(parsed, edited):  # an encoder bug: one coefficient wrong
        wrong = [c.copy() for c in edited]
        wrong[0][0, 0, 5] = 7
        return real(parsed, wrong)

    monkeypatch.setattr(codec, "encode_stream", off_by_one)
    with pytest.raises(JpegStreamError, match="internal check failed"):
        redact_stream(stream, [Box(16, 8, 8, 8)], Fill.BLACK)  # needs new DC tables


def test_unplanned_frame_is_returned_unchanged() -> None:
    geometry = FrameGeometry(16, 16, ((1, 1),))
    stream = build_stream(geometry, empty_coefficients(geometry), [[1] * 64])
    result = redact_stream(stream, [Box(100, 100, 5, 5)], Fill.BLACK)
    assert result.data is stream and result.changed == 0


def test_optimal_table_never_uses_the_all_ones_code_and_limits_lengths() -> None:
    freq = [0] * 256
    for i in range(200):
        freq[i] = int(1.5 ** (i % 40)) + 1  # very skewed: forces the 16-bit limit
    table = optimal_table(freq, 1, 0)
    assert len(table.values) == 200
    assert sum(table.bits) == 200
    code = 0
    for length in range(1, 17):
        code += table.bits[length - 1]
        assert code < 1 << length  # the all-ones code of every length stays unused
        code <<= 1


@pytest.mark.parametrize(
    ("marker", "name"),
    [(0xC2, "SOF2"), (0xC3, "SOF3"), (0xC9, "SOF9"), (0xC1, "SOF1")],
)
def test_non_baseline_frames_are_refused_by_name(marker: int, name: str) -> None:
    geometry = FrameGeometry(16, 16, ((1, 1),))
    stream = bytearray(build_stream(geometry, empty_coefficients(geometry), [[1] * 64]))
    at = stream.index(b"\xff\xc0")
    stream[at + 1] = marker
    with pytest.raises(JpegStreamError, match=name):
        redact_stream(bytes(stream), [Box(0, 0, 8, 8)])


def test_twelve_bit_precision_is_refused() -> None:
    geometry = FrameGeometry(16, 16, ((1, 1),))
    stream = bytearray(build_stream(geometry, empty_coefficients(geometry), [[1] * 64]))
    at = stream.index(b"\xff\xc0")
    stream[at + 4] = 12
    with pytest.raises(JpegStreamError, match="precision 12"):
        parse_jpeg(bytes(stream))


def test_truncated_entropy_data_is_an_error_not_a_guess() -> None:
    rng = np.random.default_rng(5)
    geometry = FrameGeometry(64, 64, ((1, 1),))
    coefs = empty_coefficients(geometry)
    coefs[0][..., :10] = rng.integers(-20, 20, (*coefs[0].shape[:2], 10))
    stream = build_stream(geometry, coefs, [[1] * 64])
    cut = stream[: len(stream) // 2]
    with pytest.raises(JpegStreamError, match=r"ended early|invalid"):
        redact_stream(cut, [Box(0, 0, 8, 8)])


@given(streams(), st.data())
def test_partial_recode_is_bit_identical_to_a_full_reencode(case, data) -> None:
    # Copying unchanged bits (and shifting the tail) must give exactly the stream a
    # complete decode + re-encode with the same tables gives.
    geometry, _, stream, _ = case
    boxes = [
        Box(
            data.draw(st.integers(0, geometry.columns)),
            data.draw(st.integers(0, geometry.rows)),
            data.draw(st.integers(0, 40)),
            data.draw(st.integers(0, 40)),
        )
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    fill = data.draw(st.sampled_from(list(Fill)))
    fast = redact_stream(stream, boxes, fill, check="coefficients")
    parsed = parse_jpeg(stream)
    coefs = decode_coefficients(parsed)
    masks = plan_blocks(geometry, boxes)
    apply_fill(coefs, masks, fill, fill_dc_values(parsed, fill))
    full, new_tables = encode_stream(parsed, coefs)
    assert fast.new_tables == new_tables
    if any(int(m.sum()) for m in masks):
        assert fast.data == full


def test_corrupt_tail_is_refused_even_when_the_edit_is_at_the_top() -> None:
    # The fast path copies the tail without re-coding it, but still decodes it.
    rng = np.random.default_rng(9)
    geometry = FrameGeometry(64, 64, ((1, 1),))
    coefs = empty_coefficients(geometry)
    coefs[0][..., :12] = rng.integers(-30, 30, (*coefs[0].shape[:2], 12))
    stream = bytearray(build_stream(geometry, coefs, [[1] * 64]))
    sos = stream.rindex(b"\xff\xda")
    stream[-40:-2] = b"\xfe" * 38  # garbage in the last rows
    with pytest.raises(JpegStreamError):
        redact_stream(bytes(stream), [Box(0, 0, 8, 8)])
    assert sos > 0


def _mutate(stream: bytes, data: st.DataObject) -> bytes:
    """The stream with its entropy-coded data damaged in one of several ways (or not)."""
    start = stream.rindex(b"\xff\xda")
    start += 2 + int.from_bytes(stream[start + 2 : start + 4], "big")
    end = len(stream) - 2  # EOI
    if end <= start:
        return stream
    body = bytearray(stream[start:end])
    kind = data.draw(st.sampled_from(["none", "flip", "byte", "ff", "stuff", "cut", "rst"]))
    at = data.draw(st.integers(0, max(0, len(body) - 1)))
    if kind == "flip" and body:
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "byte" and body:
        body[at] = data.draw(st.integers(0, 255))
    elif kind == "ff" and body:
        body[at] = 0xFF  # a marker or a stuffed 0xFF where there was none
    elif kind == "stuff":
        body[at:at] = b"\xff\x00"
    elif kind == "cut":
        del body[at:]
    elif kind == "rst":
        body[at:at] = bytes([0xFF, 0xD0 + data.draw(st.integers(0, 7))])
    return stream[:start] + bytes(body) + stream[end:]


@given(streams(), st.data())
def test_multi_symbol_skip_agrees_with_the_single_symbol_path(case, data) -> None:
    # The skip pass reads several AC symbols per table lookup where they fit; it must
    # accept, refuse (with the same message and MCU) and copy exactly what the
    # one-symbol-per-lookup path does: on valid streams, with restart markers and 0xFF
    # stuffing, and on damaged ones. Edited blocks make the copied/re-coded split points
    # (and so the exact bit positions the skipping reached) visible in the output.
    geometry, _, stream, _ = case
    stream = _mutate(stream, data)
    try:
        parsed = parse_jpeg(stream)
    except JpegStreamError:
        return  # the damage broke the marker structure: never reaches the codec
    boxes = [
        Box(
            data.draw(st.integers(0, geometry.columns)),
            data.draw(st.integers(0, geometry.rows)),
            data.draw(st.integers(0, 24)),
            data.draw(st.integers(0, 24)),
        )
        for _ in range(data.draw(st.integers(0, 2)))
    ]
    masks = plan_blocks(geometry, boxes)
    fill = data.draw(st.sampled_from(list(Fill)))
    dc_values = fill_dc_values(parsed, fill)

    def run(single: bool) -> object:
        try:
            return recode_stream(parsed, masks, fill, dc_values, verify=True, single_symbol=single)
        except JpegStreamError as exc:
            return ("refused", str(exc))

    fast, reference = run(False), run(True)
    assert fast == reference
    if data.draw(st.booleans()):  # and the full decoder agrees on what is valid
        try:
            decode_coefficients(parsed)
            valid = True
        except JpegStreamError:
            valid = False
        if valid:
            assert not isinstance(fast, tuple)


def test_multi_symbol_skip_with_long_codes_and_every_run_length() -> None:
    # Codes longer than the multi-symbol window, ZRLs, runs up to 15 and blocks that end
    # exactly at k = 63 (no EOB) all fall back or group correctly: the skip pass must
    # reach the same bit positions as the one-symbol path (a block edited at the end
    # of every row shows them in the output).
    rng = np.random.default_rng(5)
    geometry = FrameGeometry(256, 128, ((1, 1),))
    coefs = empty_coefficients(geometry)
    blocks = coefs[0].reshape(-1, 64)
    for i, blk in enumerate(blocks):
        blk[0] = rng.integers(-60, 60)
        if i % 8 == 1:  # every coefficient +-1, no EOB (k reaches 63)
            blk[1:] = rng.choice([-1, 1], 63)
        elif i % 8 == 2:  # the last coefficient only (three ZRLs, then run 14)
            blk[63] = rng.integers(-700, 700)
        else:  # runs and sizes with geometric frequencies: codes of up to 16 bits
            k = 1 + min(int(rng.geometric(0.5)) - 1, 15)
            while k < 64:
                size = min(int(rng.geometric(0.4)), 10)
                blk[k] = (1 << (size - 1)) * rng.choice([-1, 1])
                k += 1 + min(int(rng.geometric(0.5)) - 1, 15)
    # The rare symbols get long codes (optimal tables go up to 16 bits).
    stream = build_stream(geometry, coefs, [[1] * 64], restart_interval=5)
    parsed = parse_jpeg(stream)
    ac = parsed.scans[0].ac_tables[parsed.scans[0].components[0].ac_table]
    assert ac is not None
    assert max(n + 1 for n, count in enumerate(ac.bits) if count) > 11  # > MULTI_BITS
    for box in ([Box(248, 0, 8, 8)], [Box(0, 120, 8, 8)], [Box(24, 16, 16, 16)], []):
        masks = plan_blocks(geometry, box)
        dc = fill_dc_values(parsed, Fill.BLACK)
        fast = recode_stream(parsed, masks, Fill.BLACK, dc, verify=True)
        slow = recode_stream(parsed, masks, Fill.BLACK, dc, verify=True, single_symbol=True)
        assert fast == slow


def test_a_block_without_eob_is_not_read_past_by_the_skip_pass() -> None:
    # A block whose last coefficient (k = 63) is set has no EOB: the next code is the
    # next block's DC. Here that DC code ("0": difference 0, the commonest) is the same
    # bit string as the AC EOB code (EOB-only blocks are the commonest AC symbol), so a
    # skip pass that grouped "coefficient at 63, EOB" would eat the next block's DC.
    geometry = FrameGeometry(256, 64, ((1, 1),))
    coefs = empty_coefficients(geometry)
    blocks = coefs[0].reshape(-1, 64)
    blocks[:, 0] = 5
    blocks[3::7, 63] = 1  # three ZRLs, then run 14
    blocks[40, 1:] = 1  # 63 x (run 0, size 1)
    stream = build_stream(geometry, coefs, [[1] * 64])
    parsed = parse_jpeg(stream)
    scan = parsed.scans[0]
    dc, ac = scan.dc_tables[0], scan.ac_tables[0]
    assert dc is not None and ac is not None
    assert dc.bits[0] == 1 and ac.bits[0] == 1 and ac.values[0] == 0  # both "0"
    for boxes in ([], [Box(248, 56, 8, 8)], [Box(0, 0, 8, 8)]):
        masks = plan_blocks(geometry, boxes)
        values = fill_dc_values(parsed, Fill.BLACK)
        fast = recode_stream(parsed, masks, Fill.BLACK, values, verify=True)
        assert fast == recode_stream(
            parsed, masks, Fill.BLACK, values, verify=True, single_symbol=True
        )
        if not boxes:
            assert fast == stream
