"""Parse and validate a JPEG interchange-format stream (ITU-T T.81 Annex B).

Only what dctredact needs is interpreted: SOF, DHT, DQT, DRI, SOS, APPn, COM, EOI.
Every other marker segment is kept byte for byte. Anything that is not sequential DCT
with Huffman coding (progressive, lossless, hierarchical, arithmetic coding, 12-bit
precision) is refused with an error naming the marker found.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass, field

from ..errors import JpegStreamError

__all__ = [
    "MARKER_NAMES",
    "FrameComponent",
    "FrameHeader",
    "HuffmanTable",
    "JpegStream",
    "Scan",
    "ScanComponent",
    "Segment",
    "identity_segments",
    "parse_jpeg",
    "strip_segments",
]

SOI, EOI, SOS, DHT, DQT, DRI, DNL, COM = 0xD8, 0xD9, 0xDA, 0xC4, 0xDB, 0xDD, 0xDC, 0xFE
SOF0, SOF1 = 0xC0, 0xC1

MARKER_NAMES: dict[int, str] = {
    0xC0: "SOF0 (baseline DCT)",
    0xC1: "SOF1 (extended sequential DCT)",
    0xC2: "SOF2 (progressive DCT)",
    0xC3: "SOF3 (lossless)",
    0xC5: "SOF5 (differential sequential DCT)",
    0xC6: "SOF6 (differential progressive DCT)",
    0xC7: "SOF7 (differential lossless)",
    0xC8: "JPG (reserved)",
    0xC9: "SOF9 (extended sequential DCT, arithmetic coding)",
    0xCA: "SOF10 (progressive DCT, arithmetic coding)",
    0xCB: "SOF11 (lossless, arithmetic coding)",
    0xCC: "DAC (arithmetic coding conditioning)",
    0xCD: "SOF13 (differential sequential DCT, arithmetic coding)",
    0xCE: "SOF14 (differential progressive DCT, arithmetic coding)",
    0xCF: "SOF15 (differential lossless, arithmetic coding)",
    0xC4: "DHT",
    0xD8: "SOI",
    0xD9: "EOI",
    0xDA: "SOS",
    0xDB: "DQT",
    0xDC: "DNL",
    0xDD: "DRI",
    0xDE: "DHP (hierarchical progression)",
    0xDF: "EXP (expand reference components)",
    0xFE: "COM",
    0xF7: "SOF55 (JPEG-LS)",
    0xF8: "LSE (JPEG-LS)",
}
for _n in range(16):
    MARKER_NAMES[0xE0 + _n] = f"APP{_n}"
for _n in range(8):
    MARKER_NAMES[0xD0 + _n] = f"RST{_n}"

_REFUSED = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF}
_REFUSED |= {0xDE, 0xDF, 0xF7, 0xF8}

#: End of entropy-coded data: 0xFF followed by anything but a stuffed 0x00 or RSTn.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def marker_name(marker: int) -> str:
    """Human name of a marker code (the byte after 0xFF)."""
    return MARKER_NAMES.get(marker, f"0xFF{marker:02X}")


@dataclass(frozen=True)
class Segment:
    """A marker segment: ``data[offset:end]`` holds marker, length and payload."""

    marker: int
    offset: int
    end: int

    @property
    def name(self) -> str:
        """The marker's name (``APP0``, ``DQT`` ...)."""
        return marker_name(self.marker)


@dataclass(frozen=True)
class HuffmanTable:
    """One Huffman table from a DHT segment (T.81 B.2.4.2).

    Attributes
    ----------
    table_class : int
        0 = DC, 1 = AC.
    table_id : int
        Destination identifier 0..3.
    bits : bytes
        16 counts: number of codes of each length 1..16.
    values : bytes
        Symbols in order of increasing code length.
    """

    table_class: int
    table_id: int
    bits: bytes
    values: bytes

    def as_codec_tuple(self) -> tuple[bytes, bytes]:
        """``(bits, values)`` as the entropy codec takes them."""
        return (self.bits, self.values)

    def encode(self) -> bytes:
        """The table's bytes inside a DHT segment (``Tc/Th``, ``L1..L16``, values)."""
        return bytes([(self.table_class << 4) | self.table_id]) + self.bits + self.values


@dataclass(frozen=True)
class FrameComponent:
    """A component of the frame header: identifier, sampling factors, quantization table."""

    component_id: int
    h: int
    v: int
    tq: int


@dataclass(frozen=True)
class FrameHeader:
    """The SOF segment (T.81 B.2.2)."""

    marker: int
    precision: int
    rows: int
    columns: int
    components: tuple[FrameComponent, ...]

    @property
    def sampling(self) -> tuple[tuple[int, int], ...]:
        """``(H, V)`` per component."""
        return tuple((c.h, c.v) for c in self.components)

    @property
    def sampling_label(self) -> str:
        """E.g. ``2x1/1x1/1x1 4:2:2``."""
        factors = "/".join(f"{c.h}x{c.v}" for c in self.components)
        if len(self.components) != 3:
            return factors
        (h0, v0), (h1, v1), (h2, v2) = self.sampling
        named = {
            (1, 1): "4:4:4",
            (2, 1): "4:2:2",
            (2, 2): "4:2:0",
            (1, 2): "4:4:0",
            (4, 1): "4:1:1",
        }
        if (h1, v1) == (h2, v2) == (1, 1) and (h0, v0) in named:
            return f"{factors} {named[(h0, v0)]}"
        return factors


@dataclass(frozen=True)
class ScanComponent:
    """A component of a scan: its index in the frame and its table selectors."""

    index: int
    component_id: int
    dc_table: int
    ac_table: int


@dataclass
class Scan:
    """One scan: header, entropy-coded data location, and the state it is decoded with.

    Attributes
    ----------
    sos : Segment
        The SOS marker segment.
    components : tuple of ScanComponent
        Components in scan order.
    data_start, data_end : int
        Entropy-coded data (RST markers included) is ``stream[data_start:data_end]``.
    dc_tables, ac_tables : list
        The Huffman tables in force for this scan, by table id (None when undefined).
    restart_interval : int
        The restart interval in force (0 = none).
    """

    sos: Segment
    components: tuple[ScanComponent, ...]
    data_start: int
    data_end: int
    dc_tables: list[HuffmanTable | None]
    ac_tables: list[HuffmanTable | None]
    restart_interval: int


@dataclass
class JpegStream:
    """A parsed JPEG stream.

    Attributes
    ----------
    data : bytes
        The whole stream as given.
    segments : list of Segment
        Every marker segment in order (SOI/EOI included, entropy data excluded).
    frame : FrameHeader
        The frame header.
    scans : list of Scan
        Every scan, in order.
    quant_tables : dict of int to tuple of int
        Quantization tables by id (zig-zag order), as last defined before the first scan.
    adobe_transform : int or None
        The APP14 "Adobe" colour transform flag (0 none/RGB, 1 YCbCr, 2 YCCK), if present.
    jfif : bool
        Whether an APP0 "JFIF" segment is present.
    eoi_end : int
        Offset one past the EOI marker (``len(data)`` when EOI is missing).
    has_eoi : bool
        False when the stream ends without EOI.
    """

    data: bytes
    segments: list[Segment]
    frame: FrameHeader
    scans: list[Scan]
    quant_tables: dict[int, tuple[int, ...]]
    adobe_transform: int | None
    jfif: bool
    eoi_end: int
    has_eoi: bool
    restart_interval: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def trailing_bytes(self) -> int:
        """Bytes after EOI (junk some writers leave)."""
        return len(self.data) - self.eoi_end

    @property
    def is_rgb(self) -> bool:
        """True when a 3-component stream codes R, G, B without a colour transform.

        Follows libjpeg's rules: JFIF means YCbCr; otherwise an Adobe APP14 transform flag
        of 0 means RGB; otherwise component identifiers 'R', 'G', 'B' mean RGB.
        """
        if len(self.frame.components) != 3:
            return False
        if self.jfif:
            return False
        if self.adobe_transform is not None:
            return self.adobe_transform == 0
        ids = tuple(c.component_id for c in self.frame.components)
        return ids == (0x52, 0x47, 0x42)

    @property
    def colour_model(self) -> str:
        """``GRAY``, ``YCbCr``, ``RGB``, ``CMYK`` or ``YCCK`` (how a decoder treats it)."""
        n = len(self.frame.components)
        if n == 1:
            return "GRAY"
        if n == 3:
            return "RGB" if self.is_rgb else "YCbCr"
        if n == 4:
            return "YCCK" if self.adobe_transform == 2 else "CMYK"
        return f"{n} components"

    def display_model(self, photometric: str | None = None) -> str:
        """The colour model a DICOM viewer applies, given (0028,0004).

        Like :attr:`colour_model`, except for a 3-component stream that signals nothing
        (no JFIF, no Adobe APP14, component ids not 'R','G','B'): with Photometric
        Interpretation RGB and no chroma subsampling, DICOM readers (pydicom, DCMTK) take
        its components as R, G, B (PS3.5 8.2.1), so that is what "black" must mean. A
        subsampled stream is YCbCr whatever the header says (nobody subsamples RGB).
        """
        model = self.colour_model
        f = self.frame
        if (
            model == "YCbCr"
            and photometric == "RGB"
            and not self.jfif
            and self.adobe_transform is None
            and len(set(f.sampling)) == 1
        ):
            return "RGB"
        return model

    def segments_named(self, prefix: str) -> list[Segment]:
        """Segments whose name starts with `prefix` (e.g. ``"APP"``, ``"COM"``)."""
        return [s for s in self.segments if s.name.startswith(prefix)]


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from(">H", data, offset)[0])


@functools.lru_cache(maxsize=64)
def _parse_dht(payload: bytes, where: int) -> tuple[HuffmanTable, ...]:
    """Tables of one DHT payload (cached: the frames of a cine repeat their tables)."""
    return tuple(_parse_dht_uncached(payload, where))


@functools.lru_cache(maxsize=64)
def _parse_dqt(payload: bytes, where: int) -> dict[int, tuple[int, ...]]:
    """Tables of one DQT payload (cached; callers copy the dict, never mutate it)."""
    return _parse_dqt_uncached(payload, where)


def _parse_dht_uncached(payload: bytes, where: int) -> list[HuffmanTable]:
    tables = []
    pos = 0
    while pos < len(payload):
        if pos + 17 > len(payload):
            raise JpegStreamError(f"DHT segment at byte {where} is truncated")
        tc, th = payload[pos] >> 4, payload[pos] & 15
        if tc > 1 or th > 3:
            raise JpegStreamError(
                f"DHT segment at byte {where} has table class {tc} id {th}; "
                "expected class 0/1 and id 0..3"
            )
        bits = payload[pos + 1 : pos + 17]
        count = sum(bits)
        if count > 256 or pos + 17 + count > len(payload):
            raise JpegStreamError(
                f"DHT segment at byte {where} lists {count} codes but holds "
                f"{len(payload) - pos - 17} values"
            )
        values = payload[pos + 17 : pos + 17 + count]
        if tc == 0 and any(v > 11 for v in values):
            raise JpegStreamError(
                f"DHT segment at byte {where}: DC table {th} has a category > 11; "
                "8-bit baseline allows 0..11"
            )
        # Code lengths must form a prefix code with no all-ones code (T.81 C.2; the
        # check libjpeg's jpeg_make_d_derived_tbl makes).
        code = 0
        last = max((i + 1 for i, b in enumerate(bits) if b), default=0)
        for length in range(1, last + 1):
            code += bits[length - 1]
            if code >= 1 << length:
                raise JpegStreamError(
                    f"DHT segment at byte {where}: {'AC' if tc else 'DC'} table {th} "
                    "has more codes than its code lengths allow"
                )
            code <<= 1
        tables.append(HuffmanTable(tc, th, bytes(bits), bytes(values)))
        pos += 17 + count
    return tables


def _parse_dqt_uncached(payload: bytes, where: int) -> dict[int, tuple[int, ...]]:
    tables: dict[int, tuple[int, ...]] = {}
    pos = 0
    while pos < len(payload):
        pq, tq = payload[pos] >> 4, payload[pos] & 15
        if pq > 1 or tq > 3:
            raise JpegStreamError(
                f"DQT segment at byte {where} has precision {pq} id {tq}; "
                "expected precision 0/1 and id 0..3"
            )
        size = 64 * (pq + 1)
        if pos + 1 + size > len(payload):
            raise JpegStreamError(f"DQT segment at byte {where} is truncated")
        fmt = ">64H" if pq else "64B"
        values = struct.unpack_from(fmt, payload, pos + 1)
        if 0 in values:
            raise JpegStreamError(
                f"DQT segment at byte {where}: table {tq} has a zero quantizer; expected >= 1"
            )
        tables[tq] = tuple(int(v) for v in values)
        pos += 1 + size
    return tables


def parse_jpeg(data: bytes, *, allowed_sof: frozenset[int] = frozenset({SOF0})) -> JpegStream:
    """Parse and validate a baseline JPEG stream.

    Parameters
    ----------
    data : bytes
        The stream, starting with SOI.
    allowed_sof : frozenset of int
        Frame markers accepted (default SOF0 only). SOF1 may be allowed for JPEG Extended
        transfer syntaxes whose stream is 8-bit Huffman (it decodes as baseline).

    Raises
    ------
    JpegStreamError
        When the stream is malformed or not 8-bit sequential Huffman DCT. The message
        names the marker and its byte offset.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != SOI:
        raise JpegStreamError("stream does not start with SOI (FFD8); not a JPEG stream")
    segments = [Segment(SOI, 0, 2)]
    pos = 2
    frame: FrameHeader | None = None
    scans: list[Scan] = []
    dc: list[HuffmanTable | None] = [None] * 4
    ac: list[HuffmanTable | None] = [None] * 4
    quant: dict[int, tuple[int, ...]] = {}
    quant_at_first_scan: dict[int, tuple[int, ...]] | None = None
    restart = 0
    adobe: int | None = None
    jfif = False
    eoi_end = n
    has_eoi = False
    notes: list[str] = []
    while True:
        if pos >= n:
            notes.append("stream ends without EOI; EOI is added on output")
            break
        if data[pos] != 0xFF:
            raise JpegStreamError(f"expected a marker at byte {pos}, found 0x{data[pos]:02X}")
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes (B.1.1.2)
            pos += 1
        if pos + 1 >= n:
            raise JpegStreamError(f"stream truncated inside a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == EOI:
            segments.append(Segment(EOI, pos, pos + 2))
            eoi_end = pos + 2
            has_eoi = True
            break
        if marker in _REFUSED or (
            0xC0 <= marker <= 0xCF and marker not in (DHT,) and marker not in allowed_sof
        ):
            raise JpegStreamError(
                f"found {marker_name(marker)} at byte {pos}; JPEG Baseline "
                "(1.2.840.10008.1.2.4.50) requires SOF0 with Huffman coding"
            )
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            raise JpegStreamError(f"unexpected {marker_name(marker)} at byte {pos}")
        if marker == 0x00 or marker == SOI:
            raise JpegStreamError(f"unexpected {marker_name(marker)} at byte {pos}")
        if pos + 4 > n:
            raise JpegStreamError(f"{marker_name(marker)} at byte {pos} is truncated")
        length = _u16(data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > n:
            raise JpegStreamError(
                f"{marker_name(marker)} at byte {pos} declares length {length}, "
                f"but {n - pos - 2} bytes remain"
            )
        seg = Segment(marker, pos, end)
        segments.append(seg)
        payload = bytes(data[pos + 4 : end])
        if marker in allowed_sof:
            if frame is not None:
                raise JpegStreamError(f"second frame header {marker_name(marker)} at byte {pos}")
            frame = _parse_sof(marker, payload, pos)
            _check_limits(frame, pos)
        elif marker == DHT:
            for table in _parse_dht(payload, pos):
                (ac if table.table_class else dc)[table.table_id] = table
        elif marker == DQT:
            quant.update(_parse_dqt(payload, pos))
        elif marker == DRI:
            if len(payload) != 2:
                raise JpegStreamError(f"DRI at byte {pos} has length {length}; expected 4")
            restart = _u16(payload, 0)
        elif marker == DNL:
            raise JpegStreamError(
                f"DNL at byte {pos}: frames whose height is defined by DNL are not supported"
            )
        elif marker == 0xEE and payload[:5] == b"Adobe":
            adobe = payload[11] if len(payload) >= 12 else None
            if len(payload) < 12:
                notes.append(f"APP14 Adobe segment at byte {pos} is truncated (ignored)")
        elif marker == 0xE0 and payload[:5] == b"JFIF\x00":
            jfif = True
        elif marker == SOS:
            if frame is None:
                raise JpegStreamError(f"SOS at byte {pos} comes before any frame header")
            if quant_at_first_scan is None:
                quant_at_first_scan = dict(quant)
            scan_components = _parse_sos(payload, pos, frame)
            for sc in scan_components:
                if dc[sc.dc_table] is None or ac[sc.ac_table] is None:
                    raise JpegStreamError(
                        f"SOS at byte {pos} uses Huffman tables DC{sc.dc_table}/"
                        f"AC{sc.ac_table} that no DHT defined"
                    )
            match = _SCAN_END.search(data, end)
            data_end = match.start() if match else n
            # Fill bytes (0xFF 0xFF ...) before the next marker belong to no scan.
            scans.append(Scan(seg, scan_components, end, data_end, list(dc), list(ac), restart))
            pos = data_end
            continue
        pos = end
    if frame is None:
        raise JpegStreamError("no frame header (SOF0) found")
    if not scans:
        raise JpegStreamError("no scan (SOS) found")
    covered = sorted(sc.index for s in scans for sc in s.components)
    if covered != list(range(len(frame.components))):
        raise JpegStreamError(
            f"scans cover frame components {covered}; sequential DCT needs each of "
            f"{len(frame.components)} components in exactly one scan"
        )
    qt = quant_at_first_scan or quant
    for comp in frame.components:
        if comp.tq not in qt:
            raise JpegStreamError(
                f"component {comp.component_id} uses quantization table {comp.tq}, "
                "which no DQT defined"
            )
    return JpegStream(
        data, segments, frame, scans, qt, adobe, jfif, eoi_end, has_eoi, restart, notes
    )


def _check_limits(frame: FrameHeader, where: int) -> None:
    """Refuse a frame header whose size exceeds the limits in force, before decoding.

    The coefficient buffers (2 bytes per coefficient, whole MCUs) are what decoding
    allocates, so they are what :attr:`Limits.max_decoded_bytes` is checked against.
    """
    from ..limits import current

    limits = current().limits
    name = f"{marker_name(frame.marker)} at byte {where}"
    limits.check_frame(frame.columns, frame.rows, what=name)
    hmax = max(c.h for c in frame.components)
    vmax = max(c.v for c in frame.components)
    mcus = -(-frame.columns // (8 * hmax)) * -(-frame.rows // (8 * vmax))
    blocks = mcus * sum(c.h * c.v for c in frame.components)
    limits.check_bytes(blocks * 64 * 2, what=f"decoding the coefficients of {name}")


#: APPn identifiers decoders rely on (colour space signalling); never stripped.
_ESSENTIAL_APP = (b"JFIF\x00", b"JFXX\x00", b"Adobe")


def identity_segments(stream: JpegStream) -> list[str]:
    """Names of the COM/APPn segments that may carry identity (all but JFIF and Adobe)."""
    data = stream.data
    return [
        seg.name
        for seg in stream.segments
        if seg.name == "COM"
        or (
            seg.name.startswith("APP")
            and not any(data[seg.offset + 4 : seg.end].startswith(k) for k in _ESSENTIAL_APP)
        )
    ]


def strip_segments(stream: JpegStream) -> tuple[bytes, int]:
    """Return the stream without COM and non-essential APPn segments, and how many went.

    APP0 "JFIF"/"JFXX" and APP14 "Adobe" stay: they tell decoders the colour space.
    Everything else in those markers is free text or vendor metadata that may identify.
    """
    data = stream.data
    parts = []
    prev = 0
    removed = 0
    for seg in stream.segments:
        if seg.name == "COM" or (
            seg.name.startswith("APP")
            and not any(data[seg.offset + 4 : seg.end].startswith(k) for k in _ESSENTIAL_APP)
        ):
            parts.append(data[prev : seg.offset])
            prev = seg.end
            removed += 1
    parts.append(data[prev:])
    return b"".join(parts), removed


def _parse_sof(marker: int, payload: bytes, where: int) -> FrameHeader:
    if len(payload) < 6:
        raise JpegStreamError(f"{marker_name(marker)} at byte {where} is truncated")
    precision = payload[0]
    rows, columns, nf = _u16(payload, 1), _u16(payload, 3), payload[5]
    if precision != 8:
        raise JpegStreamError(
            f"{marker_name(marker)} at byte {where} has sample precision {precision}; "
            "JPEG Baseline requires 8"
        )
    if rows == 0:
        raise JpegStreamError(
            f"{marker_name(marker)} at byte {where} has 0 lines (height set by DNL); not supported"
        )
    if columns == 0:
        raise JpegStreamError(f"{marker_name(marker)} at byte {where} has 0 samples per line")
    if not 1 <= nf <= 4:
        raise JpegStreamError(
            f"{marker_name(marker)} at byte {where} has {nf} components; expected 1..4"
        )
    if len(payload) != 6 + 3 * nf:
        raise JpegStreamError(
            f"{marker_name(marker)} at byte {where} has length {len(payload) + 2}; "
            f"expected {8 + 3 * nf} for {nf} components"
        )
    comps: list[FrameComponent] = []
    for i in range(nf):
        cid, hv, tq = payload[6 + 3 * i : 9 + 3 * i]
        h, v = hv >> 4, hv & 15
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise JpegStreamError(
                f"{marker_name(marker)} at byte {where}: component {cid} has sampling "
                f"factors {h}x{v}; expected 1..4"
            )
        if tq > 3:
            raise JpegStreamError(
                f"{marker_name(marker)} at byte {where}: component {cid} uses "
                f"quantization table {tq}; expected 0..3"
            )
        if any(c.component_id == cid for c in comps):
            raise JpegStreamError(
                f"{marker_name(marker)} at byte {where}: component id {cid} appears twice"
            )
        comps.append(FrameComponent(cid, h, v, tq))
    if nf > 1 and sum(c.h * c.v for c in comps) > 10:
        raise JpegStreamError(
            f"{marker_name(marker)} at byte {where}: an MCU would hold "
            f"{sum(c.h * c.v for c in comps)} blocks; T.81 allows at most 10"
        )
    return FrameHeader(marker, precision, rows, columns, tuple(comps))


def _parse_sos(payload: bytes, where: int, frame: FrameHeader) -> tuple[ScanComponent, ...]:
    if len(payload) < 1:
        raise JpegStreamError(f"SOS at byte {where} is truncated")
    ns = payload[0]
    if not 1 <= ns <= 4 or len(payload) != 4 + 2 * ns:
        raise JpegStreamError(
            f"SOS at byte {where} declares {ns} components in {len(payload) + 2} bytes; "
            "expected 1..4 components and length 6 + 2 Ns"
        )
    ids = [c.component_id for c in frame.components]
    comps: list[ScanComponent] = []
    for i in range(ns):
        cs, t = payload[1 + 2 * i], payload[2 + 2 * i]
        if cs not in ids:
            raise JpegStreamError(
                f"SOS at byte {where} refers to component {cs}, not in the frame {ids}"
            )
        td, ta = t >> 4, t & 15
        if td > 3 or ta > 3:
            raise JpegStreamError(
                f"SOS at byte {where}: component {cs} selects tables DC{td}/AC{ta}; expected 0..3"
            )
        comps.append(ScanComponent(ids.index(cs), cs, td, ta))
    ss, se, ahal = payload[1 + 2 * ns], payload[2 + 2 * ns], payload[3 + 2 * ns]
    if (ss, se, ahal) != (0, 63, 0):
        raise JpegStreamError(
            f"SOS at byte {where} has Ss={ss} Se={se} Ah/Al=0x{ahal:02X}; "
            "sequential DCT requires 0, 63, 0 (is this a progressive stream?)"
        )
    if (
        ns > 1
        and sum(frame.components[c.index].h * frame.components[c.index].v for c in comps) > 10
    ):
        raise JpegStreamError(f"SOS at byte {where}: MCU would hold more than 10 blocks")
    if len({c.index for c in comps}) != ns:
        raise JpegStreamError(f"SOS at byte {where} lists a component twice")
    return tuple(comps)
