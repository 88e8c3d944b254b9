#!/usr/bin/env python3
"""Time OCR detection + redaction of a long ultrasound cine end to end, on one core.

Uses ``../shared/corpus/real/orthanc-tests__Issue164.dcm`` (87 frames, 975x743, JPEG
Baseline) when present, else generates a similar cine with ``make_text_fixtures.py``.
The run is pinned to one core (``os.sched_setaffinity``) and Tesseract to one thread
(``OMP_THREAD_LIMIT=1``); the figure is wall-clock seconds of ``redact_file`` with the
default settings (OCR on), i.e. decode + detect + redact + write.

Usage::

    python tools/bench_ocr.py [--input FILE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "corpus" / "real" / "orthanc-tests__Issue164.dcm"
try:
    from dctredact.api import redact_file
    from dctredact.settings import Settings
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))
    from dctredact.api import redact_file
    from dctredact.settings import Settings


def _generated(workdir: Path) -> Path:
    """An 87-frame 975x743 cine (JPEG 4:2:0) from the fixture generator."""
    sys.path.insert(0, str(ROOT / "tools"))
    import make_text_fixtures

    make_text_fixtures.generate(
        workdir, 0, seed=5, rows=743, cols=975, cine_frames=87, cines=1, modes=["420"]
    )
    return workdir / "cine_000.dcm"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, help="cine to time (default: Issue164 or generated)")
    p.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    a = p.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        src = a.input or (REAL if REAL.exists() else _generated(Path(tmp)))
        detectors = Settings().detectors()
        times = []
        for i in range(a.repeat):
            out = Path(tmp) / f"out_{i}.dcm"
            t = time.perf_counter()
            result = redact_file(src, out, detectors=detectors)
            times.append(time.perf_counter() - t)
            print(f"run {i + 1}: {times[-1]:.2f} s ({result.outcome}, {result.changed} "
                  f"{result.unit})")  # fmt: skip
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
        print(f"{src.name}: best {min(times):.2f} s end to end on {cores} core(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
