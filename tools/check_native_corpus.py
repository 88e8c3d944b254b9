"""Run every non-baseline file of a corpus through the native / lossless handlers.

Usage::

    PYTHONPATH=src python tools/check_native_corpus.py [/work/shared/corpus/real]

Each file gets one box (the top eighth of the image, black fill). The output is decoded
again and compared with the input decoding: the table says whether every pixel outside
the box is identical (``outside=same``) and the box holds one value per channel.
JPEG baseline (1.2.840.10008.1.2.4.50) files are skipped: they belong to the DCT path.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom

from dctredact import Box, DctRedactError, RedactionRequest
from dctredact.handlers import get_handler, lossless

BASELINE = "1.2.840.10008.1.2.4.50"


def _decode(ds: pydicom.Dataset) -> np.ndarray:
    from pydicom.pixels import pixel_array

    tsuid = str(ds.file_meta.TransferSyntaxUID)
    if tsuid in lossless._LIBJPEG_FALLBACK:  # pydicom may have no decoder (4.53, 4.55)
        arr, _ = lossless._decode(ds, tsuid, lossless._source_layout(ds))
        return arr
    arr = pixel_array(ds, raw=True)
    frames = int(ds.get("NumberOfFrames") or 1)
    return arr.reshape(frames, ds.Rows, ds.Columns, -1)


def check(path: Path) -> tuple[str, str, str]:
    """Return (syntax in, syntax out, result) for one file."""
    ds = pydicom.dcmread(path)
    tsuid = str(ds.file_meta.TransferSyntaxUID)
    box = Box(0, 0, int(ds.Columns), max(1, int(ds.Rows) // 8))
    try:
        entry, handler = get_handler(tsuid)
        start = time.perf_counter()
        result = handler(ds, RedactionRequest(boxes=[box]))
        elapsed = time.perf_counter() - start
    except DctRedactError as exc:
        return tsuid, "-", f"refused: {exc.reason}"
    out = copy.deepcopy(ds)
    out.file_meta.TransferSyntaxUID = result.transfer_syntax_uid
    out.PixelData = result.pixel_data
    for keyword, value in result.dataset_updates.items():
        setattr(out, keyword, value)
    try:
        old, new = _decode(ds), _decode(out)
    except Exception as exc:  # report, do not stop the run
        return tsuid, result.transfer_syntax_uid, f"{entry.name}: cannot verify ({exc})"
    outside = np.ones((ds.Rows, ds.Columns), dtype=bool)
    outside[box.y : box.y1, box.x : box.x1] = False
    if old.shape == new.shape and ds.PhotometricInterpretation != "YBR_FULL_422":
        same = np.array_equal(old[:, outside], new[:, outside])
    elif old.shape == new.shape:  # chroma pairs next to the box may change
        same = np.array_equal(old[:, outside, 0], new[:, outside, 0])
    else:
        same = False
    inside = new[:, box.y : box.y1, box.x : box.x1, :]
    flat = all(
        len(np.unique(inside[f, ..., c])) == 1
        for f in range(inside.shape[0])
        for c in range(inside.shape[-1])
    )
    updates = result.dataset_updates
    extra = f"; {', '.join(sorted(updates))} updated" if updates else ""
    status = (
        f"{entry.name}: ok, {result.changed} px, outside={'same' if same else 'DIFF'}, "
        f"box={'uniform' if flat else 'MIXED'}, {elapsed:.2f}s{extra}"
    )
    return tsuid, result.transfer_syntax_uid, status


def main(argv: list[str]) -> int:
    """Print a Markdown table for every non-baseline DICOM file in the directory."""
    root = Path(argv[1]) if len(argv) > 1 else Path("/work/shared/corpus/real")
    print("| file | syntax in | syntax out | result |")
    print("|---|---|---|---|")
    for path in sorted(root.iterdir()):
        if path.suffix in (".md", ".json") or not path.is_file():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ts = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
            except Exception:
                continue
            if ts == BASELINE:
                continue
            ts_in, ts_out, status = check(path)
        print(f"| {path.name} | {ts_in} | {ts_out} | {status} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
