"""Generate small uncompressed DICOM fixtures for pixel layouts no real test file covers.

Run from the repository root::

    python tools/make_native_fixtures.py [--out fixtures/native]

The output is deterministic (fixed UIDs, dates, seeded pixel values), so re-running it
gives byte-identical files. Every image is 32 x 24 (31 x 24 for the 1-bit one) with a
horizontal gradient plus seeded noise; ``MANIFEST`` below says what each file exercises.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
)

ROOT = "1.2.826.0.1.3680043.8.498.77777"  # fixed: fixtures must be reproducible
ROWS, COLUMNS = 24, 32

Array = npt.NDArray[Any]


def _base(name: str, index: int, tsuid: str) -> Dataset:
    """A Secondary Capture dataset with fixed identifying values."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = UID(f"{ROOT}.3.{index}")
    meta.TransferSyntaxUID = UID(tsuid)
    meta.ImplementationClassUID = UID(f"{ROOT}.0")
    meta.ImplementationVersionName = "DCTREDACT_FIX"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = UID(f"{ROOT}.1.{index}")
    ds.SeriesInstanceUID = UID(f"{ROOT}.2.{index}")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.PatientName = "Fixture^Native"
    ds.PatientID = f"FIX{index:03d}"
    ds.Modality = "OT"
    ds.ConversionType = "SYN"
    ds.SeriesDescription = name
    ds.Rows, ds.Columns = ROWS, COLUMNS
    return ds


def _pixels(
    ds: Dataset,
    *,
    pi: str,
    bits_allocated: int,
    bits_stored: int,
    signed: bool,
    spp: int = 1,
    planar: int | None = None,
    frames: int | None = None,
    high_bit: int | None = None,
) -> None:
    ds.PhotometricInterpretation = pi
    ds.SamplesPerPixel = spp
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1 if high_bit is None else high_bit
    ds.PixelRepresentation = int(signed)
    if planar is not None:
        ds.PlanarConfiguration = planar
    if frames is not None:
        ds.NumberOfFrames = frames


def _values(seed: int, shape: tuple[int, ...], lo: int, hi: int) -> Array:
    """A ramp over the whole array plus seeded noise, within [lo, hi]."""
    rng = np.random.default_rng(seed)
    base = np.linspace(lo, hi, num=int(np.prod(shape))).reshape(shape)
    noise = rng.integers(-((hi - lo) // 16), (hi - lo) // 16 + 1, size=shape)
    return np.clip(np.rint(base + noise), lo, hi).astype(np.int64)


def _store(ds: Dataset, words: Array, dtype: str, vr: str = "OW") -> None:
    ds.PixelData = np.ascontiguousarray(words).astype(dtype).tobytes()
    ds["PixelData"].VR = vr


def mono1_s16(ds: Dataset) -> None:
    """Signed 16-bit MONOCHROME1: black is +32767."""
    _pixels(ds, pi="MONOCHROME1", bits_allocated=16, bits_stored=16, signed=True)
    _store(ds, _values(1, (ROWS, COLUMNS), -32768, 32767), "<i2")


def mono2_s12_junk(ds: Dataset) -> None:
    """Signed 12 bits stored in 16 with random bits above High Bit 11."""
    _pixels(ds, pi="MONOCHROME2", bits_allocated=16, bits_stored=12, signed=True)
    vals = _values(2, (ROWS, COLUMNS), -2048, 2047) & 0x0FFF
    junk = np.random.default_rng(22).integers(0, 16, size=vals.shape) << 12
    _store(ds, vals | junk, "<u2")


def mono1_u12_junk(ds: Dataset) -> None:
    """Unsigned 12 bits stored in 16, MONOCHROME1, random bits above High Bit 11."""
    _pixels(ds, pi="MONOCHROME1", bits_allocated=16, bits_stored=12, signed=False)
    vals = _values(3, (ROWS, COLUMNS), 0, 4095)
    junk = np.random.default_rng(33).integers(0, 16, size=vals.shape) << 12
    _store(ds, vals | junk, "<u2")


def mono2_u12_hb15(ds: Dataset) -> None:
    """Unsigned 12 bits stored in the high bits (High Bit 15), junk in the low 4 bits."""
    _pixels(ds, pi="MONOCHROME2", bits_allocated=16, bits_stored=12, signed=False, high_bit=15)
    vals = _values(4, (ROWS, COLUMNS), 0, 4095) << 4
    junk = np.random.default_rng(44).integers(0, 16, size=vals.shape)
    _store(ds, vals | junk, "<u2")


def rgb_planar1(ds: Dataset) -> None:
    """8-bit RGB, Planar Configuration 1 (colour-by-plane)."""
    _pixels(ds, pi="RGB", bits_allocated=8, bits_stored=8, signed=False, spp=3, planar=1)
    vals = _values(5, (ROWS, COLUMNS, 3), 0, 255)
    _store(ds, vals.transpose(2, 0, 1), "u1", "OB")


def ybr_full_422(ds: Dataset) -> None:
    """Uncompressed YBR_FULL_422: Y1 Y2 Cb Cr per horizontal pixel pair."""
    _pixels(ds, pi="YBR_FULL_422", bits_allocated=8, bits_stored=8, signed=False, spp=3, planar=0)
    vals = _values(6, (ROWS, COLUMNS // 2, 4), 0, 255)
    _store(ds, vals, "u1", "OB")


def ybr_full(ds: Dataset) -> None:
    """8-bit YBR_FULL, Planar Configuration 0."""
    _pixels(ds, pi="YBR_FULL", bits_allocated=8, bits_stored=8, signed=False, spp=3, planar=0)
    _store(ds, _values(7, (ROWS, COLUMNS, 3), 0, 255), "u1", "OB")


def mono2_u32(ds: Dataset) -> None:
    """32-bit unsigned MONOCHROME2."""
    _pixels(ds, pi="MONOCHROME2", bits_allocated=32, bits_stored=32, signed=False)
    _store(ds, _values(8, (ROWS, COLUMNS), 0, 2**32 - 1), "<u4")


def mono2_s32_be(ds: Dataset) -> None:
    """32-bit signed MONOCHROME2, Explicit VR Big Endian."""
    _pixels(ds, pi="MONOCHROME2", bits_allocated=32, bits_stored=32, signed=True)
    _store(ds, _values(9, (ROWS, COLUMNS), -(2**31), 2**31 - 1), ">i4")


def mono2_s12_be_3frame(ds: Dataset) -> None:
    """Signed 12-in-16 bits with junk high bits, 3 frames, Explicit VR Big Endian."""
    _pixels(ds, pi="MONOCHROME2", bits_allocated=16, bits_stored=12, signed=True, frames=3)
    vals = _values(10, (3, ROWS, COLUMNS), -2048, 2047) & 0x0FFF
    junk = np.random.default_rng(1010).integers(0, 16, size=vals.shape) << 12
    _store(ds, vals | junk, ">u2")


def rgb16_be_planar1_2frame(ds: Dataset) -> None:
    """16-bit RGB, Planar Configuration 1, 2 frames, Explicit VR Big Endian."""
    _pixels(
        ds, pi="RGB", bits_allocated=16, bits_stored=16, signed=False, spp=3, planar=1, frames=2
    )
    vals = _values(11, (2, ROWS, COLUMNS, 3), 0, 65535)
    _store(ds, vals.transpose(0, 3, 1, 2), ">u2")


def mono2_u8_be_ow(ds: Dataset) -> None:
    """8-bit samples in OW words of a big endian file (bytes swapped in pairs)."""
    _pixels(ds, pi="MONOCHROME2", bits_allocated=8, bits_stored=8, signed=False)
    vals = _values(12, (ROWS, COLUMNS), 0, 255).astype(np.uint8)
    ds.PixelData = vals.reshape(-1, 2)[:, ::-1].tobytes()
    ds["PixelData"].VR = "OW"


def mono2_1bit_3frame(ds: Dataset) -> None:
    """Bits Allocated 1, 31 columns (frames and rows not byte aligned), 3 frames."""
    ds.Columns = 31
    _pixels(ds, pi="MONOCHROME2", bits_allocated=1, bits_stored=1, signed=False, frames=3)
    bits = np.random.default_rng(13).integers(0, 2, size=3 * ROWS * 31).astype(np.uint8)
    packed = np.packbits(bits, bitorder="little").tobytes()
    ds.PixelData = packed + b"\0" * (len(packed) % 2)
    ds["PixelData"].VR = "OB"


def _palette(ds: Dataset) -> tuple[Array, Array, Array]:
    """A 256-entry palette whose darkest entry is index 200 (not 0 or 255)."""
    idx = np.arange(256)
    red = (255 - idx) * 257
    green = ((idx * 7) % 256) * 257
    blue = np.full(256, 40 * 257)
    for channel in (red, green, blue):
        channel[200] = 0
    ds.RedPaletteColorLookupTableDescriptor = [256, 0, 16]
    ds.GreenPaletteColorLookupTableDescriptor = [256, 0, 16]
    ds.BluePaletteColorLookupTableDescriptor = [256, 0, 16]
    return red, green, blue


def palette_u8(ds: Dataset) -> None:
    """PALETTE COLOR with 16-bit LUT entries; the darkest entry is index 200."""
    _pixels(ds, pi="PALETTE COLOR", bits_allocated=8, bits_stored=8, signed=False)
    for keyword, lut in zip(("Red", "Green", "Blue"), _palette(ds), strict=True):
        setattr(ds, f"{keyword}PaletteColorLookupTableData", lut.astype("<u2").tobytes())
        ds[f"{keyword}PaletteColorLookupTableData"].VR = "OW"
    _store(ds, _values(14, (ROWS, COLUMNS), 0, 150), "u1", "OB")


def palette_segmented(ds: Dataset) -> None:
    """PALETTE COLOR with Segmented LUT data (PS3.3 C.7.9.2); darkest entry is 10."""
    _pixels(ds, pi="PALETTE COLOR", bits_allocated=8, bits_stored=8, signed=False)
    for keyword in ("Red", "Green", "Blue"):
        setattr(ds, f"{keyword}PaletteColorLookupTableDescriptor", [256, 0, 16])
    # Discrete segments: 10 entries of 60000, one of 0, then a linear ramp to 65535.
    segments = {
        "Red": [0, 10, *[60000] * 10, 0, 1, 0, 1, 245, 65535],
        "Green": [0, 10, *[50000] * 10, 0, 1, 0, 1, 245, 65535],
        "Blue": [0, 10, *[40000] * 10, 0, 1, 0, 1, 245, 65535],
    }
    for keyword, seg in segments.items():
        setattr(
            ds,
            f"Segmented{keyword}PaletteColorLookupTableData",
            np.asarray(seg, dtype="<u2").tobytes(),
        )
        ds[f"Segmented{keyword}PaletteColorLookupTableData"].VR = "OW"
    _store(ds, _values(15, (ROWS, COLUMNS), 0, 255), "u1", "OB")


#: file name -> (builder, transfer syntax)
MANIFEST: dict[str, tuple[Callable[[Dataset], None], str]] = {
    "mono1_s16.dcm": (mono1_s16, ExplicitVRLittleEndian),
    "mono2_s12_junk.dcm": (mono2_s12_junk, ExplicitVRLittleEndian),
    "mono1_u12_junk.dcm": (mono1_u12_junk, ExplicitVRLittleEndian),
    "mono2_u12_hb15.dcm": (mono2_u12_hb15, ExplicitVRLittleEndian),
    "rgb_planar1.dcm": (rgb_planar1, ExplicitVRLittleEndian),
    "ybr_full_422.dcm": (ybr_full_422, ExplicitVRLittleEndian),
    "ybr_full.dcm": (ybr_full, ExplicitVRLittleEndian),
    "mono2_u32.dcm": (mono2_u32, ExplicitVRLittleEndian),
    "mono2_s32_be.dcm": (mono2_s32_be, ExplicitVRBigEndian),
    "mono2_s12_be_3frame.dcm": (mono2_s12_be_3frame, ExplicitVRBigEndian),
    "rgb16_be_planar1_2frame.dcm": (rgb16_be_planar1_2frame, ExplicitVRBigEndian),
    "mono2_u8_be_ow.dcm": (mono2_u8_be_ow, ExplicitVRBigEndian),
    "mono2_1bit_3frame.dcm": (mono2_1bit_3frame, ExplicitVRLittleEndian),
    "palette_u8.dcm": (palette_u8, ExplicitVRLittleEndian),
    "palette_segmented.dcm": (palette_segmented, ExplicitVRLittleEndian),
}


def build(name: str) -> Dataset:
    """Return the fixture dataset `name` (a key of :data:`MANIFEST`)."""
    builder, tsuid = MANIFEST[name]
    index = list(MANIFEST).index(name) + 1
    ds = _base(name.removesuffix(".dcm"), index, tsuid)
    builder(ds)
    return ds


def main(argv: list[str] | None = None) -> int:
    """Write every fixture into the output directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("fixtures/native"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in MANIFEST:
        ds = build(name)
        little = ds.file_meta.TransferSyntaxUID != ExplicitVRBigEndian
        ds.save_as(
            args.out / name, enforce_file_format=True, little_endian=little, implicit_vr=False
        )
        print(f"{args.out / name}: {(args.out / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
