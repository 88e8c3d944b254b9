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
