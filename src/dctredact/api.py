"""The typed Python API: redact a dataset or a file.

The CLI is a thin layer over these functions. Every failure is a
:class:`~dctredact.errors.DctRedactError` naming the file and the reason; a file that
cannot be redacted is never written.
"""

from __future__ import annotations

import copy
import os
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

from .detect.base import Detection, Detector
from .dicomio import (
    DicomFile,
    dataset_bytes,
    encapsulated_frames,
    number_of_frames,
    read_dicom,
    splice_extended_offsets,
    splice_pixel_data,
    write_atomically,
)
from .errors import DctRedactError, InvalidDicomError, ResourceLimitError, UnsupportedError
from .extras import ExtraOptions, apply_extras, needs_dataset_write
from .geometry import Box
from .handlers import HandlerEntry, get_handler
from .handlers.base import Fill, Handler, HandlerResult, RedactionRequest
from .limits import Limits, check_dataset, enforce

__all__ = [
    "FileResult",
    "detect",
    "redact_dataset",
    "redact_file",
    "route",
    "scan_file",
]

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"


#: Exceptions that stop the program and must never be turned into a redaction error.
_EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _unexpected(exc: BaseException, path: str | None = None) -> DctRedactError:
    """Turn an exception no validation anticipated into a :class:`DctRedactError`.

    The message names the exception type and where it was raised (function, module and
    line), never the exception's own text, which may quote header values.
    """
    if isinstance(exc, MemoryError):
        return ResourceLimitError(
            "ran out of memory; lower Limits.max_decoded_bytes or give the process more memory",
            path=path,
        )
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" in {last.name} ({os.path.basename(last.filename)}:{last.lineno})"
    return InvalidDicomError(
        f"unexpected {type(exc).__name__}{where} while reading or redacting the file; "
        "it is probably malformed",
        path=path,
    )


#: Photometric interpretations a reader accepts for 8-bit JPEG DCT streams.
_JPEG_PHOTOMETRICS = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_PARTIAL_422",
    "YBR_PARTIAL_420",
    "PALETTE COLOR",
)


def _check_image_pixel(ds: Dataset) -> None:
    """Refuse *Image Pixel* values no DICOM reader accepts (JPEG path; pixel handlers
    validate their own).

    A DCT-domain edit does not need Bits Allocated or Pixel Representation, so without
    this check a header with, say, Bits Allocated 9 would be written out redacted but
    undecodable. Only values that are present are checked.

    Raises
    ------
    InvalidDicomError
        When a present value is out of its PS3.3 C.7.6.3 range.
    """

    def value(keyword: str) -> int | None:
        try:
            raw = ds.get(keyword)
            return None if raw in (None, "") else int(raw)
        except Exception:
            raise InvalidDicomError(f"{keyword} is not an integer") from None

    bits = value("BitsAllocated")
    stored = value("BitsStored")
    checks = [
        (
            bits,
            "BitsAllocated",
            "8 for 8-bit JPEG streams",
            lambda v: v == 8,
        ),
        (stored, "BitsStored", "1..8", lambda v: 1 <= v <= 8),
        (
            value("HighBit"),
            "HighBit",
            "Bits Stored - 1 .. Bits Allocated - 1",
            lambda v: (stored or 1) - 1 <= v < (bits or 64),
        ),
        (value("PixelRepresentation"), "PixelRepresentation", "0 or 1", lambda v: v in (0, 1)),
        (value("SamplesPerPixel"), "SamplesPerPixel", "1 or 3", lambda v: v in (1, 3)),
        (value("PlanarConfiguration"), "PlanarConfiguration", "0 or 1", lambda v: v in (0, 1)),
    ]
    for found, keyword, expected, ok in checks:
        if found is not None and not ok(found):
            raise InvalidDicomError(f"{keyword} is {found}; expected {expected}")
    pi = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if pi not in _JPEG_PHOTOMETRICS:
        raise InvalidDicomError(
            f"Photometric Interpretation {pi or '(missing)'!r} is not valid for JPEG data; "
            f"expected one of {', '.join(_JPEG_PHOTOMETRICS)}"
        )


def _as_fill(fill: Fill | str) -> Fill:
    try:
        return Fill(fill)
    except ValueError:
        raise DctRedactError(
            f"unknown fill {fill!r}; expected one of {', '.join(f.value for f in Fill)}"
        ) from None


def route(ds: Dataset, path: str = "") -> tuple[HandlerEntry, Handler, str]:
    """Choose the handler for `ds` by its transfer syntax (and, for 4.51, its stream).

    Returns
    -------
    tuple
        The registry entry, the handler function, and why it was chosen.

    Raises
    ------
    UnsupportedError
        When no handler can redact the dataset.
    """
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not uid:
        raise InvalidDicomError("no (0002,0010) Transfer Syntax UID", path=path or None)
    if "PixelData" not in ds:
        for kw in ("FloatPixelData", "DoubleFloatPixelData"):
            if kw in ds:
                raise UnsupportedError(f"{kw} is not supported; only (7FE0,0010) Pixel Data")
        raise UnsupportedError("no (7FE0,0010) Pixel Data: nothing to redact")
    if uid == JPEG_EXTENDED and _is_8bit_huffman(ds, path):
        from .handlers import jpeg_baseline

        entry = HandlerEntry(
            "jpeg-baseline",
            ".jpeg_baseline",
            "redact_extended",
            "JPEG Extended syntax, but every frame is 8-bit Huffman DCT: DCT-domain edit",
        )
        return entry, jpeg_baseline.redact_extended, entry.description
    entry, func = get_handler(uid)
    return entry, func, f"transfer syntax {uid} ({UID(uid).name})"


def _is_8bit_huffman(ds: Dataset, path: str) -> bool:
    from .jpeg.stream import SOF0, SOF1, parse_jpeg

    try:
        for frame in encapsulated_frames(ds, path):
            sof = parse_jpeg(frame, allowed_sof=frozenset({SOF0, SOF1})).frame
            if sof.precision != 8:
                return False
        return True
    except DctRedactError:
        return False


def _frame_source(ds: Dataset) -> Any:
    def frames() -> Any:
        from .detect.frames import display_frames

        return display_frames(ds)

    return frames


def detect(ds: Dataset, detectors: Sequence[Detector]) -> Detection:
    """Run every detector on `ds` and return the union of what they found.

    OCR word boxes are then grown to the whole text line they belong to
    (:func:`dctredact.detect.lines.grow_detection`): a box over part of a name would
    leave the rest readable.
    """
    result = Detection()
    source = _frame_source(ds)
    for detector in detectors:
        result = result.merge(detector.detect(ds, source))
    from .detect.lines import grow_detection

    return grow_detection(ds, result, source)


def _apply(ds: Dataset, result: HandlerResult) -> Dataset:
    out = copy.deepcopy(ds)
    for keyword, value in result.dataset_updates.items():
        if value is None:
            if keyword in out:
                delattr(out, keyword)
        else:
            setattr(out, keyword, value)
    out.PixelData = result.pixel_data
    elem = out["PixelData"]
    if result.encapsulated:
        elem.VR = "OB"
        elem.is_undefined_length = True
    if result.extended_offsets is not None:
        out.ExtendedOffsetTable, out.ExtendedOffsetTableLengths = result.extended_offsets
    else:
        for kw in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if kw in out:
                delattr(out, kw)
    if result.transfer_syntax_uid != str(ds.file_meta.TransferSyntaxUID):
        out.file_meta.TransferSyntaxUID = UID(result.transfer_syntax_uid)
    return out


def _request(
    boxes: Iterable[Box],
    fill: Fill | str,
    frame_boxes: Mapping[int, Sequence[Box]] | None,
    keep_syntax: bool,
    strip_markers: bool = False,
) -> RedactionRequest:
    return RedactionRequest(
        tuple(boxes), dict(frame_boxes or {}), _as_fill(fill), keep_syntax, strip_markers
    )


def redact_dataset(
    ds: Dataset,
    boxes: Iterable[Box] = (),
    *,
    fill: Fill | str = Fill.BLACK,
    frame_boxes: Mapping[int, Sequence[Box]] | None = None,
    keep_syntax: bool = False,
    limits: Limits | None = None,
) -> Dataset:
    """Return a copy of `ds` with `boxes` redacted in every frame.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset with File Meta Information (for the transfer syntax). Not modified.
    boxes : iterable of Box
        Boxes in pixels, applied to every frame.
    fill : Fill or str
        ``"black"`` (default), ``"gray"`` or ``"flat"``.
    frame_boxes : mapping of int to sequence of Box, optional
        Extra boxes for single frames (0-based).
    keep_syntax : bool
        Refuse inputs whose transfer syntax would have to change.
    limits : Limits, optional
        Resource limits (:class:`~dctredact.limits.Limits` defaults when None).

    Returns
    -------
    pydicom.dataset.Dataset
        The redacted copy; only *Pixel Data* (and, when a syntax must change, the
        elements that describe the encoding) differ.

    Raises
    ------
    DctRedactError
        When the dataset cannot be redacted.
    """
    try:
        with enforce(limits):
            entry, handler, _ = route(ds)
            check_dataset(ds)
            if entry.name == "jpeg-baseline":
                _check_image_pixel(ds)
            result = handler(ds, _request(boxes, fill, frame_boxes, keep_syntax))
            return _apply(ds, result)
    except DctRedactError:
        raise
    except BaseException as exc:  # a bug or an unanticipated malformation
        # (or a Rust decoder's panic, a BaseException): fail closed
        if isinstance(exc, _EXITS):
            raise
        raise _unexpected(exc) from None


@dataclass
class FileResult:
    """What happened to one file.

    ``outcome`` is ``redacted`` (something was edited), ``no-text`` (nothing to redact;
    written unchanged), ``skipped`` (not an image this tool redacts) or ``failed``.
    """

    input: str
    output: str | None
    outcome: str
    handler: str | None = None
    transfer_syntax_in: str | None = None
    transfer_syntax_out: str | None = None
    sop_instance_uid: str | None = None
    frames: int = 0
    boxes: list[Box] = field(default_factory=list)
    frame_boxes: dict[int, list[Box]] = field(default_factory=dict)
    changed: int = 0
    unit: str = ""
    fill: str = ""
    notes: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record (no patient data unless texts were requested)."""
        record: dict[str, Any] = {
            "input": self.input,
            "output": self.output,
            "outcome": self.outcome,
            "handler": self.handler,
            "transfer_syntax_in": self.transfer_syntax_in,
            "transfer_syntax_out": self.transfer_syntax_out,
            "sop_instance_uid": self.sop_instance_uid,
            "frames": self.frames,
            "boxes": [_box_json(b) for b in self.boxes],
            "frame_boxes": {
                str(k): [_box_json(b) for b in v] for k, v in sorted(self.frame_boxes.items())
            },
            "changed": self.changed,
            "unit": self.unit,
            "fill": self.fill,
            "notes": self.notes,
            "error": self.error,
            "duration_s": round(self.duration, 4),
        }
        if self.texts:
            record["texts"] = self.texts
        return record


def _box_json(box: Box) -> dict[str, Any]:
    out: dict[str, Any] = {"x": box.x, "y": box.y, "w": box.w, "h": box.h, "source": box.source}
    if box.confidence is not None:
        out["confidence"] = round(box.confidence, 1)
    return out


def redact_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None,
    boxes: Iterable[Box] = (),
    *,
    fill: Fill | str = Fill.BLACK,
    frame_boxes: Mapping[int, Sequence[Box]] | None = None,
    detectors: Sequence[Detector] = (),
    keep_syntax: bool = False,
    keep_text: bool = False,
    limits: Limits | None = None,
    extras: ExtraOptions | None = None,
) -> FileResult:
    """Redact one DICOM file into `dst` (written atomically; `src` is never modified).

    Parameters
    ----------
    src : path
        The input file.
    dst : path or None
        Where to write the result; None runs everything but writes nothing.
    boxes : iterable of Box
        Explicit boxes, applied to every frame.
    fill : Fill or str
        ``"black"`` (default), ``"gray"`` or ``"flat"``.
    frame_boxes : mapping, optional
        Explicit boxes for single frames.
    detectors : sequence of Detector
        Detectors (OCR, rules ...) whose boxes are added to the explicit ones.
    keep_syntax : bool
        Refuse rather than change the transfer syntax.
    keep_text : bool
        Keep recognised text in the result (off by default: it is patient data).
    limits : Limits, optional
        Resource limits (:class:`~dctredact.limits.Limits` defaults when None): sizes
        declared by the header or a JPEG frame header are checked before any decoding,
        and the time budget between frames.
    extras : ExtraOptions, optional
        Icon Image Sequence, overlay planes and JPEG COM/APPn handling
        (:class:`~dctredact.extras.ExtraOptions` defaults: icons redacted with the
        boxes scaled, overlays reported, markers kept).

    Returns
    -------
    FileResult

    Raises
    ------
    DctRedactError
        When the file cannot be redacted; nothing is written then.
    """
    started = time.perf_counter()
    path = str(src)
    try:
        with enforce(limits):
            job = _FileJob(
                src,
                dst,
                tuple(boxes),
                _as_fill(fill),
                {k: list(v) for k, v in (frame_boxes or {}).items()},
                tuple(detectors),
                keep_syntax,
                keep_text,
                extras or ExtraOptions(),
            )
            result, ds, hres, request = _redact_file(job)
    except DctRedactError as exc:
        raise exc.with_path(path) from None
    except BaseException as exc:  # a bug or an unanticipated malformation
        # (or a Rust decoder's panic, a BaseException): fail closed
        if isinstance(exc, _EXITS):
            raise
        raise _unexpected(exc, path) from None
    result.boxes = list(request.boxes)
    result.frame_boxes = {k: list(v) for k, v in request.frame_boxes.items()}
    result.frames = _frames(ds)
    result.changed = hres.changed
    result.unit = hres.unit
    result.transfer_syntax_out = hres.transfer_syntax_uid
    result.notes.extend(hres.notes)
    result.outcome = "redacted" if hres.changed else "no-text"
    result.duration = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _FileJob:
    """One :func:`redact_file` call: what to redact and how (shared by both paths)."""

    src: str | os.PathLike[str]
    dst: str | os.PathLike[str] | None
    boxes: tuple[Box, ...]
    fill: Fill
    frame_boxes: dict[int, list[Box]]
    detectors: tuple[Detector, ...]
    keep_syntax: bool
    keep_text: bool
    extras: ExtraOptions

    def new_result(self, ds: Dataset, syntax: str, handler: str | None = None) -> FileResult:
        """A result record, failed until the work is done."""
        return FileResult(
            input=str(self.src),
            output=str(self.dst) if self.dst is not None else None,
            outcome="failed",
            handler=handler,
            transfer_syntax_in=syntax,
            sop_instance_uid=_sop_uid(ds),
            fill=self.fill.value,
        )

    def collect(self, ds: Dataset, result: FileResult) -> RedactionRequest:
        """Explicit boxes plus what the detectors find, as a request; notes into `result`."""
        boxes = list(self.boxes)
        per_frame = {k: list(v) for k, v in self.frame_boxes.items()}
        if self.detectors:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = detect(ds, self.detectors)
            boxes.extend(found.boxes)
            for k, v in found.frame_boxes.items():
                per_frame.setdefault(k, []).extend(v)
            result.notes.extend(found.notes)
            if self.keep_text:
                result.texts = list(found.texts)
        return _request(boxes, self.fill, per_frame, self.keep_syntax, self.extras.strip_markers)


def _redact_file(
    job: _FileJob,
) -> tuple[FileResult, Dataset, HandlerResult, RedactionRequest]:
    """The body of :func:`redact_file`, run under the file's limits."""
    streamed = _redact_file_streaming(job)
    if streamed is not None:
        return streamed
    path = str(job.src)
    dicom = read_dicom(job.src)
    ds = dicom.dataset
    result = job.new_result(ds, dicom.transfer_syntax_uid)
    entry, handler, _ = route(ds, path)
    result.handler = entry.name
    check_dataset(ds)
    if entry.name == "jpeg-baseline":
        _check_image_pixel(ds)
    request = job.collect(ds, result)
    hres = handler(ds, request)
    every_box = [*request.boxes, *(b for v in request.frame_boxes.values() for b in v)]
    if needs_dataset_write(ds, job.extras, any(not b.is_empty() for b in every_box)):
        out = _apply(ds, hres)
        hres.notes.extend(apply_extras(out, every_box, request.fill, job.extras))
        try:
            data = dataset_bytes(out)
        except Exception as exc:
            raise InvalidDicomError(f"cannot write the redacted dataset ({exc})") from None
    else:
        # Nothing to edit (needs_dataset_write said so): this only reports (overlays...).
        hres.notes.extend(apply_extras(ds, (), request.fill, job.extras))
        data = _output_bytes(dicom, hres)
    if job.dst is not None:
        try:
            write_atomically(job.dst, data)
        except OSError as exc:
            raise DctRedactError(
                f"cannot write the output {job.dst}: {exc.strerror or type(exc).__name__}"
            ) from None
    return result, ds, hres, request


#: Detectors that read only the header, so a file can be streamed frame by frame.
_HEADER_ONLY_DETECTORS = {"rules", "boxes", "us-regions"}


def _redact_file_streaming(
    job: _FileJob,
) -> tuple[FileResult, Dataset, HandlerResult, RedactionRequest] | None:
    """Redact a JPEG Baseline file frame by frame, or return None when it does not apply.

    It applies when the syntax is JPEG Baseline with encapsulated Pixel Data and no
    detector needs decoded pixels (OCR does): then memory stays at about one frame.
    """
    if any(getattr(d, "name", "") not in _HEADER_ONLY_DETECTORS for d in job.detectors):
        return None
    from .streaming import read_header, redact_streaming

    header = read_header(job.src)
    if header is None or header.value_start is None or header.transfer_syntax_uid != JPEG_BASELINE:
        return None
    ds = header.dataset
    if needs_dataset_write(ds, job.extras, True):
        return None  # icons or overlays to edit: the in-memory path rewrites the data set
    result = job.new_result(ds, header.transfer_syntax_uid, "jpeg-baseline")
    check_dataset(ds)
    _check_image_pixel(ds)
    number_of_frames(ds, str(job.src))  # an integer >= 1, checked before any frame is read
    request = job.collect(ds, result)
    outcome = redact_streaming(header, job.dst, request)
    hres = HandlerResult(
        pixel_data=b"",
        transfer_syntax_uid=header.transfer_syntax_uid,
        encapsulated=True,
        changed=outcome.changed,
        unit="blocks",
        notes=outcome.notes,
    )
    return result, ds, hres, request


def scan_file(
    src: str | os.PathLike[str],
    boxes: Iterable[Box] = (),
    detectors: Sequence[Detector] = (),
    *,
    keep_text: bool = False,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Run detection on one file and return what would be redacted (nothing is written).

    Raises
    ------
    DctRedactError
        When the file cannot be read or decoded for detection.
    """
    path = str(src)
    try:
        with enforce(limits):
            dicom = read_dicom(src)
            check_dataset(dicom.dataset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = detect(dicom.dataset, detectors)
    except DctRedactError as exc:
        raise exc.with_path(path) from None
    except BaseException as exc:  # a bug or an unanticipated malformation
        # (or a Rust decoder's panic, a BaseException): fail closed
        if isinstance(exc, _EXITS):
            raise
        raise _unexpected(exc, path) from None
    record = FileResult(
        input=path,
        output=None,
        outcome="scanned",
        transfer_syntax_in=dicom.transfer_syntax_uid,
        sop_instance_uid=_sop_uid(dicom.dataset),
        frames=_frames(dicom.dataset),
        boxes=[*boxes, *found.boxes],
        frame_boxes=found.frame_boxes,
        notes=found.notes,
        texts=found.texts if keep_text else [],
    )
    return record.to_json()


def _sop_uid(ds: Dataset) -> str | None:
    """(0008,0018) SOP Instance UID for the report, or None when absent or unreadable."""
    try:
        return str(ds.get("SOPInstanceUID", "")) or None
    except Exception:  # a corrupt VR/value: the report must not fail on it
        return None


def _frames(ds: Dataset) -> int:
    try:
        return int(ds.get("NumberOfFrames", 1) or 1)
    except Exception:  # validated by the handler; a report must not fail on it
        return 1


def _output_bytes(dicom: DicomFile, result: HandlerResult) -> bytes:
    ds = dicom.dataset
    same_syntax = result.transfer_syntax_uid == dicom.transfer_syntax_uid
    had_eot = "ExtendedOffsetTable" in ds
    if (
        same_syntax
        and not result.dataset_updates
        and had_eot == (result.extended_offsets is not None)
    ):
        spliced = splice_pixel_data(dicom, result.pixel_data, encapsulated=result.encapsulated)
        if spliced is not None and result.extended_offsets is not None:
            spliced = splice_extended_offsets(dicom, spliced, result.extended_offsets)
        if spliced is not None:
            return spliced
    try:
        return dataset_bytes(_apply(ds, result))
    except DctRedactError:
        raise
    except Exception as exc:
        raise InvalidDicomError(f"cannot write the redacted dataset ({exc})") from None
