"""Tests of the decode / fill / lossless re-encode handler."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from dctredact import Box, Fill, RedactionRequest
from dctredact.errors import DctRedactError, UnsupportedError
from dctredact.handlers import get_handler, lookup
from dctredact.handlers import lossless as lossless_module
from dctredact.handlers.lossless import redact

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "native"
BOX = Box(3, 4, 10, 7)
JLS, J2K, RLE = str(JPEGLSLossless), str(JPEG2000Lossless), str(RLELossless)


def _read(path: str | Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _testdata(name: str) -> Dataset:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not available")
    return _read(path)


def _decode(ds: Dataset) -> np.ndarray:
    """Raw decoding of every frame as ``(frames, rows, columns, samples)``."""
    from pydicom.pixels import get_decoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)
    frames = int(ds.get("NumberOfFrames") or 1)
    return arr.reshape(frames, ds.Rows, ds.Columns, -1)


def _apply(ds: Dataset, result: Any) -> Dataset:
    """The output dataset, as the API would build it."""
    out = copy.deepcopy(ds)
    out.file_meta.TransferSyntaxUID = result.transfer_syntax_uid
    out.PixelData = result.pixel_data
    out["PixelData"].VR = "OB"
    for keyword, value in result.dataset_updates.items():
        setattr(out, keyword, value)
    return out


def _outside(shape: tuple[int, ...], boxes: list[Box]) -> np.ndarray:
    mask = np.ones(shape[1:3], dtype=bool)
    for b in boxes:
        c = b.clip(shape[2], shape[1])
        mask[c.y : c.y1, c.x : c.x1] = False
    return mask


CASES = [
    # file, syntax in, syntax out, lossy, black value of channel 0
    ("MR_small_RLE.dcm", RLE, RLE, False, -32768),
    ("SC_rgb_rle_2frame.dcm", RLE, RLE, False, 0),
    ("MR_small_jpeg_ls_lossless.dcm", JLS, JLS, False, -32768),
    ("MR_small_jp2klossless.dcm", J2K, J2K, False, -32768),
    ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91", J2K, True, -32768),
    ("JPGExtended.dcm", "1.2.840.10008.1.2.4.51", JLS, True, 0),
    ("JPEGLSNearLossless_08.dcm", "1.2.840.10008.1.2.4.81", JLS, True, 0),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "1.2.840.10008.1.2.4.70", JLS, False, 0),
    ("SC_rgb_jpeg_gdcm.dcm", "1.2.840.10008.1.2.4.70", JLS, False, 0),
]


@pytest.mark.parametrize(("name", "ts_in", "ts_out", "lossy", "black"), CASES)
def test_real_files(name: str, ts_in: str, ts_out: str, lossy: bool, black: int) -> None:
    ds = _testdata(name)
    assert ds.file_meta.TransferSyntaxUID == ts_in
    before = copy.deepcopy(ds)
    box = BOX if ds.Columns > 20 else Box(2, 3, 5, 9)
    result = redact(ds, RedactionRequest(boxes=[box]))
    assert ds == before
    assert result.encapsulated and result.unit == "pixels"
    assert result.transfer_syntax_uid == ts_out
    old = _decode(ds)
    new = _decode(_apply(ds, result))
    assert result.changed == box.area * old.shape[0]
    outside = _outside(old.shape, [box])
    assert np.array_equal(old[:, outside], new[:, outside])
    inside = new[:, box.y : box.y1, box.x : box.x1, :]
    assert (inside[..., 0] == black).all()
    if ts_in != ts_out:
        assert any("transfer syntax changed" in n for n in result.notes)
    if lossy:
        assert result.dataset_updates.get("LossyImageCompression") == "01"
    else:
        assert "LossyImageCompression" not in result.dataset_updates


def test_keep_syntax_refuses_lossy() -> None:
    with pytest.raises(UnsupportedError, match="would have to be re-encoded lossily"):
        redact(_testdata("JPGExtended.dcm"), RedactionRequest([BOX], keep_syntax=True))


def test_keep_syntax_refuses_unencodable_lossless() -> None:
    ds = _testdata("SC_rgb_jpeg_gdcm.dcm")
    with pytest.raises(UnsupportedError, match="keep_syntax"):
        redact(ds, RedactionRequest([BOX], keep_syntax=True))


def test_keep_syntax_allows_same_syntax() -> None:
    result = redact(_testdata("MR_small_RLE.dcm"), RedactionRequest([BOX], keep_syntax=True))
    assert result.transfer_syntax_uid == RLE and not result.notes


def test_frame_boxes_multiframe() -> None:
    ds = _testdata("SC_rgb_rle_2frame.dcm")
    request = RedactionRequest(frame_boxes={1: [Box(90, 90, 50, 50)]}, fill=Fill.GRAY)
    result = redact(ds, request)
    old, new = _decode(ds), _decode(_apply(ds, result))
    assert np.array_equal(old[0], new[0])
    assert (new[1, 90:, 90:] == 128).all()
    assert np.array_equal(old[1, :90], new[1, :90])
    assert result.changed == 100


def test_flat_fill_mean() -> None:
    ds = _testdata("MR_small_jpeg_ls_lossless.dcm")
    result = redact(ds, RedactionRequest([BOX], fill=Fill.FLAT))
    old, new = _decode(ds), _decode(_apply(ds, result))
    expected = np.floor(old[0, 4:11, 3:13, 0].astype(np.float64).mean() + 0.5)
    assert (new[0, 4:11, 3:13, 0] == expected).all()


def _compressed_fixture(name: str, uid: str) -> Dataset:
    ds = _read(FIXTURES / name)
    from pydicom.pixels import pixel_array

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = pixel_array(ds, raw=True)
        ds.compress(uid, arr)
    return ds


@pytest.mark.parametrize(
    ("name", "uid", "black"),
    [
        ("mono1_s16.dcm", RLE, 32767),
        ("mono1_s16.dcm", JLS, 32767),
        ("rgb_planar1.dcm", RLE, 0),
        ("ybr_full.dcm", JLS, 0),
        ("palette_u8.dcm", RLE, 200),
        ("palette_u8.dcm", JLS, 200),
    ],
)
def test_fixtures_compressed(name: str, uid: str, black: int) -> None:
    ds = _compressed_fixture(name, uid)
    result = redact(ds, RedactionRequest([BOX]))
    assert result.transfer_syntax_uid == uid
    old, new = _decode(ds), _decode(_apply(ds, result))
    outside = _outside(old.shape, [BOX])
    assert np.array_equal(old[:, outside], new[:, outside])
    assert (new[:, 4:11, 3:13, 0] == black).all()
    if ds.PhotometricInterpretation == "YBR_FULL":
        assert (new[:, 4:11, 3:13, 1:] == 128).all()


def test_jpeg2000_falls_back_when_encoder_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. OpenJPEG cannot encode images smaller than its resolution levels (32 px)."""
    real = lossless_module._encode_frames

    def no_j2k(arr: np.ndarray, uid: str, *args: Any) -> Any:
        if uid == J2K:
            raise RuntimeError("failure result from 'opj_start_compress()'")
        return real(arr, uid, *args)

    monkeypatch.setattr(lossless_module, "_encode_frames", no_j2k)
    ds = _testdata("MR_small_jp2klossless.dcm")
    result = redact(ds, RedactionRequest([BOX]))
    assert result.transfer_syntax_uid == JLS
    assert "opj_start_compress" in result.notes[0]
    new = _decode(_apply(ds, result))
    assert (new[0, 4:11, 3:13, 0] == -32768).all()
    with pytest.raises(UnsupportedError, match="keep_syntax"):
        redact(ds, RedactionRequest([BOX], keep_syntax=True))


def test_jpeg2000_ybr_rct_kept() -> None:
    """An RGB image decoded from YBR_RCT J2K is written back with the RCT."""
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_encoder

    ds = _read(FIXTURES / "rgb_planar1.dcm")
    ds.PlanarConfiguration = 0
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 65536, size=(72, 64, 3)).astype(np.uint16)  # >= 32 px for OpenJPEG
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    options = dict(
        rows=72,
        columns=64,
        samples_per_pixel=3,
        bits_allocated=16,
        bits_stored=16,
        pixel_representation=0,
        photometric_interpretation="YBR_RCT",
        planar_configuration=0,
        number_of_frames=1,
        use_mct=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = get_encoder(J2K).encode(arr, **options)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 72, 64, 1
    ds.PhotometricInterpretation = "YBR_RCT"
    ds.PixelData = encapsulate([frame])
    ds.file_meta.TransferSyntaxUID = J2K
    result = redact(ds, RedactionRequest([BOX]))
    assert result.transfer_syntax_uid == J2K
    assert "PhotometricInterpretation" not in result.dataset_updates
    new = _decode(_apply(ds, result))
    assert (new[0, 4:11, 3:13] == 0).all()
    outside = _outside(new.shape, [BOX])
    assert np.array_equal(new[0][outside], arr[outside])


def test_verification_failure_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    real = pydicom.pixels.get_decoder

    class Corrupting:
        def __init__(self, uid: str) -> None:
            self.inner = real(uid)
            self.is_available = True

        def as_array(self, src: Any, **kwargs: Any) -> Any:
            arr, meta = self.inner.as_array(src, **kwargs)
            if not isinstance(src, Dataset):  # the check after encoding
                arr = arr.copy()
                arr.flat[0] ^= 1
            return arr, meta

    monkeypatch.setattr(pydicom.pixels, "get_decoder", Corrupting)
    with pytest.raises(DctRedactError, match="did not reproduce"):
        redact(_testdata("MR_small_RLE.dcm"), RedactionRequest([BOX]))


def test_empty_request_is_a_copy() -> None:
    ds = _testdata("JPGExtended.dcm")
    result = redact(ds, RedactionRequest())
    assert result.pixel_data == ds.PixelData
    assert result.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID


def test_unknown_syntax_refused() -> None:
    ds = _testdata("MR_small.dcm")
    with pytest.raises(UnsupportedError, match="not handled here"):
        redact(ds, RedactionRequest([BOX]))


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.102",
        "1.2.840.10008.1.2.4.103",
        "1.2.840.10008.1.2.4.104",
        "1.2.840.10008.1.2.4.105",
        "1.2.840.10008.1.2.4.106",
        "1.2.840.10008.1.2.4.107",
        "1.2.840.10008.1.2.4.108",
    ],
)
def test_video_refused(uid: str) -> None:
    assert lookup(uid).refuses
    with pytest.raises(UnsupportedError, match="video"):
        get_handler(uid)


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.55",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
    ],
)
def test_registry(uid: str) -> None:
    entry, func = get_handler(uid)
    assert entry.module == ".lossless" and func is redact


def test_candidates() -> None:
    assert lossless_module._candidates(RLE)[0] == RLE
    assert lossless_module._candidates("1.2.840.10008.1.2.4.70")[0] == JLS
    assert lossless_module._candidates("1.2.840.10008.1.2.4.91")[0] == J2K


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.builds(
            Box,
            st.integers(-5, 70),
            st.integers(-5, 70),
            st.integers(0, 30),
            st.integers(0, 30),
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([RLE, JLS]),
)
def test_random_boxes_roundtrip(boxes: list[Box], uid: str) -> None:
    ds = _testdata("MR_small_RLE.dcm")
    if uid == JLS:
        ds = _testdata("MR_small_jpeg_ls_lossless.dcm")
    result = redact(ds, RedactionRequest(boxes))
    old, new = _decode(ds), _decode(_apply(ds, result))
    outside = _outside(old.shape, boxes)
    assert np.array_equal(old[:, outside], new[:, outside])
    assert (new[:, ~outside] == -32768).all()
    assert result.changed == int((~outside).sum())


def test_progressive_jpeg_via_libjpeg_fallback() -> None:
    """pydicom has no decoder for 4.55; the handler decodes it with libjpeg directly."""
    pytest.importorskip("libjpeg")
    import io

    from PIL import Image
    from pydicom.encaps import encapsulate

    rng = np.random.default_rng(7)
    ramp = np.add.outer(np.arange(48), np.arange(64)) * 2
    img = np.clip(ramp + rng.integers(0, 9, (48, 64)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, "JPEG", progressive=True, quality=90)
    ds = _read(FIXTURES / "mono1_s16.dcm")
    ds.Rows, ds.Columns = 48, 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = encapsulate([buf.getvalue()])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.55"
    result = redact(ds, RedactionRequest([BOX]))
    assert result.transfer_syntax_uid == JLS
    assert result.dataset_updates["LossyImageCompression"] == "01"
    import libjpeg

    old = libjpeg.decode(buf.getvalue())
    new = _decode(_apply(ds, result))[0, ..., 0]
    outside = _outside((1, 48, 64), [BOX])
    assert np.array_equal(old[outside], new[outside])
    assert (new[4:11, 3:13] == 0).all()
