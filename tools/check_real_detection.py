#!/usr/bin/env python3
"""Default redaction of real images with burned-in text, and what is readable afterwards.

For each file: redact with the default settings (OCR on: Tesseract, the text network,
line growth), then read frame 0 of the input and of the output with every Tesseract
preprocessing pass at confidence >= 40 and count the tokens of 3+ letters/digits. Where
Presidio's ground truth exists (``presidio__ground_truth.json``; its boxes are 25 px off
to the right and down), a box counts as covered when >= 98 % of its pixels are black in
the output. Only counts are printed; ``--show-text`` prints the tokens left (patient data
in a real archive: off by default). ``--png DIR`` writes frame 0 before | after as PNG.

Usage::

    python tools/check_real_detection.py ../shared/corpus/real [--png docs/img] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
warnings.simplefilter("ignore")

from dctredact.api import redact_file  # noqa: E402
from dctredact.detect.frames import display_frames  # noqa: E402
from dctredact.detect.ocr import OcrDetector  # noqa: E402
from dctredact.settings import Settings  # noqa: E402

FILES = [
    "orthanc-tests__Issue164.dcm",
    "fo-dicom__DIRW0007",
    "orthanc-tests__TransferSyntaxes_1.2.840.10008.1.2.4.50.dcm",
    "deid-data__GREYSCALE_IMAGE.dcm",
    "deid-data__RGB_IMAGE.dcm",
    "presidio__2_ORIGINAL.dcm",
    "presidio__0_ORIGINAL_compressed.dcm",
]


def side_by_side(before: np.ndarray, after: np.ndarray, width: int = 720) -> Image.Image:
    """Frame 0 before | after, scaled to `width` (never up), no marks."""
    pair = np.concatenate([before, np.full_like(before[:, :8], 255), after], axis=1)
    img = Image.fromarray(pair)
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)
    return img


def tokens(reader: OcrDetector, frame: np.ndarray) -> list[str]:
    """Words of 3+ letters/digits Tesseract reads in `frame`."""
    return [w for w in reader.read_text(frame) if sum(c.isalnum() for c in w) >= 3]


def presidio_boxes(corpus: Path, name: str) -> list[tuple[int, int, int, int]]:
    truth = corpus / "presidio__ground_truth.json"
    if not truth.exists() or not name.startswith("presidio__"):
        return []
    key = "sample_data/" + name.removeprefix("presidio__").replace("_compressed", "")
    rows = json.loads(truth.read_text()).get(key, [])
    return [(r["left"] - 25, r["top"] - 25, r["width"], r["height"]) for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--png", type=Path, help="write before/after previews here")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--show-text", action="store_true", help="print tokens left (patient data)")
    args = ap.parse_args(argv)
    reader = OcrDetector(max_passes=6, confidence=40)
    detectors = Settings().detectors()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            src = args.corpus / name
            if not src.exists():
                print(f"{name}: not in the corpus, skipped", file=sys.stderr)
                continue
            out = Path(tmp) / (name + ".out.dcm")
            t = time.perf_counter()
            result = redact_file(src, out, detectors=detectors)
            seconds = time.perf_counter() - t
            before = next(display_frames(pydicom.dcmread(src)))
            after = next(display_frames(pydicom.dcmread(out)))
            left = tokens(reader, after)
            covered = ""
            truth = presidio_boxes(args.corpus, name)
            if truth:
                gray = after if after.ndim == 2 else after.max(axis=2)
                ok = sum(
                    float((gray[y : y + h, x : x + w] == 0).mean()) >= 0.98 for x, y, w, h in truth
                )
                covered = f"{ok}/{len(truth)}"
            boxes = len(result.boxes) + sum(len(v) for v in result.frame_boxes.values())
            rows.append((name, len(tokens(reader, before)), len(left), covered, boxes, seconds))
            if args.show_text:
                print(f"{name}: left {left}")
            if args.png:
                args.png.mkdir(parents=True, exist_ok=True)
                stem = name.removesuffix(".dcm").replace(".", "_")
                pair = side_by_side(before, after).convert("RGB")
                pair = pair.quantize(256, method=Image.Quantize.MEDIANCUT)  # small PNGs
                pair.save(args.png / f"{stem}.png", optimize=True)
    if args.markdown:
        print("| file | tokens before | tokens after | ground truth covered | boxes | seconds |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, nb, na, cov, nbox, sec in rows:
            print(f"| {name} | {nb} | {na} | {cov or '-'} | {nbox} | {sec:.1f} |")
    else:
        for name, nb, na, cov, nbox, sec in rows:
            print(f"{name}: tokens {nb} -> {na}, truth {cov or '-'}, {nbox} boxes, {sec:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
