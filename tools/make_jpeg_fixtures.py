"""Generate the small JPEG Baseline DICOM fixtures in ``fixtures/jpeg/``.

Each file covers a case no real file in the PyPI test data covers: restart intervals,
4:4:0 and 4:1:1 sampling, non-interleaved scans, RGB without colour transform, odd sizes,
MONOCHROME1, several fragments per frame without an offset table, an Extended Offset
Table, a COM segment. Deterministic: the same bytes every run.

Usage: ``python tools/make_jpeg_fixtures.py [--out fixtures/jpeg]``
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended, itemize_frame
from pydicom.uid import UID

from dctredact.geometry import FrameGeometry
from dctredact.jpeg.builder import build_stream, empty_coefficients

ROOT = "1.2.826.0.1.3680043.10.1437"  # fixed UID root for fixtures
SC = UID("1.2.840.10008.5.1.4.1.1.7")
US_MF = UID("1.2.840.10008.5.1.4.1.1.3.1")
JPEG_BASELINE = UID("1.2.840.10008.1.2.4.50")


def picture(width: int, height: int, seed: int, text: str) -> Image.Image:
    """A deterministic RGB test picture: gradient, noise, a coloured banner with text."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), (x + y) % 256],
        axis=-1,
    ).astype(np.int16)
    base += rng.integers(-20, 20, base.shape)
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 0, width, 14], fill=(20, 20, 60))
    draw.text((2, 1), text, fill=(255, 255, 0))
    return im


def dataset(name: str, rows: int, columns: int, spp: int, pi: str, frames: int) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MF if frames > 1 else SC
    meta.MediaStorageSOPInstanceUID = UID(f"{ROOT}.{sum(map(ord, name))}")
    meta.TransferSyntaxUID = JPEG_BASELINE
    meta.ImplementationClassUID = UID(f"{ROOT}.0")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "FIXTURE^JPEG"
    ds.PatientID = "FX-0001"
    ds.Modality = "US" if frames > 1 else "OT"
    ds.StudyInstanceUID = UID(f"{ROOT}.1")
    ds.SeriesInstanceUID = UID(f"{ROOT}.2")
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = pi
    if spp > 1:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01"
    ds.BurnedInAnnotation = "YES"
    return ds


def pillow_jpeg(im: Image.Image, **options: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85, **options)
    return buf.getvalue()


def coefficient_stream(width: int, height: int, sampling, seed: int, **options) -> bytes:
    """A stream built from random coefficients (any sampling the encoder cannot make)."""
    rng = np.random.default_rng(seed)
    geometry = FrameGeometry(width, height, sampling)
    coefs = empty_coefficients(geometry)
    for c in coefs:
        c[..., 0] = rng.integers(-100, 100, c.shape[:2])
        c[..., 1:10] = rng.integers(-6, 7, (*c.shape[:2], 9))
    quant = [[4] + [6] * 63, [5] + [9] * 63]
    return build_stream(geometry, coefs, quant, **options)


def save(
    ds: Dataset,
    frames: list[bytes],
    path: Path,
    *,
    fragments: int = 1,
    extended: bool = False,
    bot: bool = True,
) -> None:
    if extended:
        value, eot, lengths = encapsulate_extended(frames)
        ds.ExtendedOffsetTable = eot
        ds.ExtendedOffsetTableLengths = lengths
    elif fragments > 1:
        value = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"".join(
            b"".join(itemize_frame(f, fragments)) for f in frames
        )
    else:
        value = encapsulate(frames, has_bot=bot)
    ds.PixelData = value
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("fixtures/jpeg"))
    out = parser.parse_args().out

    # Restart intervals (DRI/RSTn) from Pillow (libjpeg-turbo), 4:2:0, two frames.
    frames = [
        pillow_jpeg(picture(75, 53, s, "RST 4:2:0"), subsampling=2, restart_marker_blocks=3)
        for s in (1, 2)
    ]
    save(dataset("restart", 53, 75, 3, "YBR_FULL_422", 2), frames, out / "restart_420.dcm")

    # 4:2:2 and 4:4:4 from Pillow, odd sizes, several fragments per frame and no BOT.
    frames = [pillow_jpeg(picture(61, 47, s, "FRAG 4:2:2"), subsampling=1) for s in (3, 4, 5)]
    save(
        dataset("frag", 47, 61, 3, "YBR_FULL_422", 3),
        frames,
        out / "fragments_422.dcm",
        fragments=3,
    )
    frames = [pillow_jpeg(picture(40, 33, 6, "EOT 4:4:4"), subsampling=0)]
    save(
        dataset("eot", 33, 40, 3, "YBR_FULL", 1),
        frames,
        out / "extended_offsets_444.dcm",
        extended=True,
    )

    # Gray MONOCHROME1 with an odd size.
    gray = picture(37, 29, 7, "MONO1").convert("L")
    save(
        dataset("mono1", 29, 37, 1, "MONOCHROME1", 1),
        [pillow_jpeg(gray)],
        out / "monochrome1_odd.dcm",
    )

    # Sampling and structures only a coefficient-level writer makes.
    cases = [
        ("sampling_440", ((1, 2), (1, 1), (1, 1)), {}, "YBR_FULL_422"),
        ("sampling_411", ((4, 1), (1, 1), (1, 1)), {}, "YBR_FULL_422"),
        ("rgb_app14", ((1, 1), (1, 1), (1, 1)), {"adobe_transform": 0, "jfif": False}, "RGB"),
        ("non_interleaved", ((2, 2), (1, 1), (1, 1)), {"interleaved": False}, "YBR_FULL_422"),
        (
            "restart_1mcu_com",
            ((2, 1), (1, 1), (1, 1)),
            {"restart_interval": 1, "comment": b"fixture comment"},
            "YBR_FULL_422",
        ),
    ]
    for seed, (name, sampling, options, pi) in enumerate(cases, start=10):
        stream = coefficient_stream(45, 35, sampling, seed, **options)
        save(dataset(name, 35, 45, 3, pi, 1), [stream], out / f"{name}.dcm")


if __name__ == "__main__":
    main()
