"""Types shared by every transfer-syntax handler."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..geometry import Box

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["Fill", "Handler", "HandlerResult", "RedactionRequest"]


class Fill(enum.StrEnum):
    """What a redacted area becomes.

    ``black``
        The darkest displayable value (luma black with neutral chroma for YCbCr, all
        channels black for RGB, the maximum for MONOCHROME1 so it *displays* black).
    ``gray``
        Mid-gray: every DCT coefficient zero (a test mode that shows what was hit).
    ``flat``
        Each 8x8 block keeps its DC (mean) and loses its AC terms: what CTP does.
        For pixel handlers: the mean of the box.
    """

    BLACK = "black"
    GRAY = "gray"
    FLAT = "flat"


@dataclass(frozen=True)
class RedactionRequest:
    """What to redact in one dataset.

    Parameters
    ----------
    boxes : sequence of Box
        Boxes applied to every frame.
    frame_boxes : mapping of int to sequence of Box
        Extra boxes for single frames (0-based frame index), e.g. a clock that moves.
    fill : Fill
        The fill mode.
    keep_syntax : bool
        Refuse rather than change the transfer syntax (lossy non-baseline input).
    strip_markers : bool
        Remove COM and non-essential APPn segments from JPEG streams kept in the DCT
        domain.
    """

    boxes: Sequence[Box] = ()
    frame_boxes: Mapping[int, Sequence[Box]] = field(default_factory=dict)
    fill: Fill = Fill.BLACK
    keep_syntax: bool = False
    strip_markers: bool = False

    def boxes_for(self, frame: int) -> list[Box]:
        """Every box that applies to `frame` (0-based)."""
        return [*self.boxes, *self.frame_boxes.get(frame, ())]

    @property
    def is_empty(self) -> bool:
        """True when no box is requested for any frame."""
        return not any(not b.is_empty() for b in self.boxes) and not any(
            not b.is_empty() for bs in self.frame_boxes.values() for b in bs
        )


@dataclass
class HandlerResult:
    """What a handler produced for one dataset.

    Attributes
    ----------
    pixel_data : bytes
        The new (7FE0,0010) *Pixel Data* value (encapsulated when ``encapsulated``).
    transfer_syntax_uid : str
        The output transfer syntax (equal to the input unless the handler had to change it).
    encapsulated : bool
        Whether ``pixel_data`` is encapsulated (PS3.5 A.4).
    changed : int
        Number of units edited (see ``unit``), summed over frames.
    unit : str
        ``"blocks"`` (DCT-domain edit) or ``"pixels"``.
    notes : list of str
        Things the user should know (no patient data).
    extended_offsets : tuple of bytes, optional
        New (7FE0,0001) and (7FE0,0002) values when the output uses an Extended Offset
        Table.
    dataset_updates : dict
        Other elements to set (keyword -> value), e.g. after a transfer syntax change.
    """

    pixel_data: bytes
    transfer_syntax_uid: str
    encapsulated: bool
    changed: int = 0
    unit: str = "pixels"
    notes: list[str] = field(default_factory=list)
    extended_offsets: tuple[bytes, bytes] | None = None
    dataset_updates: dict[str, Any] = field(default_factory=dict)


class Handler(Protocol):
    """The signature of a handler's ``redact`` function."""

    def __call__(self, ds: Dataset, request: RedactionRequest) -> HandlerResult:
        """Redact `ds` (which it must not modify) as `request` says."""
        ...
