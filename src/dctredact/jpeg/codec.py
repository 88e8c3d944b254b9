"""Coefficient-domain redaction of one JPEG stream.

The order follows libjpeg-turbo's ``transupp.c``: parse the stream, plan the geometry
(boxes to blocks, per component), read the coefficients, edit exactly the planned
blocks, write. Marker segments are copied byte for byte; only the entropy-coded data is
re-emitted, with the original Huffman tables whenever they can code every symbol.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import JpegStreamError
from ..geometry import Box, FrameGeometry, plan_blocks
from ..handlers.base import Fill
from . import _entropy
from .huffman import optimal_table
from .stream import (
    SOF0,
    FrameHeader,
    HuffmanTable,
    JpegStream,
    Scan,
    identity_segments,
    parse_jpeg,
)

__all__ = [
    "Coefficients",
    "StreamRedaction",
    "decode_coefficients",
    "encode_stream",
    "fill_dc_values",
    "redact_stream",
]

Coefficients = list[npt.NDArray[np.int16]]
"""Per component: an ``(alloc_high, alloc_wide, 64)`` int16 array in zig-zag order."""


def frame_geometry(stream: JpegStream) -> FrameGeometry:
    """The :class:`FrameGeometry` of a parsed stream."""
    f = stream.frame
    return FrameGeometry(f.columns, f.rows, f.sampling)


def _scan_layout(
    stream: JpegStream, scan: Scan, coefs: Coefficients, geometry: FrameGeometry
) -> list[tuple[object, int, int, int, int, int, int, int, int]]:
    layout: list[tuple[object, int, int, int, int, int, int, int, int]] = []
    for sc in scan.components:
        comp = geometry.component(sc.index)
        layout.append(
            (
                coefs[sc.index],
                comp.alloc_wide,
                comp.alloc_high,
                comp.h,
                comp.v,
                comp.blocks_wide,
                comp.blocks_high,
                sc.dc_table,
                sc.ac_table,
            )
        )
    return layout


def _tables(tables: Sequence[HuffmanTable | None]) -> list[tuple[bytes, bytes] | None]:
    return [t.as_codec_tuple() if t is not None else None for t in tables]


def decode_coefficients(stream: JpegStream) -> Coefficients:
    """Decode every scan of `stream` into quantized coefficients.

    Raises
    ------
    JpegStreamError
        When the entropy-coded data is malformed or ends early.
    """
    geometry = frame_geometry(stream)
    coefs = [
        np.zeros((c.alloc_high, c.alloc_wide, 64), dtype=np.int16) for c in geometry.components
    ]
    _decode_scans(stream, coefs, geometry, compare=False)
    return coefs


def decodes_to(stream: JpegStream, coefs: Coefficients) -> bool:
    """True when every scan of `stream` decodes to exactly `coefs` (the check of a
    re-encoded stream: block by block, without decoding into new arrays).

    Raises
    ------
    JpegStreamError
        When the entropy-coded data is malformed or ends early.
    """
    try:
        _decode_scans(stream, coefs, frame_geometry(stream), compare=True)
    except _entropy.Mismatch:
        return False
    return True


def _decode_scans(
    stream: JpegStream, coefs: Coefficients, geometry: FrameGeometry, *, compare: bool
) -> None:
    for number, scan in enumerate(stream.scans):
        try:
            _entropy.decode_scan(
                memoryview(stream.data)[scan.data_start : scan.data_end],
                _scan_layout(stream, scan, coefs, geometry),
                _tables(scan.dc_tables),
                _tables(scan.ac_tables),
                geometry.mcus_wide,
                geometry.mcus_high,
                scan.restart_interval,
                compare,
            )
        except _entropy.Mismatch:
            raise
        except _entropy.Error as exc:
            raise JpegStreamError(
                f"scan {number + 1} (SOS at byte {scan.sos.offset}): {exc}"
            ) from None


def fill_dc_values(stream: JpegStream, fill: Fill, *, photometric: str | None = None) -> list[int]:
    """The quantized DC value each component's blocks get for `fill`.

    Only meaningful for ``black`` (and ``gray``, where it is 0). The value is chosen so
    that a DC-only block decodes to the extreme sample value in any conforming decoder:
    ``128 + q * Q0 / 8 <= 0`` for black, ``>= 255`` for the inverted MONOCHROME1 case. It
    is clamped to what an 8-bit DCT can produce (``|q * Q0| <= 1024 + Q0``).

    Parameters
    ----------
    stream : JpegStream
        The parsed stream (for quantization tables and colour model).
    fill : Fill
        The fill mode.
    photometric : str, optional
        The DICOM Photometric Interpretation: MONOCHROME1 inverts black, and RGB decides
        streams that do not signal their colour space (:meth:`JpegStream.display_model`).
    """
    model = stream.display_model(photometric)
    monochrome1 = photometric == "MONOCHROME1"
    values = []
    for index, comp in enumerate(stream.frame.components):
        q0 = stream.quant_tables[comp.tq][0]
        if fill is Fill.GRAY:
            values.append(0)
            continue
        if model == "YCbCr" and index > 0:
            values.append(0)  # neutral chroma
            continue
        if model == "YCCK" and index in (1, 2):
            values.append(0)
            continue
        if model in ("YCCK", "CMYK") and index == 3:
            # Adobe-style CMYK/YCCK streams are stored inverted: K = 0 is full ink.
            values.append(-math.ceil(1024 / q0))
            continue
        if monochrome1 and model == "GRAY":
            values.append(min(math.ceil(1016 / q0), (1023 + q0) // q0))
        else:
            values.append(-math.ceil(1024 / q0))
    return values


@dataclass
class StreamRedaction:
    """The outcome of redacting one JPEG stream.

    Attributes
    ----------
    data : bytes
        The new stream (the input itself when nothing was planned).
    blocks : list of int
        Blocks edited, per component.
    new_tables : bool
        True when some Huffman table had to be replaced to code the edit.
    notes : list of str
        Remarks (trailing bytes dropped, EOI added ...); no patient data.
    header : FrameHeader or None
        The input's frame header.
    """

    data: bytes
    blocks: list[int]
    new_tables: bool = False
    notes: list[str] = field(default_factory=list)
    header: FrameHeader | None = None

    @property
    def changed(self) -> int:
        """Total blocks edited."""
        return sum(self.blocks)


def apply_fill(
    coefs: Coefficients,
    masks: Sequence[npt.NDArray[np.bool_]],
    fill: Fill,
    dc_values: Sequence[int],
) -> None:
    """Edit the planned blocks in place."""
    for comp, mask, dc in zip(coefs, masks, dc_values, strict=True):
        if not mask.any():
            continue
        if fill is Fill.FLAT:
            comp[mask, 1:] = 0
        else:
            comp[mask, 1:] = 0
            comp[mask, 0] = dc


def _dht_segment(tables: Sequence[HuffmanTable]) -> bytes:
    body = b"".join(t.encode() for t in tables)
    return b"\xff\xc4" + struct.pack(">H", len(body) + 2) + body


def _codes_every_symbol(
    tables: Sequence[HuffmanTable | None], freq: npt.NDArray[np.int64], ids: Iterable[int]
) -> bool:
    """True when the tables `ids` of `tables` define every symbol counted for them."""
    for tid in ids:
        table = tables[tid]
        if table is None:
            continue  # encode_scan names the undefined table
        used = np.flatnonzero(freq[tid])
        if not np.isin(used, np.frombuffer(table.values, dtype=np.uint8)).all():
            return False
    return True


def symbol_counts(
    layout: Sequence[tuple[Any, int, int, int, int, int, int, int, int]],
    args: tuple[int, int, int],
    *,
    dc_only: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """How often each Huffman symbol occurs in a scan, per table: (DC, AC), 4 x 256 each.

    `layout` and `args` (MCUs wide, MCUs high, restart interval) are those of
    ``_entropy.encode_scan``. With `dc_only` the AC counts are left at zero (cheaper).
    """
    dc_counts, ac_counts = _entropy.count_symbols(layout, *args, dc_only)
    return (
        np.frombuffer(dc_counts, dtype=np.int64).reshape(4, 256),
        np.frombuffer(ac_counts, dtype=np.int64).reshape(4, 256),
    )


def encode_stream(stream: JpegStream, coefs: Coefficients) -> tuple[bytes, bool]:
    """Write `stream` with its entropy-coded data re-emitted from `coefs`.

    Every marker segment is copied as it was; the original Huffman tables are kept when
    they can code every symbol, otherwise optimal tables (T.81 K.2) are written in a DHT
    segment just before the scan that needs them: for the DC tables only when the AC
    tables still code every AC symbol (a redaction's case), else for both. Bytes after
    EOI are dropped; a missing EOI is added.

    Returns
    -------
    tuple of (bytes, bool)
        The stream and whether new Huffman tables were written.
    """
    geometry = frame_geometry(stream)
    data = stream.data
    parts: list[bytes] = []
    prev = 0
    new_tables = False
    for number, scan in enumerate(stream.scans):
        layout = _scan_layout(stream, scan, coefs, geometry)
        args = (geometry.mcus_wide, geometry.mcus_high, scan.restart_interval)
        dht = b""
        dc_ids = sorted({sc.dc_table for sc in scan.components})
        ac_ids = sorted({sc.ac_table for sc in scan.components})
        try:
            # A redaction changes DC terms and zeroes AC terms: the DC differences are
            # what the original tables may not code (a fill far from its neighbours),
            # and counting them alone is cheap. Only the DC tables that miss a symbol
            # are rebuilt; the AC tables stay, and all blocks are re-coded with them.
            dc_freq, _ = symbol_counts(layout, args, dc_only=True)
            dc_tables: list[HuffmanTable | None] = list(scan.dc_tables)
            rebuilt: list[HuffmanTable] = []
            if not _codes_every_symbol(scan.dc_tables, dc_freq, dc_ids):
                rebuilt = [optimal_table(dc_freq[tid], 0, tid) for tid in dc_ids]
                for table in rebuilt:
                    dc_tables[table.table_id] = table
            entropy = None
            with contextlib.suppress(_entropy.MissingSymbol):
                entropy = _entropy.encode_scan(
                    layout, _tables(dc_tables), _tables(scan.ac_tables), *args
                )
            if entropy is not None and rebuilt:
                dht = _dht_segment(rebuilt)
                new_tables = True
            if entropy is None:
                # An AC symbol the tables lack (an AC table without EOB, say): count
                # everything and write optimal tables for both classes.
                dc_freq, ac_freq = symbol_counts(layout, args)
                ac_tables: list[HuffmanTable | None] = [None] * 4
                dc_tables = [None] * 4
                for tid in dc_ids:
                    dc_tables[tid] = optimal_table(dc_freq[tid], 0, tid)
                for tid in ac_ids:
                    ac_tables[tid] = optimal_table(ac_freq[tid], 1, tid)
                dht = _dht_segment([t for t in (*dc_tables, *ac_tables) if t is not None])
                new_tables = True
                entropy = _entropy.encode_scan(
                    layout, _tables(dc_tables), _tables(ac_tables), *args
                )
        except _entropy.Error as exc:
            raise JpegStreamError(f"scan {number + 1}: cannot encode: {exc}") from None
        if new_tables and not dht:
            # An earlier scan redefined tables; restate this scan's own tables.
            used = [scan.dc_tables[sc.dc_table] for sc in scan.components]
            used += [scan.ac_tables[sc.ac_table] for sc in scan.components]
            dht = _dht_segment(list({id(t): t for t in used if t is not None}.values()))
        parts.append(data[prev : scan.sos.offset])
        parts.append(dht)
        parts.append(data[scan.sos.offset : scan.data_start])
        parts.append(entropy)
        prev = scan.data_end
    parts.append(data[prev : stream.eoi_end])
    if not stream.has_eoi:
        parts.append(b"\xff\xd9")
    return b"".join(parts), new_tables


def recode_stream(
    stream: JpegStream,
    masks: Sequence[npt.NDArray[np.bool_]],
    fill: Fill,
    dc_values: Sequence[int],
    *,
    verify: bool = False,
    single_symbol: bool = False,
) -> bytes | None:
    """Re-emit `stream` with the planned blocks filled, re-coding only what changed.

    Bytes before the first edited MCU and intervals without edits are copied; after the
    last edit the remaining bits are copied shifted (see ``_recode.c``). All entropy-coded
    data is still decoded symbol by symbol, so a corrupt stream is refused.

    With `verify`, the re-coded MCUs are decoded again and compared with the edited
    blocks (the copied bits are the input's own, already decoded). `single_symbol` makes
    the C code skip unedited data one AC symbol per table lookup instead of several (the
    reference the tests compare the fast path with; same result, slower).

    Returns
    -------
    bytes or None
        The new stream, or None when the original Huffman tables cannot code the fill
        (the caller then re-encodes everything with new tables).
    """
    geometry = frame_geometry(stream)
    data = stream.data
    view = memoryview(data)
    flags = [np.ascontiguousarray(m, dtype=np.uint8) for m in masks]
    mode = 1 if fill is Fill.FLAT else 0
    parts: list[bytes | memoryview] = []
    prev = 0
    for number, scan in enumerate(stream.scans):
        layout = _scan_layout(stream, scan, list(flags), geometry)  # type: ignore[arg-type]
        fills = [(mode, int(dc_values[sc.index])) for sc in scan.components]
        try:
            entropy = _entropy.recode_scan(
                view[scan.data_start : scan.data_end],
                layout,
                _tables(scan.dc_tables),
                _tables(scan.ac_tables),
                geometry.mcus_wide,
                geometry.mcus_high,
                scan.restart_interval,
                fills,
                verify,
                single_symbol,
            )
        except _entropy.MissingSymbol:
            return None
        except _entropy.Error as exc:
            raise JpegStreamError(
                f"scan {number + 1} (SOS at byte {scan.sos.offset}): {exc}"
            ) from None
        parts.append(view[prev : scan.data_start])
        parts.append(entropy)
        prev = scan.data_end
    parts.append(view[prev : stream.eoi_end])
    if not stream.has_eoi:
        parts.append(b"\xff\xd9")
    return b"".join(parts)


def redact_stream(
    data: bytes,
    boxes: Sequence[Box],
    fill: Fill = Fill.BLACK,
    *,
    photometric: str | None = None,
    allowed_sof: frozenset[int] = frozenset({SOF0}),
    check: str = "recoded",
) -> StreamRedaction:
    """Redact `boxes` in one JPEG stream without recompressing it.

    Parameters
    ----------
    data : bytes
        A JPEG stream (SOI ... EOI).
    boxes : sequence of Box
        Boxes in image pixels; parts outside the image are ignored.
    fill : Fill
        ``black``, ``gray`` or ``flat``.
    photometric : str, optional
        The DICOM Photometric Interpretation (MONOCHROME1: "black" is the maximum).
    allowed_sof : frozenset of int
        Frame markers accepted (SOF0; SOF1 for 8-bit JPEG Extended streams).
    check : {"recoded", "decode", "coefficients", "none"}
        How the output is checked before it is returned. The input is always decoded
        completely (symbol by symbol), so a corrupt stream is refused either way.
        ``recoded`` (default): every re-coded MCU is decoded again and must give the
        edited coefficients (the rest of the output is the input's own bits); when new
        Huffman tables were needed, the whole output is decoded and compared.
        ``decode``: also parse the output again and decode all of it.
        ``coefficients``: decode input and output completely and compare every
        coefficient with the planned edit (about three times the cost).
        ``none``: trust the construction.

    Returns
    -------
    StreamRedaction

    Raises
    ------
    JpegStreamError
        When the stream is malformed, not baseline, or the output would not decode.
    """
    stream = parse_jpeg(data, allowed_sof=allowed_sof)
    notes = list(stream.notes)
    risky = identity_segments(stream)
    if risky:
        notes.append(
            f"{'/'.join(sorted(set(risky)))} segment(s) that may carry identity kept "
            "(--strip-markers removes them)"
        )
    geometry = frame_geometry(stream)
    masks = plan_blocks(geometry, boxes)
    counts = [int(m.sum()) for m in masks]
    dc_values = fill_dc_values(stream, fill, photometric=photometric)
    if check not in ("recoded", "decode", "coefficients", "none"):
        raise ValueError(f"check must be recoded, decode, coefficients or none, not {check!r}")
    if not any(counts):
        # Nothing to edit in this frame: still prove the entropy data decodes.
        recode_stream(stream, masks, fill, dc_values)
        return StreamRedaction(data, counts, False, notes, stream.frame)
    out = recode_stream(stream, masks, fill, dc_values, verify=check != "none")
    new_tables = out is None
    coefs: Coefficients | None = None
    if out is None:
        coefs = decode_coefficients(stream)
        apply_fill(coefs, masks, fill, dc_values)
        out, new_tables = encode_stream(stream, coefs)
    trailing = data[stream.eoi_end :]
    if trailing and trailing != b"\x00":  # a single 0x00 is the DICOM item padding
        notes.append(f"{len(trailing)} byte(s) after EOI dropped")
    if new_tables:
        notes.append("Huffman tables extended: the originals could not code the fill")
    if new_tables and check == "recoded":
        check = "coefficients"  # everything was re-coded: compare everything
    if check == "decode":
        written = parse_jpeg(out, allowed_sof=allowed_sof)
        untouched = plan_blocks(geometry, ())
        if recode_stream(written, untouched, fill, dc_values) is None:  # pragma: no cover
            raise JpegStreamError("internal check failed: output does not decode")
    elif check == "coefficients":
        if coefs is None:
            coefs = decode_coefficients(stream)
            apply_fill(coefs, masks, fill, dc_values)
        if not decodes_to(parse_jpeg(out, allowed_sof=allowed_sof), coefs):
            raise JpegStreamError(
                "internal check failed: the output does not decode to the edited "
                "coefficients; output not written"
            )
    return StreamRedaction(out, counts, new_tables, notes, stream.frame)
