"""Explicit boxes from a JSON file, keyed by SOP Instance UID or by path.

Format::

    {
      "1.2.3.4.5": [[x, y, w, h], ...],            # SOP Instance UID: every frame
      "studies/a/img1.dcm": [{"x": 0, "y": 0, "w": 100, "h": 20, "frame": 3}],
      "*": [[0, 0, 640, 40]]                       # every file
    }

A box given as an object may carry ``frame`` (0-based) to apply to one frame only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from ..errors import RulesSyntaxError
from ..geometry import Box
from .base import Detection, FrameSource

__all__ = ["BoxFileDetector", "load_box_file"]


def _box(entry: Any, where: str) -> tuple[Box, int | None]:
    try:
        if isinstance(entry, dict):
            frame = entry.get("frame")
            box = Box(int(entry["x"]), int(entry["y"]), int(entry["w"]), int(entry["h"]), "boxes")
            return box, None if frame is None else int(frame)
        x, y, w, h = (int(v) for v in entry)
        return Box(x, y, w, h, "boxes"), None
    except (KeyError, TypeError, ValueError) as exc:
        raise RulesSyntaxError(
            f"{where}: a box must be [x, y, w, h] or {{x, y, w, h[, frame]}} ({exc})"
        ) from None


def load_box_file(path: str | os.PathLike[str]) -> dict[str, list[tuple[Box, int | None]]]:
    """Read and validate a box file.

    Raises
    ------
    RulesSyntaxError
        When the file is unreadable, not JSON, or a box is malformed.
    """
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesSyntaxError(f"cannot read box file: {exc.strerror}", path=name) from None
    except json.JSONDecodeError as exc:
        raise RulesSyntaxError(f"not valid JSON (line {exc.lineno})", path=name) from None
    if not isinstance(data, dict):
        raise RulesSyntaxError("expected a JSON object keyed by UID or path", path=name)
    out: dict[str, list[tuple[Box, int | None]]] = {}
    for key, entries in data.items():
        if not isinstance(entries, list):
            raise RulesSyntaxError(f"entry {key!r} must be a list of boxes", path=name)
        out[str(key)] = [_box(e, f"{name}: entry {key!r}") for e in entries]
    return out


class BoxFileDetector:
    """Boxes looked up in a box file by SOP Instance UID, then by path, plus ``"*"``."""

    name = "boxes"

    def __init__(self, table: dict[str, list[tuple[Box, int | None]]]) -> None:
        self.table = table

    def detect(self, ds: Dataset, frames: FrameSource, path: str | None = None) -> Detection:
        """Return the boxes listed for this dataset (by UID, path or ``"*"``)."""
        keys = ["*", str(ds.get("SOPInstanceUID", ""))]
        filename = path or getattr(ds, "filename", None)
        if isinstance(filename, str):
            keys += [filename, Path(filename).as_posix(), Path(filename).name]
        found = Detection()
        seen: set[str] = set()
        for key in keys:
            if key in seen or key not in self.table:
                continue
            seen.add(key)
            for box, frame in self.table[key]:
                if frame is None:
                    found.boxes.append(box)
                else:
                    found.frame_boxes.setdefault(frame, []).append(box)
        return found
