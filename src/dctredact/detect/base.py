"""The small interface every detector implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from ..geometry import Box

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["Detection", "Detector", "FrameSource"]

#: A callable returning an iterator over display-ready frames: uint8 arrays of shape
#: (rows, columns) or (rows, columns, 3), as the image *displays* (MONOCHROME1 inverted,
#: palette applied, YCbCr converted to RGB). Called at most once per detector.
FrameSource = Callable[[], Iterator[npt.NDArray[np.uint8]]]


@dataclass
class Detection:
    """What a detector found.

    Attributes
    ----------
    boxes : list of Box
        Boxes that apply to every frame.
    frame_boxes : dict of int to list of Box
        Boxes that apply to one frame only (0-based index).
    texts : list of str
        Recognised text, kept only when the caller asked for it (``keep_text``); never
        logged otherwise.
    notes : list of str
        Remarks without patient data (e.g. "rule 12 of script.script matched").
    """

    boxes: list[Box] = field(default_factory=list)
    frame_boxes: dict[int, list[Box]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: Detection) -> Detection:
        """Return the union of two detections."""
        frame_boxes = {k: list(v) for k, v in self.frame_boxes.items()}
        for k, v in other.frame_boxes.items():
            frame_boxes.setdefault(k, []).extend(v)
        return Detection(
            [*self.boxes, *other.boxes],
            frame_boxes,
            [*self.texts, *other.texts],
            [*self.notes, *other.notes],
        )


class Detector(Protocol):
    """A text detector."""

    #: Short name used as the ``source`` of its boxes and in reports.
    name: str

    def detect(self, ds: Dataset, frames: FrameSource) -> Detection:
        """Find text regions in `ds`; `frames` gives decoded display frames on demand."""
        ...
