"""Batch throughput: ``-j 1`` vs ``-j 2`` vs a 2-worker Dask LocalCluster, on 200 files.

The batch is made of copies of real multi-frame JPEG Baseline files shipped by pydicom
and pydicom-data (30-frame and 120-frame ultrasound), renamed so every file is distinct.
Each run redacts the same banner (``--no-ocr``: the redaction engine, not Tesseract) into
a fresh output folder. Reports seconds and the speed-up over ``-j 1``, and the CPU
seconds of each local run (the command and its waited-for workers; for Dask the client
only).

The Dask cluster lives only around its own run in each round (started, warmed, timed,
closed): an idle LocalCluster burns ~0.15 of a core (heartbeats, monitors), which would
otherwise be taken from the ``-j`` runs that use both cores.

Usage: ``python tools/bench_parallel.py [--files 200] [--no-dask] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the process and its waited-for children) of `args`."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(args)}")
    return elapsed, _children_cpu() - cpu


def warm_copy(src: Path, dst: Path, count: int = 4) -> None:
    """The first `count` files of `src`, to warm a fresh Dask cluster's workers."""
    for p in sorted(src.rglob("*.dcm"))[:count]:
        (dst / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dst / p.parent.name / p.name)


DASK = "dask LocalCluster (2 workers)"


def run_dask(cmd: list[str], cli: list[str], common: list[str], root: Path) -> tuple[float, float]:
    """Start a 2-worker LocalCluster, warm its workers (imports) with a 4-file run, as a
    long-lived cluster would be, time `cmd` on it, close it."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        dask = ["--dask", cluster.scheduler_address]
        run([*cli, str(root / "warm"), "-o", str(root / "outwarm"), *dask, *common])
        shutil.rmtree(root / "outwarm")
        return run([*cmd, *dask])


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
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_batch(root / "in", args.files)
        warm_copy(root / "in", root / "warm")
        size = sum(p.stat().st_size for p in (root / "in").rglob("*.dcm")) / 2**20
        print(f"{args.files} files, {size:.0f} MiB, {args.repeat} interleaved rounds")
        names = ["-j 1", "-j 2"] + ([] if args.no_dask else [DASK])
        # Interleaved rounds: a load spike on this shared machine hits every variant.
        times: dict[str, list[float]] = {name: [] for name in names}
        cpus: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.repeat):
            load = os.getloadavg()[0]
            for i, name in enumerate(names):
                out = root / f"out{r}_{i}"
                cmd = [*cli, str(root / "in"), "-o", str(out), *common]
                if name == DASK:
                    secs, cpu = run_dask(cmd, cli, common, root)
                else:
                    secs, cpu = run([*cmd, "-j", name.split()[1]])
                times[name].append(secs)
                cpus[name].append(cpu)
                shutil.rmtree(out)
            print(f"round {r + 1}: load average before {load:.2f}", file=sys.stderr)
        base = statistics.median(times["-j 1"])
        print(
            f"{'run':32s} {'median s':>8s} {'files/s':>8s} {'speed-up':>9s} {'cpu s':>6s}  rounds"
        )
        for name, secs in times.items():
            med = statistics.median(secs)
            rounds = " ".join(f"{s:.2f}" for s in secs)
            cpu = statistics.median(cpus[name])
            print(
                f"{name:32s} {med:8.2f} {args.files / med:8.1f} {base / med:8.2f}x "
                f"{cpu:6.2f}  {rounds}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
