"""Redact everything outside the ultrasound data regions (0018,6011).

The *Sequence of Ultrasound Regions* describes where the scanner put image data
(B-mode sector, Doppler strip ...). Everything else on an ultrasound screen is
annotation: patient name, dates, settings. This detector returns boxes covering the whole
frame minus the union of the regions' rectangles
(``RegionLocationMinX0/MinY0/MaxX1/MaxY1``, inclusive coordinates, PS3.3 C.8.5.5).
"""

from __future__ import annotations

import itertools

from pydicom.dataset import Dataset

from ..geometry import Box
from .base import Detection, FrameSource

__all__ = ["UltrasoundRegionsDetector", "complement_boxes"]


def complement_boxes(columns: int, rows: int, keep: list[Box]) -> list[Box]:
    """Boxes that cover a ``columns`` x ``rows`` image except the `keep` rectangles.

    The image is cut into a grid along every edge of the kept boxes; each grid cell not
    inside a kept box is emitted, and cells are merged along rows to keep the list short.
    """
    keep = [k.clip(columns, rows) for k in keep]
    keep = [k for k in keep if not k.is_empty()]
    xs = sorted({0, columns, *(k.x for k in keep), *(k.x1 for k in keep)})
    ys = sorted({0, rows, *(k.y for k in keep), *(k.y1 for k in keep)})
    out: list[Box] = []
    for y0, y1 in itertools.pairwise(ys):
        run: tuple[int, int] | None = None
        for x0, x1 in itertools.pairwise(xs):
            inside = any(k.x <= x0 and x1 <= k.x1 and k.y <= y0 and y1 <= k.y1 for k in keep)
            if not inside:
                run = (run[0], x1) if run else (x0, x1)
            elif run:
                out.append(Box(run[0], y0, run[1] - run[0], y1 - y0, "us-regions"))
                run = None
        if run:
            out.append(Box(run[0], y0, run[1] - run[0], y1 - y0, "us-regions"))
    return out


class UltrasoundRegionsDetector:
    """Boxes covering everything outside the Sequence of Ultrasound Regions.

    A dataset without the sequence gets no boxes and a note saying so (it is not an
    error: the other detectors still run).
    """

    name = "us-regions"

    def detect(self, ds: Dataset, frames: FrameSource) -> Detection:
        """Return the complement of the ultrasound data regions, for every frame."""
        rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        regions = ds.get("SequenceOfUltrasoundRegions")
        if not regions or not rows or not columns:
            return Detection(notes=["no Sequence of Ultrasound Regions: us-regions found nothing"])
        keep = []
        for item in regions:
            try:
                x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
                x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
            except (AttributeError, TypeError, ValueError):
                continue
            if x1 >= x0 and y1 >= y0:
                keep.append(Box(x0, y0, x1 - x0 + 1, y1 - y0 + 1, "us-regions"))
        if not keep:
            return Detection(notes=["ultrasound regions have no usable location"])
        return Detection(
            boxes=complement_boxes(columns, rows, keep),
            notes=[f"kept {len(keep)} ultrasound data region(s)"],
        )
