"""Huffman table construction from symbol frequencies (ITU-T T.81 Annex K.2)."""

from __future__ import annotations

from collections.abc import Sequence

from .stream import HuffmanTable

__all__ = ["optimal_table"]


def optimal_table(freq: Sequence[int], table_class: int, table_id: int) -> HuffmanTable:
    """Build a baseline-legal Huffman table coding every symbol with a non-zero count.

    Implements T.81 K.2 (Figures K.1-K.4), as libjpeg's ``jpeg_gen_optimal_table`` does:
    a reserved pseudo-symbol guarantees that no code is all ones, and code lengths are
    limited to 16 bits.

    Parameters
    ----------
    freq : sequence of int
        256 symbol counts.
    table_class : int
        0 = DC, 1 = AC.
    table_id : int
        Destination id 0..3.

    Returns
    -------
    HuffmanTable
    """
    counts = [int(f) for f in freq[:256]] + [0] * (256 - len(freq[:256]))
    counts.append(1)  # symbol 256: reserves the all-ones code point (K.2)
    codesize = [0] * 257
    others = [-1] * 257
    while True:
        c1 = -1
        v = 10**18
        for i in range(257):
            if counts[i] and counts[i] <= v:
                v = counts[i]
                c1 = i
        c2 = -1
        v = 10**18
        for i in range(257):
            if counts[i] and counts[i] <= v and i != c1:
                v = counts[i]
                c2 = i
        if c2 < 0:
            break
        counts[c1] += counts[c2]
        counts[c2] = 0
        codesize[c1] += 1
        while others[c1] >= 0:
            c1 = others[c1]
            codesize[c1] += 1
        others[c1] = c2
        codesize[c2] += 1
        while others[c2] >= 0:
            c2 = others[c2]
            codesize[c2] += 1
    bits = [0] * 33
    for i in range(257):
        if codesize[i]:
            if codesize[i] > 32:
                raise ValueError("Huffman code length overflow")
            bits[codesize[i]] += 1
    # Limit code lengths to 16 (K.3, Figure K.3).
    i = 32
    while i > 16:
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
        i -= 1
    while bits[i] == 0:  # remove the reserved code point from the longest length
        i -= 1
    bits[i] -= 1
    values = []
    for length in range(1, 33):
        for sym in range(256):
            if codesize[sym] == length:
                values.append(sym)
    return HuffmanTable(table_class, table_id, bytes(bits[1:17]), bytes(values))
