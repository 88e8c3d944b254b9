"""Peak memory (RSS) of redacting a large multi-frame file, side by side.

Runs, each in its own process, on the same file:

- ``dctredact redact FILE -o OUT --no-ocr --box ...`` (frame-by-frame streaming);
- the in-memory API path (``redact_dataset`` after ``dcmread``), as a library user
  holding the dataset would;
- a plain pydicom read + write of the file (the floor any dataset-level tool pays).

Reports peak RSS (``ru_maxrss`` of the child), its ratio to the file size, and seconds.
The goal (issue 6): peak RSS <= 1.5 x file size + 150 MB for the streaming path.

Usage: ``python tools/bench_memory.py BIG.dcm`` (make one with tools/make_big_cine.py)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IN_MEMORY = """
import sys, pydicom
from dctredact.api import redact_dataset
from dctredact.geometry import Box
from dctredact.limits import Limits
ds = pydicom.dcmread(sys.argv[1])
out = redact_dataset(ds, [Box(0, 0, 100000, 64)], limits=Limits(max_decoded_bytes=None))
out.save_as(sys.argv[2], enforce_file_format=True)
"""

PYDICOM_COPY = """
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.save_as(sys.argv[2], enforce_file_format=True)
"""


def run(cmd: list[str]) -> tuple[float, float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(proc.stderr.read().decode() if proc.stderr else "", file=sys.stderr)
    return usage.ru_maxrss / 1024, elapsed, code  # ru_maxrss is KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    size_mb = args.file.stat().st_size / 2**20
    dctredact = [sys.executable, "-m", "dctredact"]
    with tempfile.TemporaryDirectory(dir=args.file.parent) as tmp:
        out = str(Path(tmp) / "out.dcm")
        cases = {
            "dctredact redact (streaming)": [
                *dctredact,
                "redact",
                str(args.file),
                "-o",
                out,
                "--no-ocr",
                "--box",
                "0,0,100000,64",
                "-q",
            ],
            "redact_dataset (in memory)": [sys.executable, "-c", IN_MEMORY, str(args.file), out],
            "pydicom read + write only": [sys.executable, "-c", PYDICOM_COPY, str(args.file), out],
        }
        print(f"file: {args.file} ({size_mb:.0f} MiB); goal: <= {1.5 * size_mb + 150:.0f} MiB")
        print(f"{'path':32s} {'peak RSS':>10s} {'x file':>7s} {'seconds':>8s}")
        for name, cmd in cases.items():
            rss, secs, code = run(cmd)
            status = "" if code == 0 else f"  (exit {code})"
            print(f"{name:32s} {rss:8.0f}MB {rss / size_mb:7.2f} {secs:8.1f}{status}")
            Path(out).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
