"""Icons, overlays and JPEG comments: the other places text hides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from dctredact.api import redact_file
from dctredact.extras import ExtraOptions, IconPolicy, OverlayPolicy
from dctredact.geometry import Box
from dctredact.jpeg.stream import parse_jpeg

FIXTURES = Path(__file__).parent.parent / "fixtures" / "jpeg"


def _with_icon(tmp_path: Path) -> Path:
    """A JPEG file with a 32x32 MONOCHROME2 icon of a bright picture."""
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm"))
    icon = pydicom.Dataset()
    icon.Rows = icon.Columns = 32
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated = icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = np.full((32, 32), 200, np.uint8).tobytes()
    ds.IconImageSequence = [icon]
    ds.add_new(0x60000010, "US", 32)
    ds.add_new(0x60000011, "US", 32)
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60003000, "OW", b"\xff" * 128)
    path = tmp_path / "icon.dcm"
    ds.save_as(path)
    return path


def test_icon_is_redacted_with_scaled_boxes(tmp_path: Path) -> None:
    src = _with_icon(tmp_path)
    out = tmp_path / "out.dcm"
    result = redact_file(src, out, [Box(0, 0, 50, 25)])  # image is 100x100
    icon = pydicom.dcmread(out).IconImageSequence[0]
    pixels = np.frombuffer(icon.PixelData, np.uint8).reshape(32, 32)
    assert (pixels[:8, :16] == 0).all()  # 0..50 x 0..25 scaled by 0.32 -> 16 x 8
    assert (pixels[9:, 17:] == 200).all()
    assert any("Icon Image Sequence redacted" in n for n in result.notes)
    assert any("overlay plane(s) 6000 present" in n for n in result.notes)


def test_icon_and_overlays_can_be_removed(tmp_path: Path) -> None:
    src = _with_icon(tmp_path)
    out = tmp_path / "out.dcm"
    redact_file(
        src,
        out,
        [Box(0, 0, 5, 5)],
        extras=ExtraOptions(icon=IconPolicy.REMOVE, overlays=OverlayPolicy.REMOVE),
    )
    ds = pydicom.dcmread(out)
    assert "IconImageSequence" not in ds
    assert not [e for e in ds if e.tag.group == 0x6000]


def test_com_segments_are_stripped_on_request(tmp_path: Path) -> None:
    src = FIXTURES / "restart_1mcu_com.dcm"
    out = tmp_path / "out.dcm"
    redact_file(src, out, [Box(0, 0, 8, 8)], extras=ExtraOptions(strip_markers=True))
    ds = pydicom.dcmread(out)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    stream = parse_jpeg(frame)
    assert not stream.segments_named("COM")
    assert stream.segments_named("APP0")  # JFIF stays
    kept = tmp_path / "kept.dcm"
    redact_file(src, kept, [Box(0, 0, 8, 8)])
    frame = next(generate_frames(pydicom.dcmread(kept).PixelData, number_of_frames=1))
    assert parse_jpeg(frame).segments_named("COM")


def test_an_icon_without_boxes_is_left_without_a_misleading_note(tmp_path: Path) -> None:
    src = _with_icon(tmp_path)
    result = redact_file(src, tmp_path / "out.dcm", [])
    assert not any("Icon" in n for n in result.notes)
    assert any("overlay plane(s) 6000 present" in n for n in result.notes)
    assert pydicom.dcmread(tmp_path / "out.dcm").IconImageSequence[0].PixelData == (
        pydicom.dcmread(src).IconImageSequence[0].PixelData
    )
