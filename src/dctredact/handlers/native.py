"""Redaction of natively encoded (uncompressed) *Pixel Data*.

Handles *Implicit VR Little Endian* (1.2.840.10008.1.2), *Explicit VR Little Endian*
(1.2.840.10008.1.2.1), *Explicit VR Big Endian* (1.2.840.10008.1.2.2) and *Deflated
Explicit VR Little Endian* (1.2.840.10008.1.2.1.99).

The fill is written straight into the stored bytes of (7FE0,0010) *Pixel Data* through
numpy views, so the representation never changes: the output keeps its transfer syntax,
byte order, *Bits Allocated*, planar configuration and every bit that lies outside
*Bits Stored* (PS3.5 8.1.1). Every byte outside the boxes is left unchanged.

The fill logic (:class:`PixelLayout`, :func:`plan_fill`, :func:`redact_frames`) is shared
with :mod:`dctredact.handlers.lossless`, which applies it to decoded frames.

Fill values (see ``docs/fill.md``)
----------------------------------
With ``lo`` / ``hi`` / ``mid`` the smallest, largest and middle values representable in
*Bits Stored* (``0`` / ``2**BitsStored - 1`` / ``2**(BitsStored - 1)`` unsigned,
``-2**(BitsStored - 1)`` / ``2**(BitsStored - 1) - 1`` / ``0`` for two's complement):

==================  ==================  ===================  ========================
Photometric         ``black``           ``gray``             ``flat``
==================  ==================  ===================  ========================
MONOCHROME2         ``lo``              ``mid``              box mean
MONOCHROME1         ``hi``              ``mid``              box mean
RGB                 ``(lo, lo, lo)``    ``(mid, mid, mid)``  box mean per channel
YBR_FULL(_422)      ``(lo, mid, mid)``  ``(mid, mid, mid)``  box mean per channel
PALETTE COLOR       darkest entry       entry nearest gray   entry nearest box mean
==================  ==================  ===================  ========================

Window / VOI LUT, Modality LUT and Pixel Padding Value are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ..errors import InvalidDicomError, UnsupportedError
from ..geometry import Box
from .base import Fill, HandlerResult, RedactionRequest

__all__ = [
    "NATIVE_SYNTAXES",
    "FillPlan",
    "PixelLayout",
    "plan_fill",
    "redact",
    "redact_frames",
]

NATIVE_SYNTAXES: dict[str, str] = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
}
_BIG_ENDIAN = "1.2.840.10008.1.2.2"

#: Photometric interpretations a pixel handler can fill.
SUPPORTED_PHOTOMETRICS = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "PALETTE COLOR",
)

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class PixelLayout:
    """The *Image Pixel* module attributes that describe how samples are stored.

    Attributes
    ----------
    rows, columns : int
        (0028,0010) *Rows* and (0028,0011) *Columns*.
    frames : int
        (0028,0008) *Number of Frames* (1 when absent).
    samples_per_pixel : int
        (0028,0002) *Samples per Pixel*.
    bits_allocated, bits_stored, high_bit : int
        (0028,0100) *Bits Allocated*, (0028,0101) *Bits Stored*, (0028,0102) *High Bit*.
    pixel_representation : int
        (0028,0103) *Pixel Representation*: 0 unsigned, 1 two's complement.
    photometric_interpretation : str
        (0028,0004) *Photometric Interpretation*.
    planar_configuration : int
        (0028,0006) *Planar Configuration* (0 when absent).
    """

    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int = 0

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PixelLayout:
        """Read and check the *Image Pixel* module of `ds`.

        Raises
        ------
        InvalidDicomError
            When a required element is missing or the values are inconsistent.
        UnsupportedError
            When the values are valid DICOM but cannot be redacted.
        """
        missing = [
            kw
            for kw in (
                "Rows",
                "Columns",
                "SamplesPerPixel",
                "BitsAllocated",
                "BitsStored",
                "PhotometricInterpretation",
            )
            if ds.get(kw) is None
        ]
        if missing:
            raise InvalidDicomError(f"Image Pixel module incomplete: missing {', '.join(missing)}")
        try:
            frames = int(ds.get("NumberOfFrames") or 1)
        except (TypeError, ValueError):
            raise InvalidDicomError(
                "Number of Frames (0028,0008) is not an integer string"
            ) from None
        try:
            bits_stored = int(ds.BitsStored)
            high_bit = ds.get("HighBit")
            layout = cls(
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                frames=frames,
                samples_per_pixel=int(ds.SamplesPerPixel),
                bits_allocated=int(ds.BitsAllocated),
                bits_stored=bits_stored,
                high_bit=bits_stored - 1 if high_bit is None else int(high_bit),
                pixel_representation=int(ds.get("PixelRepresentation") or 0),
                photometric_interpretation=str(ds.PhotometricInterpretation).strip().upper(),
                planar_configuration=int(ds.get("PlanarConfiguration") or 0),
            )
        except (TypeError, ValueError):
            # e.g. a US element holding two values after a length change
            raise InvalidDicomError(
                "an Image Pixel module element (Rows, Columns, Samples per Pixel, Bits "
                "Allocated/Stored, High Bit, Pixel Representation, Planar Configuration) "
                "is not a single integer"
            ) from None
        layout.validate()
        return layout

    def validate(self) -> None:
        """Check that the attributes are consistent and supported.

        Raises
        ------
        InvalidDicomError
            When the values contradict each other or PS3.3 C.7.6.3.
        UnsupportedError
            When the photometric interpretation or bit depth cannot be redacted.
        """
        if self.rows < 1 or self.columns < 1 or self.frames < 1:
            raise InvalidDicomError(
                f"image size {self.columns}x{self.rows}x{self.frames} frames is empty; "
                "expected Rows, Columns and Number of Frames >= 1"
            )
        if self.bits_allocated not in (1, 8, 16, 32):
            raise UnsupportedError(
                f"Bits Allocated {self.bits_allocated} is not supported; expected 1, 8, 16 or 32"
            )
        if not 1 <= self.bits_stored <= self.bits_allocated:
            raise InvalidDicomError(
                f"Bits Stored {self.bits_stored} is outside 1..Bits Allocated "
                f"({self.bits_allocated})"
            )
        if not self.bits_stored - 1 <= self.high_bit < self.bits_allocated:
            raise InvalidDicomError(
                f"High Bit {self.high_bit} is inconsistent with Bits Stored "
                f"{self.bits_stored} and Bits Allocated {self.bits_allocated}"
            )
        if self.pixel_representation not in (0, 1):
            raise InvalidDicomError(
                f"Pixel Representation {self.pixel_representation}; expected 0 or 1"
            )
        if self.planar_configuration not in (0, 1):
            raise InvalidDicomError(
                f"Planar Configuration {self.planar_configuration}; expected 0 or 1"
            )
        pi = self.photometric_interpretation
        if pi not in SUPPORTED_PHOTOMETRICS:
            raise UnsupportedError(
                f"Photometric Interpretation {pi} cannot be redacted; expected one of "
                f"{', '.join(SUPPORTED_PHOTOMETRICS)}"
            )
        expected_spp = 3 if pi in ("RGB", "YBR_FULL", "YBR_FULL_422") else 1
        if self.samples_per_pixel != expected_spp:
            raise InvalidDicomError(
                f"Samples per Pixel {self.samples_per_pixel} does not match Photometric "
                f"Interpretation {pi}; expected {expected_spp}"
            )
        if self.bits_allocated == 1 and pi not in ("MONOCHROME1", "MONOCHROME2"):
            raise UnsupportedError(
                f"Bits Allocated 1 with Photometric Interpretation {pi} is not supported; "
                "expected MONOCHROME1 or MONOCHROME2"
            )

    def check_limits(self) -> None:
        """Check the declared size against the resource limits in force, before decoding.

        Raises
        ------
        ResourceLimitError
            When a frame has too many pixels, there are too many frames, or the samples
            would take more than :attr:`Limits.max_decoded_bytes`.
        """
        from ..limits import current

        limits = current().limits
        limits.check_frame(self.columns, self.rows)
        limits.check_frames(self.frames)
        nbytes = self.rows * self.columns * self.samples_per_pixel * self.frames
        limits.check_bytes(nbytes * max(self.bits_allocated // 8, 1))

    @property
    def signed(self) -> bool:
        """True for two's complement samples."""
        return self.pixel_representation == 1

    @property
    def value_range(self) -> tuple[int, int]:
        """Smallest and largest sample value representable in *Bits Stored*."""
        if self.signed:
            return -(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1
        return 0, (1 << self.bits_stored) - 1

    @property
    def mid_value(self) -> int:
        """The middle of the value range: ``2**(BitsStored-1)`` unsigned, 0 signed."""
        lo, hi = self.value_range
        return (lo + hi + 1) // 2

    @property
    def is_ybr_422(self) -> bool:
        """True for YBR_FULL_422 (horizontal chroma pairs)."""
        return self.photometric_interpretation == "YBR_FULL_422"

    @property
    def samples_per_frame(self) -> int:
        """Stored samples in one frame (YBR_FULL_422 stores 2 samples per pixel)."""
        if self.is_ybr_422:
            return self.rows * self.columns * 2
        return self.rows * self.columns * self.samples_per_pixel


@dataclass(frozen=True)
class FillPlan:
    """The fill to write, in sample values (two's complement values are negative).

    Attributes
    ----------
    fill : Fill
        The requested fill mode.
    values : tuple of int
        One value per channel for ``black`` and ``gray`` (empty for ``flat``).
    palette : numpy.ndarray or None
        For PALETTE COLOR: ``(n, 4)`` float array, columns index, R, G, B (0..1) of every
        usable palette entry.
    """

    fill: Fill
    values: tuple[int, ...]
    palette: Array | None = None


def _palette_entries(ds: Dataset, layout: PixelLayout) -> Array:
    """Every usable palette index with its RGB colour (0..1) as an ``(n, 4)`` array."""
    from pydicom.pixels.processing import apply_color_lut

    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is None or len(desc) != 3:
        raise UnsupportedError(
            "PALETTE COLOR image without a usable Red Palette Color Lookup Table "
            "Descriptor (0028,1101); expected three values"
        )
    if ds.get("PixelPresentation") in ("MIXED", "COLOR"):
        raise UnsupportedError(
            "Supplemental Palette Color LUTs (Pixel Presentation MIXED/COLOR) are not "
            "supported; expected a PALETTE COLOR image"
        )
    entries = int(desc[0]) or 1 << 16
    first = int(desc[1])
    if layout.signed and first >= 1 << 15:
        first -= 1 << 16  # US descriptor holding a signed first mapped value
    lo, hi = layout.value_range
    start, stop = max(first, lo), min(first + entries - 1, hi)
    if start > stop:
        raise UnsupportedError(
            "the palette maps no value representable in Bits Stored "
            f"{layout.bits_stored}; expected the LUT to cover some stored values"
        )
    indices = np.arange(start, stop + 1, dtype=np.int64)
    try:
        rgb = apply_color_lut(indices.astype(np.int32), ds)
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        raise UnsupportedError(
            f"cannot read the Palette Color Lookup Tables: {exc}; expected Red/Green/Blue "
            "Palette Color Lookup Table Data or their segmented form"
        ) from None
    scale = float(np.iinfo(rgb.dtype).max)
    colours = rgb[:, :3].astype(np.float64) / scale
    return np.column_stack([indices.astype(np.float64), colours])


def _nearest_entry(palette: Array, rgb: Sequence[float]) -> int:
    """Index of the palette entry nearest `rgb` (lowest index on ties)."""
    dist = ((palette[:, 1:] - np.asarray(rgb, dtype=np.float64)) ** 2).sum(axis=1)
    return int(palette[int(np.argmin(dist)), 0])


def plan_fill(layout: PixelLayout, fill: Fill, ds: Dataset | None = None) -> FillPlan:
    """Work out the fill values for `layout` and `fill`.

    Parameters
    ----------
    layout : PixelLayout
        How the (decoded) samples are stored; its photometric interpretation decides
        what black is.
    fill : Fill
        The fill mode.
    ds : Dataset, optional
        The dataset, needed for PALETTE COLOR (its lookup tables).

    Returns
    -------
    FillPlan
        The values to write.

    Raises
    ------
    UnsupportedError
        When a PALETTE COLOR image has no usable lookup table.
    """
    fill = Fill(fill)
    pi = layout.photometric_interpretation
    lo, hi = layout.value_range
    mid = layout.mid_value
    if pi == "PALETTE COLOR":
        if ds is None:
            raise UnsupportedError("PALETTE COLOR needs the dataset's lookup tables")
        palette = _palette_entries(ds, layout)
        if fill is Fill.BLACK:
            luma = palette[:, 1:] @ np.array([0.299, 0.587, 0.114])
            # Darkest entry; ties go to the smallest channel sum, then the lowest index.
            order = np.lexsort((palette[:, 0], palette[:, 1:].sum(axis=1), luma))
            return FillPlan(fill, (int(palette[order[0], 0]),), palette)
        if fill is Fill.GRAY:
            return FillPlan(fill, (_nearest_entry(palette, (0.5, 0.5, 0.5)),), palette)
        return FillPlan(fill, (), palette)
    if fill is Fill.FLAT:
        return FillPlan(fill, ())
    if fill is Fill.GRAY:
        return FillPlan(fill, (mid,) * layout.samples_per_pixel)
    if pi == "MONOCHROME1":
        return FillPlan(fill, (hi,))
    if pi == "MONOCHROME2":
        return FillPlan(fill, (lo,))
    if pi == "RGB":
        return FillPlan(fill, (lo, lo, lo))
    # YBR_FULL, YBR_FULL_422: luma black, neutral chroma.
    return FillPlan(fill, (lo, mid, mid))


class _Samples:
    """Reads and writes sample values in an integer array.

    In *stored words* mode the array holds the raw (unsigned) words of *Pixel Data*: a
    value occupies bits ``HighBit - BitsStored + 1 .. HighBit`` and the other bits are
    preserved on writing (``new = value << shift & mask | old & ~mask``). Otherwise the
    array holds the sample values themselves (as decoded by pydicom).
    """

    def __init__(self, layout: PixelLayout, dtype: np.dtype[Any], stored_words: bool) -> None:
        self.stored_words = stored_words
        self.signed = layout.signed
        self.bits = layout.bits_stored
        self.shift = layout.high_bit - layout.bits_stored + 1
        self.value_mask = (1 << self.bits) - 1
        if stored_words:
            word_bits = dtype.itemsize * 8
            mask = self.value_mask << self.shift
            self.mask = dtype.type(mask)
            self.keep = dtype.type(((1 << word_bits) - 1) & ~mask)
            self.word_type = dtype.type

    def read(self, region: Array) -> npt.NDArray[np.int64]:
        """Return the sample values in `region` as int64."""
        if not self.stored_words:
            return region.astype(np.int64)
        values = (region.astype(np.int64) >> self.shift) & self.value_mask
        if self.signed:
            sign = 1 << (self.bits - 1)
            values = (values ^ sign) - sign
        return values

    def write(self, region: Array, value: int) -> None:
        """Set every sample of the view `region` to `value`."""
        if not self.stored_words:
            region[...] = value
            return
        word = self.word_type((value & self.value_mask) << self.shift)
        region[...] = (region & self.keep) | word


def _clip(box: Box, layout: PixelLayout) -> Box | None:
    clipped = box.clip(layout.columns, layout.rows)
    return None if clipped.is_empty() else clipped


def _round_mean(values: npt.NDArray[np.int64], lo: int, hi: int) -> int:
    mean = float(values.mean())
    return min(max(math.floor(mean + 0.5), lo), hi)


def _fill_plain(
    frame: Array, boxes: Sequence[Box], plan: FillPlan, samples: _Samples, layout: PixelLayout
) -> None:
    """Fill `boxes` in a ``(rows, columns, samples)`` frame view."""
    lo, hi = layout.value_range
    spp = frame.shape[2]
    per_box: list[tuple[Box, tuple[int, ...]]] = []
    for box in boxes:
        region = frame[box.y : box.y1, box.x : box.x1, :]
        if plan.values:
            values = plan.values
        elif plan.palette is not None:
            idx = samples.read(region[..., 0]).ravel()
            pal = plan.palette
            rows = np.clip(idx - int(pal[0, 0]), 0, len(pal) - 1)
            values = (_nearest_entry(pal, pal[rows, 1:].mean(axis=0)),)
        else:
            values = tuple(_round_mean(samples.read(region[..., c]), lo, hi) for c in range(spp))
        per_box.append((box, values))
    # Means are taken from the original frame before anything is written.
    for box, values in per_box:
        for c in range(spp):
            samples.write(frame[box.y : box.y1, box.x : box.x1, c], values[c])


def _fill_ybr422(
    frame: Array, boxes: Sequence[Box], plan: FillPlan, samples: _Samples, layout: PixelLayout
) -> None:
    """Fill `boxes` in a ``(rows, columns / 2, 4)`` YBR_FULL_422 frame (Y1 Y2 Cb Cr)."""
    lo, hi = layout.value_range
    per_box = []
    for box in boxes:
        # Pixel 2p is Y1 of pair p, pixel 2p + 1 is Y2.
        y1 = slice((box.x + 1) // 2, (box.x1 + 1) // 2)
        y2 = slice(box.x // 2, box.x1 // 2)
        pairs = slice(box.x // 2, (box.x1 + 1) // 2)
        rows = slice(box.y, box.y1)
        if plan.values:
            luma, cb, cr = plan.values
        else:
            ys = np.concatenate(
                [samples.read(frame[rows, y1, 0]).ravel(), samples.read(frame[rows, y2, 1]).ravel()]
            )
            luma = _round_mean(ys, lo, hi)
            cb = _round_mean(samples.read(frame[rows, pairs, 2]), lo, hi)
            cr = _round_mean(samples.read(frame[rows, pairs, 3]), lo, hi)
        per_box.append((rows, y1, y2, pairs, luma, cb, cr))
    for rows, y1, y2, pairs, luma, cb, cr in per_box:
        samples.write(frame[rows, y1, 0], luma)
        samples.write(frame[rows, y2, 1], luma)
        samples.write(frame[rows, pairs, 2], cb)
        samples.write(frame[rows, pairs, 3], cr)


def _union_area(boxes: Iterable[Box], layout: PixelLayout) -> int:
    box_list = list(boxes)
    if len(box_list) == 1:
        return box_list[0].area
    mask = np.zeros((layout.rows, layout.columns), dtype=bool)
    for box in box_list:
        mask[box.y : box.y1, box.x : box.x1] = True
    return int(mask.sum())


def redact_frames(
    frames: Array,
    layout: PixelLayout,
    request: RedactionRequest,
    plan: FillPlan,
    *,
    stored_words: bool,
) -> int:
    """Fill the requested boxes of every frame, in place.

    Parameters
    ----------
    frames : numpy.ndarray
        A writeable integer array (or view) shaped ``(frames, rows, columns, samples)``,
        or ``(frames, rows, columns / 2, 4)`` for native YBR_FULL_422.
    layout : PixelLayout
        How the samples are stored.
    request : RedactionRequest
        The boxes (clipped to the image here) and fill.
    plan : FillPlan
        From :func:`plan_fill`.
    stored_words : bool
        True when `frames` holds raw *Pixel Data* words (bits outside *Bits Stored* are
        preserved), False when it holds decoded sample values.

    Returns
    -------
    int
        The number of pixels inside the boxes, summed over frames (a pixel covered by
        several boxes counts once).
    """
    samples = _Samples(layout, frames.dtype, stored_words)
    ybr422 = frames.shape[-1] == 4
    changed = 0
    area_cache: dict[tuple[Box, ...], int] = {}
    for index in range(frames.shape[0]):
        boxes = tuple(b for b in (_clip(b, layout) for b in request.boxes_for(index)) if b)
        if not boxes:
            continue
        if ybr422:
            _fill_ybr422(frames[index], boxes, plan, samples, layout)
        else:
            _fill_plain(frames[index], boxes, plan, samples, layout)
        if boxes not in area_cache:
            area_cache[boxes] = _union_area(boxes, layout)
        changed += area_cache[boxes]
    return changed


def _check_pixel_data(ds: Dataset) -> None:
    for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            raise UnsupportedError(
                f"{keyword} images are not supported; expected integer Pixel Data (7FE0,0010)"
            )
    if "PixelData" not in ds:
        raise InvalidDicomError("no Pixel Data (7FE0,0010) element; expected an image")


def _words_view(buf: bytearray, layout: PixelLayout, big_endian: bool) -> Array:
    """A writeable view of the frames in `buf` shaped as :func:`redact_frames` expects."""
    order = ">" if big_endian else "<"
    dtype = np.dtype(f"{order}u{layout.bits_allocated // 8}")
    count = layout.samples_per_frame * layout.frames
    words = np.frombuffer(buf, dtype=dtype, count=count)
    f, r, c, s = layout.frames, layout.rows, layout.columns, layout.samples_per_pixel
    if layout.is_ybr_422:
        return words.reshape(f, r, c // 2, 4)
    if s > 1 and layout.planar_configuration == 1:
        return words.reshape(f, s, r, c).transpose(0, 2, 3, 1)
    return words.reshape(f, r, c, s)


def redact(ds: Dataset, request: RedactionRequest) -> HandlerResult:
    """Redact natively encoded *Pixel Data* without changing its representation.

    Parameters
    ----------
    ds : Dataset
        A dataset with uncompressed (7FE0,0010) *Pixel Data*; it is not modified.
    request : RedactionRequest
        Boxes (applied to every frame, plus per-frame boxes) and the fill.

    Returns
    -------
    HandlerResult
        The new *Pixel Data* bytes (same length, same transfer syntax) and the number of
        pixels filled, summed over frames.

    Raises
    ------
    InvalidDicomError
        When the *Image Pixel* module is inconsistent or *Pixel Data* is too short.
    UnsupportedError
        For float pixel data, unsupported photometric interpretations, compressed data.
    """
    _check_pixel_data(ds)
    file_meta = getattr(ds, "file_meta", None)
    tsuid = str(getattr(file_meta, "TransferSyntaxUID", "") or "")
    if tsuid not in NATIVE_SYNTAXES:
        raise UnsupportedError(
            f"transfer syntax {tsuid or '(none)'} is not native; expected one of "
            f"{', '.join(NATIVE_SYNTAXES)}"
        )
    layout = PixelLayout.from_dataset(ds)
    layout.check_limits()
    if layout.is_ybr_422 and (layout.columns % 2 or layout.planar_configuration):
        raise UnsupportedError(
            f"native YBR_FULL_422 needs an even number of Columns ({layout.columns}) and "
            "Planar Configuration 0"
        )
    elem = ds["PixelData"]
    value = elem.value
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidDicomError("Pixel Data (7FE0,0010) value is not a byte string")
    buf = bytearray(value)
    if layout.bits_allocated == 1:
        needed = -(-layout.samples_per_frame * layout.frames // 8)
    else:
        needed = layout.samples_per_frame * layout.frames * layout.bits_allocated // 8
    if len(buf) < needed:
        raise InvalidDicomError(
            f"Pixel Data (7FE0,0010) holds {len(buf)} bytes; expected at least {needed} "
            f"for {layout.frames} frame(s) of {layout.columns}x{layout.rows}"
        )
    if len(buf) > needed + (needed & 1):
        # Bytes the header does not account for would be written out unredacted: a
        # header that understates the image (e.g. Columns 1 over a 64x64 image) must
        # not hide pixels from the fill.
        raise InvalidDicomError(
            f"Pixel Data (7FE0,0010) holds {len(buf)} bytes but {layout.frames} frame(s) "
            f"of {layout.columns}x{layout.rows}x{layout.samples_per_pixel} at "
            f"{layout.bits_allocated} bits need {needed}; the extra bytes would stay "
            "unredacted. Expected Rows, Columns, Samples per Pixel, Bits Allocated and "
            "Number of Frames to describe all of it"
        )
    result = HandlerResult(
        pixel_data=bytes(buf), transfer_syntax_uid=tsuid, encapsulated=False, unit="pixels"
    )
    if request.is_empty:
        return result
    plan = plan_fill(layout, request.fill, ds)
    big_endian = tsuid == _BIG_ENDIAN

    if layout.bits_allocated == 1:
        bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
        pixels = bits[: layout.samples_per_frame * layout.frames]
        view = pixels.reshape(layout.frames, layout.rows, layout.columns, 1)
        bit_layout = replace(layout, bits_allocated=8)
        changed = redact_frames(view, bit_layout, request, plan, stored_words=True)
        out = np.packbits(bits, bitorder="little").tobytes()
        result.pixel_data = out
        result.changed = changed
        return result

    swap_ow = big_endian and layout.bits_allocated == 8 and elem.VR == "OW"
    if swap_ow:
        # 8-bit samples in OW words of a big endian file: bytes are swapped in pairs.
        if len(buf) % 2:
            raise InvalidDicomError("Pixel Data (7FE0,0010) with VR OW has an odd length")
        pairs = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 2)[:, ::-1]
        buf = bytearray(pairs.tobytes())
    view = _words_view(buf, layout, big_endian)
    changed = redact_frames(view, layout, request, plan, stored_words=True)
    if swap_ow:
        buf = bytearray(np.frombuffer(buf, dtype=np.uint8).reshape(-1, 2)[:, ::-1].tobytes())
    result.pixel_data = bytes(buf)
    result.changed = changed
    return result


def layout_with(layout: PixelLayout, **changes: Any) -> PixelLayout:
    """Return a copy of `layout` with `changes` applied (validated)."""
    new = replace(layout, **changes)
    new.validate()
    return new
