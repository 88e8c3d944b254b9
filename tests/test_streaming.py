"""The frame-by-frame path writes exactly what the in-memory path writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dctredact.api import _output_bytes, redact_file
from dctredact.dicomio import read_dicom
from dctredact.errors import DctRedactError
from dctredact.geometry import Box
from dctredact.handlers import jpeg_baseline
from dctredact.handlers.base import Fill, RedactionRequest
from dctredact.streaming import read_header, redact_streaming

FIXTURES = Path(__file__).parent.parent / "fixtures" / "jpeg"
FILES = [
    *(str(p) for p in sorted(FIXTURES.glob("*.dcm"))),
    str(get_testdata_file("examples_ybr_color.dcm")),
    str(get_testdata_file("SC_rgb_jpeg.dcm")),  # implicit VR body under an explicit syntax
    str(get_testdata_file("SC_rgb_dcmtk_+eb+cr.dcm")),
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).name)
def test_streamed_output_equals_in_memory_output(path: str, tmp_path: Path) -> None:
    request = RedactionRequest(
        (Box(0, 0, 9999, 20), Box(11, 30, 23, 9)), {1: [Box(0, 40, 30, 10)]}, Fill.BLACK
    )
    dicom = read_dicom(path)
    expected = _output_bytes(dicom, jpeg_baseline.redact(dicom.dataset, request))
    header = read_header(path)
    assert header is not None
    out = tmp_path / "streamed.dcm"
    outcome = redact_streaming(header, out, request)
    assert out.read_bytes() == expected
    assert outcome.changed > 0


def test_redact_file_streams_without_ocr_and_matches(tmp_path: Path) -> None:
    src = str(get_testdata_file("color3d_jpeg_baseline.dcm"))
    result = redact_file(src, tmp_path / "a.dcm", [Box(0, 0, 640, 40)])
    dicom = read_dicom(src)
    request = RedactionRequest((Box(0, 0, 640, 40),), {}, Fill.BLACK)
    expected = _output_bytes(dicom, jpeg_baseline.redact(dicom.dataset, request))
    assert (tmp_path / "a.dcm").read_bytes() == expected
    assert result.frames == 120 and result.unit == "blocks"


def test_a_failing_frame_leaves_no_output(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "fragments_422.dcm").read_bytes())
    last_sos = data.rindex(b"\xff\xda")
    data[last_sos + 30 : last_sos + 60] = b"\xff\x01" * 15  # broken last frame
    src = tmp_path / "bad.dcm"
    src.write_bytes(bytes(data))
    out = tmp_path / "out" / "bad.dcm"
    with pytest.raises(DctRedactError):
        redact_file(src, out, [Box(0, 0, 10, 10)])
    assert not out.exists()
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_empty_number_of_frames_is_refused(tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(FIXTURES / "monochrome1_odd.dcm")
    ds.NumberOfFrames = ""
    src = tmp_path / "empty.dcm"
    ds.save_as(src)
    with pytest.raises(DctRedactError, match="Number of Frames is present but empty"):
        redact_file(src, tmp_path / "out.dcm", [Box(0, 0, 8, 8)])
    assert not (tmp_path / "out.dcm").exists()
