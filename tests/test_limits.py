"""Resource limits: decompression bombs are refused before anything is allocated."""

from __future__ import annotations

import hashlib
import io
import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dctredact import api
from dctredact.errors import DctRedactError, ResourceLimitError
from dctredact.geometry import Box
from dctredact.jpeg.stream import parse_jpeg
from dctredact.limits import DEFAULT_LIMITS, Limits, check_dataset, current, enforce

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: Far below what any bomb here would allocate if it were attempted (>= 8 GB).
MAX_PEAK = 64 << 20


def _read(path: str | Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sof_offset(stream: bytes) -> int:
    parsed = parse_jpeg(stream)
    return next(s.offset for s in parsed.segments if s.marker == 0xC0)


def _jpeg_bomb(tmp_path: Path, rows: int, columns: int, *, header_too: bool) -> Path:
    """A real JPEG Baseline file whose SOF declares ``columns x rows``."""
    ds = _read(get_testdata_file("SC_rgb_small_odd_jpeg.dcm"))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    struct.pack_into(">HH", frame, _sof_offset(bytes(frame)) + 5, rows, columns)
    ds.PixelData = encapsulate([bytes(frame)])
    if header_too:
        ds.Rows, ds.Columns = rows, columns
    return _save(ds, tmp_path / "bomb.dcm")


def _native(rows: int, columns: int, frames: int, data: bytes) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = data
    return ds


def _refused_cheaply(func, *args, **kwargs) -> ResourceLimitError:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        with pytest.raises(ResourceLimitError) as info:
            func(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK, f"{peak} bytes allocated before refusing"
    return info.value


@pytest.mark.parametrize("header_too", [True, False], ids=["header-agrees", "header-lies"])
def test_jpeg_sof_bomb_refused_before_allocation(tmp_path: Path, header_too: bool) -> None:
    src = _jpeg_bomb(tmp_path, 65500, 65500, header_too=header_too)
    assert src.stat().st_size < 4096
    before = _sha(src)
    out = tmp_path / "out.dcm"
    err = _refused_cheaply(api.redact_file, src, out, [Box(0, 0, 10, 10)])
    assert str(src) in str(err)
    assert "65500x65500" in err.reason
    assert not out.exists()
    assert _sha(src) == before


def test_jpeg_sof_bomb_refused_by_parser() -> None:
    ds = _read(get_testdata_file("SC_rgb_small_odd_jpeg.dcm"))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    struct.pack_into(">HH", frame, _sof_offset(bytes(frame)) + 5, 0xFFFF, 0xFFFF)
    with pytest.raises(ResourceLimitError, match=r"SOF0 \(baseline DCT\) at byte"):
        parse_jpeg(bytes(frame))
    with enforce(Limits(max_frame_pixels=None, max_decoded_bytes=None)):
        parse_jpeg(bytes(frame))  # no limit: the header alone is fine


def test_native_bomb_refused_before_allocation(tmp_path: Path) -> None:
    src = _save(_native(60000, 60000, 10000, bytes(1024)), tmp_path / "bomb.dcm")
    out = tmp_path / "out.dcm"
    err = _refused_cheaply(api.redact_file, src, out, [Box(0, 0, 10, 10)])
    assert "Limits.max_frames" in err.reason or "Limits.max_frame_pixels" in err.reason
    assert not out.exists()


def test_native_bomb_refused_by_dataset_api() -> None:
    ds = _native(60000, 60000, 10000, bytes(1024))
    _refused_cheaply(api.redact_dataset, ds, [Box(0, 0, 10, 10)])


@pytest.mark.parametrize(
    ("limits", "name"),
    [
        (Limits(max_frame_pixels=100), "max_frame_pixels"),
        (Limits(max_frames=2), "max_frames"),
        (Limits(max_decoded_bytes=1000), "max_decoded_bytes"),
    ],
)
def test_configured_limits_refuse_real_files(tmp_path: Path, limits: Limits, name: str) -> None:
    # A 3-frame native file: each limit is exceeded by one of its declarations.
    src = FIXTURES / "native" / "mono2_1bit_3frame.dcm"
    out = tmp_path / "out.dcm"
    with pytest.raises(ResourceLimitError, match=name):
        api.redact_file(src, out, [Box(0, 0, 4, 4)], limits=limits)
    assert not out.exists()
    api.redact_file(src, out, [Box(0, 0, 4, 4)])  # the defaults accept it
    assert out.exists()


def test_limits_reach_the_jpeg_parser_through_the_api(tmp_path: Path) -> None:
    src = get_testdata_file("SC_rgb_small_odd_jpeg.dcm")
    # Header checks pass (a tiny image); the SOF coefficient buffers do not.
    limits = Limits(max_decoded_bytes=200)
    ds = _read(src)
    assert int(ds.Rows) * int(ds.Columns) * 3 < 200
    with pytest.raises(ResourceLimitError, match="coefficients of SOF0"):
        api.redact_file(src, tmp_path / "out.dcm", [Box(0, 0, 2, 2)], limits=limits)


@pytest.mark.parametrize(
    "name",
    ["examples_ybr_color.dcm", "SC_rgb_rle_2frame.dcm"],
    ids=["jpeg-multiframe", "rle-multiframe"],
)
def test_time_limit_is_checked_between_frames(tmp_path: Path, name: str) -> None:
    src = get_testdata_file(name)
    out = tmp_path / "out.dcm"
    with pytest.raises(ResourceLimitError, match="max_seconds"):
        api.redact_file(src, out, [Box(0, 0, 8, 8)], limits=Limits(max_seconds=1e-9))
    assert not out.exists()


def test_scan_file_checks_limits(tmp_path: Path) -> None:
    src = _save(_native(60000, 60000, 10000, bytes(1024)), tmp_path / "bomb.dcm")
    with pytest.raises(ResourceLimitError):
        api.scan_file(src)


def test_lossless_declared_size_checked_before_decoding(tmp_path: Path) -> None:
    ds = _read(get_testdata_file("MR_small_RLE.dcm"))
    ds.Rows = ds.Columns = 60000
    src = _save(ds, tmp_path / "rle.dcm")
    _refused_cheaply(api.redact_file, src, tmp_path / "out.dcm", [Box(0, 0, 4, 4)])
    assert not (tmp_path / "out.dcm").exists()


def test_limits_validation_and_defaults() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert Limits().max_frame_pixels == 1 << 28
    for bad in ({"max_frames": 0}, {"max_frame_pixels": -1}, {"max_seconds": 0.0}):
        with pytest.raises(ValueError):
            Limits(**bad)  # type: ignore[arg-type]
    unlimited = Limits(None, None, None, None)
    unlimited.check_frame(1 << 20, 1 << 20)
    unlimited.check_frames(1 << 40)
    unlimited.check_bytes(1 << 60)


def test_enforce_nests_and_restores() -> None:
    assert current().limits == DEFAULT_LIMITS
    small = Limits(max_frames=3)
    with enforce(small) as outer:
        assert current() is outer
        with enforce() as inner:
            assert inner is outer  # no new limits: keep the outer clock
        with enforce(Limits(max_frames=5)) as other:
            assert other.limits.max_frames == 5
        assert current() is outer
    assert current().limits == DEFAULT_LIMITS


def test_check_dataset_tolerates_garbage_values() -> None:
    ds = Dataset()
    ds.Rows = 10
    ds.Columns = 10
    ds.add_new(0x00280008, "IS", None)
    check_dataset(ds)  # nothing declared is too large; validation is the handlers' job
    ds.NumberOfFrames = 60000
    with pytest.raises(ResourceLimitError, match="Number of Frames"):
        check_dataset(ds)


def test_unexpected_exceptions_become_dctredact_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dctredact.handlers import native

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("patient name would be here")

    monkeypatch.setattr(native, "plan_fill", boom)
    src = FIXTURES / "native" / "ybr_full.dcm"
    out = tmp_path / "out.dcm"
    with pytest.raises(DctRedactError) as info:
        api.redact_file(src, out, [Box(0, 0, 4, 4)])
    assert "unexpected KeyError" in str(info.value)
    assert "patient name" not in str(info.value)
    assert str(src) in str(info.value)
    assert not out.exists()
    ds = _read(src)
    with pytest.raises(DctRedactError, match="unexpected KeyError"):
        api.redact_dataset(ds, [Box(0, 0, 4, 4)])


def test_memory_error_is_a_resource_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dctredact.handlers import native

    def oom(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(native, "plan_fill", oom)
    with pytest.raises(ResourceLimitError, match="out of memory"):
        api.redact_file(FIXTURES / "native" / "ybr_full.dcm", None, [Box(0, 0, 4, 4)])


def test_small_files_are_unaffected(tmp_path: Path) -> None:
    buf = io.BytesIO()
    ds = _native(4, 4, 1, np.arange(16, dtype="<u2").tobytes())
    ds.save_as(buf, enforce_file_format=True)
    src = tmp_path / "small.dcm"
    src.write_bytes(buf.getvalue())
    result = api.redact_file(src, tmp_path / "out.dcm", [Box(0, 0, 2, 2)])
    assert result.changed == 4
