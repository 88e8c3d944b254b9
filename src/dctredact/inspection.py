"""Describe a DICOM file's pixel encoding: what ``dctredact inspect`` prints.

Only structure is reported (syntax, frames, fragments, JPEG markers); header values that
could identify a patient are not.
"""

from __future__ import annotations

import os
from typing import Any

from pydicom.encaps import generate_fragments
from pydicom.uid import UID

from .api import route
from .dicomio import encapsulated_frames, read_dicom
from .errors import DctRedactError
from .jpeg.stream import SOF0, SOF1, JpegStream, marker_name, parse_jpeg

__all__ = ["describe_file", "describe_stream"]

#: APPn segments that carry no identity (their payload is fixed-format metadata).
_HARMLESS_APP = {b"JFIF\x00", b"JFXX\x00", b"Adobe"}


def describe_stream(stream: JpegStream) -> dict[str, Any]:
    """Structure of one JPEG stream as a JSON-ready dict."""
    f = stream.frame
    app = []
    risky = []
    for seg in stream.segments:
        if seg.name.startswith("APP") or seg.name == "COM":
            payload = stream.data[seg.offset + 4 : seg.end]
            ident = payload[:5]
            label = ident.split(b"\x00")[0].decode("latin-1", "replace") if ident else ""
            app.append(
                {
                    "marker": seg.name,
                    "offset": seg.offset,
                    "length": seg.end - seg.offset,
                    "identifier": label if seg.name != "COM" else "",
                }
            )
            if seg.name == "COM" or not any(payload.startswith(h) for h in _HARMLESS_APP):
                risky.append(seg.name)
    return {
        "sof": marker_name(f.marker),
        "precision": f.precision,
        "columns": f.columns,
        "rows": f.rows,
        "components": [
            {"id": c.component_id, "h": c.h, "v": c.v, "tq": c.tq} for c in f.components
        ],
        "sampling": f.sampling_label,
        "colour_model": stream.colour_model,
        "restart_interval": stream.restart_interval,
        "scans": len(stream.scans),
        "quantization_tables": sorted(stream.quant_tables),
        "huffman_tables": sorted(
            {
                f"{'AC' if t.table_class else 'DC'}{t.table_id}"
                for s in stream.scans
                for t in (*s.dc_tables, *s.ac_tables)
                if t is not None
            }
        ),
        "markers": [seg.name for seg in stream.segments],
        "app_com_segments": app,
        "segments_that_may_carry_identity": risky,
        "bytes_after_eoi": stream.trailing_bytes,
        "has_eoi": stream.has_eoi,
    }


def describe_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe `path`: transfer syntax, handler, frames, fragments, JPEG structure.

    Raises
    ------
    DctRedactError
        When the file is not readable DICOM.
    """
    dicom = read_dicom(path)
    ds = dicom.dataset
    uid = dicom.transfer_syntax_uid
    info: dict[str, Any] = {
        "path": str(path),
        "transfer_syntax": uid,
        "transfer_syntax_name": UID(uid).name,
        "sop_class": UID(str(ds.get("SOPClassUID", ""))).name if "SOPClassUID" in ds else None,
        "rows": ds.get("Rows"),
        "columns": ds.get("Columns"),
        "samples_per_pixel": ds.get("SamplesPerPixel"),
        "photometric_interpretation": ds.get("PhotometricInterpretation"),
        "bits_allocated": ds.get("BitsAllocated"),
        "bits_stored": ds.get("BitsStored"),
        "frames": int(ds.get("NumberOfFrames", 1) or 1) if "PixelData" in ds else 0,
        "icon_image": "IconImageSequence" in ds,
        "overlays": sorted(
            f"{elem.tag.group:04X}"
            for elem in ds
            if elem.tag.element == 0x3000 and 0x6000 <= elem.tag.group <= 0x601E
        ),
    }
    try:
        entry, _, why = route(ds, str(path))
        info["handler"] = entry.name
        info["handler_reason"] = why
    except DctRedactError as exc:
        info["handler"] = None
        info["handler_reason"] = exc.reason
    if "PixelData" in ds and ds.file_meta.TransferSyntaxUID.is_encapsulated:
        value = ds.PixelData
        fragments = list(generate_fragments(value[8 + int.from_bytes(value[4:8], "little") :]))
        info["fragments"] = len(fragments)
        info["basic_offset_table"] = int.from_bytes(value[4:8], "little") > 0
        info["extended_offset_table"] = "ExtendedOffsetTable" in ds
        if uid.startswith("1.2.840.10008.1.2.4.5"):
            try:
                first = next(iter(encapsulated_frames(ds, str(path))))
                info["jpeg"] = describe_stream(
                    parse_jpeg(first, allowed_sof=frozenset({SOF0, SOF1}))
                )
            except DctRedactError as exc:
                info["jpeg_error"] = exc.reason
    return info
