"""Batch throughput: ``-j 1`` vs ``-j 2`` vs a 2-worker Dask LocalCluster, on 200 files.

The batch is made of copies of real multi-frame JPEG Baseline files shipped by pydicom
and pydicom-data (30-frame and 120-frame ultrasound), renamed so every file is distinct.
Each run redacts the same banner (``--no-ocr``: the redaction engine, not Tesseract) into
a fresh output folder. Reports seconds and the speed-up over ``-j 1``.

Usage: ``python tools/bench_parallel.py [--files 200] [--no-dask] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
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
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds; each round runs every variant once"
    )
    args = parser.parse_args()
    cli = [sys.executable, "-m", "dctredact", "redact"]
    common = ["--no-ocr", "--box", "0,0,10000,40", "-q"]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        make_batch(root / "in", args.files)
        size = sum(p.stat().st_size for p in (root / "in").rglob("*.dcm")) / 2**20
        print(f"{args.files} files, {size:.0f} MiB, {args.repeat} interleaved rounds")
        variants: dict[str, list[str]] = {f"-j {jobs}": ["-j", str(jobs)] for jobs in (1, 2)}
        if not args.no_dask:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
            )
            dask = ["--dask", cluster.scheduler_address]
            # A cluster is long-lived: warm its workers (imports) with a 4-file run
            # first, as the pool's workers are warmed by forkserver preloading.
            warm = root / "warm"
            for p in sorted((root / "in").rglob("*.dcm"))[:4]:
                (warm / p.parent.name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, warm / p.parent.name / p.name)
            run([*cli, str(warm), "-o", str(root / "outwarm"), *dask, *common])
            variants["dask LocalCluster (2 workers)"] = dask
        # Interleaved rounds: a load spike on this shared machine hits every variant.
        times: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(args.repeat):
            for i, (name, extra) in enumerate(variants.items()):
                out = root / f"out{r}_{i}"
                times[name].append(run([*cli, str(root / "in"), "-o", str(out), *extra, *common]))
                shutil.rmtree(out)
        base = statistics.median(times["-j 1"])
        print(f"{'run':32s} {'median s':>8s} {'files/s':>8s} {'speed-up':>9s}  rounds")
        for name, secs in times.items():
            med = statistics.median(secs)
            rounds = " ".join(f"{s:.2f}" for s in secs)
            print(f"{name:32s} {med:8.2f} {args.files / med:8.1f} {base / med:8.2f}x  {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
