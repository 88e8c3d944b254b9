"""Write a large multi-frame JPEG Baseline DICOM file (for the memory benchmark).

A few distinct 4:2:2 frames (an ultrasound-like picture with a text banner) are encoded
with Pillow and repeated until the file reaches ``--size-mb``. The Pixel Data element is
written directly, frame by frame, so making a multi-gigabyte file needs little memory.

Usage: ``python tools/make_big_cine.py OUT.dcm [--size-mb 1100] [--width 1024 --height 768]``
"""

from __future__ import annotations

import argparse
import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

ROOT = "1.2.826.0.1.3680043.10.1437.9"


def frames(width: int, height: int, distinct: int) -> list[bytes]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(distinct):
        noise = rng.integers(0, 255, (height, width), dtype=np.uint8)
        y, x = np.mgrid[0:height, 0:width]
        sector = ((x - width / 2) ** 2 + (y - 40) ** 2 < (height * 0.9) ** 2) & (
            np.abs(x - width / 2) < (y + 10) * 0.8
        )
        gray = np.where(sector, noise // 2 + 40, 0).astype(np.uint8)
        im = Image.fromarray(np.stack([gray] * 3, -1), "RGB")
        draw = ImageDraw.Draw(im)
        draw.text(
            (10, 8), f"DOE^JANE  ID 12345-{i}  2026-11-21 10:{i % 60:02d}", fill=(255, 255, 0)
        )
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=97, subsampling=1)
        data = buf.getvalue()
        out.append(data + (b"\x00" if len(data) % 2 else b""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size-mb", type=int, default=1100)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()
    pool = frames(args.width, args.height, 16)
    average = sum(map(len, pool)) / len(pool)
    count = int(args.size_mb * 2**20 / (average + 8)) + 1
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.3.1")
    meta.MediaStorageSOPInstanceUID = UID(f"{ROOT}.1")
    meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.50")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality = "US"
    ds.PatientName = "DOE^JANE"
    ds.Rows, ds.Columns = args.height, args.width
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.NumberOfFrames = count
    ds.LossyImageCompression = "01"
    head = io.BytesIO()
    ds.save_as(head, enforce_file_format=True)
    offsets, position = [], 0
    for i in range(count):
        offsets.append(position)
        position += 8 + len(pool[i % len(pool)])
    bot = offsets if position < 2**32 else []
    with args.out.open("wb") as fh:
        fh.write(head.getvalue())
        fh.write(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
        fh.write(b"\xfe\xff\x00\xe0" + struct.pack("<I", 4 * len(bot)))
        fh.write(struct.pack(f"<{len(bot)}I", *bot))
        for i in range(count):
            frame = pool[i % len(pool)]
            fh.write(b"\xfe\xff\x00\xe0" + struct.pack("<I", len(frame)) + frame)
        fh.write(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    print(f"{args.out}: {count} frames, {args.out.stat().st_size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
