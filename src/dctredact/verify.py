"""Prove that a redacted file differs from its original only where it should.

For the DCT path (JPEG Baseline, 8-bit JPEG Extended) every quantized coefficient
outside the planned blocks must be identical and every planned block must hold the fill.
For the pixel paths every decoded sample outside the boxes must be identical and each box
must be uniform. Every data element other than Pixel Data must be unchanged, except
those the documented options change (and then only to the expected value). Finally the
output can be OCR'd and any text left is flagged.

Messages never quote header values or recognised text.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from .dicomio import encapsulated_frames, read_dicom
from .errors import DctRedactError
from .geometry import Box, plan_blocks
from .handlers.base import Fill

__all__ = [
    "VerifyResult",
    "boxes_from_record",
    "compare_elements",
    "residual_text",
    "verify_file",
]

DCT_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"})
NATIVE_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
)
#: Elements that describe the encoding: they may change when pixels are re-encoded.
ENCODING_ELEMENTS = frozenset(
    {
        "PhotometricInterpretation",
        "PlanarConfiguration",
        "PixelRepresentation",
        "BitsStored",
        "HighBit",
        "LossyImageCompression",
    }
)
_ALWAYS_IGNORED = frozenset({"PixelData", "ExtendedOffsetTable", "ExtendedOffsetTableLengths"})
_META_IGNORED = frozenset(
    {
        "FileMetaInformationGroupLength",
        "FileMetaInformationVersion",
        "ImplementationClassUID",
        "ImplementationVersionName",
    }
)


@dataclass
class VerifyResult:
    """The outcome of verifying one original/redacted pair.

    Attributes
    ----------
    original, redacted : str
        The two files.
    problems : list of str
        Every failed check (empty when the pair verified).
    checks : list of str
        What was checked, for the report.
    residual : list of Box
        Boxes where OCR still found text (also listed in ``problems``).
    """

    original: str
    redacted: str
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    residual: list[Box] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "original": self.original,
            "redacted": self.redacted,
            "ok": self.ok,
            "problems": self.problems,
            "checks": self.checks,
            "residual": [list(b.as_tuple()) for b in self.residual],
        }


def boxes_from_record(record: Mapping[str, Any]) -> tuple[list[Box], dict[int, list[Box]]]:
    """The boxes a report record says were redacted (every frame, single frames)."""

    def box(d: Mapping[str, Any]) -> Box:
        return Box(int(d["x"]), int(d["y"]), int(d["w"]), int(d["h"]), str(d.get("source", "")))

    every = [box(b) for b in record.get("boxes") or []]
    frames = {int(k): [box(b) for b in v] for k, v in (record.get("frame_boxes") or {}).items()}
    return every, frames


# -- data elements ----------------------------------------------------------------------


def _clean_code_added(before: Any, after: Any) -> bool:
    from .batch import CLEAN_PIXEL_CODE

    old = list(before) if before is not None else []
    new = list(after) if after is not None else []
    if len(new) != len(old) + 1 or any(a != b for a, b in zip(old, new, strict=False)):
        return False
    item = new[-1]
    return (
        str(item.get("CodeValue", "")),
        str(item.get("CodingSchemeDesignator", "")),
    ) == CLEAN_PIXEL_CODE[:2]


def compare_elements(a: Dataset, b: Dataset, *, reencoded: bool) -> tuple[list[str], list[str]]:
    """Compare every data element but Pixel Data (and the File Meta Information).

    Parameters
    ----------
    a, b : Dataset
        Original and redacted datasets.
    reencoded : bool
        The pixels were re-encoded, so :data:`ENCODING_ELEMENTS` and the transfer syntax
        may differ.

    Returns
    -------
    tuple of (list of str, list of str)
        Problems, and the accepted changes (for the report).
    """
    problems: list[str] = []
    accepted: list[str] = []
    tags = sorted(set(a.keys()) | set(b.keys()))
    for tag in tags:
        in_a, in_b = tag in a, tag in b
        elem = a[tag] if in_a else b[tag]
        kw = elem.keyword or str(elem.tag)
        if kw in _ALWAYS_IGNORED:
            continue
        va = a[tag].value if in_a else None
        vb = b[tag].value if in_b else None
        if in_a and in_b and va == vb:
            continue
        if kw in ENCODING_ELEMENTS and reencoded:
            accepted.append(f"{kw} (re-encoded)")
        elif kw == "BurnedInAnnotation" and str(vb) == "NO":
            accepted.append("BurnedInAnnotation set to NO")
        elif kw == "DeidentificationMethodCodeSequence" and _clean_code_added(va, vb):
            accepted.append("Clean Pixel Data Option added")
        elif (
            kw == "SOPInstanceUID"
            and in_b
            and str(b.file_meta.get("MediaStorageSOPInstanceUID", "")) == str(vb)
        ):
            accepted.append("SOP Instance UID replaced")
        elif not in_b:
            problems.append(f"{elem.tag} {kw} was removed")
        elif not in_a:
            problems.append(f"{elem.tag} {kw} was added")
        else:
            problems.append(f"{elem.tag} {kw} changed")
    ma, mb = a.file_meta, b.file_meta
    for tag in sorted(set(ma.keys()) | set(mb.keys())):
        elem = ma[tag] if tag in ma else mb[tag]
        kw = elem.keyword
        if kw in _META_IGNORED:
            continue
        va = ma[tag].value if tag in ma else None
        vb = mb[tag].value if tag in mb else None
        if va == vb:
            continue
        if kw == "TransferSyntaxUID" and reencoded:
            accepted.append("Transfer Syntax UID changed (re-encoded)")
        elif kw == "MediaStorageSOPInstanceUID" and str(vb) == str(b.get("SOPInstanceUID", "")):
            continue
        else:
            problems.append(f"file meta {elem.tag} {kw} changed")
    return problems, accepted


# -- pixels -----------------------------------------------------------------------------


def _frame_boxes(boxes: Sequence[Box], frame_boxes: Mapping[int, Sequence[Box]], i: int) -> list:
    return [*boxes, *frame_boxes.get(i, ())]


def verify_dct(
    a: Dataset,
    b: Dataset,
    boxes: Sequence[Box],
    frame_boxes: Mapping[int, Sequence[Box]],
    fill: Fill,
) -> list[str]:
    """Check the coefficients of every frame of a DCT-path pair.

    Returns
    -------
    list of str
        Problems (empty when every coefficient is as planned).
    """
    from .jpeg.codec import decode_coefficients, fill_dc_values, frame_geometry
    from .jpeg.stream import SOF0, SOF1, parse_jpeg

    allowed = frozenset({SOF0, SOF1})
    problems: list[str] = []
    frames_a = list(encapsulated_frames(a))
    frames_b = list(encapsulated_frames(b))
    if len(frames_a) != len(frames_b):
        return [f"{len(frames_b)} frame(s) in the output, {len(frames_a)} in the original"]
    photometric = str(a.get("PhotometricInterpretation", "")).strip() or None
    for i, (fa, fb) in enumerate(zip(frames_a, frames_b, strict=True)):
        sa, sb = parse_jpeg(fa, allowed_sof=allowed), parse_jpeg(fb, allowed_sof=allowed)
        ga, gb = frame_geometry(sa), frame_geometry(sb)
        if (ga.columns, ga.rows, ga.sampling) != (gb.columns, gb.rows, gb.sampling):
            problems.append(f"frame {i + 1}: JPEG frame geometry changed")
            continue
        if sa.quant_tables != sb.quant_tables:
            problems.append(f"frame {i + 1}: quantization tables changed")
            continue
        ca, cb = decode_coefficients(sa), decode_coefficients(sb)
        masks = plan_blocks(ga, _frame_boxes(boxes, frame_boxes, i))
        dcs = fill_dc_values(sa, fill, photometric=photometric)
        for k, (xa, xb, mask, dc) in enumerate(zip(ca, cb, masks, dcs, strict=True)):
            outside = ~mask
            differ = np.any(xa[outside] != xb[outside], axis=-1)
            if differ.any():
                problems.append(
                    f"frame {i + 1} component {k}: {int(differ.sum())} block(s) outside "
                    "the planned area changed"
                )
            if not mask.any():
                continue
            inside_a, inside_b = xa[mask], xb[mask]
            if np.any(inside_b[:, 1:] != 0):
                problems.append(f"frame {i + 1} component {k}: planned blocks keep AC coefficients")
            want = inside_a[:, 0] if fill is Fill.FLAT else np.full(len(inside_b), dc)
            bad = int(np.sum(inside_b[:, 0] != want))
            if bad:
                problems.append(
                    f"frame {i + 1} component {k}: {bad} planned block(s) do not hold the "
                    f"{fill.value} fill"
                )
    return problems


def _raw_frames(ds: Dataset) -> list[npt.NDArray[Any]]:
    from pydicom.pixels import iter_pixels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [np.asarray(f) for f in iter_pixels(ds, raw=True)]


def _stored_bits(arr: npt.NDArray[Any], ds: Dataset) -> npt.NDArray[Any]:
    """Only the stored bits, when High Bit is not Bits Stored - 1 (other bits are kept)."""
    try:
        stored, high = int(ds.BitsStored), int(ds.HighBit)
    except (AttributeError, TypeError, ValueError):
        return arr
    shift = high - stored + 1
    if shift <= 0 or arr.dtype.kind not in "ui":
        return arr
    return (arr.astype(np.int64) >> shift) & ((1 << stored) - 1)


def verify_pixels(
    a: Dataset, b: Dataset, boxes: Sequence[Box], frame_boxes: Mapping[int, Sequence[Box]]
) -> list[str]:
    """Check decoded samples: identical outside the boxes, uniform inside each box.

    For YBR_FULL_422 the boxes are widened to whole chroma pairs.
    """
    try:
        fa, fb = _raw_frames(a), _raw_frames(b)
    except Exception as exc:
        return [f"cannot decode pixels for comparison ({type(exc).__name__})"]
    if len(fa) != len(fb):
        return [f"{len(fb)} frame(s) in the output, {len(fa)} in the original"]
    pair = "422" in str(a.get("PhotometricInterpretation", ""))
    problems: list[str] = []
    for i, (xa, xb) in enumerate(zip(fa, fb, strict=True)):
        if xa.shape != xb.shape:
            problems.append(f"frame {i + 1}: decoded shape {xb.shape} != {xa.shape}")
            continue
        rows, cols = xa.shape[:2]
        mask = np.zeros((rows, cols), dtype=bool)
        clipped = []
        for box in _frame_boxes(boxes, frame_boxes, i):
            c = box.clip(cols, rows)
            if pair and not c.is_empty():
                x0, x1 = c.x - c.x % 2, min(cols, c.x1 + c.x1 % 2)
                c = Box(x0, c.y, x1 - x0, c.h)
            if not c.is_empty():
                mask[c.y : c.y1, c.x : c.x1] = True
                clipped.append(c)
        diff = xa != xb
        if diff.ndim == 3:
            diff = diff.any(axis=-1)
        outside = int(np.sum(diff & ~mask))
        if outside:
            problems.append(f"frame {i + 1}: {outside} pixel(s) outside the boxes changed")
        overlapping = any(p.intersects(q) for n, p in enumerate(clipped) for q in clipped[n + 1 :])
        if not overlapping and not pair:
            for c in clipped:
                region = _stored_bits(xb[c.y : c.y1, c.x : c.x1], b).reshape(c.h * c.w, -1)
                if np.any(region != region[0]):
                    problems.append(f"frame {i + 1}: box {c} is not filled uniformly")
    return problems


# -- residual text ----------------------------------------------------------------------


def residual_text(
    ds: Dataset,
    redacted: Iterable[Box] = (),
    *,
    margin: int = 8,
    min_confidence: float = 70.0,
    min_chars: int = 3,
    frames: int = 3,
) -> list[Box]:
    """OCR `ds` and return boxes of words read outside the redacted area.

    Unlike the detector (tuned for recall, so it also reports text-like noise), this
    check wants evidence: a plain Tesseract sparse-text pass on the 3x upscaled display
    frame, keeping only words read with at least `min_confidence` and `min_chars`
    letters or digits. Cines are checked on `frames` frames sampled evenly.

    Raises
    ------
    DetectionError
        When Tesseract is unavailable or the pixels cannot be decoded.
    """
    import re

    import pytesseract
    from PIL import Image

    from .detect.frames import display_frames
    from .detect.ocr import OcrDetector
    from .errors import DetectionError

    OcrDetector()._check()  # a clear error when Tesseract is missing
    try:
        count = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        count = 1
    wanted = {round(float(v)) for v in np.linspace(0, count - 1, min(frames, count))}
    covered = [r.pad(margin) for r in redacted]
    found: set[Box] = set()
    scale = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, frame in enumerate(display_frames(ds)):
            if index > max(wanted):
                break
            if index not in wanted:
                continue
            image = Image.fromarray(frame).convert("L")
            image = image.resize(
                (image.width * scale, image.height * scale), Image.Resampling.LANCZOS
            )
            try:
                data = pytesseract.image_to_data(
                    image, config="--oem 1 --psm 11", output_type=pytesseract.Output.DICT
                )
            except pytesseract.TesseractError as exc:
                raise DetectionError(f"Tesseract failed on frame {index}: {exc}") from None
            for text, conf, x, y, w, h in zip(
                data["text"],
                data["conf"],
                data["left"],
                data["top"],
                data["width"],
                data["height"],
                strict=False,
            ):
                if float(conf) < min_confidence:
                    continue
                if len(re.sub(r"[^A-Za-z0-9]", "", str(text))) < min_chars:
                    continue
                x0, y0 = int(x) // scale, int(y) // scale
                box = Box(x0, y0, -(-int(w) // scale), -(-int(h) // scale), "ocr", float(conf))
                inside = any(
                    c.x <= box.x and c.y <= box.y and box.x1 <= c.x1 and box.y1 <= c.y1
                    for c in covered
                )
                if not inside:
                    found.add(box)
    return sorted(found)


# -- one pair -------------------------------------------------------------------------


def verify_file(
    original: str | os.PathLike[str],
    redacted: str | os.PathLike[str],
    *,
    boxes: Sequence[Box] = (),
    frame_boxes: Mapping[int, Sequence[Box]] | None = None,
    fill: Fill | str = Fill.BLACK,
    ocr: bool = True,
) -> VerifyResult:
    """Verify one redacted file against its original.

    Parameters
    ----------
    original, redacted : path
        The input and the output of a redaction.
    boxes, frame_boxes : optional
        What was redacted (from the report record, see :func:`boxes_from_record`).
    fill : Fill or str
        The fill used.
    ocr : bool
        OCR the output and flag text outside the redacted boxes.

    Returns
    -------
    VerifyResult
    """
    result = VerifyResult(str(original), str(redacted))
    frame_boxes = frame_boxes or {}
    fill = Fill(fill)
    try:
        da, db = read_dicom(original), read_dicom(redacted)
    except DctRedactError as exc:
        result.problems.append(str(exc))
        return result
    a, b = da.dataset, db.dataset
    ts_a, ts_b = da.transfer_syntax_uid, db.transfer_syntax_uid
    dct = ts_a == ts_b and ts_a in DCT_SYNTAXES
    reencoded = not dct and ts_a not in NATIVE_SYNTAXES
    problems, accepted = compare_elements(a, b, reencoded=reencoded)
    result.problems.extend(problems)
    result.checks.append("data elements: " + ("; ".join(accepted) if accepted else "unchanged"))
    try:
        if dct:
            result.problems.extend(verify_dct(a, b, boxes, frame_boxes, fill))
            result.checks.append("DCT coefficients outside the planned blocks identical")
        elif "PixelData" in a and "PixelData" in b:
            result.problems.extend(verify_pixels(a, b, boxes, frame_boxes))
            result.checks.append("pixels outside the boxes identical")
        else:
            result.problems.append("no Pixel Data to compare")
    except DctRedactError as exc:
        result.problems.append(f"cannot compare pixels: {exc.reason}")
    if ocr:
        every = [*boxes, *(x for v in frame_boxes.values() for x in v)]
        try:
            result.residual = residual_text(b, every)
        except DctRedactError as exc:
            result.problems.append(f"OCR of the output failed: {exc.reason}")
        else:
            result.checks.append("OCR of the output")
            for box in result.residual:
                result.problems.append(f"text left at {box} (OCR)")
    return result


def pair_trees(original: Path, redacted: Path) -> list[tuple[Path, Path]]:
    """Pair every DICOM file under `original` with the same relative path under `redacted`."""
    from .batch import discover

    files, _ = discover([original], exclude=[redacted])
    return [(src, redacted / rel) for src, rel in files]
