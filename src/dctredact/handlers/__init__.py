"""The registry of transfer-syntax handlers.

Each transfer syntax UID maps to a handler module and function, imported only when used
(as pydicom's pixel backends are). A syntax that cannot be redacted stays listed with the
reason, so an error says *why* rather than just "not supported".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UnsupportedError
from .base import Fill, Handler, HandlerResult, RedactionRequest

__all__ = [
    "REGISTRY",
    "Fill",
    "Handler",
    "HandlerEntry",
    "HandlerResult",
    "RedactionRequest",
    "get_handler",
    "lookup",
]


@dataclass(frozen=True)
class HandlerEntry:
    """One registry entry.

    Attributes
    ----------
    name : str
        Short handler name used in reports (``jpeg-baseline``, ``native`` ...).
    module, function : str
        Where the handler lives (relative to ``dctredact.handlers``); empty when refused.
    description : str
        What the handler does with this syntax, or why it refuses it.
    """

    name: str
    module: str
    function: str
    description: str

    @property
    def refuses(self) -> bool:
        """True when this syntax is listed only to be refused with a reason."""
        return not self.module


REGISTRY: dict[str, HandlerEntry] = {}


def register(uids: list[str], entry: HandlerEntry) -> None:
    """Register `entry` for every UID in `uids` (a later call replaces an earlier one)."""
    for uid in uids:
        REGISTRY[uid] = entry


register(
    ["1.2.840.10008.1.2.4.50"],
    HandlerEntry(
        "jpeg-baseline",
        ".jpeg_baseline",
        "redact",
        "edits quantized DCT coefficients of the covered 8x8 blocks; never recompresses",
    ),
)

# Uncompressed pixel data: the fill is written into the stored bytes.
register(
    [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
    ],
    HandlerEntry(
        "native",
        ".native",
        "redact",
        "writes the fill into the stored pixel bytes; representation and syntax unchanged",
    ),
)
# Lossless compression: decode, fill, re-encode losslessly (verified).
register(
    ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"],
    HandlerEntry(
        "lossless",
        ".lossless",
        "redact",
        "decodes, fills the boxes and re-encodes losslessly in the same syntax (JPEG-LS or "
        "RLE Lossless when the image is too small for the encoder)",
    ),
)
register(
    ["1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"],
    HandlerEntry(
        "lossless",
        ".lossless",
        "redact",
        "decodes, fills the boxes and writes JPEG-LS Lossless (no JPEG Lossless encoder is "
        "available)",
    ),
)
register(
    ["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202"],
    HandlerEntry(
        "lossless",
        ".lossless",
        "redact",
        "decodes, fills the boxes and writes JPEG 2000 Lossless (no HTJ2K encoder is available)",
    ),
)
# Lossy non-baseline compression: never recompressed lossily; written losslessly.
register(
    [
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.52",
        "1.2.840.10008.1.2.4.53",
        "1.2.840.10008.1.2.4.54",
        "1.2.840.10008.1.2.4.55",
        "1.2.840.10008.1.2.4.56",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.203",
    ],
    HandlerEntry(
        "lossy-to-lossless",
        ".lossless",
        "redact",
        "decodes the lossy pixels, fills the boxes and writes them losslessly (JPEG-LS or "
        "JPEG 2000 Lossless); Lossy Image Compression stays 01; refused with keep_syntax",
    ),
)

# Refused: listed so that the error says why.
_VIDEO = (
    "{} video is not redacted: its frames are inter-coded and re-encoding would be lossy; "
    "convert to single-frame images first"
)
register(
    [
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.100.1",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.101.1",
    ],
    HandlerEntry("refused", "", "", _VIDEO.format("MPEG-2")),
)
register(
    [
        f"1.2.840.10008.1.2.4.{n}{suffix}"
        for n in (102, 103, 104, 105, 106)
        for suffix in ("", ".1")
    ],
    HandlerEntry("refused", "", "", _VIDEO.format("MPEG-4 AVC/H.264")),
)
register(
    ["1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108"],
    HandlerEntry("refused", "", "", _VIDEO.format("HEVC/H.265")),
)
register(
    ["1.2.840.10008.1.2.7.1", "1.2.840.10008.1.2.7.2", "1.2.840.10008.1.2.7.3"],
    HandlerEntry("refused", "", "", "SMPTE ST 2110 video/audio is not an image to redact"),
)
register(
    [
        "1.2.840.10008.1.2.4.94",
        "1.2.840.10008.1.2.4.95",
        "1.2.840.10008.1.2.4.204",
        "1.2.840.10008.1.2.4.205",
    ],
    HandlerEntry(
        "refused",
        "",
        "",
        "JPIP referenced pixel data lives on a server, not in the file; store the pixels "
        "in the file first",
    ),
)
register(
    ["1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"],
    HandlerEntry("refused", "", "", "JPEG 2000 Part 2 multi-component images cannot be decoded"),
)
register(
    ["1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"],
    HandlerEntry("refused", "", "", "JPEG XL cannot be decoded (no decoder in pydicom)"),
)


def lookup(uid: str) -> HandlerEntry:
    """Return the registry entry for `uid`.

    Raises
    ------
    UnsupportedError
        When no handler is registered for the UID.
    """
    try:
        return REGISTRY[uid]
    except KeyError:
        raise UnsupportedError(
            f"no handler for transfer syntax {uid}; supported: {', '.join(sorted(REGISTRY))}"
        ) from None


def get_handler(uid: str) -> tuple[HandlerEntry, Handler]:
    """Return the entry and the callable that redacts datasets of transfer syntax `uid`.

    Raises
    ------
    UnsupportedError
        When the syntax is refused or its handler cannot be imported.
    """
    entry = lookup(uid)
    if entry.refuses:
        raise UnsupportedError(f"transfer syntax {uid} is not redacted: {entry.description}")
    try:
        module = importlib.import_module(entry.module, __name__)
    except ImportError as exc:
        raise UnsupportedError(
            f"handler {entry.name!r} for transfer syntax {uid} is unavailable: {exc}"
        ) from None
    func: Handler = getattr(module, entry.function)
    return entry, func
