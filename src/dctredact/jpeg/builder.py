"""Build baseline JPEG streams from quantized coefficients.

Used to make fixtures that no encoder on PyPI produces (any sampling factors, restart
intervals, RGB without colour transform, several scans) and by property-based tests.
The streams are plain T.81 baseline; libjpeg decodes them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from ..geometry import FrameGeometry
from . import _entropy
from .codec import Coefficients, symbol_counts
from .huffman import optimal_table
from .stream import HuffmanTable

__all__ = ["build_stream", "empty_coefficients"]


def empty_coefficients(geometry: FrameGeometry) -> Coefficients:
    """Zeroed coefficient arrays with the block layout of `geometry`."""
    return [np.zeros((c.alloc_high, c.alloc_wide, 64), dtype=np.int16) for c in geometry.components]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def build_stream(
    geometry: FrameGeometry,
    coefs: Coefficients,
    quant_tables: Sequence[Sequence[int]],
    *,
    component_ids: Sequence[int] | None = None,
    quant_selectors: Sequence[int] | None = None,
    restart_interval: int = 0,
    adobe_transform: int | None = None,
    jfif: bool = True,
    interleaved: bool = True,
    comment: bytes | None = None,
) -> bytes:
    """Write a baseline JPEG stream holding `coefs`.

    Parameters
    ----------
    geometry : FrameGeometry
        Size and sampling factors.
    coefs : list of numpy.ndarray
        Per component ``(alloc_high, alloc_wide, 64)`` int16, zig-zag order.
    quant_tables : sequence of sequence of int
        Up to 4 tables of 64 values (zig-zag order, 1..255).
    component_ids : sequence of int, optional
        Component identifiers (default 1, 2, 3 ...).
    quant_selectors : sequence of int, optional
        Quantization table per component (default 0 for the first, 1 for the others).
    restart_interval : int
        MCUs per restart interval (0 = none): writes DRI and RSTn markers.
    adobe_transform : int, optional
        Write an APP14 Adobe segment with this transform flag (0 = RGB, no transform).
    jfif : bool
        Write an APP0 JFIF segment.
    interleaved : bool
        One interleaved scan (default) or one scan per component.
    comment : bytes, optional
        Write a COM segment.
    """
    n = len(geometry.sampling)
    ids = list(component_ids or range(1, n + 1))
    sel = list(quant_selectors or [0] + [1] * (n - 1))
    sel = [min(s, len(quant_tables) - 1) for s in sel]
    out = [b"\xff\xd8"]
    if jfif:
        out.append(_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
    if adobe_transform is not None:
        out.append(_segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, adobe_transform)))
    if comment is not None:
        out.append(_segment(0xFE, comment))
    for tq, table in enumerate(quant_tables):
        out.append(_segment(0xDB, bytes([tq]) + bytes(int(v) for v in table)))
    sof = struct.pack(">BHHB", 8, geometry.rows, geometry.columns, n)
    for i, (h, v) in enumerate(geometry.sampling):
        sof += bytes([ids[i], (h << 4) | v, sel[i]])
    out.append(_segment(0xC0, sof))
    if restart_interval:
        out.append(_segment(0xDD, struct.pack(">H", restart_interval)))
    scans = [list(range(n))] if interleaved or n == 1 else [[i] for i in range(n)]
    for scan in scans:
        layout = []
        for i in scan:
            c = geometry.component(i)
            tid = 0 if i == 0 else 1
            layout.append(
                (
                    coefs[i],
                    c.alloc_wide,
                    c.alloc_high,
                    c.h,
                    c.v,
                    c.blocks_wide,
                    c.blocks_high,
                    tid,
                    tid,
                )
            )
        args = (geometry.mcus_wide, geometry.mcus_high, restart_interval)
        dc_freq, ac_freq = symbol_counts(layout, args)
        tables: list[HuffmanTable] = []
        dc_t: list[tuple[bytes, bytes] | None] = [None] * 4
        ac_t: list[tuple[bytes, bytes] | None] = [None] * 4
        for tid in sorted({0 if i == 0 else 1 for i in scan}):
            dct = optimal_table(dc_freq[tid], 0, tid)
            act = optimal_table(ac_freq[tid], 1, tid)
            tables += [dct, act]
            dc_t[tid], ac_t[tid] = dct.as_codec_tuple(), act.as_codec_tuple()
        out.append(_segment(0xC4, b"".join(t.encode() for t in tables)))
        sos = bytes([len(scan)])
        for i in scan:
            tid = 0 if i == 0 else 1
            sos += bytes([ids[i], (tid << 4) | tid])
        sos += bytes([0, 63, 0])
        out.append(_segment(0xDA, sos))
        out.append(_entropy.encode_scan(layout, dc_t, ac_t, *args))
    out.append(b"\xff\xd9")
    return b"".join(out)
