"""Redact every JPEG Baseline file of a folder and check the result; print a table.

For each DICOM file whose transfer syntax is JPEG Baseline (4.50), or JPEG Extended (4.51)
with 8-bit Huffman streams: redact a top banner and a box in the middle (fill black), then
check that

- the transfer syntax is unchanged and every byte outside Pixel Data is identical;
- every frame decodes with Pillow (libjpeg-turbo) and pylibjpeg (libjpeg);
- the boxes decode black (luma for YCbCr streams, all channels for RGB, 255 for
  MONOCHROME1);
- the quantized coefficients of every unplanned block, read by libjpeg (jpeglib: an oracle
  independent of dctredact's decoder), equal the input's, and planned blocks hold the fill.

Usage: ``python tools/check_jpeg_corpus.py ../shared/corpus/real [--markdown]``
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import generate_frames

from dctredact.api import redact_file
from dctredact.dicomio import read_dicom
from dctredact.errors import DctRedactError
from dctredact.geometry import Box, FrameGeometry, plan_blocks
from dctredact.handlers.base import Fill
from dctredact.jpeg.codec import fill_dc_values
from dctredact.jpeg.stream import SOF0, SOF1, parse_jpeg

ZIGZAG = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
     27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44,
     51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
)  # fmt: skip
SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}


def libjpeg_coefficients(stream: bytes) -> list[np.ndarray]:
    import jpeglib

    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as fh:
        fh.write(stream)
    try:
        im = jpeglib.read_dct(fh.name)
        comps = [im.Y] + ([im.Cb, im.Cr] if im.Cb is not None else [])
    finally:
        os.unlink(fh.name)
    return [
        np.asarray(c).astype(np.int16).reshape(c.shape[0], c.shape[1], 64)[..., ZIGZAG]
        for c in comps
    ]


def frames_of(path: Path) -> list[bytes]:
    ds = pydicom.dcmread(path)
    return list(
        generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1))
    )


def check(path: Path, out: Path) -> dict[str, object]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    rows, cols = int(ds.Rows), int(ds.Columns)
    boxes = [
        Box(0, 0, cols, max(1, rows // 12)),
        Box(cols // 3 + 3, rows // 2 + 5, cols // 5, max(1, rows // 10)),
    ]
    row: dict[str, object] = {"file": path.name, "syntax": str(ds.file_meta.TransferSyntaxUID)}
    started = time.perf_counter()
    try:
        result = redact_file(path, out, boxes, fill=Fill.BLACK)
    except DctRedactError as exc:
        row.update(result="refused", detail=exc.reason)
        return row
    row["ms"] = round((time.perf_counter() - started) * 1000, 1)
    if result.handler != "jpeg-baseline":
        row.update(result=f"not 8-bit DCT: {result.handler} -> {result.transfer_syntax_out}")
        return row
    before, after = read_dicom(path), read_dicom(out)
    problems = []
    if after.transfer_syntax_uid != before.transfer_syntax_uid:
        problems.append("syntax changed")
    icon = any("Icon Image Sequence" in n for n in result.notes)
    if icon:
        # The icon was redacted too, so the data set was rewritten: every other element
        # must still hold the same value.
        a, b = before.dataset, after.dataset
        skip = {0x7FE00010, 0x00880200}
        if set(a.keys()) != set(b.keys()) or any(
            a[t].value != b[t].value
            for t in a.keys()  # noqa: SIM118 - a Dataset iterates elements, not tags
            if t not in skip
        ):
            problems.append("elements other than Pixel Data and the icon differ")
    elif before.pixel_span and after.pixel_span:
        if after.data[: after.pixel_span[1]] != before.data[: before.pixel_span[1]]:
            problems.append("bytes before Pixel Data differ")
        if after.data[after.pixel_span[2] :] != before.data[before.pixel_span[2] :]:
            problems.append("bytes after Pixel Data differ")
    photometric = str(ds.PhotometricInterpretation)
    mono1 = photometric == "MONOCHROME1"
    fin_all, fout_all = frames_of(path), frames_of(out)
    stream0 = parse_jpeg(fin_all[0], allowed_sof=frozenset({SOF0, SOF1}))
    f = stream0.frame
    geometry = FrameGeometry(f.columns, f.rows, f.sampling)
    masks = plan_blocks(geometry, boxes)
    dc = fill_dc_values(stream0, Fill.BLACK, photometric=photometric)
    worst = 0
    for fin, fout in zip(fin_all, fout_all, strict=True):
        a, b = libjpeg_coefficients(fin), libjpeg_coefficients(fout)
        for index, (ca, cb) in enumerate(zip(a, b, strict=True)):
            g = geometry.component(index)
            mask = masks[index][: g.blocks_high, : g.blocks_wide]
            if not np.array_equal(ca[~mask], cb[~mask]):
                problems.append(f"unplanned coefficients changed (component {index})")
            if cb[mask][:, 1:].any() or not (cb[mask][:, 0] == dc[index]).all():
                problems.append(f"planned blocks not filled (component {index})")
        from libjpeg import decode

        Image.open(io.BytesIO(fout)).load()  # Pillow (libjpeg-turbo) decodes it
        px = decode(fout).astype(int)  # libjpeg: raw components, no colour transform
        ycc = stream0.display_model(photometric) == "YCbCr"
        for box in boxes:
            c = box.clip(f.columns, f.rows)
            if c.is_empty():
                continue
            region = px[c.y : c.y1, c.x : c.x1]
            if ycc:
                region = region[..., 0]
            worst = max(worst, int(np.abs(region - (255 if mono1 else 0)).max()))
    if worst > 1:
        problems.append(f"box not black (max deviation {worst})")
    row.update(
        frames=len(fin_all),
        size=f"{f.columns}x{f.rows}",
        sampling=f.sampling_label,
        model=stream0.display_model(photometric),
        blocks=result.changed,
        tables="new" if any("Huffman" in n for n in result.notes) else "kept",
        result=("ok" + (" (icon redacted too)" if icon else ""))
        if not problems
        else "FAIL: " + "; ".join(sorted(set(problems))),
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(args.folder.iterdir()):
            try:
                meta = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                continue
            if str(meta.file_meta.get("TransferSyntaxUID", "")) not in SYNTAXES:
                continue
            rows.append(check(path, Path(tmp) / path.name))
    cols = [
        "file",
        "syntax",
        "frames",
        "size",
        "sampling",
        "model",
        "blocks",
        "tables",
        "ms",
        "result",
    ]
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    else:
        for r in rows:
            print("  ".join(f"{r.get(c, '')}" for c in cols))
    failed = [
        r for r in rows if not str(r.get("result", "")).startswith(("ok", "refused", "not 8-bit"))
    ]
    print(f"\n{len(rows)} files, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
