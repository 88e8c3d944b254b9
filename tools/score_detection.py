#!/usr/bin/env python3
"""Score a redaction run against labelled fixtures (see ``make_text_fixtures.py``).

A ground-truth text line counts as *removed* in a frame when

1. at least ``min_cover`` (98 %) of its area is covered by redaction, and
2. Tesseract, run on that area of the *redacted output* (padded, upscaled, several
   preprocessing passes), reads back none of its tokens.

Coverage comes from the redactor's boxes when a boxes JSON is given, else from the
pixels: a pixel is covered when it changed between original and redacted frame, or sits
at the fill value. Reported figures:

* recall = removed lines / lines (counted per frame a line is shown in);
* over-redaction = redacted area / ground-truth text area (both summed over frames;
  redacted area = the boxes, or without a boxes JSON the changed pixels only).

With ``--legibility`` every line is also read in the *original* frame, with the same
reader: a line is *legible* when one of its tokens is read there. Reported besides the
recall: the legible lines, the recall over them, and how many failures are legible. A
missed line that even this reader (every pass, 3x, confidence 10) cannot read in the
original is text drawn in about its background's colour; it still counts as a failure
in the recall. (One Tesseract read of every line of the original: minutes per set,
where the read-back of filled areas takes seconds.)

Boxes JSON (what a redactor writes; boxes as ``[x, y, w, h]`` or ``{"x":..,"y":..,"w":..,
"h":..}``)::

    {"files": {"us_000.dcm": {"boxes": [[4, 3, 90, 12]], "frame_boxes": {"3": [...]}}}}

Usage::

    python tools/score_detection.py ORIGINAL_DIR REDACTED_DIR GROUND_TRUTH.json \\
        [--boxes BOXES.json] [--json REPORT.json] [--legibility]
    # baseline: OcrDetector + numpy fill (uncompressed output), then score
    python tools/score_detection.py ORIGINAL_DIR OUT_DIR GROUND_TRUTH.json --ocr-fill

Recognised text is never printed; failures name file, frame, box index and reason only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

try:
    from dctredact.detect.frames import display_frames
    from dctredact.detect.ocr import PASSES, OcrDetector
    from dctredact.geometry import Box
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from dctredact.detect.frames import display_frames
    from dctredact.detect.ocr import PASSES, OcrDetector
    from dctredact.geometry import Box

__all__ = ["Failure", "Report", "fill_redact", "normalise", "score"]


@dataclass
class Failure:
    """A ground-truth line not removed in one frame (no text, by design)."""

    file: str
    frame: int
    box: int
    reason: str
    #: With ``legibility``: whether the reader reads one of the line's tokens in the
    #: original frame (None: not checked).
    legible: bool | None = None


@dataclass
class Report:
    """Scores of a redaction run."""

    boxes: int = 0
    removed: int = 0
    #: Whether legibility was checked; then the lines legible in the original, and how
    #: many of them were removed.
    legibility: bool = False
    legible_boxes: int = 0
    legible_removed: int = 0
    gt_area: int = 0
    redacted_area: int = 0
    files: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    @property
    def recall(self) -> float:
        """Removed lines / lines."""
        return self.removed / self.boxes if self.boxes else 1.0

    @property
    def over_redaction(self) -> float:
        """Redacted area / ground-truth text area."""
        return self.redacted_area / self.gt_area if self.gt_area else 0.0

    @property
    def legible_recall(self) -> float | None:
        """Removed legible lines / legible lines (None: legibility not checked)."""
        if not self.legibility or not self.legible_boxes:
            return None
        return self.legible_removed / self.legible_boxes

    @property
    def legible_failures(self) -> int | None:
        """Failures whose tokens the reader reads in the original (None: not checked)."""
        if not self.legibility:
            return None
        return sum(bool(f.legible) for f in self.failures)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (figures and failures)."""
        d = asdict(self)
        d["recall"] = self.recall
        d["over_redaction"] = self.over_redaction
        d["legible_failures"] = self.legible_failures
        d["legible_recall"] = self.legible_recall
        return d

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"{self.files} files, {self.boxes} line instances: recall {self.recall:.3f} "
            f"({self.removed}/{self.boxes}), over-redaction {self.over_redaction:.2f} "
            f"({self.redacted_area} px / {self.gt_area} px)"
        )


def normalise(token: str) -> str:
    """Upper-case alphanumerics of `token` (what read-back compares)."""
    return "".join(c for c in token.upper() if c.isalnum())


def _as_box(entry: Any) -> Box:
    if isinstance(entry, Mapping):
        return Box(int(entry["x"]), int(entry["y"]), int(entry["w"]), int(entry["h"]))
    x, y, w, h = (int(v) for v in entry)
    return Box(x, y, w, h)


def _mask(boxes: Iterable[Box], rows: int, cols: int) -> np.ndarray:
    m = np.zeros((rows, cols), dtype=bool)
    for b in boxes:
        c = b.clip(cols, rows)
        m[c.y : c.y1, c.x : c.x1] = True
    return m


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else frame.max(axis=2)


def _read_back(reader: OcrDetector, frame: np.ndarray, box: Box, tokens: list[str]) -> bool:
    """True when Tesseract reads any of `tokens` in `box` (padded) of `frame`."""
    wanted = {normalise(t) for t in tokens} - {""}
    wanted = {t for t in wanted if len(t) >= 2}
    if not wanted:
        return False
    rows, cols = frame.shape[:2]
    c = box.pad(4).clip(cols, rows)
    crop = frame[c.y : c.y1, c.x : c.x1]
    if crop.size == 0 or int(crop.max()) == int(crop.min()):
        return False  # uniform: nothing to read
    words = [normalise(t) for t in reader.read_text(crop)]
    joined = "".join(words)
    return any(t in words or (len(t) >= 4 and t in joined) for t in wanted)


def score(
    original: Path,
    redacted: Path,
    truth: Path | Mapping[str, Any],
    boxes: Path | Mapping[str, Any] | None = None,
    *,
    fill: int = 0,
    tolerance: int = 8,
    min_cover: float = 0.98,
    ocr: bool = True,
    legibility: bool = False,
) -> Report:
    """Score the redacted files in `redacted` against `truth`.

    Parameters
    ----------
    original, redacted : Path
        Directories holding the original and the redacted files (same names).
    truth : Path or mapping
        ``ground_truth.json`` (path or loaded).
    boxes : Path or mapping, optional
        The redactor's boxes; without it coverage is measured from pixels.
    fill : int
        Fill value counted as covered in pixel mode.
    tolerance : int
        Pixel difference regarded as "changed" (lossy re-encoding noise).
    min_cover : float
        Fraction of a line's area that must be covered.
    ocr : bool
        Run the Tesseract read-back test (else coverage only).
    legibility : bool
        Also read every line in the original frame (:attr:`Report.legible_boxes`,
        :attr:`Report.legible_recall`, :attr:`Failure.legible`).

    Returns
    -------
    Report
        Recall, over-redaction and the failures.
    """
    start = time.perf_counter()
    gt = json.loads(Path(truth).read_text()) if isinstance(truth, (str, Path)) else truth
    bx = json.loads(Path(boxes).read_text()) if isinstance(boxes, (str, Path)) else boxes
    if bx is not None and "files" in bx:
        bx = bx["files"]
    # The read-back runs every preprocessing pass at 3x on the padded area: it must be
    # at least as strong a reader as the detector (never weaken it).
    reader = OcrDetector(confidence=10, upscale=3, max_passes=len(PASSES))
    report = Report(legibility=legibility)
    for name, info in sorted(gt["files"].items()):
        report.files += 1
        orig_frames = list(display_frames(pydicom.dcmread(Path(original) / name)))
        red_frames = list(display_frames(pydicom.dcmread(Path(redacted) / name)))
        if len(orig_frames) != len(red_frames):
            raise ValueError(f"{name}: {len(red_frames)} redacted frames, expected "
                             f"{len(orig_frames)}")  # fmt: skip
        rows, cols = orig_frames[0].shape[:2]
        entry = bx.get(name, {}) if bx is not None else None
        for k, (o, r) in enumerate(zip(orig_frames, red_frames, strict=True)):
            if entry is not None:
                fb = entry.get("frame_boxes", {}).get(str(k), [])
                red_mask = _mask((_as_box(e) for e in [*entry.get("boxes", []), *fb]), rows, cols)
                covered = red_mask
            else:
                diff = np.abs(o.astype(np.int16) - r.astype(np.int16))
                changed = (diff if diff.ndim == 2 else diff.max(axis=2)) > tolerance
                at_fill = np.abs(_gray(r).astype(np.int16) - fill) <= tolerance
                if r.ndim == 3:
                    at_fill &= (np.abs(r.astype(np.int16) - fill) <= tolerance).all(axis=2)
                red_mask, covered = changed, changed | at_fill
            lines = [
                (i, b)
                for i, b in enumerate(info["boxes"])
                if b["frames"] is None or k in b["frames"]
            ]
            gt_mask = _mask((Box(b["x"], b["y"], b["w"], b["h"]) for _, b in lines), rows, cols)
            report.gt_area += int(gt_mask.sum())
            report.redacted_area += int(red_mask.sum())
            for i, b in lines:
                report.boxes += 1
                box = Box(b["x"], b["y"], b["w"], b["h"])
                legible = _read_back(reader, o, box, b["tokens"]) if legibility else None
                report.legible_boxes += bool(legible)
                cov = float(covered[box.y : box.y1, box.x : box.x1].mean()) if box.area else 1.0
                if cov < min_cover:
                    failure = Failure(name, k, i, f"coverage {cov:.3f}", legible)
                elif ocr and _read_back(reader, r, box, b["tokens"]):
                    failure = Failure(name, k, i, "token read back", legible)
                else:
                    report.removed += 1
                    report.legible_removed += bool(legible)
                    continue
                report.failures.append(failure)
    report.seconds = time.perf_counter() - start
    return report


def _write_plain(ds: Dataset, frames: list[np.ndarray], path: Path) -> None:
    """Write display frames as 8-bit uncompressed Explicit VR Little Endian."""
    rgb = frames[0].ndim == 3
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    if rgb:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    for kw in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept"):
        if kw in ds:
            delattr(ds, kw)
    ds.PixelData = b"".join(np.ascontiguousarray(f).tobytes() for f in frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = False
    ds.save_as(path, enforce_file_format=True)


def fill_redact(
    original: Path,
    out: Path,
    names: Iterable[str],
    detector: OcrDetector | None = None,
    fill: int = 0,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Baseline redaction: detect with `detector`, fill the boxes, write uncompressed.

    Parameters
    ----------
    original : Path
        Directory of input files.
    out : Path
        Directory for the redacted files (created).
    names : iterable of str
        File names to process.
    detector : OcrDetector, optional
        Default ``OcrDetector()``.
    fill : int
        Fill value.

    Returns
    -------
    tuple
        The boxes JSON mapping (``{"files": ...}``) and timings (seconds per file).
    """
    detector = detector or OcrDetector()
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"files": {}}
    timings: dict[str, float] = {}
    for name in names:
        ds = pydicom.dcmread(Path(original) / name)
        frames = [f.copy() for f in display_frames(ds)]
        t = time.perf_counter()
        det = detector.detect(ds, lambda frames=frames: iter(frames))
        timings[name] = time.perf_counter() - t
        for k, f in enumerate(frames):
            for b in [*det.boxes, *det.frame_boxes.get(k, [])]:
                f[b.y : b.y1, b.x : b.x1] = fill
        _write_plain(ds, frames, out / name)
        result["files"][name] = {
            "boxes": [b.as_tuple() for b in det.boxes],
            "frame_boxes": {str(k): [b.as_tuple() for b in v] for k, v in det.frame_boxes.items()},
        }
    return result, timings


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("original", type=Path, help="directory of original files")
    p.add_argument("redacted", type=Path, help="directory of redacted files")
    p.add_argument("truth", type=Path, help="ground_truth.json")
    p.add_argument("--boxes", type=Path, help="the redactor's boxes JSON")
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--no-ocr", action="store_true", help="coverage only, no read-back")
    p.add_argument(
        "--legibility",
        action="store_true",
        help="also read every line in the original: how many lines, and how many of the "
        "missed ones, are legible there",
    )
    p.add_argument(
        "--ocr-fill",
        action="store_true",
        help="first redact ORIGINAL into REDACTED with OcrDetector + fill (baseline)",
    )
    a = p.parse_args(argv)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    boxes: Path | dict[str, Any] | None = a.boxes
    if a.ocr_fill:
        names = sorted(json.loads(a.truth.read_text())["files"])
        boxes, timings = fill_redact(a.original, a.redacted, names)
        (a.redacted / "boxes.json").write_text(json.dumps(boxes) + "\n")
        frames = sum(v["frames"] for v in json.loads(a.truth.read_text())["files"].values())
        print(f"detection: {sum(timings.values()):.1f} s for {len(names)} files, {frames} frames")
    report = score(
        a.original, a.redacted, a.truth, boxes, ocr=not a.no_ocr, legibility=a.legibility
    )
    print(report.summary())
    if report.legible_failures is not None:
        print(
            f"legible in the original (the reader reads one of their tokens there): "
            f"{report.legible_boxes} of {report.boxes} lines, recall over them "
            f"{report.legible_recall if report.legible_recall is not None else 1.0:.3f} "
            f"({report.legible_removed}/{report.legible_boxes}); "
            f"{report.legible_failures} of {len(report.failures)} failures"
        )
    reasons: dict[str, int] = {}
    for f in report.failures:
        key = f.reason.split()[0]
        reasons[key] = reasons.get(key, 0) + 1
    print(f"failures by reason: {reasons}; scoring took {report.seconds:.1f} s")
    if a.json:
        a.json.write_text(json.dumps(report.as_json(), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
