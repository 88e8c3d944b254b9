"""``dctredact check``: the CI regression check on a site's own fixture images.

An expectations file lists, per fixture, the boxes that must be redacted and optionally
the golden SHA-256 of the output::

    {
      "settings": {"ocr": true, "fill": "black", "rules": "site.script"},
      "min_coverage": 1.0,
      "files": {
        "us/probe1.dcm": {
          "boxes": [{"x": 16, "y": 64, "w": 81, "h": 10, "frames": null}, [0, 0, 640, 40]],
          "sha256": "9f2c..."
        }
      }
    }

``settings`` takes the keys of a TOML config (see :mod:`dctredact.config`). The
``ground_truth.json`` of ``fixtures/text`` has this shape, so it works as it is.

A box is *covered* when every pixel of it lies in a redacted area: the 8x8 blocks that
were planned on the DCT path (luma grid), the boxes themselves on pixel paths. With
``frames`` a list, only those frames are checked; otherwise every frame.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .batch import BatchOptions, Job, process_one
from .config import normalise, settings_from_mapping
from .dicomio import encapsulated_frames, read_dicom
from .errors import DctRedactError
from .geometry import Box, boxes_mask
from .verify import boxes_from_record, residual_text

__all__ = ["ExpectedBox", "FixtureResult", "coverage_mask", "load_expectations", "run_check"]


@dataclass(frozen=True)
class ExpectedBox:
    """A box that must be redacted; ``frames`` None means every frame."""

    box: Box
    frames: tuple[int, ...] | None = None

    def label(self) -> str:
        """``x,y,w,h`` plus the frames it applies to."""
        where = "all frames" if self.frames is None else f"frames {list(self.frames)}"
        return f"{self.box} ({where})"


@dataclass
class FixtureResult:
    """The outcome of checking one fixture."""

    name: str
    problems: list[str] = field(default_factory=list)
    sha256: str | None = None
    coverage: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing regressed."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (no recognised text)."""
        return {
            "file": self.name,
            "ok": self.ok,
            "problems": self.problems,
            "sha256": self.sha256,
            "coverage": self.coverage,
        }


def _expected_box(value: Any, where: str) -> ExpectedBox:
    if isinstance(value, list) and len(value) == 4:
        x, y, w, h = (int(v) for v in value)
        return ExpectedBox(Box(x, y, w, h))
    if isinstance(value, dict) and {"x", "y", "w", "h"} <= value.keys():
        frames = value.get("frames")
        return ExpectedBox(
            Box(int(value["x"]), int(value["y"]), int(value["w"]), int(value["h"])),
            None if frames is None else tuple(int(f) for f in frames),
        )
    raise DctRedactError(f"{where}: box {value!r}: expected [x, y, w, h] or {{x, y, w, h}}")


def load_expectations(path: str | Path) -> dict[str, Any]:
    """Read and validate an expectations file.

    Returns
    -------
    dict
        ``settings`` (normalised), ``min_coverage`` and ``files`` (name -> dict with
        ``boxes`` as :class:`ExpectedBox` and optional ``sha256``).

    Raises
    ------
    DctRedactError
        When the file cannot be read or is malformed.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DctRedactError(f"cannot read: {exc.strerror}", path=str(p)) from None
    except json.JSONDecodeError as exc:
        raise DctRedactError(f"not valid JSON: {exc}", path=str(p)) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise DctRedactError('expected an object with a "files" object', path=str(p))
    files = {}
    for name, entry in data["files"].items():
        where = f"{p}: {name}"
        if not isinstance(entry, dict):
            raise DctRedactError(f"{where}: expected an object")
        files[name] = {
            "boxes": [_expected_box(b, where) for b in entry.get("boxes", [])],
            "sha256": entry.get("sha256"),
        }
    return {
        "settings": normalise(data.get("settings") or {}, p.parent, where=f"{p}: settings"),
        "min_coverage": float(data.get("min_coverage", 1.0)),
        "files": files,
        "raw": data,
    }


def coverage_mask(
    src: str | Path,
    handler: str | None,
    boxes: Sequence[Box],
    rows: int,
    columns: int,
) -> npt.NDArray[np.bool_]:
    """Pixels of one frame that the redaction covers.

    On the DCT path the luma blocks planned for `boxes` (so rounding outward counts);
    elsewhere the boxes themselves.
    """
    if handler == "jpeg-baseline":
        from .geometry import plan_blocks
        from .jpeg.codec import frame_geometry
        from .jpeg.stream import SOF0, SOF1, parse_jpeg

        ds = read_dicom(src).dataset
        first = next(iter(encapsulated_frames(ds)))
        geometry = frame_geometry(parse_jpeg(first, allowed_sof=frozenset({SOF0, SOF1})))
        blocks = plan_blocks(geometry, boxes)[0]
        h, v = geometry.sampling[0]
        bw, bh = 8 * geometry.hmax // h, 8 * geometry.vmax // v
        pixels = np.repeat(np.repeat(blocks, bh, axis=0), bw, axis=1)
        mask = np.zeros((rows, columns), dtype=bool)
        mask[:, :] = pixels[:rows, :columns]
        return mask
    return boxes_mask(boxes, rows, columns)


def check_fixture(
    src: Path,
    name: str,
    expected: Mapping[str, Any],
    options: BatchOptions,
    workdir: Path,
    *,
    min_coverage: float,
    residual: bool,
) -> FixtureResult:
    """Redact one fixture into `workdir` and compare it with its expectations."""
    result = FixtureResult(name)
    dst = workdir / name
    record = process_one(Job(str(src.resolve()), name, str(dst.resolve())), options)
    if record["outcome"] not in ("redacted", "no-text"):
        result.problems.append(f"outcome {record['outcome']}: {record.get('error')}")
        return result
    result.sha256 = record.get("output_sha256")
    every, per_frame = boxes_from_record(record)
    ds = read_dicom(src).dataset
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    handler = record.get("handler")
    masks: dict[int, npt.NDArray[np.bool_]] = {}

    def mask_for(frame: int) -> npt.NDArray[np.bool_]:
        if frame not in masks:
            masks[frame] = coverage_mask(
                src, handler, [*every, *per_frame.get(frame, [])], rows, columns
            )
        return masks[frame]

    for exp in expected["boxes"]:
        box = exp.box.clip(columns, rows)
        if box.is_empty():
            continue
        wanted = range(frames) if exp.frames is None else exp.frames
        worst = 1.0
        for f in wanted:
            if not 0 <= f < frames:
                continue
            covered = float(mask_for(f)[box.y : box.y1, box.x : box.x1].mean())
            worst = min(worst, covered)
        result.coverage[str(exp.box)] = round(worst, 4)
        if worst < min_coverage:
            result.problems.append(
                f"box {exp.label()}: {worst:.1%} covered, expected >= {min_coverage:.0%}"
            )
    golden = expected.get("sha256")
    if golden and golden != result.sha256:
        result.problems.append(f"sha256: expected {golden}, got {result.sha256}")
    if residual:
        try:
            left = residual_text(read_dicom(dst).dataset, [*every, *per_frame_all(per_frame)])
        except DctRedactError as exc:
            result.problems.append(f"OCR of the output failed: {exc.reason}")
        else:
            for b in left:
                result.problems.append(f"text left at {b} (OCR)")
    return result


def per_frame_all(per_frame: Mapping[int, Sequence[Box]]) -> list[Box]:
    """Every single-frame box, flattened."""
    return [b for boxes in per_frame.values() for b in boxes]


def run_check(
    fixtures: Path,
    expectations: Mapping[str, Any],
    options: BatchOptions,
    *,
    residual: bool = True,
) -> list[FixtureResult]:
    """Check every fixture listed in `expectations` (outputs go to a temporary folder)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="dctredact-check-") as tmp:
        for name, expected in sorted(expectations["files"].items()):
            src = fixtures / name if fixtures.is_dir() else fixtures
            if not src.is_file():
                results.append(FixtureResult(name, [f"fixture {src} not found"]))
                continue
            results.append(
                check_fixture(
                    src,
                    name,
                    expected,
                    options,
                    Path(tmp),
                    min_coverage=expectations["min_coverage"],
                    residual=residual,
                )
            )
    return results


def update_hashes(path: Path, raw: dict[str, Any], results: Sequence[FixtureResult]) -> int:
    """Write the outputs' SHA-256 into the expectations file; return how many changed."""
    changed = 0
    for r in results:
        entry = raw["files"].get(r.name)
        if entry is not None and r.sha256 and entry.get("sha256") != r.sha256:
            entry["sha256"] = r.sha256
            changed += 1
    path.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    return changed


def options_from(values: Mapping[str, Any]) -> BatchOptions:
    """BatchOptions from normalised settings values."""
    return BatchOptions(
        settings=settings_from_mapping(dict(values)),
        mark_clean=bool(values.get("mark_clean", False)),
        new_uids=bool(values.get("new_uids", False)),
        uid_salt=str(values.get("uid_salt", "")),
    )
