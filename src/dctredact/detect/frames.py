"""Decode DICOM pixel data into display-ready 8-bit frames for text detection.

Frames come out as they would be *displayed*: YCbCr converted to RGB, palette colour
applied, MONOCHROME1 inverted, and more-than-8-bit data mapped to 0..255 with the first
VOI window when the dataset has one (else the frame's own minimum and maximum).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, apply_modality_lut, iter_pixels
from pydicom.uid import JPEGBaseline8Bit

from ..errors import DetectionError

__all__ = ["display_frames", "to_display"]


def _first(value: object) -> float | None:
    """The first number of a possibly multi-valued element value."""
    if value is None:
        return None
    try:
        seq = list(value)  # type: ignore[call-overload]
    except TypeError:
        seq = [value]
    try:
        return float(seq[0]) if seq else None
    except (TypeError, ValueError):
        return None


def _window(ds: Dataset) -> tuple[float, float] | None:
    """The first (center, width) pair of the dataset, if any and usable."""
    center = _first(ds.get("WindowCenter"))
    width = _first(ds.get("WindowWidth"))
    if center is None or width is None or width < 1:
        return None
    return center, width


def _scale(arr: npt.NDArray[np.float64], window: tuple[float, float] | None) -> np.ndarray:
    """Map values to uint8 by a linear VOI window (PS3.3 C.11.2.1.2.1) or by min/max."""
    if window is not None:
        c, w = window
        lo = c - 0.5 - (w - 1) / 2
        span = max(w - 1, 1.0)
        out = (arr - lo) / span * 255.0
    else:
        lo, hi = float(arr.min()), float(arr.max())
        out = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_display(arr: np.ndarray, ds: Dataset) -> npt.NDArray[np.uint8]:
    """Convert one decoded frame (as from ``iter_pixels``, YCbCr already RGB) for display.

    Parameters
    ----------
    arr : numpy.ndarray
        One frame, shape ``(rows, columns)`` or ``(rows, columns, 3)``.
    ds : pydicom.dataset.Dataset
        The dataset it came from (photometric interpretation, rescale, window, palette).

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape (palette frames become ``(rows, columns, 3)``).
    """
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if pi == "PALETTE COLOR" and arr.ndim == 2:
        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            bits = 8
            desc = ds.get("RedPaletteColorLookupTableDescriptor")
            if desc is not None and len(desc) == 3:
                bits = int(desc[2])
            rgb = (rgb >> 8) if bits > 8 else rgb
            rgb = np.clip(rgb, 0, 255)
        return np.asarray(rgb, dtype=np.uint8)
    if arr.ndim == 3:
        if arr.dtype == np.uint8:
            return arr
        return _scale(arr.astype(np.float64), None)
    if arr.dtype == np.uint8 and "RescaleSlope" not in ds and "WindowCenter" not in ds:
        out = arr
    else:
        values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
        out = _scale(values, _window(ds))
    if pi == "MONOCHROME1":
        out = 255 - out
    return np.ascontiguousarray(out, dtype=np.uint8)


def _pillow_frames(ds: Dataset) -> Iterator[npt.NDArray[np.uint8]] | None:
    """Fast path for 8-bit JPEG Baseline: libjpeg-turbo decodes and converts to RGB.

    pydicom converts YCbCr to RGB in numpy, which costs ~5x the decoding itself on a long
    cine. Pillow lets libjpeg do it (SIMD). Used only for plain 8-bit YBR_FULL(_422) or
    MONOCHROME streams; anything else (or a first frame Pillow cannot read as expected)
    returns None and the generic path is used.
    """
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    pi = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if tsyntax != JPEGBaseline8Bit or int(ds.get("BitsAllocated", 0) or 0) != 8:
        return None
    want = {"YBR_FULL_422": "RGB", "YBR_FULL": "RGB", "MONOCHROME2": "L", "MONOCHROME1": "L"}
    if pi not in want or spp != (3 if want[pi] == "RGB" else 1):
        return None
    try:
        from PIL import Image

        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        streams = generate_frames(ds.PixelData, number_of_frames=nframes)
        first_bytes = next(streams)
        first = Image.open(io.BytesIO(first_bytes))
        if first.mode != want[pi] or first.size != (int(ds.Columns), int(ds.Rows)):
            return None
        arr0 = np.asarray(first)
    except Exception:  # any doubt: let pydicom decide
        return None

    def gen() -> Iterator[npt.NDArray[np.uint8]]:
        yield to_display(arr0, ds) if want[pi] == "L" else arr0
        for index, data in enumerate(streams, start=1):
            try:
                img = Image.open(io.BytesIO(data))
                arr = np.asarray(img)
            except Exception as exc:
                raise DetectionError(
                    f"cannot decode frame {index} of the pixel data (JPEG Baseline): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if arr.shape != arr0.shape:
                raise DetectionError(
                    f"frame {index} of the pixel data is {arr.shape}; expected {arr0.shape}"
                )
            yield to_display(arr, ds) if want[pi] == "L" else arr

    return gen()


def display_frames(ds: Dataset) -> Iterator[npt.NDArray[np.uint8]]:
    """Yield every frame of `ds` as a display-ready uint8 array.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset with Pixel Data in any transfer syntax pydicom can decode (JPEG
        Baseline through pylibjpeg or Pillow, RLE, JPEG-LS, JPEG 2000, native).

    Yields
    ------
    numpy.ndarray
        ``(rows, columns)`` for grayscale, ``(rows, columns, 3)`` RGB for colour.

    Raises
    ------
    DetectionError
        When the pixel data is missing or cannot be decoded (the reason is given).
    """
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise DetectionError("dataset has no Pixel Data; expected an image")
    fast = _pillow_frames(ds)
    if fast is not None:
        yield from fast
        return
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    label = f"{tsyntax.name} ({tsyntax})" if tsyntax is not None else "unknown syntax"
    iterator = iter_pixels(ds)
    index = 0
    while True:
        try:
            arr = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # decoders raise many types; report them uniformly
            raise DetectionError(
                f"cannot decode frame {index} of the pixel data ({label}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        yield to_display(arr, ds)
        index += 1


def luma(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """ITU-R BT.601 luminance of an RGB display frame (a gray frame as it is)."""
    if frame.ndim == 2:
        return frame
    f = frame.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)
