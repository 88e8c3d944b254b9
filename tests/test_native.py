"""Tests of the uncompressed (native) pixel handler."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from dctredact import Box, Fill, RedactionRequest
from dctredact.errors import InvalidDicomError, UnsupportedError
from dctredact.handlers import get_handler, lookup
from dctredact.handlers.native import PixelLayout, plan_fill, redact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "native"
BOX = Box(3, 4, 10, 7)


def _read(path: str | Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _testdata(name: str) -> Dataset:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not available")
    return _read(path)


def _deid(name: str) -> Dataset:
    deid_data = pytest.importorskip("deid_data")
    return _read(Path(deid_data.__file__).parent / "data" / "ultrasounds" / name)


def _pixels(ds: Dataset, pixel_data: bytes | None = None) -> np.ndarray:
    """pydicom's decoding of `ds` (optionally with other Pixel Data), 4-D, raw colour."""
    from pydicom.pixels import pixel_array

    work = copy.deepcopy(ds)
    if pixel_data is not None:
        work.PixelData = pixel_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = pixel_array(work, raw=True)
    frames = int(ds.get("NumberOfFrames") or 1)
    return arr.reshape(frames, ds.Rows, ds.Columns, -1)


def _outside(shape: tuple[int, ...], boxes: list[Box]) -> np.ndarray:
    mask = np.ones(shape[1:3], dtype=bool)
    for b in boxes:
        c = b.clip(shape[2], shape[1])
        mask[c.y : c.y1, c.x : c.x1] = False
    return mask


REAL_FILES = [
    ("MR_small.dcm", "1.2.840.10008.1.2.1"),
    ("MR_small_implicit.dcm", "1.2.840.10008.1.2"),
    ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"),
    ("image_dfl.dcm", "1.2.840.10008.1.2.1.99"),
    ("SC_rgb.dcm", "1.2.840.10008.1.2.1"),
    ("SC_rgb_2frame.dcm", "1.2.840.10008.1.2.1"),
    ("SC_rgb_16bit.dcm", "1.2.840.10008.1.2.1"),
    ("SC_rgb_32bit_2frame.dcm", "1.2.840.10008.1.2.1"),
    ("examples_palette.dcm", "1.2.840.10008.1.2.1"),
    ("liver_1frame.dcm", "1.2.840.10008.1.2.1"),
]


def _expected_black(ds: Dataset) -> tuple[int, ...]:
    layout = PixelLayout.from_dataset(ds)
    return plan_fill(layout, Fill.BLACK, ds).values


@pytest.mark.parametrize("fill", list(Fill))
@pytest.mark.parametrize(("name", "tsuid"), REAL_FILES)
def test_real_files(name: str, tsuid: str, fill: Fill) -> None:
    ds = _testdata(name)
    assert ds.file_meta.TransferSyntaxUID == tsuid
    before = copy.deepcopy(ds)
    result = redact(ds, RedactionRequest(boxes=[BOX], fill=fill))
    assert ds == before  # the handler must not modify its input
    assert result.transfer_syntax_uid == tsuid
    assert not result.encapsulated
    assert result.unit == "pixels"
    assert len(result.pixel_data) == len(ds.PixelData)
    old, new = _pixels(ds), _pixels(ds, result.pixel_data)
    frames = old.shape[0]
    assert result.changed == BOX.area * frames
    outside = _outside(old.shape, [BOX])
    assert np.array_equal(old[:, outside], new[:, outside])
    inside = new[:, BOX.y : BOX.y1, BOX.x : BOX.x1, :]
    for f in range(frames):
        for c in range(inside.shape[-1]):
            assert len(np.unique(inside[f, ..., c])) == 1
    if fill is Fill.BLACK:
        black = _expected_black(ds)
        assert tuple(inside[0, 0, 0]) == black
    if fill is Fill.FLAT and ds.PhotometricInterpretation != "PALETTE COLOR":
        region = old[0, BOX.y : BOX.y1, BOX.x : BOX.x1, :].astype(np.float64)
        expected = np.floor(region.reshape(-1, region.shape[-1]).mean(axis=0) + 0.5)
        assert np.array_equal(inside[0, 0, 0], expected.astype(inside.dtype))


def test_black_values_on_real_files() -> None:
    assert _expected_black(_testdata("MR_small.dcm")) == (-32768,)  # signed MONOCHROME2
    assert _expected_black(_testdata("image_dfl.dcm")) == (0,)
    assert _expected_black(_testdata("SC_rgb.dcm")) == (0, 0, 0)
    palette = _testdata("examples_palette.dcm")
    (index,) = _expected_black(palette)
    from pydicom.pixels.processing import apply_color_lut

    rgb = apply_color_lut(np.arange(256), palette).astype(np.int64)
    luma = rgb @ np.array([299, 587, 114])
    assert luma[index] == luma.min()


@pytest.mark.parametrize("name", ["GREYSCALE_IMAGE.dcm", "RGB_IMAGE.dcm"])
def test_deid_data(name: str) -> None:
    ds = _deid(name)
    boxes = [Box(0, 0, 1024, 60), Box(900, 700, 500, 500)]  # second one is clipped
    result = redact(ds, RedactionRequest(boxes=boxes))
    old, new = _pixels(ds), _pixels(ds, result.pixel_data)
    outside = _outside(old.shape, boxes)
    assert np.array_equal(old[:, outside], new[:, outside])
    assert not new[:, ~outside].any()
    assert result.changed == 1024 * 60 + 124 * 68


def test_ybr_full_422_real_file() -> None:
    ds = _testdata("SC_ybr_full_422_uncompressed.dcm")
    box = Box(3, 10, 10, 5)  # odd start: pair 1 is half covered
    result = redact(ds, RedactionRequest(boxes=[box]))
    old = np.frombuffer(ds.PixelData, np.uint8).reshape(ds.Rows, ds.Columns // 2, 4)
    new = np.frombuffer(result.pixel_data, np.uint8).reshape(old.shape)
    covered_pairs = slice(1, 7)  # pixels 2..13 -> pairs 1..6
    rows = slice(10, 15)
    assert (new[rows, covered_pairs, 2:] == 128).all()
    assert (new[rows, 1, 0] == old[rows, 1, 0]).all()  # pixel 2 is not covered
    assert (new[rows, 1, 1] == 0).all()  # pixel 3 is
    assert (new[rows, 2:6, :2] == 0).all()
    assert (new[rows, 6, 0] == 0).all()  # pixel 12 covered
    assert (new[rows, 6, 1] == old[rows, 6, 1]).all()  # pixel 13 not
    mask = np.ones(old.shape[:2], dtype=bool)
    mask[rows, covered_pairs] = False
    assert np.array_equal(old[mask], new[mask])
    assert result.changed == box.area


def _words(path: Path) -> tuple[Dataset, np.ndarray]:
    ds = _read(path)
    order = ">" if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian else "<"
    dtype = np.dtype(f"{order}u{ds.BitsAllocated // 8}")
    frames = int(ds.get("NumberOfFrames") or 1)
    count = frames * ds.Rows * ds.Columns * ds.SamplesPerPixel
    words = np.frombuffer(ds.PixelData, dtype=dtype, count=count)
    if ds.SamplesPerPixel > 1 and ds.PlanarConfiguration == 1:
        return ds, words.reshape(frames, 3, ds.Rows, ds.Columns).transpose(0, 2, 3, 1)
    return ds, words.reshape(frames, ds.Rows, ds.Columns, ds.SamplesPerPixel)


def _redact_words(path: Path, request: RedactionRequest) -> tuple[Any, np.ndarray, np.ndarray]:
    ds, old = _words(path)
    result = redact(ds, request)
    new_ds = copy.deepcopy(ds)
    new_ds.PixelData = result.pixel_data
    order = ">" if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian else "<"
    dtype = np.dtype(f"{order}u{ds.BitsAllocated // 8}")
    new = np.frombuffer(result.pixel_data, dtype=dtype, count=old.size)
    if ds.SamplesPerPixel > 1 and ds.PlanarConfiguration == 1:
        new = new.reshape(old.shape[0], 3, ds.Rows, ds.Columns).transpose(0, 2, 3, 1)
    else:
        new = new.reshape(old.shape)
    assert result.pixel_data[old.nbytes :] == ds.PixelData[old.nbytes :]
    return result, old, new


@pytest.mark.parametrize(
    ("name", "fill", "low_bits"),
    [
        ("mono1_s16.dcm", Fill.BLACK, 0x7FFF),  # signed MONOCHROME1: +32767
        ("mono1_s16.dcm", Fill.GRAY, 0),
        ("mono2_s12_junk.dcm", Fill.BLACK, 0x800),  # -2048 in 12 bits
        ("mono2_s12_junk.dcm", Fill.GRAY, 0),
        ("mono1_u12_junk.dcm", Fill.BLACK, 0xFFF),
        ("mono1_u12_junk.dcm", Fill.GRAY, 0x800),
        ("mono2_s12_be_3frame.dcm", Fill.BLACK, 0x800),
        ("mono2_u32.dcm", Fill.BLACK, 0),
        ("mono2_u32.dcm", Fill.GRAY, 0x80000000),
        ("mono2_s32_be.dcm", Fill.BLACK, 0x80000000),
        ("rgb_planar1.dcm", Fill.BLACK, 0),
        ("rgb16_be_planar1_2frame.dcm", Fill.GRAY, 0x8000),
        ("ybr_full.dcm", Fill.BLACK, None),
    ],
)
def test_fixture_fill_and_high_bits(name: str, fill: Fill, low_bits: int | None) -> None:
    path = FIXTURES / name
    result, old, new = _redact_words(path, RedactionRequest(boxes=[BOX], fill=fill))
    ds = _read(path)
    bits_stored, high_bit = ds.BitsStored, ds.HighBit
    mask = ((1 << bits_stored) - 1) << (high_bit - bits_stored + 1)
    word_max = (1 << ds.BitsAllocated) - 1
    # Bits outside Bits Stored are untouched everywhere.
    assert np.array_equal(old & (word_max & ~mask), new & (word_max & ~mask))
    outside = _outside(old.shape, [BOX])
    assert np.array_equal(old[:, outside], new[:, outside])
    inside = new[:, BOX.y : BOX.y1, BOX.x : BOX.x1, :] & mask
    if low_bits is not None:
        assert (inside == low_bits).all()
    else:  # YBR_FULL black: Y = 0, Cb = Cr = 128
        assert (inside[..., 0] == 0).all() and (inside[..., 1:] == 128).all()
    assert result.changed == BOX.area * old.shape[0]
    assert result.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID


def test_high_bit_above_bits_stored() -> None:
    """High Bit 15 with Bits Stored 12: the value is in bits 4..15, bits 0..3 are kept."""
    _, old, new = _redact_words(FIXTURES / "mono2_u12_hb15.dcm", RedactionRequest(boxes=[BOX]))
    assert np.array_equal(old & 0xF, new & 0xF)
    assert (new[:, BOX.y : BOX.y1, BOX.x : BOX.x1] >> 4 == 0).all()
    result = redact(_read(FIXTURES / "mono2_u12_hb15.dcm"), RedactionRequest([BOX], fill=Fill.GRAY))
    gray = np.frombuffer(result.pixel_data, "<u2").reshape(old.shape)[0, BOX.y, BOX.x, 0]
    assert gray >> 4 == 0x800


def test_flat_signed_uses_twos_complement_mean() -> None:
    path = FIXTURES / "mono2_s12_junk.dcm"
    _, old, new = _redact_words(path, RedactionRequest(boxes=[BOX], fill=Fill.FLAT))
    region = old[0, BOX.y : BOX.y1, BOX.x : BOX.x1, 0].astype(np.int64) & 0xFFF
    signed = np.where(region >= 0x800, region - 0x1000, region)
    expected = int(np.floor(signed.mean() + 0.5)) & 0xFFF
    assert (new[0, BOX.y : BOX.y1, BOX.x : BOX.x1, 0] & 0xFFF == expected).all()


def test_big_endian_8bit_ow() -> None:
    path = FIXTURES / "mono2_u8_be_ow.dcm"
    ds = _read(path)
    assert ds["PixelData"].VR == "OW"
    result = redact(ds, RedactionRequest(boxes=[Box(3, 4, 10, 7)], fill=Fill.GRAY))
    # Logical sample i is stored at byte i ^ 1.
    old = np.frombuffer(ds.PixelData, np.uint8).reshape(-1, 2)[:, ::-1].reshape(24, 32)
    new = np.frombuffer(result.pixel_data, np.uint8).reshape(-1, 2)[:, ::-1].reshape(24, 32)
    assert (new[4:11, 3:13] == 128).all()
    mask = np.ones((24, 32), dtype=bool)
    mask[4:11, 3:13] = False
    assert np.array_equal(old[mask], new[mask])
    assert np.array_equal(_pixels(ds, result.pixel_data)[0, ..., 0], new)


def test_one_bit_multiframe() -> None:
    ds = _read(FIXTURES / "mono2_1bit_3frame.dcm")
    request = RedactionRequest(boxes=[Box(29, 20, 10, 10)], frame_boxes={1: [Box(0, 0, 5, 2)]})
    result = redact(ds, request)
    n = 3 * 24 * 31
    old = np.unpackbits(np.frombuffer(ds.PixelData, np.uint8), bitorder="little")
    new = np.unpackbits(np.frombuffer(result.pixel_data, np.uint8), bitorder="little")
    assert np.array_equal(old[n:], new[n:])  # padding bits untouched
    old, new = old[:n].reshape(3, 24, 31), new[:n].reshape(3, 24, 31)
    expected = old.copy()
    expected[:, 20:24, 29:31] = 0
    expected[1, 0:2, 0:5] = 0
    assert np.array_equal(new, expected)
    assert result.changed == 3 * 2 * 4 + 10


@pytest.mark.parametrize(
    ("name", "black", "gray"), [("palette_u8.dcm", 200, 128), ("palette_segmented.dcm", 10, None)]
)
def test_palette_fixtures(name: str, black: int, gray: int | None) -> None:
    ds = _read(FIXTURES / name)
    for fill, expected in ((Fill.BLACK, black), (Fill.GRAY, gray)):
        result = redact(ds, RedactionRequest(boxes=[BOX], fill=fill))
        new = np.frombuffer(result.pixel_data, np.uint8).reshape(24, 32)
        value = int(new[BOX.y, BOX.x])
        assert (new[BOX.y : BOX.y1, BOX.x : BOX.x1] == value).all()
        if expected is not None:
            assert value == expected
    flat = redact(ds, RedactionRequest(boxes=[BOX], fill=Fill.FLAT))
    assert len(np.unique(np.frombuffer(flat.pixel_data, np.uint8).reshape(24, 32)[4:11, 3:13])) == 1


def test_frame_boxes_and_overlaps() -> None:
    ds = _read(FIXTURES / "mono2_s12_be_3frame.dcm")
    request = RedactionRequest(
        boxes=[Box(0, 0, 4, 4), Box(2, 2, 4, 4)], frame_boxes={2: [Box(10, 10, 3, 3)]}
    )
    result = redact(ds, request)
    assert result.changed == 3 * 28 + 9
    new = np.frombuffer(result.pixel_data, ">u2").reshape(3, 24, 32)
    assert (new[2, 10:13, 10:13] & 0xFFF == 0x800).all()
    assert not (new[0, 10:13, 10:13] & 0xFFF == 0x800).all()


def test_box_edges_are_exclusive() -> None:
    ds = _read(FIXTURES / "mono1_u12_junk.dcm")
    _, old = _words(FIXTURES / "mono1_u12_junk.dcm")
    result = redact(ds, RedactionRequest(boxes=[Box(5, 5, 1, 1)]))
    new = np.frombuffer(result.pixel_data, "<u2").reshape(24, 32)
    changed = np.argwhere(new != old[0, ..., 0])
    assert changed.tolist() in ([[5, 5]], [])
    assert new[5, 5] & 0xFFF == 0xFFF


@pytest.mark.parametrize("box", [Box(-10, -10, 5, 5), Box(40, 0, 5, 5), Box(3, 3, 0, 9)])
def test_boxes_outside_or_empty(box: Box) -> None:
    ds = _read(FIXTURES / "mono1_s16.dcm")
    result = redact(ds, RedactionRequest(boxes=[box]))
    assert result.pixel_data == ds.PixelData
    assert result.changed == 0


def test_empty_request_copies_pixels() -> None:
    ds = _testdata("MR_small.dcm")
    result = redact(ds, RedactionRequest())
    assert result.pixel_data == ds.PixelData and result.changed == 0


def _synthetic(**overrides: Any) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 4, 4, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(16)
    for key, value in overrides.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    return ds


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"PixelData": None}, InvalidDicomError),
        ({"PixelData": bytes(10)}, InvalidDicomError),
        ({"PhotometricInterpretation": "YBR_PARTIAL_422", "SamplesPerPixel": 3}, UnsupportedError),
        ({"PhotometricInterpretation": "CMYK", "SamplesPerPixel": 4}, UnsupportedError),
        ({"PhotometricInterpretation": "RGB"}, InvalidDicomError),
        ({"BitsStored": 12}, InvalidDicomError),
        ({"BitsAllocated": 64, "BitsStored": 64, "HighBit": 63}, UnsupportedError),
        ({"HighBit": 3}, InvalidDicomError),
        ({"Rows": None}, InvalidDicomError),
        ({"PhotometricInterpretation": "PALETTE COLOR"}, UnsupportedError),
    ],
)
def test_refusals(overrides: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        redact(_synthetic(**overrides), RedactionRequest(boxes=[Box(0, 0, 2, 2)]))


def test_float_pixel_data_refused() -> None:
    ds = _synthetic(PixelData=None)
    ds.FloatPixelData = bytes(64)
    with pytest.raises(UnsupportedError, match="FloatPixelData"):
        redact(ds, RedactionRequest(boxes=[Box(0, 0, 2, 2)]))


def test_compressed_syntax_refused() -> None:
    ds = _synthetic()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.5"
    with pytest.raises(UnsupportedError, match="not native"):
        redact(ds, RedactionRequest(boxes=[Box(0, 0, 2, 2)]))


@pytest.mark.parametrize(
    "uid",
    ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"],
)
def test_registry(uid: str) -> None:
    entry, func = get_handler(uid)
    assert entry.name == "native" and func is redact
    assert lookup("1.2.840.10008.1.2.4.50").name == "jpeg-baseline"


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Dataset, RedactionRequest]:
    bits_allocated = draw(st.sampled_from([8, 16, 32]))
    bits_stored = draw(st.integers(1, bits_allocated))
    high_bit = draw(st.integers(bits_stored - 1, bits_allocated - 1))
    pi = draw(st.sampled_from(["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL"]))
    spp = 1 if pi.startswith("MONO") else 3
    rows, cols, frames = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 3))
    big = draw(st.booleans())
    order = ">" if big else "<"
    ds = _synthetic(
        Rows=rows,
        Columns=cols,
        SamplesPerPixel=spp,
        BitsAllocated=bits_allocated,
        BitsStored=bits_stored,
        HighBit=high_bit,
        PixelRepresentation=draw(st.integers(0, 1)),
        PhotometricInterpretation=pi,
        NumberOfFrames=frames,
    )
    if spp == 3:
        ds.PlanarConfiguration = draw(st.integers(0, 1))
    if big:
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    seed = draw(st.integers(0, 2**32 - 1))
    words = np.random.default_rng(seed).integers(
        0, 1 << bits_allocated, size=frames * rows * cols * spp, dtype=np.uint64
    )
    data = words.astype(f"{order}u{bits_allocated // 8}").tobytes()
    ds.PixelData = data + b"\0" * (len(data) % 2)
    coord, size = st.integers(-4, 14), st.integers(0, 8)
    box = st.builds(Box, coord, coord, size, size)
    boxes = draw(st.lists(box, max_size=3))
    frame_boxes = draw(st.dictionaries(st.integers(0, frames - 1), st.lists(box, max_size=2)))
    return ds, RedactionRequest(boxes, frame_boxes, draw(st.sampled_from(list(Fill))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_random_boxes_cover_exactly(case: tuple[Dataset, RedactionRequest]) -> None:
    ds, request = case
    layout = PixelLayout.from_dataset(ds)
    result = redact(ds, request)
    assert len(result.pixel_data) == len(ds.PixelData)
    order = ">" if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian else "<"
    dtype = np.dtype(f"{order}u{layout.bits_allocated // 8}")
    shape = (layout.frames, layout.samples_per_pixel, layout.rows, layout.columns)
    count = int(np.prod(shape))

    def planes(buf: bytes) -> np.ndarray:
        words = np.frombuffer(buf, dtype=dtype, count=count).astype(np.uint64)
        if layout.samples_per_pixel == 1 or layout.planar_configuration == 1:
            return words.reshape(shape)
        return words.reshape(shape[0], shape[2], shape[3], shape[1]).transpose(0, 3, 1, 2)

    old, new = planes(ds.PixelData), planes(result.pixel_data)
    shift = layout.high_bit - layout.bits_stored + 1
    mask = ((1 << layout.bits_stored) - 1) << shift
    keep = ((1 << layout.bits_allocated) - 1) & ~mask
    assert np.array_equal(old & np.uint64(keep), new & np.uint64(keep))
    total = 0
    for f in range(layout.frames):
        covered = ~_outside((1, layout.rows, layout.columns), request.boxes_for(f))
        total += int(covered.sum())
        assert np.array_equal(old[f][:, ~covered], new[f][:, ~covered])
        if request.fill is not Fill.FLAT and covered.any():
            values = plan_fill(layout, request.fill).values
            for c, value in enumerate(values):
                stored = (value & ((1 << layout.bits_stored) - 1)) << shift
                assert (new[f, c][covered] & np.uint64(mask) == stored).all()
    assert result.changed == total
