"""JPEG Baseline redaction on real files (pydicom, pydicom-data) and the JPEG fixtures.

For each file: the transfer syntax is unchanged, every frame decodes with Pillow and with
pylibjpeg, the boxes decode black, the coefficients of every unplanned block equal the
input's (read by libjpeg, independent of our decoder), and every byte outside Pixel Data
is unchanged.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from conftest import libjpeg_coefficients, pillow_decode, pylibjpeg_decode
from dctredact.api import redact_dataset, redact_file
from dctredact.dicomio import read_dicom
from dctredact.geometry import Box, FrameGeometry, plan_blocks
from dctredact.handlers.base import Fill
from dctredact.jpeg.codec import fill_dc_values
from dctredact.jpeg.stream import SOF0, SOF1, parse_jpeg

FIXTURES = Path(__file__).parent.parent / "fixtures" / "jpeg"

PYDICOM_FILES = [
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_rgb_dcmtk_+eb+cy+s2.dcm",
    "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_jpeg.dcm",
    "SC_rgb_small_odd_jpeg.dcm",
    "examples_ybr_color.dcm",
    "color3d_jpeg_baseline.dcm",  # pydicom-data: 120-frame ultrasound, no BOT
]
FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.dcm"))

BOXES = [Box(0, 0, 10_000, 21), Box(13, 37, 29, 11)]  # a top banner and an odd box


def real_path(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, f"{name} missing: install pydicom-data"
    return str(path)


def frames_of(path: str | Path) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        n = int(getattr(ds, "NumberOfFrames", 1) or 1)
        return list(generate_frames(ds.PixelData, number_of_frames=n))


def check_redaction(src: str | Path, dst: Path, boxes: list[Box], fill: Fill) -> None:
    result = redact_file(src, dst, boxes, fill=fill)
    before, after = read_dicom(src), read_dicom(dst)
    uid = before.transfer_syntax_uid
    assert after.transfer_syntax_uid == uid
    assert result.transfer_syntax_out == uid
    # Every byte before and after Pixel Data is unchanged (preamble, meta, elements).
    assert before.pixel_span is not None and after.pixel_span is not None
    head_a = bytearray(after.data[: after.pixel_span[1]])
    head_b = before.data[: before.pixel_span[1]]
    if "ExtendedOffsetTable" in before.dataset:  # its values change, at the same offsets
        for tag in (0x7FE00001, 0x7FE00002):
            old = before.dataset[tag].value
            tag_bytes = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
            start = head_b.index(tag_bytes + b"OV") + 12  # explicit VR OV: 12-byte header
            end = start + len(old)
            assert start > 0 and after.dataset[tag].value == head_a[start:end]
            head_a[start:end] = head_b[start:end]
    assert bytes(head_a) == head_b
    assert after.data[after.pixel_span[2] :] == before.data[before.pixel_span[2] :]
    photometric = str(before.dataset.PhotometricInterpretation)
    mono1 = photometric == "MONOCHROME1"
    allowed = frozenset({SOF0, SOF1})
    in_frames, out_frames = frames_of(src), frames_of(dst)
    assert len(in_frames) == len(out_frames)
    total = 0
    for fin, fout in zip(in_frames, out_frames, strict=True):
        stream = parse_jpeg(fin, allowed_sof=allowed)
        f = stream.frame
        geometry = FrameGeometry(f.columns, f.rows, f.sampling)
        masks = plan_blocks(geometry, boxes)
        total += sum(int(m.sum()) for m in masks)
        a, b = libjpeg_coefficients(fin), libjpeg_coefficients(fout)
        dc = fill_dc_values(stream, fill, photometric=photometric)
        for index, (ca, cb) in enumerate(zip(a, b, strict=True)):
            g = geometry.component(index)
            mask = masks[index][: g.blocks_high, : g.blocks_wide]
            assert np.array_equal(ca[~mask], cb[~mask]), "unplanned block changed"
            assert not cb[mask][:, 1:].any()
            if fill is Fill.BLACK:
                assert (cb[mask][:, 0] == dc[index]).all()
        # Two independent decoders accept every frame; libjpeg's raw components (no
        # colour transform) show what each channel holds.
        pillow_decode(fout)
        raw = pylibjpeg_decode(fout).astype(int)
        if fill is not Fill.BLACK:
            continue
        model = stream.display_model(photometric)
        for box in boxes:
            c = box.clip(f.columns, f.rows)
            if c.is_empty():
                continue
            region = raw[c.y : c.y1, c.x : c.x1]
            if model == "YCbCr":
                region = region[..., 0]  # luma; chroma edges blend with neighbours
            expected = 255 if mono1 else 0
            assert np.abs(region - expected).max() <= 1, f"box {box} not black"
    assert result.changed == total


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_real_files_black(name: str, tmp_path: Path) -> None:
    check_redaction(real_path(name), tmp_path / "out.dcm", BOXES, Fill.BLACK)


@pytest.mark.parametrize("name", FIXTURE_FILES)
@pytest.mark.parametrize("fill", list(Fill))
def test_fixtures_every_fill(name: str, fill: Fill, tmp_path: Path) -> None:
    check_redaction(FIXTURES / name, tmp_path / "out.dcm", BOXES, fill)


def test_restart_intervals_survive(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    redact_file(FIXTURES / "restart_420.dcm", out, BOXES)
    for frame in frames_of(out):
        stream = parse_jpeg(frame)
        assert stream.restart_interval == 3
        assert frame.count(b"\xff\xd0") >= 1  # RST0 markers are still there


def test_fragmented_input_becomes_one_fragment_per_frame_with_bot(tmp_path: Path) -> None:
    src = FIXTURES / "fragments_422.dcm"
    out = tmp_path / "out.dcm"
    redact_file(src, out, BOXES)
    ds = pydicom.dcmread(out)
    from pydicom.encaps import parse_basic_offsets, parse_fragments

    value = ds.PixelData
    offsets = parse_basic_offsets(value)
    count, _ = parse_fragments(value[8 + 4 * len(offsets) :])  # items after the BOT
    assert count == 3 and len(offsets) == 3 and offsets[0] == 0
    assert all(len(f) % 2 == 0 for f in frames_of(out))


def test_extended_offset_table_is_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    redact_file(FIXTURES / "extended_offsets_444.dcm", out, BOXES)
    ds = pydicom.dcmread(out)
    assert "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds
    frames = list(
        generate_frames(
            ds.PixelData,
            number_of_frames=1,
            extended_offsets=(ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths),
        )
    )
    pillow_decode(frames[0])


def test_redact_dataset_returns_a_copy() -> None:
    ds = pydicom.dcmread(real_path("SC_rgb_jpeg_dcmtk.dcm"))
    original = ds.PixelData
    out = redact_dataset(ds, [Box(0, 0, 50, 50)], fill="gray")
    assert ds.PixelData == original
    assert out.PixelData != original
    assert out.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert out.PatientName == ds.PatientName


def test_no_boxes_writes_the_input_unchanged(tmp_path: Path) -> None:
    src = real_path("examples_ybr_color.dcm")
    out = tmp_path / "out.dcm"
    result = redact_file(src, out, [])
    assert result.outcome == "no-text" and result.changed == 0
    assert out.read_bytes() == Path(src).read_bytes()


@pytest.mark.parametrize(
    "name", ["SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm"]
)
def test_rgb_streams_display_black_in_a_dicom_reader(name: str, tmp_path: Path) -> None:
    # One stream says RGB with APP14, the other says nothing: pydicom (following
    # Photometric Interpretation RGB) shows both boxes black in every channel.
    out = tmp_path / "out.dcm"
    redact_file(real_path(name), out, [Box(0, 0, 64, 64)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = pydicom.dcmread(out).pixel_array
    assert pixels[:64, :64].max() == 0
    assert pixels[64:, 64:].max() > 0
