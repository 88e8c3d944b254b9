"""A trained text detector (DB, PP-OCRv4) beside Tesseract.

Tesseract is a reader: it finds text by recognising it, and burned-in text on speckle,
texture or a coloured background of the same brightness often goes unread, so unfound.
A segmentation network trained on scene text finds such lines from their shape. This
module runs the PP-OCRv4 "DB" detection network (Differentiable Binarization, Liao et al.
2020) that ships inside the ``rapidocr-onnxruntime`` wheel, on onnxruntime's CPU provider
with one thread (batch runs parallelise over files instead). Nothing is downloaded at run
time; only detection is used (no recognition, so no text is produced here).

Frames are scaled so that the shorter side is at least :attr:`TextNet.min_side` pixels
(small text needs it) and the longer side at most :attr:`TextNet.max_side` (time grows with
area); the network's quadrilaterals are mapped back and returned as the axis-aligned boxes
that enclose them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import DetectionError
from ..geometry import Box

__all__ = ["TextNet", "textnet_available"]

U8 = npt.NDArray[np.uint8]

_INSTALL_HINT = (
    "install the 'rapidocr-onnxruntime' package (it carries the model) or pass --no-textnet"
)

_lock = threading.Lock()
_sessions: dict[tuple[float, float, float, int], Any] = {}


def textnet_available() -> bool:
    """True when the detection model and its runtime can be imported."""
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def _detector(thresh: float, box_thresh: float, unclip: float, threads: int) -> Any:
    """One RapidOCR ``TextDetector`` per parameter set and process (the model loads once)."""
    key = (thresh, box_thresh, unclip, threads)
    with _lock:
        found = _sessions.get(key)
        if found is not None:
            return found
        try:
            import rapidocr_onnxruntime as rapid
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
            from rapidocr_onnxruntime.utils import read_yaml, update_model_path
        except Exception as exc:
            raise DetectionError(f"text detection network unavailable: {_INSTALL_HINT}") from exc
        config = read_yaml(str(Path(rapid.__file__).parent / "config.yaml"))
        det = dict(update_model_path(config)["Det"])
        det.update(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            # Frames arrive already scaled (see TextNet.boxes): only round to 32.
            limit_type="min",
            limit_side_len=1,
            thresh=thresh,
            box_thresh=box_thresh,
            unclip_ratio=unclip,
        )
        try:
            found = TextDetector(det)
        except Exception as exc:
            raise DetectionError(f"text detection network failed to load: {exc}") from exc
        _sessions[key] = found
        return found


class TextNet:
    """Text line boxes from the PP-OCRv4 DB detection network.

    Parameters
    ----------
    min_side : int
        Frames whose shorter side is smaller are upscaled to it.
    max_side : int
        Frames whose longer side is larger are downscaled to it (wins over `min_side`).
    cine_side : int
        The `max_side` used for the frames of a cine (many frames, time matters more).
    thresh : float
        Probability above which a pixel of the network's map is text.
    box_thresh : float
        Mean probability a region needs to be returned.
    unclip : float
        How far each shrunk text kernel is expanded back (DB's unclip ratio).
    threads : int
        onnxruntime intra-op threads.
    pad : int
        Pixels added on every side of each returned box.
    border : int
        Pixels of the frame's median colour added around the (scaled) frame before
        detection, so that text cut by the frame's edge is found.
    """

    def __init__(
        self,
        *,
        min_side: int = 640,
        max_side: int = 1024,
        cine_side: int = 800,
        thresh: float = 0.3,
        box_thresh: float = 0.5,
        unclip: float = 1.6,
        threads: int = 1,
        pad: int = 1,
        border: int = 16,
    ) -> None:
        if min_side < 32 or max_side < min_side:
            raise ValueError(f"need 32 <= min_side <= max_side, got {min_side}, {max_side}")
        self.min_side = min_side
        self.max_side = max_side
        self.cine_side = cine_side
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.unclip = unclip
        self.threads = threads
        self.pad = pad
        self.border = max(0, border)

    def check(self) -> None:
        """Load the model now (raises :class:`DetectionError` when it is unavailable)."""
        _detector(self.thresh, self.box_thresh, self.unclip, self.threads)

    def scale_for(self, rows: int, cols: int, max_side: int | None = None) -> float:
        """The resize factor applied to a ``rows`` x ``cols`` frame."""
        scale = max(1.0, self.min_side / max(min(rows, cols), 1))
        return min(scale, (max_side or self.max_side) / max(rows, cols, 1))

    def boxes_enhanced(self, frame: U8) -> list[Box]:
        """:meth:`boxes` of `frame` and of its contrast-equalised version, merged.

        Each channel is equalised locally (CLAHE, 4x4 tiles, clip 4), which lifts
        low-contrast text (dark gray on black, gray on texture) to where the network
        sees it. Twice the time of :meth:`boxes`; used on single frames.
        """
        import cv2

        img = frame if frame.ndim == 3 else frame[:, :, None]
        clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(4, 4))
        planes = [clahe.apply(np.ascontiguousarray(img[:, :, i])) for i in range(img.shape[2])]
        equalised = np.stack(planes, axis=2) if len(planes) > 1 else planes[0]
        return self.boxes(frame) + self.boxes(np.asarray(equalised, dtype=np.uint8))

    def boxes(
        self, frame: U8, x_off: int = 0, y_off: int = 0, *, max_side: int | None = None
    ) -> list[Box]:
        """Detect text lines in one uint8 frame (2-D gray or RGB).

        Parameters
        ----------
        frame : ndarray
            Display-ready pixels.
        x_off, y_off : int
            Added to every box (when `frame` is a crop).
        max_side : int, optional
            Overrides :attr:`max_side` for this call.

        Returns
        -------
        list of Box
            Axis-aligned boxes, padded by :attr:`pad`, clipped to the frame, ``source``
            ``"textnet"``, no confidence (the network gives none per box).
        """
        import cv2  # the network's own dependency

        rows, cols = frame.shape[:2]
        if rows < 4 or cols < 4:
            return []
        img = frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
        img = np.ascontiguousarray(img[:, :, :3][:, :, ::-1])  # RGB -> BGR, as trained
        scale = self.scale_for(rows, cols, max_side)
        if abs(scale - 1.0) > 1e-3:
            size = (max(32, round(cols * scale)), max(32, round(rows * scale)))
            img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_LINEAR), np.uint8)
        sy, sx = img.shape[0] / rows, img.shape[1] / cols
        # A border of the frame's median colour: text cut by the frame's edge is found
        # as readily as text inside it.
        m = self.border
        if m:
            fill = np.median(img.reshape(-1, 3), axis=0).astype(np.uint8)
            framed = np.empty((img.shape[0] + 2 * m, img.shape[1] + 2 * m, 3), np.uint8)
            framed[...] = fill
            framed[m:-m, m:-m] = img
            img = framed
        det = _detector(self.thresh, self.box_thresh, self.unclip, self.threads)
        try:
            quads, _ = det(img)
        except Exception as exc:
            raise DetectionError(f"text detection network failed: {exc}") from exc
        out: list[Box] = []
        for quad in quads if quads is not None else []:
            q = np.asarray(quad, dtype=np.float64) - m
            x0 = int(np.floor(q[:, 0].min() / sx)) - self.pad
            y0 = int(np.floor(q[:, 1].min() / sy)) - self.pad
            x1 = int(np.ceil((q[:, 0].max() + 1) / sx)) + self.pad
            y1 = int(np.ceil((q[:, 1].max() + 1) / sy)) + self.pad
            box = Box(x0, y0, x1 - x0, y1 - y0, "textnet", None).clip(cols, rows)
            if not box.is_empty():
                out.append(Box(box.x + x_off, box.y + y_off, box.w, box.h, "textnet", None))
        return out
