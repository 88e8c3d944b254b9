"""JPEG Baseline (1.2.840.10008.1.2.4.50): redaction in the DCT domain.

Every frame's quantized coefficients are edited only in the 8x8 blocks that cover a box,
in every component; the entropy-coded data is re-emitted and the image is never
recompressed. Frames with no box are kept byte for byte.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from ..dicomio import encapsulate_frames, encapsulated_frames
from ..errors import DctRedactError, InvalidDicomError, JpegStreamError
from ..jpeg.codec import redact_stream
from ..jpeg.stream import SOF0, SOF1, FrameHeader, parse_jpeg, strip_segments
from .base import HandlerResult, RedactionRequest

__all__ = ["check_frame_header", "redact", "redact_extended"]


def check_frame_header(ds: Dataset, sof: FrameHeader, frame: int) -> None:
    """Check that a frame's SOF agrees with Rows, Columns and Samples per Pixel.

    Raises
    ------
    InvalidDicomError
        When the header and the JPEG stream disagree.
    """
    rows, columns = ds.get("Rows"), ds.get("Columns")
    if rows is None or columns is None:
        raise InvalidDicomError("missing (0028,0010) Rows or (0028,0011) Columns")
    if (int(rows), int(columns)) != (sof.rows, sof.columns):
        raise InvalidDicomError(
            f"frame {frame + 1}: JPEG SOF is {sof.columns}x{sof.rows} but Columns x Rows "
            f"is {columns}x{rows}"
        )
    spp = ds.get("SamplesPerPixel")
    if spp is not None and int(spp) != len(sof.components):
        raise InvalidDicomError(
            f"frame {frame + 1}: JPEG SOF has {len(sof.components)} components but "
            f"(0028,0002) Samples per Pixel is {spp}"
        )


def _redact(ds: Dataset, request: RedactionRequest, allowed: frozenset[int]) -> HandlerResult:
    photometric = str(ds.get("PhotometricInterpretation", "")).strip() or None
    frames_out: list[bytes] = []
    changed = 0
    notes: dict[str, int] = {}
    for index, frame in enumerate(encapsulated_frames(ds)):
        boxes = request.boxes_for(index)
        try:
            result = redact_stream(
                frame, boxes, request.fill, photometric=photometric, allowed_sof=allowed
            )
            assert result.header is not None
            check_frame_header(ds, result.header, index)
        except DctRedactError as exc:
            if isinstance(exc, JpegStreamError) and not exc.reason.startswith("frame"):
                raise JpegStreamError(f"frame {index + 1}: {exc.reason}") from None
            raise
        data = result.data
        if request.strip_markers:
            data, removed = strip_segments(parse_jpeg(data, allowed_sof=allowed))
            if removed:
                notes["COM/APPn segment(s) removed"] = (
                    notes.get("COM/APPn segment(s) removed", 0) + 1
                )
        frames_out.append(data)
        changed += result.changed
        for note in result.notes:
            notes[note] = notes.get(note, 0) + 1
    extended = "ExtendedOffsetTable" in ds
    value, eot = encapsulate_frames(frames_out, extended=extended)
    return HandlerResult(
        pixel_data=value,
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        encapsulated=True,
        changed=changed,
        unit="blocks",
        notes=[f"{note} ({count} frame(s))" for note, count in notes.items()],
        extended_offsets=eot,
    )


def redact(ds: Dataset, request: RedactionRequest) -> HandlerResult:
    """Redact a JPEG Baseline dataset in the DCT domain (see module docstring)."""
    return _redact(ds, request, frozenset({SOF0}))


def redact_extended(ds: Dataset, request: RedactionRequest) -> HandlerResult:
    """Redact a JPEG Extended (4.51) dataset whose streams are 8-bit Huffman DCT.

    Such streams (SOF0, or SOF1 with 8-bit precision) decode exactly like baseline, so
    they take the same DCT-domain path and keep their transfer syntax.
    """
    return _redact(ds, request, frozenset({SOF0, SOF1}))
