"""Direct fuzzing of the compiled entropy codec (``dctredact.jpeg._entropy``).

Calls ``decode_scan``, ``encode_scan``, ``count_symbols`` and ``recode_scan`` with
adversarial arguments, bypassing every check the Python side does: random and truncated
entropy-coded bytes, random Huffman tables (overfull, empty, duplicate symbols, 16-bit
codes, wrong sizes, wrong types), inconsistent layouts (allocation vs data blocks, MCU
grid vs buffer sizes, sampling factors 0..5, table ids out of range, masks of the wrong
size, misaligned/strided/read-only buffers), restart intervals from 0 to huge with
missing, extra or misordered RST markers, and fills with extreme DC values.

Every call must return or raise one of :data:`ALLOWED` -- never crash, never hang,
never raise anything else (a ``SystemError`` would mean a NULL return without an
exception). Run it under AddressSanitizer/UBSan (``tools/asan_fuzz.sh entropy``) to
turn silent memory errors into crashes.

Cases are a pure function of ``(seed, index)``: worker subprocesses run consecutive
indices and record the one in flight, so a worker that dies (signal, sanitizer abort)
names its case, which ``--replay SEED:INDEX`` runs again in-process (printing the
arguments).

Usage::

    python tools/fuzz_entropy.py [--seconds 60 | -n CASES] [--seed 1] [-j 2]
    python tools/fuzz_entropy.py --replay 1:12345
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from dctredact.jpeg import _entropy

ROOT = Path(__file__).resolve().parent.parent

#: Exceptions a call may raise (argument parsing, buffer protocol, table lookups).
ALLOWED: tuple[type[BaseException], ...] = (
    ValueError,  # includes _entropy.Error
    KeyError,  # includes _entropy.MissingSymbol
    TypeError,
    MemoryError,
    IndexError,  # a table sequence shorter than the id
    OverflowError,  # an int argument beyond C int
    BufferError,  # read-only / non-contiguous buffer
)

INT_MAX = 2**31 - 1
INTERESTING = [
    -(2**31), -(2**16), -65535, -1025, -1024, -2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17,
    63, 64, 255, 256, 1023, 1024, 2047, 2048, 32767, 32768, 65535, 65536,
    2**24, 2**28, 2**29, 2**30, INT_MAX,
]  # fmt: skip

# ITU-T T.81 Annex K tables (luminance DC and AC): every baseline symbol is codable.
STD_DC = (
    bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
    bytes(range(12)),
)
STD_AC_BITS = bytes([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D])
STD_AC_VALS = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a16"
    "1718191a25262728292a3435363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6"
    "b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8"
    "f9fa"
)
STD_AC = (STD_AC_BITS, STD_AC_VALS)

Layout = list[tuple[Any, ...]]


# --------------------------------------------------------------------------- helpers


def _int(rng: random.Random, lo: int = -3, hi: int = 12) -> int:
    if rng.random() < 0.5:
        return rng.randint(lo, hi)
    return rng.choice(INTERESTING)


def random_table(rng: random.Random) -> Any:
    """A Huffman table that may be valid, overfull, empty, duplicated, or not a table."""
    kind = rng.randrange(12)
    if kind == 0:
        return None
    if kind == 1:  # wrong types / sizes
        return rng.choice(
            [
                (b"\x00" * 15, b""),
                (b"\x00" * 17, b""),
                (bytes(16), bytes(257)),
                ("x" * 16, b""),
                (bytes(16),),
                [bytes(16), b""],
                42,
                (bytes(16), None),
                (bytearray(16), memoryview(b"")),
            ]
        )
    if kind == 2:  # empty table
        return (bytes(16), b"")
    if kind == 3:  # fully random counts and values
        bits = bytes(rng.randrange(256) if rng.random() < 0.2 else rng.randrange(4)
                     for _ in range(16))  # fmt: skip
        n = sum(bits) if rng.random() < 0.7 else rng.randrange(300)
        return (bits, bytes(rng.randrange(256) for _ in range(min(n, 300))))
    if kind == 4:  # a single 16-bit code, or all codes at length 16
        n = rng.choice([1, 2, 255, 256])
        bits = bytearray(16)
        bits[15] = min(n, 255)
        return (bytes(bits), bytes(rng.randrange(256) for _ in range(bits[15])))
    # A complete (or nearly) canonical code with random lengths and values.
    nsym = rng.choice([1, 2, 3, 12, 16, 100, 162, 200, 255, 256])
    lengths: list[int] = []
    room = 1.0
    for _ in range(nsym):
        for length in sorted(rng.sample(range(1, 17), 16), key=lambda _: rng.random()):
            if 2.0**-length < room - 2.0**-16 or (rng.random() < 0.02):
                lengths.append(length)
                room -= 2.0**-length
                break
    bits = bytearray(16)
    for length in lengths:
        bits[length - 1] += 1
    if rng.random() < 0.5:
        values = bytes(rng.sample(range(256), len(lengths)))
    else:  # duplicates
        values = bytes(rng.randrange(min(256, 1 + rng.randrange(256))) for _ in lengths)
    return (bytes(bits), values)


def random_tables(rng: random.Random, base: list[Any]) -> Any:
    """Four table slots derived from `base` (the valid tables)."""
    r = rng.random()
    if r < 0.05:
        return rng.choice([None, 3, "abcd", {0: STD_DC}, [STD_DC], []])
    tables = list(base)
    if r < 0.1:
        tables = tables[: rng.randrange(4)]
    for _ in range(rng.randrange(1, 3)):
        if tables:
            tables[rng.randrange(len(tables))] = random_table(rng)
    return tuple(tables) if rng.random() < 0.2 else tables


def mutate_data(rng: random.Random, data: bytes) -> bytes:
    """Corrupt entropy-coded bytes: flips, markers, cuts, insertions, RST mischief."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(11)
        n = len(out)
        if kind == 0 and n:  # bit flips
            for _ in range(rng.randrange(1, 8)):
                i = rng.randrange(n)
                out[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncate
            del out[rng.randrange(n + 1) :]
        elif kind == 2:  # marker written in
            i = rng.randrange(n + 1)
            out[i:i] = bytes([0xFF, rng.choice([0x00, 0xD0, 0xD1, 0xD7, 0xD9, 0xFF, 0xC4,
                                                rng.randrange(256)])])  # fmt: skip
        elif kind == 3:  # random insertion
            i = rng.randrange(n + 1)
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        elif kind == 4 and n:  # zeroed / 0xFF run
            i = rng.randrange(n)
            out[i : i + rng.randrange(1, 32)] = bytes([rng.choice([0, 0xFF])]) * rng.randrange(
                1, 32
            )
        elif kind == 5:  # remove, renumber or duplicate RST markers
            rsts = [i for i in range(n - 1) if out[i] == 0xFF and 0xD0 <= out[i + 1] <= 0xD7]
            if rsts:
                i = rng.choice(rsts)
                what = rng.randrange(3)
                if what == 0:
                    del out[i : i + 2]
                elif what == 1:
                    out[i + 1] = 0xD0 + rng.randrange(8)
                else:
                    out[i:i] = out[i : i + 2]
        elif kind == 6:  # fill bytes before/after markers
            i = rng.randrange(n + 1)
            out[i:i] = b"\xff" * rng.randrange(1, 5)
        elif kind == 7:  # trailing garbage
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif kind == 8:  # fully random
            out = bytearray(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        elif kind == 9:
            out = bytearray(rng.choice([b"", b"\xff", b"\xff\x00", b"\x00", b"\xff\xd0",
                                        b"\xff" * 9, b"\x00" * 64]))  # fmt: skip
        elif kind == 10 and n:  # swap two chunks
            i, j = sorted(rng.randrange(n) for _ in range(2))
            out = out[:i] + out[j:] + out[i:j]
    return bytes(out)


# --------------------------------------------------------------------------- bases


class Base:
    """A consistent scan: layout, coefficients, tables, entropy-coded bytes."""

    def __init__(
        self,
        comps: list[dict[str, int]],
        coefs: list[np.ndarray],
        dcs: list[Any],
        acs: list[Any],
        mcus_wide: int,
        mcus_high: int,
        restart: int,
    ) -> None:
        self.comps = comps
        self.coefs = coefs
        self.dcs = dcs
        self.acs = acs
        self.mcus_wide = mcus_wide
        self.mcus_high = mcus_high
        self.restart = restart
        self.data = b""

    def layout(self, buffers: list[Any]) -> Layout:
        return [
            (
                buf,
                c["alloc_wide"],
                c["alloc_high"],
                c["h"],
                c["v"],
                c["blocks_wide"],
                c["blocks_high"],
                c["dc"],
                c["ac"],
            )
            for buf, c in zip(buffers, self.comps, strict=True)
        ]


def synthetic_base(rng: random.Random) -> Base:
    """A random, valid scan encoded with the standard tables."""
    n = rng.choice([1, 1, 1, 2, 3, 3, 4])
    while True:
        samp = [(rng.randint(1, 4), rng.randint(1, 4)) if rng.random() < 0.4 else (1, 1)
                for _ in range(n)]  # fmt: skip
        if n == 1 or sum(h * v for h, v in samp) <= 10:
            break
    mcus_wide, mcus_high = rng.randint(1, 6), rng.randint(1, 5)
    comps, coefs = [], []
    for h, v in samp:
        if n == 1:
            bw, bh = rng.randint(1, 12), rng.randint(1, 8)
            aw, ah = bw + rng.randrange(3), bh + rng.randrange(3)
        else:
            aw, ah = mcus_wide * h + rng.randrange(2), mcus_high * v + rng.randrange(2)
            bw, bh = rng.randint(1, aw), rng.randint(1, ah)
        c = np.zeros((ah, aw, 64), dtype=np.int16)
        style = rng.randrange(4)
        if style == 0:  # sparse, small
            mask = np.array([rng.random() < 0.15 for _ in range(c.size)]).reshape(c.shape)
            vals = np.array([rng.randint(-30, 30) for _ in range(c.size)]).reshape(c.shape)
            c[mask] = vals[mask]
        elif style == 1:  # DC only, extremes within the 8-bit range
            c[:, :, 0] = [[rng.choice([-1024, 1023, 0, -1, 1]) for _ in range(aw)]
                          for _ in range(ah)]  # fmt: skip
        elif style == 2:  # AC extremes
            for _ in range(rng.randrange(1, 20)):
                c[rng.randrange(ah), rng.randrange(aw), rng.randrange(1, 64)] = rng.choice(
                    [1023, -1023, 512, -1, 1]
                )
        comps.append({"alloc_wide": aw, "alloc_high": ah, "h": h, "v": v,
                      "blocks_wide": bw, "blocks_high": bh,
                      "dc": rng.randrange(2), "ac": rng.randrange(2)})  # fmt: skip
        coefs.append(c)
    dcs = [STD_DC, STD_DC, None, None]
    acs = [STD_AC, STD_AC, None, None]
    total = comps[0]["blocks_wide"] * comps[0]["blocks_high"] if n == 1 else mcus_wide * mcus_high
    restart = 0 if rng.random() < 0.4 else rng.randint(1, max(1, total))
    base = Base(comps, coefs, dcs, acs, mcus_wide, mcus_high, restart)
    try:
        base.data = _entropy.encode_scan(base.layout(coefs), dcs, acs, mcus_wide, mcus_high,
                                         restart)  # fmt: skip
    except _entropy.Error:  # DC differences > 11 bits in style 1: use what decodes
        base.data = b""
    return base


_REAL: list[Base] | None = None


def real_bases() -> list[Base]:
    """Scans of the JPEG Baseline fixtures (real tables, sampling, restart intervals)."""
    global _REAL
    if _REAL is not None:
        return _REAL
    _REAL = []
    try:
        import pydicom
        from pydicom.encaps import generate_frames

        from dctredact.jpeg.codec import _scan_layout, _tables, frame_geometry
        from dctredact.jpeg.stream import parse_jpeg
    except ImportError:
        return _REAL
    for path in sorted((ROOT / "fixtures" / "jpeg").glob("*.dcm")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
                frames = int(ds.get("NumberOfFrames") or 1)
                frame = next(generate_frames(ds.PixelData, number_of_frames=frames))
            stream = parse_jpeg(bytes(frame))
        except Exception:
            continue
        geometry = frame_geometry(stream)
        coefs = [np.zeros((c.alloc_high, c.alloc_wide, 64), dtype=np.int16)
                 for c in geometry.components]  # fmt: skip
        for scan in stream.scans:
            layout = _scan_layout(stream, scan, coefs, geometry)  # type: ignore[arg-type]
            if sum(a[1] * a[2] for a in layout) > 20000:
                continue
            comps = [{"alloc_wide": a[1], "alloc_high": a[2], "h": a[3], "v": a[4],
                      "blocks_wide": a[5], "blocks_high": a[6], "dc": a[7], "ac": a[8]}
                     for a in layout]  # fmt: skip
            scan_coefs = [np.array(a[0]) for a in layout]
            base = Base(comps, scan_coefs, _tables(scan.dc_tables), _tables(scan.ac_tables),
                        geometry.mcus_wide, geometry.mcus_high, scan.restart_interval)  # fmt: skip
            base.data = bytes(stream.data[scan.data_start : scan.data_end])
            try:
                _entropy.decode_scan(base.data, base.layout(scan_coefs), base.dcs, base.acs,
                                     base.mcus_wide, base.mcus_high, base.restart)  # fmt: skip
            except _entropy.Error:
                continue
            _REAL.append(base)
    return _REAL


# --------------------------------------------------------------------------- cases


def _buffer(rng: random.Random, shape: tuple[int, int], per_block: int, src: Any) -> Any:
    """A coefficient (per_block 64) or mask (per_block 1) buffer, sometimes hostile."""
    ah, aw = shape
    r = rng.random()
    if r < 0.75:
        return src
    kind = rng.randrange(10)
    if kind == 0:  # too small by a little or a lot
        size = max(0, ah * aw * per_block - rng.choice([1, 2, 64, per_block * 2]))
        return np.zeros(size, dtype=np.int16 if per_block == 64 else np.uint8)
    if kind == 1:  # misaligned int16 data
        raw = bytearray(ah * aw * per_block * 2 + 1)
        return memoryview(raw)[1:]
    if kind == 2:  # read-only
        return bytes(ah * aw * per_block * 2)
    if kind == 3:  # strided, not contiguous
        return np.zeros((ah * aw * per_block * 2,), dtype=np.int16)[::2]
    if kind == 4:  # wrong dtype but big enough
        return np.zeros(ah * aw * per_block, dtype=np.float64)
    if kind == 5:
        return rng.choice([None, 0, "x", [0] * 64])
    if kind == 6:  # empty
        return bytearray()
    if kind == 7:  # extreme coefficients
        arr = np.zeros(ah * aw * per_block, dtype=np.int16 if per_block == 64 else np.uint8)
        if per_block == 64:
            arr[:] = [rng.choice([-32768, 32767, -1024, 1023, 2047, -2048, 0])
                      for _ in range(arr.size)]  # fmt: skip
        else:
            arr[:] = 1
        return arr
    if kind == 8:  # fortran-ordered 2-D
        return np.asfortranarray(np.zeros((max(ah, 2), max(aw, 2) * per_block), dtype=np.int16))
    return np.zeros(ah * aw * per_block + rng.randrange(1000), dtype=np.int16)  # bigger


def mutate_layout(rng: random.Random, base: Base, buffers: list[Any], per_block: int) -> Layout:
    layout = [list(t) for t in base.layout(buffers)]
    if rng.random() < 0.5:
        for _ in range(rng.randrange(1, 4)):
            t = rng.choice(layout)
            field = rng.randrange(1, 9)
            if field in (3, 4):  # sampling factors 0..5
                t[field] = rng.randint(-1, 5) if rng.random() < 0.8 else _int(rng)
            elif field in (7, 8):  # table ids out of range
                t[field] = rng.randint(-2, 5) if rng.random() < 0.8 else _int(rng)
            else:
                t[field] = _int(rng) if rng.random() < 0.5 else t[field] + rng.randint(-2, 2)
    for t, c in zip(layout, base.comps, strict=True):
        t[0] = _buffer(rng, (c["alloc_high"], c["alloc_wide"]), per_block, t[0])
    r = rng.random()
    if r < 0.03:
        return rng.choice(
            [
                [],
                None,
                5,
                [(0,)],
                [tuple(layout[0][:8])],
                [list(layout[0])],
                [(*tuple(layout[0]), 0)],
            ]
        )  # type: ignore[return-value]
    if r < 0.08:
        layout = layout * rng.randint(2, 5)  # too many components, aliasing buffers
    elif r < 0.12 and len(layout) > 1:
        del layout[rng.randrange(len(layout))]
    return [tuple(t) for t in layout]


def mutate_dims(rng: random.Random, base: Base) -> tuple[int, int, int]:
    mw, mh, rst = base.mcus_wide, base.mcus_high, base.restart
    if rng.random() < 0.3:
        mw = _int(rng) if rng.random() < 0.6 else mw + rng.randint(-2, 2)
    if rng.random() < 0.3:
        mh = _int(rng) if rng.random() < 0.6 else mh + rng.randint(-2, 2)
    if rng.random() < 0.1 and mw > 0 and mh > 0:  # both negative: positive product
        mw, mh = -mw, -mh
    if rng.random() < 0.3:
        rst = rng.choice([0, 1, 2, 3, rng.randint(0, 64), _int(rng), INT_MAX, -1])
    return mw, mh, rst


def make_case(seed: int, index: int) -> tuple[str, tuple[Any, ...]]:
    """The arguments of case `index` of `seed` (deterministic)."""
    rng = random.Random(f"{seed}:{index}")
    reals = real_bases()
    base = rng.choice(reals) if reals and rng.random() < 0.35 else synthetic_base(rng)
    fn = rng.choice(["decode_scan", "decode_scan", "encode_scan", "count_symbols",
                     "recode_scan", "recode_scan", "recode_scan"])  # fmt: skip
    clean = rng.random() < 0.15  # a mostly-valid call, to reach the deep paths
    mw, mh, rst = (
        (base.mcus_wide, base.mcus_high, base.restart) if clean else mutate_dims(rng, base)
    )
    dcs = base.dcs if clean or rng.random() < 0.6 else random_tables(rng, base.dcs)
    acs = base.acs if clean or rng.random() < 0.6 else random_tables(rng, base.acs)
    data = base.data if clean or rng.random() < 0.3 else mutate_data(rng, base.data)
    if fn in ("decode_scan", "encode_scan", "count_symbols"):
        if fn == "decode_scan":
            buffers = [np.zeros_like(c) for c in base.coefs]
        else:
            buffers = [c.copy() for c in base.coefs]
            if not clean and rng.random() < 0.3:  # extreme DC/AC values
                for c in buffers:
                    flat = c.reshape(-1)
                    for _ in range(rng.randrange(1, 6)):
                        flat[rng.randrange(flat.size)] = rng.choice(
                            [-32768, 32767, 2047, -2048, 1024, -1025, 1023, -1024]
                        )
        layout = base.layout(buffers) if clean else mutate_layout(rng, base, buffers, 64)
        if fn == "decode_scan":
            return fn, (data, layout, dcs, acs, mw, mh, rst)
        if fn == "encode_scan":
            return fn, (layout, dcs, acs, mw, mh, rst)
        return fn, (layout, mw, mh, rst)
    # recode_scan: masks of one byte per block
    masks = []
    for c in base.comps:
        m = np.zeros((c["alloc_high"], c["alloc_wide"]), dtype=np.uint8)
        style = rng.randrange(4)
        if style == 1:
            m[:] = 1
        elif style == 2:
            m.reshape(-1)[rng.randrange(m.size)] = rng.choice([1, 255])
        elif style == 3:
            m[:] = np.array([rng.random() < 0.2 for _ in range(m.size)]).reshape(m.shape)
        masks.append(m)
    layout = base.layout(masks) if clean else mutate_layout(rng, base, masks, 1)
    fills: Any = [(rng.choice([0, 0, 1]), rng.choice([0, -1024, 1023, -1, 1, -100, 37]))
                  for _ in base.comps]  # fmt: skip
    if not clean and rng.random() < 0.4:
        r = rng.random()
        if r < 0.6:
            for i in range(len(fills)):
                if rng.random() < 0.6:
                    fills[i] = (_int(rng, -1, 3), rng.choice([*INTERESTING, -32768, 32767, 70000]))
        elif r < 0.8:
            fills = fills[:-1] if rng.random() < 0.5 else [*fills, (0, 0)]
        else:
            fills = rng.choice([None, 7, [(0,)], [("a", 1)], [[0, 0]] * 4, [(0, 2**40)]])
    verify = rng.random() < 0.5
    return fn, (data, layout, dcs, acs, mw, mh, rst, fills, verify)


class OracleError(AssertionError):
    """recode_scan returned a stream that decode_scan refuses."""


def run_case(fn: str, args: tuple[Any, ...]) -> str:
    """Call one function; return ``ok`` or the (allowed) exception's name.

    A stream recode_scan returns for a valid input must decode again (checked when the
    masks have the right size, so the layout can be reused for coefficient buffers).
    """
    try:
        result = getattr(_entropy, fn)(*args)
    except ALLOWED as exc:
        return type(exc).__name__
    if fn == "recode_scan":
        data, layout, dcs, acs, mw, mh, rst = args[:7]
        try:
            coefs = [(np.zeros(t[1] * t[2] * 64, dtype=np.int16), *t[1:]) for t in layout]
            if not all(isinstance(t[0], np.ndarray) and t[0].size == t[1] * t[2]
                       for t in layout):  # fmt: skip
                return "ok"
            _entropy.decode_scan(data, coefs, dcs, acs, mw, mh, rst)
        except ALLOWED:
            return "ok"  # the input itself does not decode: nothing to compare
        try:
            _entropy.decode_scan(result, coefs, dcs, acs, mw, mh, rst)
        except _entropy.Error as exc:
            raise OracleError(f"recoded stream does not decode: {exc}") from None
    return "ok"


# --------------------------------------------------------------------------- drivers


def worker(seed: int, start: int, stop: int, status: str) -> int:
    """Run cases [start, stop); record the case in flight in `status` (8 bytes)."""
    fd = os.open(status, os.O_RDWR | os.O_CREAT, 0o644)
    counts: Counter[str] = Counter()
    bad = 0
    real_bases()
    for index in range(start, stop):
        os.pwrite(fd, struct.pack("<q", index), 0)
        fn, args = make_case(seed, index)
        try:
            outcome = run_case(fn, args)
        except BaseException as exc:  # not allowed: a finding
            if isinstance(exc, KeyboardInterrupt):
                raise
            bad += 1
            outcome = "BAD:" + type(exc).__name__
            print(f"[bad] {seed}:{index} {fn}: {type(exc).__name__}: {exc}", flush=True)
        counts[f"{fn}:{outcome}"] += 1
    os.pwrite(fd, struct.pack("<q", stop), 0)
    os.close(fd)
    print("COUNTS " + json.dumps(dict(counts)), flush=True)
    return 1 if bad else 0


def fuzz(args: argparse.Namespace) -> int:
    """Run workers until `--seconds` or `-n` cases; restart dead workers after their case."""
    import tempfile

    tmp = tempfile.mkdtemp(prefix="fuzz-entropy-")
    batch = args.batch
    next_start = 0
    began = time.monotonic()
    counts: Counter[str] = Counter()
    findings: list[str] = []
    done = 0
    procs: list[tuple[subprocess.Popen[str], int, int, str]] = []

    def launch(start: int, stop: int, slot: int) -> None:
        status = os.path.join(tmp, f"status{slot}")
        with open(status, "wb") as fh:
            fh.write(struct.pack("<q", start))
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", f"{args.seed}:{start}:{stop}",
               "--status", status]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append((proc, start, stop, status))

    def more() -> bool:
        if args.count is not None:
            return next_start < args.count
        return time.monotonic() - began < args.seconds

    slot = 0
    while more() and len(procs) < args.jobs:
        stop = next_start + batch if args.count is None else min(next_start + batch, args.count)
        launch(next_start, stop, slot)
        slot += 1
        next_start = stop
    while procs:
        proc, start, stop, status = procs.pop(0)
        out, _ = proc.communicate()
        with open(status, "rb") as fh:
            reached = struct.unpack("<q", fh.read(8))[0]
        for line in out.splitlines():
            if line.startswith("COUNTS "):
                counts.update(json.loads(line[7:]))
            elif line.startswith("[bad]"):
                findings.append(line)
                print(line, flush=True)
        if proc.returncode not in (0, 1) or reached < stop:
            fn, _ = make_case(args.seed, reached)
            tail = "\n".join(out.splitlines()[-40:])
            msg = f"[crash] {args.seed}:{reached} {fn}: exit {proc.returncode}\n{tail}"
            findings.append(msg)
            print(msg, flush=True)
            done += reached - start + 1
            counts["crash"] += 1
            if reached + 1 < stop and (
                args.count is not None or time.monotonic() - began < args.seconds
            ):  # finish the batch after the crash
                launch(reached + 1, stop, slot)
                slot += 1
        else:
            done += stop - start
        if more():
            stop2 = next_start + batch if args.count is None else min(next_start + batch,
                                                                       args.count)  # fmt: skip
            launch(next_start, stop2, slot)
            slot += 1
            next_start = stop2
        elapsed = time.monotonic() - began
        print(f"{done} calls in {elapsed:.0f} s ({done / max(elapsed, 1e-9):.0f}/s), "
              f"{len(findings)} findings", flush=True)  # fmt: skip
    elapsed = time.monotonic() - began
    print(f"\nseed {args.seed}: {done} calls in {elapsed:.0f} s, {len(findings)} findings")
    per_fn: dict[str, Counter[str]] = {}
    for key, value in counts.items():
        fn, _, outcome = key.partition(":")
        per_fn.setdefault(fn, Counter())[outcome or "-"] += value
    for fn in sorted(per_fn):
        print(f"  {fn:14s} {dict(per_fn[fn].most_common())}")
    return 1 if findings else 0


def _describe(value: Any, depth: int = 0) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape}{value.dtype}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return f"{type(value).__name__}[{len(b)}]" + (f"={b.hex()}" if len(b) <= 48 else "")
    if isinstance(value, (list, tuple)) and depth < 3:
        inner = ", ".join(_describe(v, depth + 1) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)[:200]


def replay(spec: str) -> None:
    seed, index = (int(x) for x in spec.split(":"))
    fn, args = make_case(seed, index)
    print(f"{fn}(")
    for a in args:
        print(f"    {_describe(a)},")
    print(")", flush=True)
    print("->", run_case(fn, args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="run time (default 60)")
    parser.add_argument("-n", "--count", type=int, help="run exactly this many calls")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2000, help="calls per worker process")
    parser.add_argument("--replay", metavar="SEED:INDEX", help="run one case in-process")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--status", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        replay(args.replay)
        return 0
    if args.worker:
        seed, start, stop = (int(x) for x in args.worker.split(":"))
        return worker(seed, start, stop, args.status)
    return fuzz(args)


if __name__ == "__main__":
    sys.exit(main())
