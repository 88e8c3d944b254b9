"""Benchmark DCT-domain redaction against ``jpegtran -wipe`` and a decode/re-encode path.

All three tools redact the same boxes in the same frames, in one run:

- **dctredact**: :func:`dctredact.jpeg.codec.redact_stream` in-process, with the output
  check the CLI and the API use (``recoded``: every re-coded MCU decoded back; the input
  is always decoded completely); ``--check decode`` adds a complete decode of the output;
- **jpegtran -wipe** (libjpeg-turbo, C): one process per frame; the cost of spawning the
  process, measured in the same run (``jpegtran`` on an 8x8 image), is subtracted;
- **Pillow**: decode, fill, re-encode at quality 95 (what naive tools do: lossy).

Frames come from real files when present (``--corpus`` folder, pydicom-data, deid-data)
and are generated otherwise. Medians of ``--repeat`` runs per frame; ratios are
dctredact / jpegtran (lower is better).

Usage: ``python tools/bench_jpegtran.py [--corpus ../shared/corpus/real] [--frames 20]``
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import generate_frames

from dctredact.geometry import Box
from dctredact.handlers.base import Fill
from dctredact.jpeg.codec import redact_stream

#: Photometric Interpretation of each data set read from DICOM, keyed by its first frame
#: (the fill depends on it: "black" is the maximum for MONOCHROME1).
PHOTOMETRIC: dict[bytes, str] = {}


def dicom_frames(path: Path, limit: int) -> list[bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        n = int(ds.get("NumberOfFrames", 1) or 1)
        out = []
        for i, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=n)):
            if i >= limit:
                break
            out.append(frame)
    PHOTOMETRIC[out[0]] = str(ds.get("PhotometricInterpretation", ""))
    return out


def generated(width: int, height: int, mode: str, subsampling: int, count: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(count):
        y, x = np.mgrid[0:height, 0:width]
        base = ((x + 3 * i) % 256 + rng.integers(0, 40, (height, width))).clip(0, 255)
        arr = np.stack([base, (y % 256), ((x + y) % 256)], -1).astype(np.uint8)
        im = Image.fromarray(arr, "RGB").convert(mode)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90, subsampling=subsampling)
        frames.append(buf.getvalue())
    return frames


def find(name: str, corpus: Path | None) -> Path | None:
    if corpus and (corpus / name).exists():
        return corpus / name
    return None


def datasets(corpus: Path | None, count: int) -> list[tuple[str, list[bytes]]]:
    sets: list[tuple[str, list[bytes]]] = []
    us = find("orthanc-tests__Issue164.dcm", corpus)
    if us:
        sets.append(("US 975x743 4:2:2 (Issue164)", dicom_frames(us, count)))
    else:
        from pydicom.data import get_testdata_file

        path = get_testdata_file("color3d_jpeg_baseline.dcm")
        if path:
            sets.append(("US 640x480 4:2:2 (color3d)", dicom_frames(Path(path), count)))
    gray = find("fo-dicom__HasFragmentSequence.dcm", corpus)
    sets.append(
        ("gray 512x512 (XA cine)", dicom_frames(gray, count))
        if gray
        else ("gray 512x512 (generated)", generated(512, 512, "L", 0, count))
    )
    big = find("orthanc-tests__Monochrome1-Jpeg.dcm", corpus)
    sets.append(
        ("gray 2010x2446 (CR)", dicom_frames(big, 1))
        if big
        else ("gray 2010x2446 (generated)", generated(2010, 2446, "L", 0, 1))
    )
    try:
        import deid_data  # type: ignore[import-untyped]

        cookie = Path(deid_data.__file__).parent / "data" / "dicom-cookies" / "image1.dcm"
    except ImportError:
        cookie = None
    sets.append(
        ("4:4:4 2048x1536 (dicom-cookies)", dicom_frames(cookie, 1))
        if cookie and cookie.exists()
        else ("4:4:4 2048x1536 (generated)", generated(2048, 1536, "RGB", 0, 1))
    )
    return sets


def jpeg_size(frame: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(frame)) as im:
        return im.size


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=10, help="frames per data set")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--check",
        default="recoded",
        choices=["recoded", "decode", "coefficients", "none"],
        help="dctredact's check of its output (default: recoded, as the CLI and API use)",
    )
    args = parser.parse_args()
    jpegtran = shutil.which("jpegtran")
    if not jpegtran:
        print("jpegtran not found (apt install libjpeg-turbo-progs)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp())
    tiny = tmp / "tiny.jpg"
    Image.new("L", (8, 8)).save(tiny, "JPEG")
    spawn = median_ms(
        lambda: subprocess.run(
            [jpegtran, "-copy", "all", "-outfile", os.devnull, str(tiny)], check=True
        ),
        max(20, args.repeat * 4),
    )
    print(f"process spawn cost (jpegtran on 8x8, subtracted): {spawn:.2f} ms")
    print(f"dctredact output check: {args.check}\n")
    header = (
        f"{'data set':34s} {'boxes':9s} {'dctredact':>9s} {'jpegtran':>9s} "
        f"{'Pillow':>8s} {'ratio':>6s}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for label, frames in datasets(args.corpus, args.frames):
        photometric = PHOTOMETRIC.get(frames[0])
        w, h = jpeg_size(frames[0])
        cases = {
            "banner": [Box(0, 0, w, 64)],
            "arbitrary": [Box(0, 0, w, 64), Box(0, h - 48, w, 48), Box(w // 3, h // 2, 200, 40)],
        }
        for case, boxes in cases.items():
            ours, theirs, pillow = [], [], []
            for i, frame in enumerate(frames):
                src = tmp / f"f{i}.jpg"
                src.write_bytes(frame)
                ours.append(
                    median_ms(
                        lambda f=frame, b=boxes, pi=photometric: redact_stream(
                            f, b, Fill.BLACK, photometric=pi, check=args.check
                        ),
                        args.repeat,
                    )
                )
                # jpegtran takes one -wipe per run: several boxes mean several runs, each
                # re-coding the whole frame (its spawn cost subtracted every time).
                cmds = []
                for k, b in enumerate(boxes):
                    c = b.clip(w, h)
                    inp = src if k == 0 else tmp / f"o{k - 1}.jpg"
                    cmds.append(
                        [
                            jpegtran,
                            "-copy",
                            "all",
                            "-wipe",
                            f"{c.w}x{c.h}+{c.x}+{c.y}",
                            "-outfile",
                            str(tmp / f"o{k}.jpg"),
                            str(inp),
                        ]
                    )

                def run_all(cs: list[list[str]] = cmds) -> None:
                    for c in cs:
                        subprocess.run(c, check=True)

                theirs.append(max(0.0, median_ms(run_all, args.repeat) - spawn * len(cmds)))

                def naive(
                    f: bytes = frame, bs: list[Box] = boxes, size: tuple[int, int] = (w, h)
                ) -> bytes:
                    arr = np.array(Image.open(io.BytesIO(f)))
                    for b in bs:
                        c = b.clip(*size)
                        arr[c.y : c.y1, c.x : c.x1] = 0
                    out = io.BytesIO()
                    Image.fromarray(arr).save(out, "JPEG", quality=95)
                    return out.getvalue()

                pillow.append(median_ms(naive, args.repeat))
            o, t, p = statistics.median(ours), statistics.median(theirs), statistics.median(pillow)
            rows.append((label, case, o, t, p))
            print(f"{label:34s} {case:9s} {o:8.2f}ms {t:8.2f}ms {p:7.2f}ms {o / t:6.2f}x")
    shutil.rmtree(tmp, ignore_errors=True)
    print("\nratio = dctredact / jpegtran -wipe (per-frame medians; < 1 means faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
