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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytesseract
from PIL import Image
from pydicom.dataset import Dataset

from ..errors import DetectionError
from ..geometry import Box, boxes_mask
from .base import Detection, FrameSource
from .frames import display_frames, luma
from .policy import PhiMatcher, Policy
from .textnet import TextNet

__all__ = ["PASSES", "OcrDetector", "group_lines", "merge_boxes", "text_candidates"]

U8 = npt.NDArray[np.uint8]

#: Preprocessing passes in the order they are tried (``max_passes`` keeps the first N).
PASSES = ("maxinv", "localcontrast", "luma", "bright", "saturation", "otsu")

_INSTALL_HINT = (
    "install Tesseract OCR (Debian/Ubuntu: 'apt-get install tesseract-ocr "
    "tesseract-ocr-eng'; macOS: 'brew install tesseract'; Windows: the UB Mannheim "
    "installer) or point tesseract_cmd at the binary"
)


#: Largest change over a cine of a pixel that counts as still in the live image (a
#: lossy codec moves a burned-in stroke's pixels a little as the speckle around it
#: changes; :attr:`OcrDetector.static_tolerance` is wider, for whole-frame statistics).
STILL_TOLERANCE = 20
#: Fewest frames for the still map: over two or three frames (a pair of CT slices) much
#: of any image stays still by chance.
STILL_MIN_FRAMES = 5
#: Brightest a still pixel may be in every frame and still count as the black around
#: the live image, not a stroke (JPEG noise in a generated sector's margin measured
#: 0-14).
STILL_DARK = 24
#: Modalities whose single frames skip the text-pixel network
#: (:meth:`.textnet.TextNet.boxes_pixel`): slices and projections of anatomy. It was
#: trained on ultrasound-like and screen-like frames; on the real corpus's CT and
#: nuclear-medicine images it boxed bowel gas, bone and a skull (up to 4 % of a frame),
#: and found no text the other passes had not.
PIXEL_SKIP_MODALITIES = frozenset(
    {"CT", "MR", "PT", "NM", "CR", "DX", "DR", "MG", "XA", "RF", "RG", "IO", "PX"}
)


def still_map(lo: U8, hi: U8, live: npt.NDArray[np.bool_]) -> U8:
    """White where a pixel of the `live` image area stays still over a cine.

    `lo` and `hi` are the per-pixel minimum and maximum over the frames. Speckle changes
    from frame to frame; a burned-in line over it keeps its pixels, so in this map it is
    the one still shape inside the live image, whatever its brightness against the
    speckle (text of the speckle's own gray is invisible in any single frame).

    Pixels dark in every frame (at most :data:`STILL_DARK`) are the black margin
    around the live image, which `live` takes in at its edge: left white, they drew a
    band along the sector's edge that the text touching it joined, and the network saw
    neither as a line (8 px "MI 0.8 TIS 0.9" from the margin into the sector, missed
    in all 10 frames of a generated cine, seed 75).
    """
    moving = (hi.astype(np.int16) - lo) > STILL_TOLERANCE
    return np.where(live & ~moving & (hi > STILL_DARK), np.uint8(255), np.uint8(0))


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


def _rank_filter(img: U8, radius: int, op: np.ufunc) -> U8:
    """Separable grey-scale min (``np.minimum``) or max filter over a square window."""
    out = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        p = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = p.take(range(0, n), axis=axis)
        for d in range(1, 2 * radius + 1):
            acc = op(acc, p.take(range(d, d + n), axis=axis))
        out = acc
    return out


def ink_contrast(frame: U8, radius: int = 4) -> npt.NDArray[np.int16]:
    """How far each pixel stands out as a thin stroke: bright and dark, in any channel.

    The white top-hat of the max channel (bright strokes: white, yellow, cyan, ...)
    and the black top-hat of the min channel (dark strokes: black, red, blue on light)
    over a ``(2 radius + 1)`` square: strokes thinner than the window stand out, flat
    areas, gradients and large shapes do not. The two polarities are kept apart (the
    gaps between bright strokes look like dark strokes).

    Parameters
    ----------
    frame : numpy.ndarray
        uint8 frame, 2-D or RGB.
    radius : int
        Half the window size; strokes up to ``2 radius`` pixels wide are found.

    Returns
    -------
    numpy.ndarray
        int16 array of shape ``(2, rows, columns)``: bright and dark contrast (0..255).
    """
    hi = _max_channel(frame)
    lo = frame.min(axis=2) if frame.ndim == 3 else frame
    return _stroke_contrast(hi, lo, radius)


def _local_median(img: U8, cell: int = 4) -> npt.NDArray[np.int16]:
    """Approximate median over ~``3 cell`` px: block medians, then a 3x3 median of those."""
    rows, cols = img.shape
    gh, gw = -(-rows // cell), -(-cols // cell)
    p = np.pad(img, ((0, gh * cell - rows), (0, gw * cell - cols)), mode="edge")
    blocks = p.reshape(gh, cell, gw, cell).transpose(0, 2, 1, 3).reshape(gh, gw, cell * cell)
    coarse = np.median(blocks, axis=2)
    q = np.pad(coarse, 1, mode="edge")
    near = np.stack([q[dy : dy + gh, dx : dx + gw] for dy in range(3) for dx in range(3)])
    med = np.median(near, axis=0).astype(np.int16)
    return np.repeat(np.repeat(med, cell, axis=0), cell, axis=1)[:rows, :cols]


def _stroke_contrast(hi: U8, lo: U8, radius: int) -> npt.NDArray[np.int16]:
    """Bright strokes of `hi` and dark strokes of `lo`, each also against the local median.

    The top-hat finds thin strokes; the median test keeps the polarity of the text: the
    gaps between bright strokes are dark against their neighbours but not against the
    (mostly background) local median.
    """
    opened = _rank_filter(_rank_filter(hi, radius, np.minimum), radius, np.maximum)
    closed = _rank_filter(_rank_filter(lo, radius, np.maximum), radius, np.minimum)
    h16, l16 = hi.astype(np.int16), lo.astype(np.int16)
    cell = max(2, 2 * radius)
    bright = np.minimum(h16 - opened, h16 - _local_median(hi, cell))
    dark = np.minimum(closed.astype(np.int16) - l16, _local_median(lo, cell) - l16)
    return np.stack([bright, dark])


@dataclass
class Components:
    """Bounding boxes and pixel counts of the 8-connected components of a mask.

    Attributes
    ----------
    x0, y0, x1, y1 : numpy.ndarray
        Bounding boxes (end exclusive), one entry per component.
    count : numpy.ndarray
        Pixels per component.
    mean : numpy.ndarray
        Mean value of the component's pixels in the image given to the labeller (0
        without one): the stroke colour.
    polarity : numpy.ndarray
        0 for bright strokes, 1 for dark strokes.
    """

    x0: npt.NDArray[np.int64]
    y0: npt.NDArray[np.int64]
    x1: npt.NDArray[np.int64]
    y1: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]
    mean: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    polarity: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.x0):
            self.mean = np.zeros(len(self.x0))
        if len(self.polarity) != len(self.x0):
            self.polarity = np.zeros(len(self.x0), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.x0)

    def box(self, i: int) -> Box:
        """Component `i` as a Box."""
        return Box(
            int(self.x0[i]),
            int(self.y0[i]),
            int(self.x1[i] - self.x0[i]),
            int(self.y1[i] - self.y0[i]),
            "ocr",
            None,
        )


def label_components(
    mask: npt.NDArray[np.bool_], values: npt.NDArray[np.generic] | None = None
) -> Components:
    """8-connected components of `mask`, vectorised over horizontal runs.

    Runs of set pixels are found per row; runs on neighbouring rows that touch
    (8-connectivity) are joined by label propagation with pointer jumping. Cost is
    linear in the number of runs, not pixels.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        2-D mask.
    values : numpy.ndarray, optional
        Image of the same shape whose mean over each component is returned.

    Returns
    -------
    Components
        One entry per component (order unspecified).
    """
    rows, cols = mask.shape
    width = cols + 2
    padded = np.zeros((rows, width), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded.ravel())
    starts = np.flatnonzero(d == 1) + 1  # flat index of the first set pixel
    ends = np.flatnonzero(d == -1) + 1  # flat index one past the last
    empty = np.zeros(0, dtype=np.int64)
    if len(starts) == 0:
        return Components(empty, empty, empty, empty, empty)
    run_row = starts // width
    run_x0 = starts % width - 1
    run_x1 = ends % width - 1
    n = len(starts)
    # For each run, the runs of the row above touching it: [b.x0 - 1, b.x1] overlaps.
    key_start = run_row * width + run_x0
    key_end = run_row * width + run_x1
    above = run_row - 1
    lo = np.searchsorted(key_end, above * width + run_x0, side="left")
    hi = np.searchsorted(key_start, above * width + run_x1, side="right") - 1
    ok = (run_row > 0) & (hi >= lo)
    counts = np.where(ok, hi - lo + 1, 0)
    b_idx = np.repeat(np.arange(n), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    a_idx = np.repeat(lo, counts) + offsets
    label = np.arange(n)
    while len(a_idx):
        # Hook the larger root onto the smaller, then compress paths fully.
        ra, rb = label[a_idx], label[b_idx]
        differ = ra != rb
        if not differ.any():
            break
        a_idx, b_idx, ra, rb = a_idx[differ], b_idx[differ], ra[differ], rb[differ]
        np.minimum.at(label, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt
    uniq, comp = np.unique(label, return_inverse=True)
    k = len(uniq)
    x0 = np.full(k, cols, dtype=np.int64)
    y0 = np.full(k, rows, dtype=np.int64)
    x1 = np.zeros(k, dtype=np.int64)
    y1 = np.zeros(k, dtype=np.int64)
    cnt = np.zeros(k, dtype=np.int64)
    np.minimum.at(x0, comp, run_x0)
    np.minimum.at(y0, comp, run_row)
    np.maximum.at(x1, comp, run_x1)
    np.maximum.at(y1, comp, run_row + 1)
    np.add.at(cnt, comp, run_x1 - run_x0)
    mean = np.zeros(k)
    if values is not None:
        flat = np.zeros((rows, width), dtype=np.int64)
        flat[:, 1:-1] = values
        cs = np.concatenate([[0], np.cumsum(flat.ravel())])
        sums = np.zeros(k)
        np.add.at(sums, comp, cs[ends] - cs[starts])
        mean = sums / np.maximum(cnt, 1)
    return Components(x0, y0, x1, y1, cnt, mean)


def _ink_components(
    contrast: npt.NDArray[np.int16],
    threshold: int,
    exclude: npt.NDArray[np.bool_] | None = None,
    planes: tuple[U8, U8] | None = None,
) -> tuple[Components, npt.NDArray[np.bool_]]:
    """Components of bright and of dark strokes (labelled apart), and the ink mask.

    `planes` (max channel, min channel) give each component its stroke colour.
    """
    parts = []
    union = np.zeros(contrast.shape[1:], dtype=bool)
    for i, plane in enumerate(contrast):
        m = plane > threshold
        if exclude is not None:
            m &= ~exclude
        union |= m
        c = label_components(m, planes[i] if planes is not None else None)
        c.polarity = np.full(len(c), i, dtype=np.int64)
        parts.append(c)
    fields = ("x0", "y0", "x1", "y1", "count", "mean", "polarity")
    joined = Components(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
    return joined, union


def _planes(frame: U8) -> tuple[U8, U8]:
    """Max and min channel of a frame."""
    if frame.ndim == 2:
        return frame, frame
    return _max_channel(frame), frame.min(axis=2)


def _components(mask: npt.NDArray[np.bool_], cell: int = 4) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(y0, x0, y1, x1)`` of 8-connected blobs of `mask`."""
    del cell
    c = label_components(mask)
    return [(int(c.y0[i]), int(c.x0[i]), int(c.y1[i]), int(c.x1[i])) for i in range(len(c))]


@dataclass
class _Line:
    """A candidate text line: its box and how sure the pixels are that it is text."""

    box: Box
    chars: int
    flat: bool


def _char_like(c: Components, max_height: int) -> npt.NDArray[np.bool_]:
    """Components shaped like glyphs, glyph parts or runs of touching glyphs.

    Not: taller than `max_height`, thin rules (<= 3 px high and long), solid blocks.
    """
    h = c.y1 - c.y0
    w = c.x1 - c.x0
    fill = c.count / np.maximum(h * w, 1)
    rule = (h <= 3) & (w > 6 * h + 3)
    return (h <= max_height) & ~rule & ((fill < 0.92) | (h * w < 40))


def _group_chars(
    c: Components, keep: npt.NDArray[np.bool_], shape: tuple[int, int], gap: float = 0.9
) -> list[tuple[Box, list[int]]]:
    """Join glyph components into lines: each is widened by `gap` x its height, the
    widened boxes (1 px taller) are labelled, and every label is one line."""
    rows, cols = shape
    mask = np.zeros((rows, cols), dtype=bool)
    idx = np.flatnonzero(keep)
    for i in idx:
        h = int(c.y1[i] - c.y0[i])
        g = max(2, round(gap * max(h, 4)))
        y0, y1 = max(int(c.y0[i]) - 1, 0), int(c.y1[i]) + 1
        mask[y0:y1, max(int(c.x0[i]) - g, 0) : int(c.x1[i]) + g] = True
    lines = label_components(mask)
    out: list[tuple[Box, list[int]]] = []
    if not len(lines):
        return out
    cy = (c.y0[idx] + c.y1[idx]) // 2
    cx = (c.x0[idx] + c.x1[idx]) // 2
    for j in range(len(lines)):
        inside = (cy >= lines.y0[j]) & (cy < lines.y1[j]) & (cx >= lines.x0[j]) & (cx < lines.x1[j])
        members = [int(v) for v in idx[inside]]
        if members:
            out.append((_members_box(c, members), members))
    return out


def _members_box(c: Components, members: list[int]) -> Box:
    """The bounding box of some components."""
    x0, y0 = int(c.x0[members].min()), int(c.y0[members].min())
    x1, y1 = int(c.x1[members].max()), int(c.y1[members].max())
    return Box(x0, y0, x1 - x0, y1 - y0, "ocr", None)


def _split_stacked(c: Components, members: list[int]) -> list[list[int]]:
    """Lines stacked one above the other that small components joined, apart again.

    Two lines a few pixels apart are bridged by the odd speck, comma or ringing
    component between them, and one box then covers both lines and the image between
    and beside them (three lines of a cine overlay, 15 px each, became one 63 px box).
    The glyphs of one line share rows. Members of 0.6 to 1.6 times the median member
    height spread their pixels evenly over their rows; rows with at least a quarter of
    the busiest row's share are a line's, and when they fall into separate runs, each
    run is a line and every member joins the run nearest its centre.
    """
    if len(members) < 2:
        return [members]
    m = np.asarray(members)
    y0, y1 = c.y0[m], c.y1[m]
    h = y1 - y0
    ref = float(np.median(h))
    top, bottom = int(y0.min()), int(y1.max())
    if bottom - top <= 1.6 * ref:
        return [members]
    main = (h >= 0.6 * ref) & (h <= 1.6 * ref)
    # Each member's pixels spread evenly over its rows: a line's rows carry many glyphs,
    # the rows between two lines only the few components that bridge them.
    weight = np.zeros(bottom - top, dtype=np.float64)
    for a, b, n in zip(y0[main], y1[main], c.count[m][main], strict=True):
        weight[int(a) - top : int(b) - top] += float(n) / max(int(b - a), 1)
    rows = weight >= 0.25 * float(weight.max())
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rows.view(np.int8), [0]))))
    runs = edges.reshape(-1, 2) + top  # (start, end) of each run of covered rows
    if len(runs) < 2:
        return [members]
    centre = (y0 + y1) / 2.0
    dist = np.maximum(runs[None, :, 0] - centre[:, None], centre[:, None] - runs[None, :, 1])
    which = np.argmin(dist, axis=1)
    return [[int(v) for v in m[which == k]] for k in range(len(runs)) if (which == k).any()]


def text_candidates(
    gray: U8,
    *,
    edge_threshold: int = 48,
    min_height: int = 4,
    max_height: int = 48,
    exclude: npt.NDArray[np.bool_] | None = None,
    radius: int = 4,
) -> list[Box]:
    """Fast pixel-level text-line finder (see :func:`find_lines`), boxes only.

    Parameters
    ----------
    gray : numpy.ndarray
        uint8 frame (2-D or RGB).
    edge_threshold : int
        Minimum stroke contrast (see :func:`ink_contrast`).
    min_height, max_height : int
        Line height range (pixels).
    exclude : numpy.ndarray of bool, optional
        Pixels that are never ink (e.g. live image content).
    radius : int
        Stroke window half size.

    Returns
    -------
    list of Box
        Text-like line boxes (``source="ocr"``, no confidence).
    """
    return [
        ln.box
        for ln in find_lines(
            gray,
            threshold=edge_threshold,
            min_height=min_height,
            max_height=max_height,
            exclude=exclude,
            radius=radius,
        )
        if ln.flat or ln.chars >= 3
    ]


def find_lines(
    frame: U8,
    *,
    threshold: int = 48,
    min_height: int = 4,
    max_height: int = 48,
    exclude: npt.NDArray[np.bool_] | None = None,
    radius: int = 4,
    contrast: npt.NDArray[np.int16] | None = None,
    split: bool = False,
) -> list[_Line]:
    """Candidate text lines from stroke pixels, with a flat-background flag each.

    Stroke pixels (:func:`ink_contrast` > `threshold`) are labelled into components;
    glyph-shaped ones are joined along rows into lines. A line is *flat* when the
    pixels around its strokes are smooth (annotation on a plain or gradient background)
    rather than speckle or texture. With `split`, lines stacked one above the other that
    specks between them joined are split apart (:func:`_split_stacked`).
    """
    con = ink_contrast(frame, radius) if contrast is None else contrast
    comps, ink = _ink_components(con, threshold, exclude)
    if not len(comps):
        return []
    keep = _char_like(comps, max_height)
    hi = _max_channel(frame).astype(np.int16)
    lo = (frame.min(axis=2) if frame.ndim == 3 else frame).astype(np.int16)
    rows, cols = ink.shape
    out = []
    groups = []
    for box, members in _group_chars(comps, keep, (rows, cols)):
        # Only a group of a line's height is split: a texture's blobs joined into one
        # large group are no text, and their rows are no lines.
        if split and min_height <= box.h <= max_height * 1.5:
            groups += [(_members_box(comps, part), part) for part in _split_stacked(comps, members)]
        else:
            groups.append((box, members))
    for box, members in groups:
        if not (min_height <= box.h <= max_height * 1.5) or box.w < 3:
            continue
        # Background roughness: mean step between horizontal neighbours off the strokes.
        p = box.pad(2).clip(cols, rows)
        sub = hi[p.y : p.y1, p.x : p.x1]
        near = _dilate(ink[p.y : p.y1, p.x : p.x1], 1, 1)
        steps = np.abs(np.diff(sub, axis=1))
        off = ~(near[:, 1:] | near[:, :-1])
        rough = float(steps[off].mean()) if off.any() else 0.0
        tall = [m for m in members if comps.y1[m] - comps.y0[m] >= 0.5 * box.h]
        flat = rough < 6.0
        if not flat and len(tall) >= 2:
            # On texture: text strokes still have one colour; texture does not.
            cb = con[0, box.y : box.y1, box.x : box.x1] > 2 * threshold
            cd = con[1, box.y : box.y1, box.x : box.x1] > 2 * threshold
            bright = int(cb.sum()) >= int(cd.sum())
            core = cb if bright else cd
            plane = (hi if bright else lo)[box.y : box.y1, box.x : box.x1]
            if int(core.sum()) >= 8:
                flat = float(plane[core].std()) < 12.0
        out.append(_Line(box, len(tall), flat))
    return out


def _overlap(a: Box, b: Box) -> int:
    """Pixels shared by two boxes."""
    w = min(a.x1, b.x1) - max(a.x, b.x)
    h = min(a.y1, b.y1) - max(a.y, b.y)
    return max(w, 0) * max(h, 0)


def _pixel_pass_for(ds: Dataset | None) -> bool:
    """Whether a single frame of `ds` goes through the text-pixel network: unless its
    Modality is one of :data:`PIXEL_SKIP_MODALITIES`."""
    if ds is None:
        return True
    return str(ds.get("Modality", "") or "").strip().upper() not in PIXEL_SKIP_MODALITIES


def _covered(box: Box, boxes: Sequence[Box]) -> bool:
    """Whether every pixel of `box` lies in one of `boxes`."""
    inside = (Box(b.x - box.x, b.y - box.y, b.w, b.h) for b in boxes)
    return bool(boxes_mask(inside, box.h, box.w).all())


def _join_until_stable(boxes: Iterable[Box], joinable: Callable[[Box, Box], bool]) -> list[Box]:
    """Replace joinable pairs by their bounding box until no pair is joinable.

    Boxes are visited in order; each joins the first kept box it is joinable with (the
    kept box's source stays, the higher confidence wins). Empty boxes are dropped.
    """
    out = [b for b in boxes if not b.is_empty()]
    changed = True
    while changed:
        changed = False
        result: list[Box] = []
        for box in out:
            for i, kept in enumerate(result):
                if joinable(kept, box):
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


def merge_boxes(boxes: Iterable[Box], min_overlap: float = 0.3) -> list[Box]:
    """Union boxes that overlap substantially, until none do (keeps the top confidence).

    Overlapping boxes of similar height (within 1.6x) become their bounding box; boxes of
    dissimilar height only when they share at least `min_overlap` of the smaller box's
    area; and never when the bounding box would add more than 15 % to the area of the
    two boxes. Others stay separate: their union of *areas* is redacted either way, and joining them
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

    def joinable(kept: Box, box: Box) -> bool:
        shared = _overlap(kept, box)
        similar = max(kept.h, box.h) <= 1.6 * min(kept.h, box.h)
        need = 0.0 if similar else min_overlap * min(kept.area, box.area)
        # Only when the bounding box adds little area to the two boxes' union.
        tight = kept.union(box).area <= 1.15 * (kept.area + box.area - shared)
        return shared > 0 and shared >= need and tight

    return sorted(_join_until_stable(boxes, joinable), key=lambda b: (b.y, b.x))


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

    def joinable(kept: Box, box: Box) -> bool:
        overlap = min(kept.y1, box.y1) - max(kept.y, box.y)
        h = max(kept.h, box.h)
        dist = max(kept.x, box.x) - min(kept.x1, box.x1)
        # The joined height, not only the two heights, stays within 1.6x the smaller:
        # otherwise lines step up a staircase of overlaps (10 px, 16, 25, ...) into one
        # block over several lines and the image between them.
        tall = max(kept.y1, box.y1) - min(kept.y, box.y)
        similar = tall <= 1.6 * min(kept.h, box.h)
        return similar and overlap >= 0.5 * min(kept.h, box.h) and dist < gap * h

    return _join_until_stable(boxes, joinable)


def _best_readings(words: list[_Word]) -> list[_Word]:
    """Of words read at the same place by several passes, keep the most confident.

    A word is dropped when at least half of its box lies in the box of a word with a
    higher confidence (ties: the earlier pass wins).
    """
    order = sorted(range(len(words)), key=lambda i: -(words[i].box.confidence or 0.0))
    kept: list[_Word] = []
    for i in order:
        w = words[i]
        if any(_overlap(w.box, k.box) >= 0.5 * max(w.box.area, 1) for k in kept):
            continue
        kept.append(w)
    return kept


def _on_line(box: Box, line: Box) -> bool:
    """True when `box` lies in the rows of `line` (it overlaps it, sharing at least half
    the height of the lower of the two), not merely grazing its top or bottom edge."""
    if not box.intersects(line):
        return False
    shared = min(box.y1, line.y1) - max(box.y, line.y)
    return shared >= 0.5 * min(box.h, line.h)


def _plausible(word: _Word, flat_lines: list[Box], max_height: int = 48) -> bool:
    """Keep a Tesseract word unless it looks like a misreading of texture or speckle.

    A "word" taller than `max_height` pixels is text read together with the image
    around it (the text network gives such a line its own box): dropped. Other words on
    a pixel-found line over a flat background are kept; elsewhere (where Tesseract reads
    letters into speckle and textures) a word needs 3+ letters or digits at confidence
    >= 50, or 2+ at >= 80. A word that only grazes such a line (a "word" read in the
    speckle just above a line at the sector's edge) is not on it.
    """
    if word.box.h > max_height:
        return False
    if any(_on_line(word.box, b) for b in flat_lines):
        return True
    n = sum(c.isalnum() for c in word.text)
    conf = word.box.confidence or 0.0
    return (n >= 3 and conf >= 50) or (n >= 2 and conf >= 80)


def _split_on(boxes: Iterable[Box], lines: list[Box]) -> tuple[list[Box], list[Box]]:
    """`boxes` that lie on one of `lines` (:func:`_on_line`), and the others."""
    on: list[Box] = []
    off: list[Box] = []
    for b in boxes:
        (on if any(_on_line(b, t) for t in lines) else off).append(b)
    return on, off


def _auto_upscale(rows: int, cols: int) -> float:
    """Resize factor for full-frame OCR: small frames 3x, screen-sized 2x, large 1x."""
    size = max(rows, cols)
    return 3.0 if size <= 400 else 2.0 if size <= 1100 else 1.0


def _tile(crop: U8) -> U8:
    """A crop as dark text on a light background, contrast stretched (one OCR pass)."""
    g = _max_channel(crop)
    g = luma(crop) if float(np.median(g)) > 127 else 255 - g
    lo, hi = int(g.min()), int(g.max())
    if hi - lo < 8:
        return g
    out = (g.astype(np.int16) - lo) * 255 // (hi - lo)
    return np.asarray(out, dtype=np.uint8)


class OcrDetector:
    """Find burned-in text: a pixel-level line finder first, Tesseract to confirm and extend.

    Parameters
    ----------
    confidence : float
        Minimum Tesseract word confidence (0..100) for a word to count.
    padding : int
        Pixels added on every side of each line box, on top of a margin relative to the
        line height (glyph extents: 10 % of the height up and down, 25 % sideways).
    upscale : float
        Resize factor before full-frame OCR; 0 chooses by frame size (3x up to 400 px,
        2x up to 1100 px, else 1x).
    languages : str
        Tesseract language(s), e.g. ``"eng"`` or ``"eng+deu"``.
    psm : int
        Tesseract page segmentation mode: 11 (sparse text) or 12 (sparse text with OSD).
    max_passes : int
        How many preprocessing passes of :data:`PASSES` full-frame OCR runs (1..6).
    keep_text : bool
        Return the recognised words in :attr:`Detection.texts` (never logged).
    tesseract_cmd : str, optional
        Path of the ``tesseract`` binary (default: found on ``PATH``).
    timeout : float
        Seconds allowed per Tesseract call (0: no limit).
    static_tolerance : int
        Cines: a pixel whose display value varies by more than this is "changing".
    include_unread : bool
        Keep text-like regions Tesseract did not read (recall first). Off: only regions
        with at least one word read are returned.
    max_text_height : int
        Largest glyph height (pixels) considered by the line finder.
    ink_threshold : int
        Stroke contrast (0..255) a pixel needs to count as text ink.
    policy : Policy, optional
        What to redact: every text (default) or only text matching the header's
        identifying values, and words never redacted (see :mod:`.policy`).
    textnet : TextNet or bool
        The trained text detector run beside Tesseract (:mod:`.textnet`): ``True`` for
        the default settings, ``False`` to rely on Tesseract and the pixel line finder.
    textnet_frames : int
        Cines: how many frames (spread over the loop, the first and, from 2, the last
        included) the text network reads (0: none). The default 2 reads the first and
        the last frame: a frame counter over the live image ("Fr 10/10") is longest at
        the end, and its changing pixels are neither static overlay nor a changing
        region outside the live image.

    Examples
    --------
    >>> det = OcrDetector(confidence=35)                       # doctest: +SKIP
    >>> found = det.detect(ds, lambda: display_frames(ds))     # doctest: +SKIP
    """

    name = "ocr"

    def __init__(
        self,
        *,
        confidence: float = 30.0,
        padding: int = 1,
        upscale: float = 0.0,
        languages: str = "eng",
        psm: int = 11,
        max_passes: int = 2,
        keep_text: bool = False,
        tesseract_cmd: str | None = None,
        timeout: float = 0.0,
        static_tolerance: int = 40,
        include_unread: bool = True,
        max_text_height: int = 48,
        ink_threshold: int = 28,
        policy: Policy | None = None,
        textnet: TextNet | bool = True,
        textnet_frames: int = 2,
    ) -> None:
        if psm not in (11, 12):
            raise ValueError(f"psm {psm} is not a sparse-text mode; expected 11 or 12")
        if not 1 <= max_passes <= len(PASSES):
            raise ValueError(f"max_passes {max_passes} out of range; expected 1..{len(PASSES)}")
        if upscale != 0 and upscale < 1:
            raise ValueError(f"upscale {upscale} must be 0 (auto) or >= 1")
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
        self.ink_threshold = ink_threshold
        self.policy = policy or Policy()
        self.textnet: TextNet | None = (
            textnet if isinstance(textnet, TextNet) else TextNet() if textnet else None
        )
        self.textnet_frames = max(0, textnet_frames)
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
        if self.textnet is not None:
            self.textnet.check()
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

    def _words(self, img: U8, scale: float, cols: int, rows: int) -> list[_Word]:
        """One Tesseract call on a prepared image; words mapped back by 1/`scale`."""
        border = 12
        bg = int(np.median(img))
        data = self._tesseract(np.pad(img, border, constant_values=bg))
        words = []
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
            b = Box(left, top, w, h, "ocr", conf).scaled(1 / scale, 1 / scale).clip(cols, rows)
            if b.is_empty() or b.h < 3 or b.h > max(self.max_text_height * 2, rows // 3):
                continue
            words.append(_Word(b, text))
        return words

    # -- preprocessing ---------------------------------------------------------------

    def _passes(self, frame: U8, upscale: float) -> Iterator[tuple[str, U8]]:
        """Upscaled, preprocessed versions of `frame`: dark text on a light background."""
        rows, cols = frame.shape[:2]
        size = (round(cols * upscale), round(rows * upscale))

        def up(img: U8) -> U8:
            if upscale == 1:
                return img
            return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))

        mx = up(_max_channel(frame))
        for name in PASSES[: self.max_passes]:
            if name == "maxinv":
                yield name, 255 - mx
            elif name == "luma":
                yield name, up(luma(frame)) if frame.ndim == 3 else mx
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
                local = _box_mean(m, max(3, round(6 * upscale)))
                yield name, np.where(np.abs(m - local) > 35, 0, 255).astype(np.uint8)

    def _read(self, frame: U8, x_off: int = 0, y_off: int = 0) -> list[_Word]:
        """OCR every pass of `frame`; word boxes in original coordinates (offset added)."""
        rows, cols = frame.shape[:2]
        scale = self.upscale or _auto_upscale(rows, cols)
        words = []
        for _, img in self._passes(frame, scale):
            for w in self._words(img, scale, cols, rows):
                b = w.box
                words.append(
                    _Word(Box(b.x + x_off, b.y + y_off, b.w, b.h, "ocr", b.confidence), w.text)
                )
        return _best_readings(words)

    def read_text(self, frame: U8) -> list[str]:
        """Every word Tesseract reads in `frame` over the configured passes (no boxes).

        Used by the scorer to test a redacted area for left-over text.
        """
        self._check()
        return [w.text for w in self._read(frame)]

    def _read_many(self, crops: list[tuple[U8, int, int]]) -> list[list[_Word]]:
        """OCR many small crops with few Tesseract calls by stacking them into mosaics.

        Each crop is normalised to dark text on light (:func:`_tile`) and upscaled so
        that its height reaches ~30 px; one Tesseract call reads a mosaic of up to
        1200 rows.

        Parameters
        ----------
        crops : list of (image, x_offset, y_offset)
            Crops and where they sit in the frame.

        Returns
        -------
        list of list of _Word
            Words per crop, in frame coordinates.
        """
        out: list[list[_Word]] = [[] for _ in crops]
        if not crops:
            return out
        heights = sorted(c.shape[0] for c, _, _ in crops)
        scale = float(min(3.0, max(1.0, round(32 / max(heights[len(heights) // 2], 1)))))
        gap, limit = 10, int(1200 / scale)
        start = 0
        while start < len(crops):
            end, height = start, 0
            while end < len(crops) and (end == start or height + crops[end][0].shape[0] <= limit):
                height += crops[end][0].shape[0] + gap
                end += 1
            batch = crops[start:end]
            width = max(c.shape[1] for c, _, _ in batch) + 2 * gap
            parts, tops = [], []
            y = 0
            for img, _, _ in batch:
                t = _tile(img)
                rows_, cols_ = t.shape
                tile = np.full((rows_ + gap, width), 255, dtype=np.uint8)
                tile[gap // 2 : gap // 2 + rows_, gap : gap + cols_] = t
                parts.append(tile)
                tops.append(y + gap // 2)
                y += rows_ + gap
            mosaic = np.concatenate(parts, axis=0)
            mrows, mcols = mosaic.shape
            if scale != 1:
                big = Image.fromarray(mosaic).resize(
                    (round(mcols * scale), round(mrows * scale)), Image.Resampling.LANCZOS
                )
                mosaic = np.asarray(big)
            for word in self._words(mosaic, scale, mcols, mrows):
                b = word.box
                cy = b.y + b.h / 2
                idx = max((i for i, t in enumerate(tops) if t - gap // 2 <= cy), default=0)
                img, x_off, y_off = batch[idx]
                local = Box(b.x - gap, b.y - tops[idx], b.w, b.h, "ocr", b.confidence)
                local = local.clip(img.shape[1], img.shape[0])
                if local.is_empty():
                    continue
                moved = Box(local.x + x_off, local.y + y_off, local.w, local.h, "ocr", b.confidence)
                out[start + idx].append(_Word(moved, word.text))
            start = end
        return out

    # -- geometry ----------------------------------------------------------------------

    def _pad(self, box: Box, cols: int, rows: int) -> Box:
        """Glyph extents plus `padding`: 10 % of the height up/down, 25 % sideways."""
        py = self.padding + round(0.1 * box.h)
        px = self.padding + round(0.25 * box.h)
        b = Box(box.x - px, box.y - py, box.w + 2 * px, box.h + 2 * py, "ocr", box.confidence)
        return b.clip(cols, rows)

    def _finish(self, boxes: Iterable[Box], cols: int, rows: int) -> list[Box]:
        lines = group_lines(boxes, gap=0.6)
        return merge_boxes(self._pad(b, cols, rows) for b in lines)

    def _grow(
        self,
        comps: Components,
        words: list[Box],
        limit: float = 3.0,
        colour_tol: float = 40.0,
        rise: float = 0.35,
    ) -> list[Box]:
        """Grow word/line boxes over the glyph components they touch and their neighbours.

        A line (words joined) takes in every glyph-sized stroke component that overlaps
        it, then, repeatedly, components in its row band within 0.6 line heights to the
        side, up to `limit` line heights beyond the words on each side. Only strokes of
        the line's polarity and colour (within `colour_tol`) join. Characters that
        Tesseract skipped, and the full ascender/descender extent of the strokes, end up
        inside the box.
        """
        if not words:
            return []
        lines = group_lines(words, gap=0.8)
        if not len(comps):
            return lines
        ch = comps.y1 - comps.y0
        out = []
        for line in lines:
            h = line.h
            band0, band1 = line.y - rise * h, line.y1 + rise * h
            ok = (
                (ch <= 1.4 * h + 2)
                & (comps.y0 >= band0)
                & (comps.y1 <= band1)
                & (comps.x1 - comps.x0 <= 3 * h + 4)
            )
            x0, y0, x1, y1 = line.x, line.y, line.x1, line.y1
            # Stroke polarity and colour of the line, from the components inside it.
            seed = ok & (comps.x1 > x0) & (comps.x0 < x1) & (comps.y1 > y0) & (comps.y0 < y1)
            if seed.any():
                weight = comps.count * seed
                pol = int(weight[comps.polarity == 1].sum() > weight[comps.polarity == 0].sum())
                same = seed & (comps.polarity == pol)
                colour = float((comps.mean * comps.count)[same].sum() / comps.count[same].sum())
                ok = ok & (comps.polarity == pol) & (np.abs(comps.mean - colour) <= colour_tol)
            lo_x, hi_x = line.x - limit * h, line.x1 + limit * h
            gap = 0.6 * h + 1
            while True:
                near = (
                    ok
                    & (comps.x0 <= x1 + gap)
                    & (comps.x1 >= x0 - gap)
                    & (comps.x0 >= lo_x)
                    & (comps.x1 <= hi_x)
                )
                # Touching components sideways must share the core rows of the line.
                core = (comps.y1 > y0 + 0.2 * h) & (comps.y0 < y1 - 0.2 * h)
                inside = (comps.x1 > x0) & (comps.x0 < x1)
                sel = near & (core | inside)
                if not sel.any():
                    break
                nx0 = min(x0, int(comps.x0[sel].min()))
                ny0 = min(y0, int(comps.y0[sel].min()))
                nx1 = max(x1, int(comps.x1[sel].max()))
                ny1 = max(y1, int(comps.y1[sel].max()))
                if (nx0, ny0, nx1, ny1) == (x0, y0, x1, y1):
                    break
                x0, y0, x1, y1 = nx0, ny0, nx1, ny1
            out.append(Box(x0, y0, x1 - x0, y1 - y0, "ocr", line.confidence))
        return out

    # -- detection -------------------------------------------------------------------

    def detect(self, ds: Dataset, frames: FrameSource | None = None) -> Detection:
        """Find text in every frame of `ds`.

        Parameters
        ----------
        ds : pydicom.dataset.Dataset
            The dataset (its header feeds ``policy="phi"``; its pixels are used when
            `frames` is not given).
        frames : FrameSource, optional
            Callable returning display-ready uint8 frames; default
            ``lambda: display_frames(ds)``. Called once.

        Returns
        -------
        Detection
            Static text in ``boxes``; text seen only in some frames of a cine in
            ``frame_boxes``. Boxes have ``source="ocr"`` and the best word confidence
            (``None`` for text found from pixels and not read).

        Raises
        ------
        DetectionError
            When Tesseract is missing or fails, or the pixel data cannot be decoded.
        """
        self._check()
        matcher = self.policy.matcher(ds)
        source = frames if frames is not None else (lambda: display_frames(ds))
        iterator = source()
        first = next(iterator, None)
        if first is None:
            return Detection(notes=["ocr: no frames"])
        second = next(iterator, None)
        if second is None:
            return self._detect_single(first, matcher, _pixel_pass_for(ds))
        return self._detect_cine(first, second, iterator, matcher)

    def detect_frame(self, frame: U8, header: Dataset | None = None) -> Detection:
        """Detect text in one display-ready frame (uint8, 2-D or RGB).

        `header` supplies the identifying values for ``policy="phi"``.
        """
        self._check()
        return self._detect_single(frame, self.policy.matcher(header), _pixel_pass_for(header))

    def _needs_words(self, matcher: PhiMatcher | None) -> bool:
        return self.keep_text or matcher is not None or bool(self.policy.keep)

    def _apply_policy(
        self,
        boxes: list[Box],
        words: list[_Word],
        comps: Components,
        matcher: PhiMatcher | None,
        cols: int,
        rows: int,
        ready: Sequence[Box] = (),
        apart: Sequence[Box] = (),
    ) -> list[Box]:
        """Line boxes (unpadded) -> final boxes under the policy.

        `ready` boxes already carry their margin (the text network's): they are
        filtered like the others but not padded again. `apart` boxes (the text-pixel
        network's) are filtered too, then added without joining: joined, they changed
        the boxes they touched, and the growth that follows them.
        """
        if matcher is not None:
            hits = matcher.select([w.text for w in words], [w.box for w in words])
            chosen = [
                w.box
                for w, hit in zip(words, hits, strict=True)
                if hit and not self.policy.is_kept(w.text)
            ]
            return self._finish(self._grow(comps, chosen, limit=0.5), cols, rows)
        if self.policy.keep:

            def kept(b: Box) -> bool:
                inside = [w for w in words if _overlap(w.box, b) >= 0.5 * w.box.area]
                return bool(inside) and all(self.policy.is_kept(w.text) for w in inside)

            boxes = [b for b in boxes if not kept(b)]
            ready = [b for b in ready if not kept(b)]
            apart = [b for b in apart if not kept(b)]
        joined = merge_boxes([*self._finish(boxes, cols, rows), *ready])
        return [*joined, *(b for b in apart if not _covered(b, joined))]

    def _detect_single(
        self, frame: U8, matcher: PhiMatcher | None = None, pixel: bool = True
    ) -> Detection:
        rows, cols = frame.shape[:2]
        con = ink_contrast(frame)
        comps, _ = _ink_components(con, self.ink_threshold, planes=_planes(frame))
        lines = find_lines(
            frame, threshold=self.ink_threshold, contrast=con, max_height=self.max_text_height
        )
        flat = [ln.box for ln in lines if ln.flat]
        # The network's lines, whatever Tesseract read: it finds text on texture and in
        # colours Tesseract's binarisation loses.
        net = self.textnet.boxes_enhanced(frame) if self.textnet is not None else []
        words = [w for w in self._read(frame) if _plausible(w, flat, self.max_text_height)]
        # Words on a flat-background line grow over their glyphs; elsewhere (texture,
        # speckle) the stroke components are the texture's own, so a word keeps its box
        # (and the network's box, when it found the line, gives the line's extent).
        on_line, alone = _split_on((w.box for w in words), flat)
        boxes = self._grow(comps, on_line)
        grown = boxes + alone
        unread = 0
        for ln in lines:
            hits = [g.h for g in grown if ln.box.intersects(g)]
            if hits:
                if ln.box.h <= min(1.6 * max(hits) + 2, self.max_text_height):
                    boxes.append(ln.box)  # extend the OCR line to the whole pixel line
            elif self.include_unread and ln.flat and ln.chars >= 2:
                boxes.append(ln.box)
                unread += 1
        unread += sum(1 for b in net if not any(b.intersects(g) for g in grown))
        if self._needs_words(matcher) and unread:
            # Read the pixel lines Tesseract missed on the full frame, as crops.
            todo = [ln.box for ln in lines if not any(ln.box.intersects(g) for g in grown)]
            todo += [b for b in net if not any(b.intersects(g) for g in grown)]
            crops = []
            for b in todo:
                c = b.pad(2).clip(cols, rows)
                crops.append((frame[c.y : c.y1, c.x : c.x1], c.x, c.y))
            for found in self._read_many(crops):
                words.extend(found)
        # Hysteresis: lines take in fainter glyph parts next to them (low-contrast ends).
        weak, _ = _ink_components(con, max(8, self.ink_threshold // 2), planes=_planes(frame))
        on_flat, rest = _split_on(boxes, flat)
        boxes = self._grow(weak, on_flat, limit=2.0, rise=0.1) + rest + alone
        # The text-pixel network's lines (faint text on speckle that no pass above
        # finds), added whole, apart from the others; not under the phi policy, which
        # keeps only words read and matched.
        pix: list[Box] = []
        if pixel and matcher is None and self.textnet is not None and self.textnet.pixel:
            pix = self.textnet.boxes_pixel(frame)
        det = Detection(
            boxes=self._apply_policy(boxes, words, comps, matcher, cols, rows, ready=net, apart=pix)
        )
        if self.keep_text:
            det.texts = [w.text for w in words]
        det.notes.append(
            f"ocr: {len(det.boxes)} text region(s) in 1 frame ({unread} found from pixels only)"
        )
        return det

    def _detect_cine(
        self, first: U8, second: U8, rest: Iterator[U8], matcher: PhiMatcher | None = None
    ) -> Detection:
        rows, cols = first.shape[:2]
        stack = [first, second, *rest]
        grays = [
            f if f.ndim == 2 else np.maximum(np.maximum(f[..., 0], f[..., 1]), f[..., 2])
            for f in stack
        ]
        lo = np.minimum.reduce(grays)
        hi = np.maximum.reduce(grays)
        changing = (hi.astype(np.int16) - lo) > self.static_tolerance
        # Live image content: large areas where most pixels change.
        live_core = _box_mean(changing.astype(np.float32), 7) > 0.35
        live = _dilate(live_core, 6, 6)
        small_changes = changing & ~live
        regions = [
            _Region(max(y0 - 3, 0), max(x0 - 3, 0), min(y1 + 3, rows), min(x1 + 3, cols))
            for y0, x0, y1, x1 in _components(_dilate(small_changes, 2, 4))
        ]
        # Static overlay: bright strokes of the per-pixel minimum over frames and dark
        # strokes of the per-pixel maximum. A burned-in stroke keeps its value in every
        # frame, so it stands out in both; live speckle around it averages away, and
        # what changes (clock digits) drops out.
        hi_dark = (
            np.maximum.reduce(
                [np.minimum(np.minimum(f[..., 0], f[..., 1]), f[..., 2]) for f in stack]
            )
            if first.ndim == 3
            else hi
        )
        con = _stroke_contrast(lo, hi_dark, 4)
        comps, _ = _ink_components(con, self.ink_threshold, planes=(lo, hi_dark))
        # Split stacked lines: in the frames' minimum, JPEG ringing between the lines of
        # an overlay block joins them (measured on seven generated sets: -0.02 to -0.09
        # over-redaction on six, no line lost; on single frames the same split changed
        # little on average and let some boxes grow over texture).
        lines = find_lines(
            lo,
            threshold=self.ink_threshold,
            contrast=con,
            max_height=self.max_text_height,
            split=True,
        )
        # Outside the live image, static strokes are overlay: a line of 2+ glyphs is
        # kept whatever its background. Inside it (tissue that barely moves also leaves
        # strokes in the minimum) a line is kept only when Tesseract reads a word in it.
        static_boxes: list[Box] = []
        doubtful: list[Box] = []
        for ln in lines:
            b = ln.box
            in_live = float(live_core[b.y : b.y1, b.x : b.x1].mean()) >= 0.5
            if not in_live and (ln.flat or ln.chars >= 2):
                static_boxes.append(b)
            elif ln.chars >= 1 or ln.flat:
                doubtful.append(b)
        need = self._needs_words(matcher)
        # The text network on the first and last frame (textnet_frames = 2; more frames
        # are spread over the loop), at a reduced size (cine text is rarely tiny, and the
        # network's time grows with area); what it finds is redacted in every frame.
        net: list[Box] = []
        if self.textnet is not None:
            count = min(len(stack), self.textnet_frames)
            picks = {round(i * (len(stack) - 1) / max(count - 1, 1)) for i in range(count)}
            side = self.textnet.cine_side
            for k in sorted(picks):
                net.extend(self.textnet.boxes(stack[k], max_side=side))
            # Coloured text over the gray live image, in the first frame's chroma.
            net.extend(self.textnet.boxes_chroma(stack[0], max_side=side))
            # Text over the live image in the per-pixel minimum over the frames, where
            # the overlay keeps its value and the speckle around it darkens.
            net.extend(self.textnet.boxes(np.minimum.reduce(stack), max_side=side))
            # And in the map of what stays still inside the live image: burned-in text
            # of the speckle's own brightness is the only static shape there.
            if live_core.any() and len(stack) >= STILL_MIN_FRAMES:
                net.extend(self.textnet.map_lines(still_map(lo, hi, live), max_side=side))
            net = merge_boxes(net)
        to_read = (static_boxes if need else []) + doubtful
        if need:
            to_read += [b for b in net if not any(b.intersects(o) for o in static_boxes)]
        crops = []
        for b in to_read:
            c = b.pad(2).clip(cols, rows)
            # Lines over live content are read in the per-pixel minimum, where the
            # overlay keeps its value and the speckle around it darkens.
            src = lo if b in doubtful else first
            crops.append((src[c.y : c.y1, c.x : c.x1], c.x, c.y))
        # Changing regions: read only the frames where the region's content changed.
        todo: list[tuple[int, int]] = []
        if need:
            for r, reg in enumerate(regions):
                last = None
                for k in range(len(stack)):
                    crop = grays[k][reg.y0 : reg.y1, reg.x0 : reg.x1].astype(np.int16)
                    if last is None or np.abs(crop - last).max() > self.static_tolerance:
                        todo.append((k, r))
                        last = crop
        region_crops = [
            (stack[k][regions[r].y0 : regions[r].y1, regions[r].x0 : regions[r].x1],
             regions[r].x0, regions[r].y0)
            for k, r in todo
        ]  # fmt: skip
        found = self._read_many(crops + region_crops)
        accepted = list(static_boxes)
        found[: len(crops)] = [
            [w for w in ws if _plausible(w, accepted, self.max_text_height)]
            for ws in found[: len(crops)]
        ]
        static_words = [w for ws in found[: len(crops)] for w in ws]
        for b, ws in zip(to_read, found[: len(crops)], strict=True):
            if b in doubtful and ws:
                static_boxes.append(b)
        # As for single frames: glyph growth only on a flat background.
        flat = [ln.box for ln in lines if ln.flat]

        word_on, word_off = _split_on((w.box for w in static_words), flat)
        static_boxes = [*static_boxes, *self._grow(comps, word_on), *word_off]
        weak, _ = _ink_components(con, max(8, self.ink_threshold // 2), planes=(lo, hi_dark))
        on_flat, others = _split_on(static_boxes, flat)
        static_boxes = self._grow(weak, on_flat, limit=2.0, rise=0.1) + others
        read: dict[tuple[int, int], list[_Word]] = dict(zip(todo, found[len(crops) :], strict=True))
        texts = [w.text for w in static_words]
        frame_words: dict[int, list[_Word]] = {}
        frame_boxes: dict[int, list[Box]] = {}
        for r, reg in enumerate(regions):
            dark_bg = float(np.median(lo[reg.y0 : reg.y1, reg.x0 : reg.x1])) < 128
            current: list[_Word] = []
            for k in range(len(stack)):
                if (k, r) in read:
                    current = read[k, r]
                    texts.extend(w.text for w in current)
                frame_words.setdefault(k, []).extend(current)
                boxes = [w.box for w in current]
                if self.include_unread:
                    # The ink of this frame in the region (pixels away from the
                    # background), kept whatever Tesseract read: recall first.
                    ref = (lo if dark_bg else hi)[reg.y0 : reg.y1, reg.x0 : reg.x1]
                    now = grays[k][reg.y0 : reg.y1, reg.x0 : reg.x1]
                    ink_k = np.abs(now.astype(np.int16) - ref) > self.static_tolerance
                    ink_k &= ~live_core[reg.y0 : reg.y1, reg.x0 : reg.x1]
                    ys, xs = np.nonzero(ink_k)
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
        none = np.zeros(0, dtype=np.int64)
        empty = Components(none, none, none, none, none)
        det = Detection(
            boxes=self._apply_policy(
                static_boxes, static_words, comps, matcher, cols, rows, ready=net
            ),
            frame_boxes={
                k: fb
                for k, v in sorted(frame_boxes.items())
                if (fb := self._apply_policy(v, frame_words.get(k, []), empty, matcher, cols, rows))
            },
            texts=texts if self.keep_text else [],
            notes=[
                f"ocr: {len(stack)} frames, {len(static_boxes)} static text line(s), "
                f"{len(regions)} changing region(s), {len(todo)} region crop(s) read, "
                f"{len(to_read)} line crop(s) read"
            ],
        )
        return det
