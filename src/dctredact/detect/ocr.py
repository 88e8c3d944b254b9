"""Tesseract OCR tuned for burned-in annotations.

Burned-in text is not a document: it is sparse, small, of any colour (yellow, cyan, green,
white or gray on black; dark on light) and sits on image content. :class:`OcrDetector`
therefore upscales each frame, runs Tesseract in sparse-text mode (``--psm 11``) on several
preprocessed versions of it (max channel inverted, luminance, high-saturation mask,
Otsu threshold, local-contrast mask) and takes the union of the word boxes of every pass.

Cine loops are not OCR'd frame by frame. One pass over all frames finds the pixels that
never change (overlays) and the small regions that change outside the live image (clock,
frame counter); frame 0 is OCR'd fully, later frames only in those changing regions, and
only when the region's content differs from the last time it was read. See
``docs/detection.md``.

Recognised text is never logged; it is returned only when ``keep_text=True``.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytesseract
from PIL import Image
from pydicom.dataset import Dataset

from ..errors import DetectionError
from ..geometry import Box
from .base import Detection, FrameSource
from .frames import display_frames

__all__ = ["PASSES", "OcrDetector", "group_lines", "merge_boxes", "text_candidates"]

U8 = npt.NDArray[np.uint8]

#: Preprocessing passes in the order they are tried (``max_passes`` keeps the first N).
PASSES = ("maxinv", "luma", "bright", "saturation", "localcontrast", "otsu")

_INSTALL_HINT = (
    "install Tesseract OCR (Debian/Ubuntu: 'apt-get install tesseract-ocr "
    "tesseract-ocr-eng'; macOS: 'brew install tesseract'; Windows: the UB Mannheim "
    "installer) or point tesseract_cmd at the binary"
)


@dataclass
class _Word:
    """One recognised word in original pixel coordinates."""

    box: Box
    text: str


@dataclass
class _Region:
    """A small region that changes across a cine."""

    y0: int
    x0: int
    y1: int
    x1: int


def _max_channel(frame: U8) -> U8:
    """Per-pixel maximum over colour channels (bright text of any hue stays bright)."""
    return frame if frame.ndim == 2 else frame.max(axis=2)


def _luma(frame: U8) -> U8:
    """ITU-R BT.601 luminance."""
    if frame.ndim == 2:
        return frame
    f = frame.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def _otsu(gray: U8) -> int:
    """Otsu's threshold of a uint8 image."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128
    omega = np.cumsum(hist) / total
    mu = np.cumsum(hist * np.arange(256)) / total
    mu_t = mu[-1]
    denom = omega * (1 - omega)
    denom[denom == 0] = np.nan
    sigma = (mu_t * omega - mu) ** 2 / denom
    if np.all(np.isnan(sigma)):
        return 128
    return int(np.nanargmax(sigma))


def _box_mean(img: npt.NDArray[np.float32], radius: int) -> npt.NDArray[np.float32]:
    """Mean over a (2r+1)^2 window (edges replicated), via an integral image."""
    k = 2 * radius + 1
    p = np.pad(img, radius + 1, mode="edge").astype(np.float64)
    s = p.cumsum(0).cumsum(1)
    total = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    return (total[: img.shape[0], : img.shape[1]] / (k * k)).astype(np.float32)


def _dilate(mask: npt.NDArray[np.bool_], ry: int, rx: int) -> npt.NDArray[np.bool_]:
    """Binary dilation by a (2ry+1) x (2rx+1) rectangle."""
    out = mask.copy()
    if rx > 0:
        p = np.pad(out, ((0, 0), (rx, rx)))
        acc = np.zeros_like(out)
        for d in range(2 * rx + 1):
            acc |= p[:, d : d + out.shape[1]]
        out = acc
    if ry > 0:
        p = np.pad(out, ((ry, ry), (0, 0)))
        acc = np.zeros_like(out)
        for d in range(2 * ry + 1):
            acc |= p[d : d + out.shape[0], :]
        out = acc
    return out


def _edges(gray: U8, threshold: int) -> npt.NDArray[np.bool_]:
    """Pixels next to a strong horizontal or vertical step (text strokes)."""
    g = gray.astype(np.int16)
    e = np.zeros(g.shape, dtype=bool)
    dx = np.abs(np.diff(g, axis=1)) >= threshold
    dy = np.abs(np.diff(g, axis=0)) >= threshold
    e[:, 1:] |= dx
    e[:, :-1] |= dx
    e[1:, :] |= dy
    e[:-1, :] |= dy
    return e


def _components(mask: npt.NDArray[np.bool_], cell: int = 4) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(y0, x0, y1, x1)`` of 8-connected blobs, on a grid of `cell` px."""
    rows, cols = mask.shape
    gh, gw = -(-rows // cell), -(-cols // cell)
    padded = np.zeros((gh * cell, gw * cell), dtype=bool)
    padded[:rows, :cols] = mask
    grid: npt.NDArray[np.bool_] = np.asarray(padded.reshape(gh, cell, gw, cell).any(axis=(1, 3)))
    seen = np.zeros_like(grid)
    out = []
    for sy, sx in zip(*np.nonzero(grid), strict=True):
        if seen[sy, sx]:
            continue
        seen[sy, sx] = True
        queue = deque([(int(sy), int(sx))])
        y0, x0, y1, x1 = int(sy), int(sx), int(sy), int(sx)
        while queue:
            cy, cx = queue.popleft()
            y0, x0, y1, x1 = min(y0, cy), min(x0, cx), max(y1, cy), max(x1, cx)
            for ny in range(max(cy - 1, 0), min(cy + 2, gh)):
                for nx in range(max(cx - 1, 0), min(cx + 2, gw)):
                    if grid[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
        py0, px0 = y0 * cell, x0 * cell
        py1, px1 = min((y1 + 1) * cell, rows), min((x1 + 1) * cell, cols)
        ys, xs = np.nonzero(mask[py0:py1, px0:px1])
        if len(ys):
            out.append((py0 + int(ys.min()), px0 + int(xs.min()),
                        py0 + int(ys.max()) + 1, px0 + int(xs.max()) + 1))  # fmt: skip
    return out


def text_candidates(
    gray: U8,
    *,
    edge_threshold: int = 60,
    min_height: int = 5,
    max_height: int = 48,
    exclude: npt.NDArray[np.bool_] | None = None,
) -> list[Box]:
    """Fast text-like blob finder: strong edges, closed horizontally, shape-filtered.

    Parameters
    ----------
    gray : numpy.ndarray
        uint8 image (e.g. the max channel).
    edge_threshold : int
        Minimum step between neighbouring pixels counted as a stroke edge.
    min_height, max_height : int
        Blob height range (pixels) accepted as a text line.
    exclude : numpy.ndarray of bool, optional
        Pixels that may not seed a candidate (e.g. live image content).

    Returns
    -------
    list of Box
        Candidate boxes (``source="ocr"``, no confidence).
    """
    edges = _edges(gray, edge_threshold)
    if exclude is not None:
        edges &= ~exclude
    closed = _dilate(edges, 1, 3)
    boxes = []
    for y0, x0, y1, x1 in _components(closed, cell=2):
        h, w = y1 - y0, x1 - x0
        if not (min_height <= h <= max_height) or w < max(4, h // 2):
            continue
        density = float(edges[y0:y1, x0:x1].mean())
        if density < 0.08:
            continue
        boxes.append(Box(x0, y0, w, h, "ocr", None))
    return boxes


def _overlap(a: Box, b: Box) -> int:
    """Pixels shared by two boxes."""
    w = min(a.x1, b.x1) - max(a.x, b.x)
    h = min(a.y1, b.y1) - max(a.y, b.y)
    return max(w, 0) * max(h, 0)


def merge_boxes(boxes: Iterable[Box], min_overlap: float = 0.3) -> list[Box]:
    """Union boxes that overlap substantially, until none do (keeps the top confidence).

    Overlapping boxes of similar height (within 1.6x) become their bounding box; boxes of
    dissimilar height only when they share at least `min_overlap` of the smaller box's
    area. Others stay separate: their union of *areas* is redacted either way, and joining them
    would inflate two neighbouring lines into one large rectangle.

    Parameters
    ----------
    boxes : iterable of Box
        Boxes to merge.
    min_overlap : float
        Shared fraction of the smaller box's area that triggers a merge (0: any overlap).

    Returns
    -------
    list of Box
        Boxes covering every input box.
    """
    out = [b for b in boxes if not b.is_empty()]
    changed = True
    while changed:
        changed = False
        result: list[Box] = []
        for box in out:
            for i, kept in enumerate(result):
                shared = _overlap(kept, box)
                similar = max(kept.h, box.h) <= 1.6 * min(kept.h, box.h)
                need = 0.0 if similar else min_overlap * min(kept.area, box.area)
                if shared > 0 and shared >= need:
                    conf = max(
                        (c for c in (kept.confidence, box.confidence) if c is not None),
                        default=None,
                    )
                    u = kept.union(box)
                    result[i] = Box(u.x, u.y, u.w, u.h, kept.source, conf)
                    changed = True
                    break
            else:
                result.append(box)
        out = result
    return sorted(out, key=lambda b: (b.y, b.x))


def group_lines(boxes: Iterable[Box], gap: float = 1.0) -> list[Box]:
    """Join word boxes into line boxes: same line, horizontal gap < `gap` x height.

    Two boxes are on the same line when their heights differ by at most 1.6x and their
    vertical overlap is at least half the smaller height. Joining words closes the gaps
    between them, so the whole line (not just its words) is redacted.

    Parameters
    ----------
    boxes : iterable of Box
        Word boxes.
    gap : float
        Largest horizontal gap joined, in units of the taller box's height.

    Returns
    -------
    list of Box
        Line boxes (words with no neighbour are returned unchanged).
    """
    out = [b for b in boxes if not b.is_empty()]
    changed = True
    while changed:
        changed = False
        result: list[Box] = []
        for box in out:
            for i, kept in enumerate(result):
                overlap = min(kept.y1, box.y1) - max(kept.y, box.y)
                h = max(kept.h, box.h)
                dist = max(kept.x, box.x) - min(kept.x1, box.x1)
                similar = h <= 1.6 * min(kept.h, box.h)
                if similar and overlap >= 0.5 * min(kept.h, box.h) and dist < gap * h:
                    conf = max(
                        (c for c in (kept.confidence, box.confidence) if c is not None),
                        default=None,
                    )
                    u = kept.union(box)
                    result[i] = Box(u.x, u.y, u.w, u.h, kept.source, conf)
                    changed = True
                    break
            else:
                result.append(box)
        out = result
    return out


class OcrDetector:
    """Find burned-in text with Tesseract, tuned for sparse coloured annotations.

    Parameters
    ----------
    confidence : float
        Minimum Tesseract word confidence (0..100) for a word to count.
    padding : int
        Pixels added on every side of each word box (then clipped to the image).
    upscale : float
        Resize factor applied before OCR (small fonts need 2-3x).
    languages : str
        Tesseract language(s), e.g. ``"eng"`` or ``"eng+deu"``.
    psm : int
        Tesseract page segmentation mode: 11 (sparse text) or 12 (sparse text with OSD).
    max_passes : int
        How many preprocessing passes of :data:`PASSES` to run per image (1..6).
    keep_text : bool
        Return the recognised words in :attr:`Detection.texts` (never logged).
    tesseract_cmd : str, optional
        Path of the ``tesseract`` binary (default: found on ``PATH``).
    timeout : float
        Seconds allowed per Tesseract call (0: no limit).
    static_tolerance : int
        Cines: a pixel whose display value varies by more than this is "changing".
    include_unread : bool
        Cines: also return text-like regions Tesseract could not read (changing regions
        outside the live image, and static text-like blobs on frame 0) -- recall first.
    max_text_height : int
        Largest text line height (pixels) considered by the candidate finder.

    Examples
    --------
    >>> det = OcrDetector(confidence=35, upscale=3)            # doctest: +SKIP
    >>> found = det.detect(ds, lambda: display_frames(ds))     # doctest: +SKIP
    """

    name = "ocr"

    def __init__(
        self,
        *,
        confidence: float = 30.0,
        padding: int = 3,
        upscale: float = 3.0,
        languages: str = "eng",
        psm: int = 11,
        max_passes: int = 6,
        keep_text: bool = False,
        tesseract_cmd: str | None = None,
        timeout: float = 0.0,
        static_tolerance: int = 40,
        include_unread: bool = True,
        max_text_height: int = 48,
    ) -> None:
        if psm not in (11, 12):
            raise ValueError(f"psm {psm} is not a sparse-text mode; expected 11 or 12")
        if not 1 <= max_passes <= len(PASSES):
            raise ValueError(f"max_passes {max_passes} out of range; expected 1..{len(PASSES)}")
        if upscale < 1:
            raise ValueError(f"upscale {upscale} must be >= 1")
        self.confidence = confidence
        self.padding = padding
        self.upscale = upscale
        self.languages = languages
        self.psm = psm
        self.max_passes = max_passes
        self.keep_text = keep_text
        self.tesseract_cmd = tesseract_cmd
        self.timeout = timeout
        self.static_tolerance = static_tolerance
        self.include_unread = include_unread
        self.max_text_height = max_text_height
        self._checked = False

    # -- Tesseract -------------------------------------------------------------------

    def _config(self) -> str:
        return (
            f"--oem 1 --psm {self.psm} -c load_system_dawg=0 -c load_freq_dawg=0 "
            "-c tessedit_do_invert=0"
        )

    def _check(self) -> None:
        """Fail early, with an install hint, when Tesseract cannot run."""
        if self.tesseract_cmd is not None:
            pytesseract.pytesseract.tesseract_cmd = self.tesseract_cmd
        if self._checked:
            return
        cmd = str(pytesseract.pytesseract.tesseract_cmd)
        if shutil.which(cmd) is None:
            raise DetectionError(f"Tesseract OCR not found (tried {cmd!r}); {_INSTALL_HINT}")
        try:
            pytesseract.get_tesseract_version()
        except pytesseract.TesseractNotFoundError:
            cmd = pytesseract.pytesseract.tesseract_cmd
            raise DetectionError(
                f"Tesseract OCR not found (tried {cmd!r}); {_INSTALL_HINT}"
            ) from None
        except OSError as exc:  # e.g. permission denied, not executable
            raise DetectionError(f"Tesseract OCR cannot run ({exc}); {_INSTALL_HINT}") from None
        self._checked = True

    def _tesseract(self, image: U8) -> dict[str, list[object]]:
        try:
            data: dict[str, list[object]] = pytesseract.image_to_data(
                Image.fromarray(image),
                lang=self.languages,
                config=self._config(),
                output_type=pytesseract.Output.DICT,
                timeout=self.timeout,
            )
        except pytesseract.TesseractNotFoundError:
            raise DetectionError(f"Tesseract OCR not found; {_INSTALL_HINT}") from None
        except pytesseract.TesseractError as exc:
            raise DetectionError(
                f"Tesseract failed with status {exc.status} (languages {self.languages!r}; "
                "is the language data installed?)"
            ) from None
        except RuntimeError as exc:  # pytesseract's timeout
            raise DetectionError(f"Tesseract timed out after {self.timeout} s") from exc
        return data

    # -- preprocessing ---------------------------------------------------------------

    def _passes(self, frame: U8) -> Iterator[tuple[str, U8]]:
        """Upscaled, preprocessed versions of `frame`: dark text on a light background."""
        rows, cols = frame.shape[:2]
        size = (round(cols * self.upscale), round(rows * self.upscale))

        def up(img: U8) -> U8:
            if self.upscale == 1:
                return img
            return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))

        mx = up(_max_channel(frame))
        for name in PASSES[: self.max_passes]:
            if name == "maxinv":
                yield name, 255 - mx
            elif name == "luma":
                yield name, up(_luma(frame)) if frame.ndim == 3 else mx
            elif name == "bright":
                yield name, np.where(mx >= 200, 0, 255).astype(np.uint8)
            elif name == "saturation":
                if frame.ndim == 3:
                    f = frame.astype(np.int16)
                    sat = (f.max(axis=2) - f.min(axis=2)).astype(np.uint8)
                    satu = up(sat)
                    yield name, np.where((satu > 60) & (mx > 90), 0, 255).astype(np.uint8)
                else:
                    # Gray: threshold high so that gray text on gray stays separable.
                    yield name, np.where(mx > 200, 0, 255).astype(np.uint8)
            elif name == "otsu":
                t = _otsu(mx)
                yield name, np.where(mx > t, 0, 255).astype(np.uint8)
            elif name == "localcontrast":
                m = mx.astype(np.float32)
                local = _box_mean(m, max(3, round(6 * self.upscale)))
                yield name, np.where(np.abs(m - local) > 35, 0, 255).astype(np.uint8)

    def _read(self, frame: U8, x_off: int = 0, y_off: int = 0) -> list[_Word]:
        """OCR every pass of `frame`; word boxes in original coordinates (offset added)."""
        rows, cols = frame.shape[:2]
        border = 12
        words = []
        for _, img in self._passes(frame):
            bg = int(np.median(img))
            padded = np.pad(img, border, constant_values=bg)
            data = self._tesseract(padded)
            for i, raw in enumerate(data["text"]):
                text = str(raw).strip()
                try:
                    conf = float(str(data["conf"][i]))
                except ValueError:
                    continue
                if conf < self.confidence or not any(c.isalnum() for c in text):
                    continue
                left = int(str(data["left"][i])) - border
                top = int(str(data["top"][i])) - border
                w, h = int(str(data["width"][i])), int(str(data["height"][i]))
                b = Box(left, top, w, h, "ocr", conf).scaled(1 / self.upscale, 1 / self.upscale)
                b = b.clip(cols, rows)
                if b.is_empty() or b.h < 3 or b.h > max(self.max_text_height * 2, rows // 3):
                    continue
                words.append(_Word(Box(b.x + x_off, b.y + y_off, b.w, b.h, "ocr", conf), text))
        return words

    def _read_many(self, crops: list[tuple[U8, int, int]]) -> list[list[_Word]]:
        """OCR many small crops with few Tesseract calls by stacking them into mosaics.

        Parameters
        ----------
        crops : list of (image, x_offset, y_offset)
            Crops (same number of dimensions) and where they sit in the frame.

        Returns
        -------
        list of list of _Word
            Words per crop, in frame coordinates.
        """
        out: list[list[_Word]] = [[] for _ in crops]
        gap, limit = 8, 400
        start = 0
        while start < len(crops):
            # Take crops until the mosaic is `limit` rows high (original pixels).
            end, height = start, 0
            while end < len(crops) and (end == start or height + crops[end][0].shape[0] <= limit):
                height += crops[end][0].shape[0] + gap
                end += 1
            batch = crops[start:end]
            width = max(c.shape[1] for c, _, _ in batch)
            parts, tops = [], []
            y = 0
            for img, _, _ in batch:
                fill = np.median(img.reshape(-1, img.shape[2]) if img.ndim == 3 else img, axis=0)
                rows_, cols_ = img.shape[:2]
                tile = np.empty((rows_ + gap, width, *img.shape[2:]), dtype=np.uint8)
                tile[...] = np.asarray(fill, dtype=np.uint8)
                tile[:rows_, :cols_] = img
                parts.append(tile)
                tops.append(y)
                y += rows_ + gap
            mosaic = np.concatenate(parts, axis=0)
            for word in self._read(mosaic):
                b = word.box
                cy = b.y + b.h / 2
                idx = max(i for i, t in enumerate(tops) if t <= cy)
                img, x_off, y_off = batch[idx]
                local = Box(b.x, b.y - tops[idx], b.w, b.h, "ocr", b.confidence)
                local = local.clip(img.shape[1], img.shape[0])
                if local.is_empty():
                    continue
                moved = Box(local.x + x_off, local.y + y_off, local.w, local.h, "ocr", b.confidence)
                out[start + idx].append(_Word(moved, word.text))
            start = end
        return out

    def _finish(self, boxes: Iterable[Box], cols: int, rows: int) -> list[Box]:
        lines = group_lines(boxes)
        padded = [b.pad(self.padding).clip(cols, rows) for b in lines]
        return merge_boxes(padded)

    # -- detection -------------------------------------------------------------------

    def detect(self, ds: Dataset, frames: FrameSource | None = None) -> Detection:
        """Find text in every frame of `ds`.

        Parameters
        ----------
        ds : pydicom.dataset.Dataset
            The dataset (used for its size and when `frames` is not given).
        frames : FrameSource, optional
            Callable returning display-ready uint8 frames; default
            ``lambda: display_frames(ds)``. Called once.

        Returns
        -------
        Detection
            Static text in ``boxes``; text seen only in some frames of a cine in
            ``frame_boxes``. Boxes have ``source="ocr"`` and the word confidence
            (``None`` for unread text-like regions kept for recall).

        Raises
        ------
        DetectionError
            When Tesseract is missing or fails, or the pixel data cannot be decoded.
        """
        self._check()
        source = frames if frames is not None else (lambda: display_frames(ds))
        iterator = source()
        first = next(iterator, None)
        if first is None:
            return Detection(notes=["ocr: no frames"])
        second = next(iterator, None)
        if second is None:
            return self._detect_single(first)
        return self._detect_cine(first, second, iterator)

    def detect_frame(self, frame: U8) -> Detection:
        """Detect text in one display-ready frame (uint8, 2-D or RGB)."""
        self._check()
        return self._detect_single(frame)

    def _grow(self, gray: U8, boxes: list[Box]) -> list[Box]:
        """Grow OCR line boxes to the text-like blobs they touch (partly read lines)."""
        if not boxes:
            return boxes
        lines = group_lines(boxes)
        blobs = text_candidates(gray, edge_threshold=40, max_height=self.max_text_height * 2)
        out = []
        for line in lines:
            grown = line
            # Grow by at most 2 line heights sideways and 0.3 up and down.
            lim_x, lim_y = 2 * line.h, max(2, round(0.3 * line.h))
            for blob in blobs:
                if blob.intersects(line) and blob.h <= 1.5 * line.h + 4:
                    x0 = max(blob.x, line.x - lim_x)
                    x1 = min(blob.x1, line.x1 + lim_x)
                    y0 = max(blob.y, line.y - lim_y)
                    y1 = min(blob.y1, line.y1 + lim_y)
                    u = grown.union(Box(x0, y0, x1 - x0, y1 - y0))
                    grown = Box(u.x, u.y, u.w, u.h, "ocr", line.confidence)
            out.append(grown)
        return out

    def _detect_single(self, frame: U8) -> Detection:
        rows, cols = frame.shape[:2]
        words = self._read(frame)
        boxes = [w.box for w in words]
        if self.include_unread:
            boxes = self._grow(_max_channel(frame), boxes)
        det = Detection(boxes=self._finish(boxes, cols, rows))
        if self.keep_text:
            det.texts = [w.text for w in words]
        det.notes.append(f"ocr: {len(det.boxes)} text region(s) in 1 frame")
        return det

    def _detect_cine(self, first: U8, second: U8, rest: Iterator[U8]) -> Detection:
        rows, cols = first.shape[:2]
        stack = [first, second, *rest]
        grays = [_max_channel(f) for f in stack]
        lo = np.minimum.reduce(grays)
        hi = np.maximum.reduce(grays)
        changing = (hi.astype(np.int16) - lo) > self.static_tolerance
        # Live image content: large areas where almost every pixel changes.
        live = _box_mean(changing.astype(np.float32), 7) > 0.5
        live = _dilate(live, 4, 4)
        small_changes = changing & ~live
        regions = [
            _Region(max(y0 - 3, 0), max(x0 - 3, 0), min(y1 + 3, rows), min(x1 + 3, cols))
            for y0, x0, y1, x1 in _components(_dilate(small_changes, 2, 4), cell=2)
        ]
        # Frame 0: full OCR. Everything read there applies to every frame.
        words = self._read(first)
        static_boxes = [w.box for w in words]
        if self.include_unread:
            static_boxes = self._grow(grays[0], static_boxes)
        texts = [w.text for w in words]
        notes = []
        if self.include_unread:
            # Static text-like blobs (overlays) that Tesseract could not read on frame 0.
            unread = [
                b
                for b in text_candidates(
                    grays[0],
                    max_height=self.max_text_height,
                    exclude=changing | _dilate(live, 3, 3),
                )
                if not any(b.intersects(s) for s in static_boxes)
            ]
            if unread:
                notes.append(f"ocr: {len(unread)} unread static text-like region(s) kept")
            static_boxes.extend(unread)
        frame_boxes: dict[int, list[Box]] = {}
        # Which (frame, region) pairs show new content and need reading.
        todo: list[tuple[int, int]] = []
        for r, reg in enumerate(regions):
            reg_box = Box(reg.x0, reg.y0, reg.x1 - reg.x0, reg.y1 - reg.y0, "ocr", None)
            frame_boxes.setdefault(0, []).extend(b for b in static_boxes if b.intersects(reg_box))
            last = grays[0][reg.y0 : reg.y1, reg.x0 : reg.x1].astype(np.int16)
            for k in range(1, len(stack)):
                crop = grays[k][reg.y0 : reg.y1, reg.x0 : reg.x1].astype(np.int16)
                if np.abs(crop - last).max() > self.static_tolerance:
                    todo.append((k, r))
                    last = crop
        found = self._read_many(
            [
                (stack[k][regions[r].y0 : regions[r].y1, regions[r].x0 : regions[r].x1],
                 regions[r].x0, regions[r].y0)
                for k, r in todo
            ]
        )  # fmt: skip
        read: dict[tuple[int, int], list[_Word]] = dict(zip(todo, found, strict=True))
        for r, reg in enumerate(regions):
            dark_bg = float(np.median(lo[reg.y0 : reg.y1, reg.x0 : reg.x1])) < 128
            current: list[Box] = []
            for k in range(len(stack)):
                if (k, r) in read:
                    current = [w.box for w in read[k, r]]
                    texts.extend(w.text for w in read[k, r])
                boxes = list(current)
                if self.include_unread:
                    # The ink of this frame in the region (pixels away from the
                    # background), kept whatever Tesseract read: recall first.
                    ref = (lo if dark_bg else hi)[reg.y0 : reg.y1, reg.x0 : reg.x1]
                    now = grays[k][reg.y0 : reg.y1, reg.x0 : reg.x1]
                    ink = np.abs(now.astype(np.int16) - ref) > self.static_tolerance
                    ys, xs = np.nonzero(ink)
                    if len(ys):
                        boxes.append(
                            Box(
                                reg.x0 + int(xs.min()),
                                reg.y0 + int(ys.min()),
                                int(xs.max() - xs.min()) + 1,
                                int(ys.max() - ys.min()) + 1,
                                "ocr",
                                None,
                            )
                        )
                if boxes:
                    frame_boxes.setdefault(k, []).extend(boxes)
        ocr_calls = len(todo)
        det = Detection(
            boxes=self._finish(static_boxes, cols, rows),
            frame_boxes={
                k: self._finish(v, cols, rows) for k, v in sorted(frame_boxes.items()) if v
            },
            texts=texts if self.keep_text else [],
            notes=[
                f"ocr: {len(stack)} frames, {len(regions)} changing region(s), "
                f"{ocr_calls} region crop(s) read",
                *notes,
            ],
        )
        return det
