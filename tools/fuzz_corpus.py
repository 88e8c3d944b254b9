"""Mutation fuzzing of dctredact over a corpus of real DICOM files.

Each case takes a corpus file, applies one to three structure-aware mutations (bit flips,
truncation at a structural boundary, lying length fields, corrupted DHT/DQT/SOF/SOS/DRI
payloads, corrupted entropy-coded data, huge dimensions, inconsistent header elements,
duplicated or removed JPEG segments ...) and redacts a box with
:func:`dctredact.api.redact_file` in a worker subprocess with a per-case timeout, so hangs
and crashes of the C codec (signals) are caught. Every case is classified:

``error``
    a :class:`~dctredact.errors.DctRedactError` and no output file (the goal)
``valid``
    an output file that decodes with pydicom and whose box is filled (the goal)
``crash``
    any other exception, an output file written despite an error, an input changed,
    or the worker died (signal)
``wrapped``
    a DctRedactError from the API's safety net (an unexpected exception turned into
    InvalidDicomError): not a crash for the user, but a root cause to fix
``bad-output``
    the tool reported success but the output does not decode or the box is not filled
``hang``
    the case did not finish within the timeout

Usage::

    python tools/fuzz_corpus.py [DIR] [-n 10000] [-j 2] [--timeout 20] [--seed 1]
                                [--crashes fuzz-crashes/] [--max-bytes 1000000]

Crashing, wrapped, bad-output and hanging inputs are saved into ``--crashes`` with a JSON
description, to reproduce with ``python tools/fuzz_corpus.py --replay FILE``.

The mutators (:func:`mutate`, :func:`structure`) are also used by ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import multiprocessing as mp
import os
import random
import re
import struct
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- structure

_EXPLICIT_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_US_KEYWORDS = {
    0x00280002: "SamplesPerPixel",
    0x00280006: "PlanarConfiguration",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280100: "BitsAllocated",
    0x00280101: "BitsStored",
    0x00280102: "HighBit",
    0x00280103: "PixelRepresentation",
}
_STR_KEYWORDS = {0x00280008: "NumberOfFrames", 0x00280004: "PhotometricInterpretation"}
_SEGMENT_NAMES = {0xC0: "SOF", 0xC1: "SOF", 0xC4: "DHT", 0xDB: "DQT", 0xDD: "DRI", 0xDA: "SOS"}


@dataclass
class Structure:
    """Where the structures of one file lie (absolute byte offsets).

    Attributes
    ----------
    boundaries : list of int
        Offsets where an element, fragment item, marker segment or frame starts or ends.
    lengths : list of tuple
        Length fields ``(offset, size, byteorder)``, byteorder ``"<"`` or ``">"``.
    segments : dict
        JPEG marker segment payloads by kind (``SOF``, ``DHT``, ``DQT``, ``DRI``, ``SOS``,
        ``APP``, ``COM``): lists of ``(marker_offset, payload_start, payload_end)``.
    entropy : list of tuple
        Entropy-coded data ranges ``(start, end)``.
    eoi : list of int
        Offsets of EOI markers.
    fragments : list of tuple
        Fragment items ``(item_offset, value_start, value_end)``.
    us : dict
        US header elements by keyword: ``(value_offset, byteorder)``.
    strings : dict
        String header elements by keyword: ``(value_offset, length)``.
    pixel : tuple or None
        ``(value_start, value_end)`` of (7FE0,0010).
    """

    boundaries: list[int] = field(default_factory=list)
    lengths: list[tuple[int, int, str]] = field(default_factory=list)
    segments: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    entropy: list[tuple[int, int]] = field(default_factory=list)
    eoi: list[int] = field(default_factory=list)
    fragments: list[tuple[int, int, int]] = field(default_factory=list)
    us: dict[str, tuple[int, str]] = field(default_factory=dict)
    strings: dict[str, tuple[int, int]] = field(default_factory=dict)
    pixel: tuple[int, int] | None = None


def _jpeg(data: bytes, start: int, end: int, st: Structure) -> None:
    """Record the marker segments of a JPEG stream in ``data[start:end]``."""
    pos = start
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        st.boundaries.append(pos)
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            st.eoi.append(pos)
            st.boundaries.append(pos + 2)
            return
        if marker == 0xFF:
            pos += 1
            continue
        if pos + 4 > end:
            return
        length = struct.unpack_from(">H", data, pos + 2)[0]
        st.lengths.append((pos + 2, 2, ">"))
        seg_end = pos + 2 + length
        if length < 2 or seg_end > end:
            return
        kind = _SEGMENT_NAMES.get(marker)
        if kind is None and 0xE0 <= marker <= 0xEF:
            kind = "APP"
        if kind is None and marker == 0xFE:
            kind = "COM"
        if kind:
            st.segments.setdefault(kind, []).append((pos, pos + 4, seg_end))
        st.boundaries.append(pos + 4)
        pos = seg_end
        if marker == 0xDA:
            match = _SCAN_END.search(data, pos, end)
            data_end = match.start() if match else end
            st.entropy.append((pos, data_end))
            st.boundaries.append(data_end)
            pos = data_end


def structure(data: bytes) -> Structure:
    """Find the structural boundaries, length fields and header values of a DICOM file.

    Best effort: whatever cannot be parsed is left out (a mutated file may not parse).
    """
    st = Structure(boundaries=[0, 128, 132, len(data)])
    try:
        import pydicom
        from pydicom.dataelem import RawDataElement

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:
        return st
    tsuid = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    for dataset, meta in ((getattr(ds, "file_meta", {}), True), (ds, False)):
        raw_items = getattr(dataset, "_dict", {})
        implicit = (not meta) and tsuid == "1.2.840.10008.1.2"
        order = ">" if (not meta and tsuid == "1.2.840.10008.1.2.2") else "<"
        for tag, raw in list(raw_items.items()):
            if not isinstance(raw, RawDataElement) or raw.value_tell is None:
                continue
            vt = raw.value_tell
            if implicit:
                start, lpos, lsize = vt - 8, vt - 4, 4
            elif data[vt - 8 : vt - 6] in _EXPLICIT_LONG and data[vt - 6 : vt - 4] == b"\0\0":
                start, lpos, lsize = vt - 12, vt - 4, 4
            else:
                start, lpos, lsize = vt - 8, vt - 2, 2
            if start < 0 or lpos + lsize > len(data):
                continue
            fmt = order + ("I" if lsize == 4 else "H")
            if struct.unpack_from(fmt, data, lpos)[0] != raw.length:
                continue
            st.boundaries.append(start)
            st.boundaries.append(vt)
            st.lengths.append((lpos, lsize, order))
            value_len = len(raw.value) if raw.value is not None else 0
            if raw.length != 0xFFFFFFFF:
                st.boundaries.append(vt + raw.length)
            if int(tag) in _US_KEYWORDS and raw.length == 2:
                st.us[_US_KEYWORDS[int(tag)]] = (vt, order)
            if int(tag) in _STR_KEYWORDS and raw.length:
                st.strings[_STR_KEYWORDS[int(tag)]] = (vt, raw.length)
            if int(tag) == 0x7FE00010:
                if raw.length == 0xFFFFFFFF:
                    st.pixel = (vt, vt + value_len)
                    _items(data, vt, vt + value_len, st)
                else:
                    st.pixel = (vt, vt + raw.length)
                    _native_frames(ds, vt, raw.length, st)
    st.boundaries = sorted(set(b for b in st.boundaries if 0 <= b <= len(data)))
    return st


def _items(data: bytes, start: int, end: int, st: Structure) -> None:
    pos = start
    while pos + 8 <= end and data[pos : pos + 4] == b"\xfe\xff\x00\xe0":
        length = struct.unpack_from("<I", data, pos + 4)[0]
        st.boundaries.append(pos)
        st.lengths.append((pos + 4, 4, "<"))
        value_end = pos + 8 + length
        if value_end > end:
            return
        st.fragments.append((pos, pos + 8, value_end))
        st.boundaries.append(pos + 8)
        if data[pos + 8 : pos + 10] == b"\xff\xd8":
            _jpeg(data, pos + 8, value_end, st)
        pos = value_end
    st.boundaries.append(pos)


def _native_frames(ds: Any, start: int, length: int, st: Structure) -> None:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        spp, bits = int(ds.SamplesPerPixel), int(ds.BitsAllocated)
        frames = int(ds.get("NumberOfFrames") or 1)
    except Exception:
        return
    size = rows * cols * spp * bits // 8
    if size <= 0:
        return
    for i in range(1, min(frames, 64) + 1):
        if i * size <= length:
            st.boundaries.append(start + i * size)
            st.boundaries.append(start + i * size - size // 2)


# --------------------------------------------------------------------------- mutators

_INTERESTING_16 = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]
_INTERESTING_32 = [0, 1, 2, 3, 7, 8, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]
_INTERESTING_8 = [0x00, 0x01, 0x0F, 0x10, 0x11, 0x44, 0x7F, 0x80, 0xFE, 0xFF]
_MARKERS = [b"\xff\xd9", b"\xff\xd8", b"\xff\xd0", b"\xff\xd7", b"\xff\xda", b"\xff\xc4"]
_MARKERS += [b"\xff\xff", b"\xff\xdc", b"\xff\xc2", b"\xff\x01", b"\xff\x00"]

Mutation = tuple[bytes, str]


def _splice(data: bytes, st: Structure, start: int, end: int, new: bytes) -> bytes:
    """Replace ``data[start:end]`` with `new`, fixing the enclosing fragment's length."""
    out = bytearray(data[:start] + new + data[end:])
    delta = len(new) - (end - start)
    if delta:
        for item, vstart, vend in st.fragments:
            if vstart <= start and end <= vend:
                old = struct.unpack_from("<I", data, item + 4)[0]
                struct.pack_into("<I", out, item + 4, max(old + delta, 0))
                break
    return bytes(out)


def _pick_offset(data: bytes, st: Structure, rng: random.Random) -> int:
    if st.pixel and min(st.pixel[1], len(data)) > st.pixel[0] and rng.random() < 0.7:
        return rng.randrange(st.pixel[0], min(st.pixel[1], len(data)))
    return rng.randrange(len(data))


def m_bitflip(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Flip 1..16 random bits (mostly inside Pixel Data)."""
    out = bytearray(data)
    n = rng.choice([1, 1, 2, 4, 8, 16])
    for _ in range(n):
        pos = _pick_offset(data, st, rng)
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out), f"bitflip x{n}"


def m_bytes(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Set 1..4 random bytes to interesting values."""
    out = bytearray(data)
    n = rng.randint(1, 4)
    for _ in range(n):
        out[_pick_offset(data, st, rng)] = rng.choice(_INTERESTING_8)
    return bytes(out), f"bytes x{n}"


def m_truncate(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Truncate at a structural boundary (give or take two bytes)."""
    cut = rng.choice(st.boundaries) + rng.choice([-2, -1, 0, 0, 0, 1, 2])
    cut = min(max(cut, 0), len(data) - 1)
    return data[:cut], f"truncate at {cut} of {len(data)}"


def m_length(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Make a length field lie (element, fragment item or marker segment)."""
    if not st.lengths:
        return m_bitflip(data, st, rng)
    pos, size, order = rng.choice(st.lengths)
    fmt = order + ("I" if size == 4 else "H")
    old = struct.unpack_from(fmt, data, pos)[0]
    limit = (1 << (8 * size)) - 1
    choices = _INTERESTING_32 if size == 4 else _INTERESTING_16
    new = rng.choice([*choices, old + 1, old - 1, old + 2, old - 2, old * 2, old // 2])
    new = min(max(new, 0), limit)
    out = bytearray(data)
    struct.pack_into(fmt, out, pos, new)
    return bytes(out), f"length at {pos}: {old} -> {new}"


def m_segment(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Corrupt a DHT/DQT/SOF/SOS/DRI/APP/COM payload byte or field."""
    if not st.segments:
        return m_bitflip(data, st, rng)
    kind = rng.choice(sorted(st.segments))
    marker, pstart, pend = rng.choice(st.segments[kind])
    if pend <= pstart:
        return m_length(data, st, rng)
    out = bytearray(data)
    if kind == "SOF" and pend - pstart >= 6 and rng.random() < 0.5:
        which = rng.choice(["precision", "rows", "columns", "nf", "hv", "tq", "cid"])
        if which == "precision":
            out[pstart] = rng.choice([0, 7, 8, 12, 16, 255])
        elif which in ("rows", "columns"):
            off = pstart + (1 if which == "rows" else 3)
            struct.pack_into(">H", out, off, rng.choice(_INTERESTING_16))
        elif which == "nf":
            out[pstart + 5] = rng.choice([0, 1, 2, 3, 4, 5, 255])
        else:
            comps = max((pend - pstart - 6) // 3, 1)
            base = pstart + 6 + 3 * rng.randrange(comps)
            idx = {"cid": 0, "hv": 1, "tq": 2}[which]
            if base + idx < pend:
                vals = [0x00, 0x11, 0x22, 0x44, 0x55, 0x41, 0x14, 0x0F, 0xF0, 0xFF]
                out[base + idx] = rng.choice(vals if which == "hv" else _INTERESTING_8)
        return bytes(out), f"SOF at {marker}: {which}"
    if kind == "DRI" and pend - pstart == 2:
        struct.pack_into(">H", out, pstart, rng.choice(_INTERESTING_16))
        return bytes(out), f"DRI at {marker}: interval"
    n = rng.randint(1, 3)
    for _ in range(n):
        pos = rng.randrange(pstart, pend)
        if rng.random() < 0.5:
            out[pos] = rng.choice(_INTERESTING_8)
        else:
            out[pos] ^= 1 << rng.randrange(8)
    return bytes(out), f"{kind} at {marker}: {n} byte(s)"


def m_entropy(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Corrupt entropy-coded data: bit flips, markers written in, bytes cut or inserted."""
    if not st.entropy:
        return m_bitflip(data, st, rng)
    start, end = rng.choice(st.entropy)
    if end <= start:
        return m_bitflip(data, st, rng)
    pos = rng.randrange(start, end)
    how = rng.choice(["flip", "flip", "marker", "cut", "insert", "zero"])
    if how == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
        return bytes(out), f"entropy {start}..{end}: flips"
    if how == "marker":
        marker = rng.choice(_MARKERS)
        out = bytearray(data)
        out[pos : pos + 2] = marker[: max(min(2, end - pos), 1)]
        return bytes(out[: len(data)]), f"entropy at {pos}: marker {marker.hex()}"
    if how == "cut":
        stop = min(end, pos + rng.choice([1, 2, 7, 64, 4096]))
        return _splice(data, st, pos, stop, b""), f"entropy {pos}..{stop}: cut"
    if how == "insert":
        junk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 16])))
        return _splice(data, st, pos, pos, junk), f"entropy at {pos}: insert {len(junk)}"
    stop = min(end, pos + rng.choice([8, 256, 100000]))
    return _splice(data, st, pos, stop, bytes(stop - pos)), f"entropy {pos}..{stop}: zeroed"


def m_header(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Make a header element disagree: Rows, Columns, Samples, Bits, Frames, Photometric."""
    keys = sorted(st.us) + sorted(st.strings)
    if not keys:
        return m_bitflip(data, st, rng)
    key = rng.choice(keys)
    out = bytearray(data)
    if key in st.us:
        pos, order = st.us[key]
        old = struct.unpack_from(order + "H", data, pos)[0]
        new = rng.choice([*_INTERESTING_16, 12, 24, 32, 64, old + 1, max(old - 1, 0), old * 2])
        struct.pack_into(order + "H", out, pos, min(new, 0xFFFF))
        return bytes(out), f"{key}: {old} -> {new}"
    pos, length = st.strings[key]
    if key == "NumberOfFrames":
        choices = ["0", "1", "2", "3", "-1", "10000", "99999999", "1.5", "x", ""]
    else:
        choices = ["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR"]
        choices += ["YBR_ICT", "YBR_RCT", "HSV", ""]
    new_text = rng.choice(choices).encode()[:length].ljust(length, b" ")
    out[pos : pos + length] = new_text
    return bytes(out), f"{key} -> {new_text.decode(errors='replace').strip()!r}"


def m_huge(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Declare huge dimensions in the SOF and/or Rows/Columns/Number of Frames."""
    out = bytearray(data)
    done = []
    for _, pstart, pend in st.segments.get("SOF", []):
        if pend - pstart >= 5 and rng.random() < 0.7:
            struct.pack_into(">HH", out, pstart + 1, rng.choice([0xFFFF, 0xFFF0, 0x8000]), 0xFFFF)
            done.append("SOF")
    for key in ("Rows", "Columns"):
        if key in st.us and rng.random() < 0.5:
            pos, order = st.us[key]
            struct.pack_into(order + "H", out, pos, rng.choice([0xFFFF, 0x8000, 60000]))
            done.append(key)
    if "NumberOfFrames" in st.strings and rng.random() < 0.5:
        pos, length = st.strings["NumberOfFrames"]
        out[pos : pos + length] = b"9" * length
        done.append("NumberOfFrames")
    if not done:
        return m_header(data, st, rng)
    return bytes(out), "huge " + "/".join(done)


def m_jpeg_structure(data: bytes, st: Structure, rng: random.Random) -> Mutation:
    """Duplicate, remove or add JPEG segments: second SOF, DNL, no EOI, bytes after EOI."""
    segs = [s for kind in st.segments.values() for s in kind]
    how = rng.choice(["dup", "remove", "dnl", "noeoi", "trailing", "dri", "sos-twice"])
    if how == "noeoi" and st.eoi:
        pos = rng.choice(st.eoi)
        return _splice(data, st, pos, pos + 2, b""), f"EOI at {pos} removed"
    if how == "trailing" and st.eoi:
        pos = rng.choice(st.eoi) + 2
        junk = rng.choice([b"\x00", b"\x00\x00", b"\xff\xd9", b"\xff\xd8\xff\xd9", b"junk!!"])
        return _splice(data, st, pos, pos, junk), f"{len(junk)} bytes after EOI"
    if how == "dnl" and st.entropy:
        _, end = rng.choice(st.entropy)
        dnl = b"\xff\xdc\x00\x04" + struct.pack(">H", rng.choice([0, 8, 64, 0xFFFF]))
        return _splice(data, st, end, end, dnl), f"DNL inserted at {end}"
    if how == "dri" and "SOS" in st.segments:
        marker, _, _ = rng.choice(st.segments["SOS"])
        dri = b"\xff\xdd\x00\x04" + struct.pack(">H", rng.choice(_INTERESTING_16))
        return _splice(data, st, marker, marker, dri), f"DRI inserted at {marker}"
    if how == "sos-twice" and "SOS" in st.segments and st.entropy:
        marker, _, _ = st.segments["SOS"][0]
        _, end = st.entropy[0]
        scan = data[marker:end]
        return _splice(data, st, end, end, scan), "first scan repeated"
    if not segs:
        return m_bitflip(data, st, rng)
    marker, _, pend = rng.choice(segs)
    if how == "remove":
        return _splice(data, st, marker, pend, b""), f"segment at {marker} removed"
    return _splice(data, st, pend, pend, data[marker:pend]), f"segment at {marker} duplicated"


MUTATORS: dict[str, Callable[[bytes, Structure, random.Random], Mutation]] = {
    "bitflip": m_bitflip,
    "bytes": m_bytes,
    "truncate": m_truncate,
    "length": m_length,
    "segment": m_segment,
    "entropy": m_entropy,
    "header": m_header,
    "huge": m_huge,
    "jpeg-structure": m_jpeg_structure,
}


def mutate(data: bytes, rng: random.Random, steps: int | None = None) -> Mutation:
    """Apply 1..3 random mutations (re-reading the structure after each).

    Parameters
    ----------
    data : bytes
        A DICOM file.
    rng : random.Random
        The source of randomness (hypothesis' ``st.randoms()`` works).
    steps : int, optional
        How many mutations (random 1..3 when None).

    Returns
    -------
    tuple of (bytes, str)
        The mutated file and a description of what was done.
    """
    steps = steps or rng.choice([1, 1, 1, 2, 3])
    names = []
    for _ in range(steps):
        if len(data) < 2:
            break
        name = rng.choice(sorted(MUTATORS))
        st = structure(data)
        try:
            data, desc = MUTATORS[name](data, st, rng)
        except (struct.error, ValueError, IndexError):  # structure found past a cut
            name = "bitflip"
            data, desc = m_bitflip(data, st, rng)
        names.append(f"{name}: {desc}")
    return data, "; ".join(names)


# --------------------------------------------------------------------------- one case


def default_box(data: bytes) -> tuple[int, int, int, int]:
    """A box covering the middle quarter of the image the (unmutated) header declares."""
    st = structure(data)
    dims = {}
    for key in ("Rows", "Columns"):
        if key in st.us:
            pos, order = st.us[key]
            dims[key] = struct.unpack_from(order + "H", data, pos)[0]
    rows, cols = dims.get("Rows", 64), dims.get("Columns", 64)
    return cols // 4, rows // 4, max(cols // 2, 1), max(rows // 2, 1)


def check_output(path: str, box: tuple[int, int, int, int], jpeg: bool) -> str | None:
    """Decode `path` with pydicom and check that `box` is filled in every frame.

    Returns None when the output is good, else what is wrong.
    """
    import numpy as np
    import pydicom
    from pydicom.pixels import get_decoder

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            if jpeg and "PlanarConfiguration" in ds:
                # PS3.5 8.2.1: irrelevant for JPEG (the stream decides); pydicom honours it
                ds.PlanarConfiguration = 0
            stored, high = ds.get("BitsStored"), ds.get("HighBit")
            odd_high = stored is not None and high is not None and int(high) != int(stored) - 1
            if odd_high and not jpeg:
                # pydicom ignores High Bit: read the raw unsigned words, shift below
                ds.BitsStored, ds.HighBit = ds.BitsAllocated, int(ds.BitsAllocated) - 1
                ds.PixelRepresentation = 0
            arr, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)
    except Exception as exc:
        return f"output does not decode: {type(exc).__name__}: {str(exc)[:200]}"
    frames = int(ds.get("NumberOfFrames") or 1)
    spp = int(ds.get("SamplesPerPixel") or 1)
    if frames == 1:
        arr = arr[None]
    if spp == 1:
        arr = arr[..., None]
    rows, cols = arr.shape[1], arr.shape[2]
    x, y, w, h = box
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, cols), min(y + h, rows)
    margin = 8 if jpeg else 0
    if x1 - x0 > 3 * margin and y1 - y0 > 3 * margin:
        x0, y0, x1, y1 = x0 + margin, y0 + margin, x1 - margin, y1 - margin
    if x1 <= x0 or y1 <= y0:
        return None  # the box lies outside the (mutated) image: nothing to fill
    region = arr[:, y0:y1, x0:x1, :].astype(np.int64)
    if odd_high and not jpeg:
        # The sample value sits in bits High Bit - Bits Stored + 1 .. High Bit
        region = (region >> (int(high) - int(stored) + 1)) & ((1 << int(stored)) - 1)
    ptp = region.max(axis=(1, 2)) - region.min(axis=(1, 2))
    tolerance = 16 if jpeg else 0
    if (ptp > tolerance).any():
        return f"box not filled: peak-to-peak {int(ptp.max())} in the box"
    return None


def run_case(src: str, box: tuple[int, int, int, int], workdir: str) -> dict[str, Any]:
    """Redact `box` in `src` into `workdir` and classify what happened."""
    from dctredact import api
    from dctredact.errors import DctRedactError
    from dctredact.geometry import Box

    out = os.path.join(workdir, "out.dcm")
    before = hashlib.sha256(Path(src).read_bytes()).hexdigest()
    record: dict[str, Any] = {}
    try:
        result = api.redact_file(src, out, [Box(*box)], fill="black")
    except DctRedactError as exc:
        wrapped = exc.reason.startswith("unexpected ")
        record = {"kind": "wrapped" if wrapped else "error", "error": str(exc)[:300]}
        record["type"] = type(exc).__name__
        if os.path.exists(out):
            record = {"kind": "crash", "error": f"output written despite {exc}"}
    except Exception as exc:
        record = {
            "kind": "crash",
            "error": f"{type(exc).__name__}: {str(exc)[:300]}",
            "traceback": traceback.format_exc()[-3000:],
        }
    else:
        jpeg = "jpeg" in (result.handler or "")
        problem = check_output(out, box, jpeg) if os.path.exists(out) else "no output"
        record = {"kind": "bad-output", "error": problem} if problem else {"kind": "valid"}
        record["handler"] = result.handler
    if hashlib.sha256(Path(src).read_bytes()).hexdigest() != before:
        record = {"kind": "crash", "error": "input file changed"}
    if os.path.exists(out):
        os.unlink(out)
    return record


# --------------------------------------------------------------------------- workers


def _worker(conn: Connection, workdir: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["RUST_BACKTRACE"] = "0"  # pyo3 panics are caught; keep the log short
    warnings.simplefilter("ignore")
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        src, box = msg
        conn.send(run_case(src, tuple(box), workdir))


@dataclass
class _Slot:
    proc: mp.Process
    conn: Connection
    workdir: str
    case: dict[str, Any] | None = None
    started: float = 0.0


def _spawn(ctx: Any, root: str, index: int) -> _Slot:
    workdir = tempfile.mkdtemp(prefix=f"w{index}-", dir=root)
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_worker, args=(child, workdir), daemon=True)
    proc.start()
    child.close()
    return _Slot(proc, parent, workdir)


def _corpus(folder: Path, max_bytes: int) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.stat().st_size > max_bytes:
            continue
        with path.open("rb") as fh:
            head = fh.read(132)
        if head[128:132] == b"DICM":
            files.append(path)
    return files


def _save(folder: Path, case: dict[str, Any], result: dict[str, Any], data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result['kind']}-{case['id']:06d}"
    (folder / f"{stem}.dcm").write_bytes(data)
    info = {**case, **result}
    (folder / f"{stem}.json").write_text(json.dumps(info, indent=2, default=str))


def fuzz(args: argparse.Namespace) -> Counter[str]:
    """Run ``args.count`` cases over the corpus with ``args.jobs`` workers."""
    files = _corpus(Path(args.dir), args.max_bytes)
    if not files:
        sys.exit(f"no DICOM files of at most {args.max_bytes} bytes under {args.dir}")
    originals = {p: p.read_bytes() for p in files}
    boxes = {p: default_box(d) for p, d in originals.items()}
    rng = random.Random(args.seed)
    ctx = mp.get_context("fork")
    root = tempfile.mkdtemp(prefix="dctredact-fuzz-")
    slots = [_spawn(ctx, root, i) for i in range(args.jobs)]
    counts: Counter[str] = Counter()
    by_mutator: dict[str, Counter[str]] = {}
    crashes = Path(args.crashes)
    next_id = 0
    done = 0
    began = time.monotonic()
    payloads: dict[int, bytes] = {}

    def submit(slot: _Slot) -> None:
        nonlocal next_id
        src = rng.choice(files)
        data, desc = mutate(originals[src], rng)
        path = os.path.join(slot.workdir, "in.dcm")
        Path(path).write_bytes(data)
        slot.case = {"id": next_id, "source": src.name, "mutation": desc, "box": boxes[src]}
        payloads[next_id] = data
        next_id += 1
        slot.started = time.monotonic()
        slot.conn.send((path, boxes[src]))

    def finish(slot: _Slot, result: dict[str, Any]) -> None:
        nonlocal done
        assert slot.case is not None
        case = slot.case
        kind = result["kind"]
        counts[kind] += 1
        for part in case["mutation"].split("; "):
            by_mutator.setdefault(part.split(":")[0], Counter())[kind] += 1
        data = payloads.pop(case["id"])
        if kind not in ("error", "valid"):
            _save(crashes, case, result, data)
            print(
                f"[{kind}] case {case['id']} {case['source']}: {case['mutation']}: "
                f"{result.get('error', '')[:200]}",
                flush=True,
            )
        done += 1
        slot.case = None
        if done % args.report == 0:
            rate = done / (time.monotonic() - began)
            print(f"{done} cases ({rate:.1f}/s): {dict(counts)}", flush=True)

    for slot in slots:
        submit(slot)
    while done < args.count:
        ready = wait(
            [s.conn for s in slots if s.case is not None]
            + [s.proc.sentinel for s in slots if s.case is not None],
            timeout=1.0,
        )
        now = time.monotonic()
        for i, slot in enumerate(slots):
            if slot.case is None:
                continue
            result = None
            if slot.conn in ready:
                try:
                    result = slot.conn.recv()
                except (EOFError, OSError):
                    result = None
            if result is None and (slot.proc.sentinel in ready or not slot.proc.is_alive()):
                slot.proc.join(1)
                result = {"kind": "crash", "error": f"worker died (exit code {slot.proc.exitcode})"}
            elif result is None and now - slot.started > args.timeout:
                result = {"kind": "hang", "error": f"no result after {args.timeout} s"}
                slot.proc.kill()
                slot.proc.join(5)
            if result is None:
                continue
            finish(slot, result)
            if not slot.proc.is_alive():
                slots[i] = slot = _spawn(ctx, root, i)
            if next_id < args.count:
                submit(slot)
        if all(s.case is None for s in slots):
            break
    for slot in slots:
        with contextlib.suppress(OSError):
            slot.conn.send(None)
        slot.proc.join(2)
        if slot.proc.is_alive():
            slot.proc.kill()
    elapsed = time.monotonic() - began
    print(f"\n{done} cases in {elapsed:.0f} s over {len(files)} files")
    for kind in ("error", "valid", "wrapped", "bad-output", "crash", "hang"):
        print(f"  {kind:10s} {counts.get(kind, 0)}")
    print("\nper mutator:")
    for name in sorted(by_mutator):
        print(f"  {name:15s} {dict(by_mutator[name])}")
    return counts


def replay(path: str) -> None:
    """Run one saved case in this process and print what happens."""
    info_path = Path(path).with_suffix(".json")
    box = tuple(json.loads(info_path.read_text())["box"]) if info_path.exists() else (0, 0, 64, 64)
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run_case(path, box, tmp), indent=2))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    here = Path(__file__).resolve().parent
    default_dir = here.parent.parent / "shared" / "corpus" / "real"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", default=str(default_dir), help="corpus folder")
    parser.add_argument("-n", "--count", type=int, default=10_000, help="mutations to run")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per case")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crashes", default="fuzz-crashes", help="where to save failures")
    parser.add_argument("--max-bytes", type=int, default=1_000_000, help="skip larger files")
    parser.add_argument("--report", type=int, default=500, help="progress every N cases")
    parser.add_argument("--replay", help="run one saved input in-process")
    args = parser.parse_args(argv)
    if args.replay:
        replay(args.replay)
        return 0
    counts = fuzz(args)
    bad = sum(counts.get(k, 0) for k in ("crash", "hang", "bad-output", "wrapped"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
