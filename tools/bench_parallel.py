"""Batch throughput: ``-j 1`` vs ``-j 2`` vs a 2-worker Dask LocalCluster, on 200 files.

The batch is made of copies of real multi-frame JPEG Baseline files shipped by pydicom
and pydicom-data (30-frame and 120-frame ultrasound), renamed so every file is distinct.
Each run redacts the same banner (``--no-ocr``: the redaction engine, not Tesseract) into
a fresh output folder. Reports seconds and the speed-up over ``-j 1``.

Usage: ``python tools/bench_parallel.py [--files 200] [--no-dask]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.data import get_testdata_file

SOURCES = ["examples_ybr_color.dcm", "color3d_jpeg_baseline.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm"]


def make_batch(folder: Path, count: int) -> None:
    paths = [Path(str(get_testdata_file(name))) for name in SOURCES]
    weights = [8, 1, 1]  # mostly 30-frame cines, some 120-frame, some small stills
    cycle = [p for p, w in zip(paths, weights, strict=True) for _ in range(w)]
    for i in range(count):
        sub = folder / f"study{i // 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cycle[i % len(cycle)], sub / f"img{i:03d}.dcm")


def run(args: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(args)}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "dctredact", "redact"]
    common = ["--no-ocr", "--box", "0,0,10000,40", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_batch(root / "in", args.files)
        size = sum(p.stat().st_size for p in (root / "in").rglob("*.dcm")) / 2**20
        print(f"{args.files} files, {size:.0f} MiB")
        results = {}
        for jobs in (1, 2):
            out = root / f"out{jobs}"
            results[f"-j {jobs}"] = run(
                [*cli, str(root / "in"), "-o", str(out), "-j", str(jobs), *common]
            )
        if not args.no_dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
                out = root / "outdask"
                results["dask LocalCluster (2 workers)"] = run(
                    [
                        *cli,
                        str(root / "in"),
                        "-o",
                        str(out),
                        "--dask",
                        cluster.scheduler_address,
                        *common,
                    ]
                )
        base = results["-j 1"]
        print(f"{'run':32s} {'seconds':>8s} {'files/s':>8s} {'speed-up':>9s}")
        for name, secs in results.items():
            print(f"{name:32s} {secs:8.2f} {args.files / secs:8.1f} {base / secs:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
