"""Redaction of compressed *Pixel Data* other than JPEG baseline, through the pixels.

The frames are decoded with pydicom (``raw=True``: no YCbCr to RGB conversion by
pydicom), the boxes are filled with the same logic as uncompressed data
(:mod:`dctredact.handlers.native`), and the frames are re-encoded **losslessly** with
pydicom's encoders. Every encoded frame is decoded again and compared with the redacted
array; any difference fails closed.

Output transfer syntax
----------------------
* *RLE Lossless*, *JPEG-LS Lossless* and *JPEG 2000 Lossless* keep their syntax when
  pydicom can encode the image (e.g. OpenJPEG cannot encode images smaller than its
  resolution levels, so a tiny JPEG 2000 image becomes JPEG-LS Lossless).
* *JPEG Lossless* (Process 14, 4.57 and 4.70) and *HTJ2K Lossless*: no encoder is
  available from PyPI, so the output is *JPEG-LS Lossless* (4.80), or *JPEG 2000 Lossless*
  or *RLE Lossless* when JPEG-LS cannot hold the image.
* Lossy syntaxes (JPEG Extended / spectral selection / progressive, JPEG-LS near-lossless,
  JPEG 2000, HTJ2K) are never recompressed lossily: the decoded pixels, redacted, are
  written losslessly (JPEG-LS Lossless or JPEG 2000 Lossless) and *Lossy Image
  Compression* stays ``"01"``. With ``keep_syntax`` these are refused instead.

Every change of syntax is reported in :attr:`HandlerResult.notes`, and the elements that
must change with it (*Photometric Interpretation*, *Planar Configuration*, *Lossy Image
Compression*) in :attr:`HandlerResult.dataset_updates`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ..errors import DctRedactError, InvalidDicomError, UnsupportedError
from ..limits import current
from .base import HandlerResult, RedactionRequest
from .native import PixelLayout, plan_fill, redact_frames

__all__ = [
    "LOSSLESS_SYNTAXES",
    "LOSSY_SYNTAXES",
    "redact",
]

RLE = "1.2.840.10008.1.2.5"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"

#: Lossless syntaxes this handler decodes, with their names.
LOSSLESS_SYNTAXES: dict[str, str] = {
    RLE: "RLE Lossless",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless, Non-Hierarchical (Process 14)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless, Non-Hierarchical, First-Order Prediction "
    "(Process 14 [Selection Value 1])",
    JPEG_LS_LOSSLESS: "JPEG-LS Lossless Image Compression",
    JPEG_2000_LOSSLESS: "JPEG 2000 Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
    "1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 with RPCL Options Image "
    "Compression (Lossless Only)",
}

#: Lossy (or lossy-capable) syntaxes this handler decodes and writes losslessly.
LOSSY_SYNTAXES: dict[str, str] = {
    "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 and 4)",
    "1.2.840.10008.1.2.4.52": "JPEG Extended (Process 3 and 5) (Retired)",
    "1.2.840.10008.1.2.4.53": "JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8) "
    "(Retired)",
    "1.2.840.10008.1.2.4.54": "JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9) "
    "(Retired)",
    "1.2.840.10008.1.2.4.55": "JPEG Full Progression, Non-Hierarchical (Process 10 and 12) "
    "(Retired)",
    "1.2.840.10008.1.2.4.56": "JPEG Full Progression, Non-Hierarchical (Process 11 and 13) "
    "(Retired)",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Lossy (Near-Lossless) Image Compression",
    "1.2.840.10008.1.2.4.91": "JPEG 2000 Image Compression",
    "1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000 Image Compression",
}

#: JPEG processes that are always lossy (Lossy Image Compression is "01" whatever the
#: header says); the others in LOSSY_SYNTAXES may hold reversible data.
_ALWAYS_LOSSY = {f"1.2.840.10008.1.2.4.{n}" for n in range(51, 57)}

#: JPEG process syntaxes pydicom has no decoder for, decoded with libjpeg directly.
_LIBJPEG_FALLBACK = {f"1.2.840.10008.1.2.4.{n}" for n in (51, 52, 53, 54, 55, 56, 57, 70)}

Array = npt.NDArray[Any]

#: Exceptions that stop the program and must never be turned into a redaction error.
_EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _name(uid: str) -> str:
    return LOSSLESS_SYNTAXES.get(uid) or LOSSY_SYNTAXES.get(uid) or uid


def _candidates(tsuid: str) -> list[str]:
    """Output syntaxes to try, best first."""
    if tsuid in (RLE, JPEG_LS_LOSSLESS):
        rest = [s for s in (JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, RLE) if s != tsuid]
        return [tsuid, *rest]
    if tsuid in (JPEG_2000_LOSSLESS, "1.2.840.10008.1.2.4.91") or tsuid.startswith(
        "1.2.840.10008.1.2.4.20"
    ):
        return [JPEG_2000_LOSSLESS, JPEG_LS_LOSSLESS, RLE]
    return [JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, RLE]


def _decode_libjpeg(ds: Dataset, layout: PixelLayout) -> tuple[Array, dict[str, Any]]:
    """Decode a JPEG process pydicom has no decoder for (monochrome only)."""
    from pydicom.encaps import generate_frames

    try:
        import libjpeg
    except ImportError:
        raise UnsupportedError(
            "no decoder for this JPEG process: pydicom has none and pylibjpeg-libjpeg "
            "is not installed"
        ) from None
    if layout.samples_per_pixel != 1:
        raise UnsupportedError(
            "colour images in this JPEG process cannot be decoded without guessing the "
            "colour transform; expected Samples per Pixel 1"
        )
    dtype = np.dtype(f"{'i' if layout.signed else 'u'}{max(layout.bits_allocated // 8, 1)}")
    out = np.empty((layout.frames, layout.rows, layout.columns), dtype=dtype)
    frames = generate_frames(ds.PixelData, number_of_frames=layout.frames)
    for index in range(layout.frames):
        try:
            frame = next(frames)
            decoded = libjpeg.decode(frame)
        except BaseException as exc:  # Rust decoders panic with a BaseException
            if isinstance(exc, _EXITS):
                raise
            raise InvalidDicomError(
                f"frame {index}: cannot decode the JPEG stream ({exc}); expected "
                f"{layout.frames} decodable frame(s)"
            ) from None
        if decoded.shape != (layout.rows, layout.columns):
            raise InvalidDicomError(
                f"frame {index}: JPEG stream is {decoded.shape[1]}x{decoded.shape[0]}; "
                f"expected Columns x Rows {layout.columns}x{layout.rows}"
            )
        values = decoded.astype(np.int64) & ((1 << layout.bits_stored) - 1)
        if layout.signed:
            sign = 1 << (layout.bits_stored - 1)
            values = (values ^ sign) - sign
        out[index] = values
    meta = {
        "photometric_interpretation": layout.photometric_interpretation,
        "pixel_representation": layout.pixel_representation,
        "bits_stored": layout.bits_stored,
    }
    return out, meta


#: JPEG frame markers (SOF0..SOF15 but DHT/JPG/DAC) and JPEG-LS SOF55.
_SOF_MARKERS = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}) | {0xF7}


def _declared_size(stream: bytes) -> tuple[int, int] | None:
    """``(columns, rows)`` a JPEG, JPEG-LS or JPEG 2000 stream declares, if found.

    Only the headers are read (a JPEG SOF, a JPEG 2000 SIZ or JP2 ``ihdr``); None when
    the stream has none of them (e.g. RLE) or they are truncated.
    """
    if stream[:2] == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(stream) and stream[pos] == 0xFF:
            marker = stream[pos + 1]
            if marker == 0xFF:
                pos += 1
                continue
            length = int.from_bytes(stream[pos + 2 : pos + 4], "big")
            if marker in _SOF_MARKERS:
                if pos + 9 > len(stream):
                    return None
                rows = int.from_bytes(stream[pos + 5 : pos + 7], "big")
                cols = int.from_bytes(stream[pos + 7 : pos + 9], "big")
                return cols, rows
            if marker == 0xDA or length < 2:
                return None
            pos += 2 + length
        return None
    siz = stream.find(b"\xff\x4f\xff\x51")
    if 0 <= siz < 4096 and siz + 22 <= len(stream):
        xsiz, ysiz, xo, yo = (
            int.from_bytes(stream[siz + 8 + 4 * i : siz + 12 + 4 * i], "big") for i in range(4)
        )
        return max(xsiz - xo, 0), max(ysiz - yo, 0)
    ihdr = stream.find(b"ihdr")
    if 0 <= ihdr < 4096 and ihdr + 12 <= len(stream):
        rows = int.from_bytes(stream[ihdr + 4 : ihdr + 8], "big")
        cols = int.from_bytes(stream[ihdr + 8 : ihdr + 12], "big")
        return cols, rows
    return None


def _check_stream_sizes(ds: Dataset, layout: PixelLayout) -> None:
    """Check each frame's declared size against the limits and the header, before decoding.

    A decoder allocates what the stream declares, not what (0028,0010) Rows and
    (0028,0011) Columns say, so a small header over a 65535 x 65535 stream would be a
    decompression bomb.

    Raises
    ------
    ResourceLimitError
        When a stream declares more pixels than the limits allow.
    InvalidDicomError
        When a stream's size differs from Columns x Rows.
    """
    from ..dicomio import encapsulated_frames

    limits = current().limits
    for index, frame in enumerate(encapsulated_frames(ds)):
        size = _declared_size(frame)
        if size is None:
            continue
        cols, rows = size
        limits.check_frame(cols, rows, what=f"frame {index + 1}: the compressed stream")
        if (cols, rows) != (layout.columns, layout.rows):
            raise InvalidDicomError(
                f"frame {index + 1}: the compressed stream is {cols}x{rows} but Columns x "
                f"Rows is {layout.columns}x{layout.rows}"
            )


def _decode(ds: Dataset, tsuid: str, layout: PixelLayout) -> tuple[Array, dict[str, Any]]:
    """Decode every frame of `ds` to ``(frames, rows, columns, samples)``."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(tsuid)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        if tsuid in _LIBJPEG_FALLBACK:
            arr, meta = _decode_libjpeg(ds, layout)
        else:
            raise UnsupportedError(
                f"no decoder is available for transfer syntax {tsuid} ({_name(tsuid)}); "
                "install the pylibjpeg plugins or pyjpegls"
            )
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr, meta = decoder.as_array(ds, raw=True)
        except DctRedactError:
            raise
        except BaseException as exc:  # decoders raise many types, Rust ones
            # panic with a BaseException (pyo3 PanicException); fail closed with ours
            if isinstance(exc, _EXITS):
                raise
            raise InvalidDicomError(f"cannot decode the {_name(tsuid)} pixel data: {exc}") from None
    expected = (layout.frames, layout.rows, layout.columns, layout.samples_per_pixel)
    if arr.size != np.prod(expected):
        raise InvalidDicomError(
            f"decoded pixel data has shape {arr.shape}; expected "
            f"{layout.frames} frame(s) of {layout.rows}x{layout.columns}x"
            f"{layout.samples_per_pixel}"
        )
    arr = np.ascontiguousarray(arr).reshape(expected)
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr, dict(meta)


def _decoded_layout(layout: PixelLayout, meta: dict[str, Any]) -> PixelLayout:
    """The layout of the decoded frames (decoders may convert colour spaces)."""
    pi = str(meta.get("photometric_interpretation", layout.photometric_interpretation))
    if pi == "YBR_FULL_422":
        pi = "YBR_FULL"  # decoders return full-resolution chroma
    if pi in ("YBR_RCT", "YBR_ICT"):
        raise UnsupportedError(
            f"the decoder returned {pi} samples; expected RGB after the inverse colour transform"
        )
    decoded = replace(
        layout,
        photometric_interpretation=pi,
        bits_stored=int(meta.get("bits_stored", layout.bits_stored)),
        high_bit=int(meta.get("bits_stored", layout.bits_stored)) - 1,
        pixel_representation=int(meta.get("pixel_representation", layout.pixel_representation)),
        planar_configuration=0,
    )
    decoded.validate()
    return decoded


def _encode_frames(
    arr: Array, uid: str, layout: PixelLayout, source_pi: str
) -> tuple[list[bytes], str]:
    """Encode every frame of `arr` as `uid` and check each decodes to the same pixels.

    Returns the encoded frames and the *Photometric Interpretation* of the output.
    """
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder, get_encoder

    encoder = get_encoder(uid)
    if not encoder.is_available:
        raise UnsupportedError(f"no encoder is available for {_name(uid)}")
    pi = layout.photometric_interpretation
    options: dict[str, Any] = {}
    if uid == JPEG_2000_LOSSLESS and pi == "RGB" and source_pi in ("YBR_RCT", "YBR_ICT"):
        # Keep the reversible colour transform the source used (PS3.5 8.2.4).
        pi = "YBR_RCT"
        options["use_mct"] = True
    elif uid == JPEG_2000_LOSSLESS:
        options["use_mct"] = False
    kwargs: dict[str, Any] = {
        "rows": layout.rows,
        "columns": layout.columns,
        "samples_per_pixel": layout.samples_per_pixel,
        "bits_allocated": layout.bits_allocated,
        "bits_stored": layout.bits_stored,
        "pixel_representation": layout.pixel_representation,
        "photometric_interpretation": pi,
        "number_of_frames": 1,
    }
    if layout.samples_per_pixel > 1:
        kwargs["planar_configuration"] = 0
    decoder = get_decoder(uid)
    frames: list[bytes] = []
    budget = current()
    for index in range(arr.shape[0]):
        budget.check_time(f"encoding frame {index + 1}")
        frame = arr[index] if layout.samples_per_pixel > 1 else arr[index, ..., 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoded = encoder.encode(frame, **kwargs, **options)
            check, _ = decoder.as_array(encapsulate([encoded]), raw=True, **kwargs)
        if check.shape != frame.shape or not np.array_equal(check, frame):
            raise UnsupportedError(
                f"frame {index}: {_name(uid)} re-encoding did not reproduce the redacted "
                "pixels exactly; refusing to write it"
            )
        frames.append(encoded)
    return frames, pi


def _encapsulate(frames: list[bytes]) -> tuple[bytes, tuple[bytes, bytes] | None]:
    from pydicom.encaps import encapsulate, encapsulate_extended

    total = sum(len(f) + 8 + (len(f) & 1) for f in frames)
    if total < 2**32 - 1:
        return encapsulate(frames, has_bot=True), None
    data, offsets, lengths = encapsulate_extended(frames)
    return data, (offsets, lengths)


def redact(ds: Dataset, request: RedactionRequest) -> HandlerResult:
    """Redact compressed *Pixel Data* by decoding, filling and re-encoding losslessly.

    Parameters
    ----------
    ds : Dataset
        A dataset with encapsulated (7FE0,0010) *Pixel Data* in one of
        :data:`LOSSLESS_SYNTAXES` or :data:`LOSSY_SYNTAXES`; it is not modified.
    request : RedactionRequest
        Boxes and fill; with ``keep_syntax`` the handler refuses rather than change
        the transfer syntax.

    Returns
    -------
    HandlerResult
        Encapsulated *Pixel Data* (one fragment per frame, Basic Offset Table, or
        Extended Offset Table above 4 GiB), the output transfer syntax, the number of
        pixels filled, notes and the elements to update.

    Raises
    ------
    UnsupportedError
        When the syntax is refused, no decoder/encoder can handle the image, the syntax
        would have to change under ``keep_syntax``, or a re-encoded frame does not
        decode to the redacted pixels.
    InvalidDicomError
        When the pixel data cannot be decoded or does not match the *Image Pixel* module.
    """
    file_meta = getattr(ds, "file_meta", None)
    tsuid = str(getattr(file_meta, "TransferSyntaxUID", "") or "")
    lossy = tsuid in LOSSY_SYNTAXES
    if not lossy and tsuid not in LOSSLESS_SYNTAXES:
        raise UnsupportedError(
            f"transfer syntax {tsuid or '(none)'} is not handled here; expected one of "
            f"{', '.join(sorted([*LOSSLESS_SYNTAXES, *LOSSY_SYNTAXES]))}"
        )
    if request.is_empty:
        return HandlerResult(
            pixel_data=bytes(ds.get("PixelData") or b""),
            transfer_syntax_uid=tsuid,
            encapsulated=True,
            unit="pixels",
            notes=["no box requested: pixel data copied unchanged"],
        )
    if lossy and request.keep_syntax:
        raise UnsupportedError(
            f"{_name(tsuid)} ({tsuid}) cannot be redacted without changing the transfer "
            "syntax: it would have to be re-encoded lossily, so it is written losslessly "
            "instead; allow a syntax change (keep_syntax=False)"
        )
    for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            raise UnsupportedError(f"{keyword} is not supported; expected Pixel Data")
    if "PixelData" not in ds:
        raise InvalidDicomError("no Pixel Data (7FE0,0010) element; expected an image")
    layout = _source_layout(ds)
    layout.check_limits()
    _check_stream_sizes(ds, layout)

    arr, meta = _decode(ds, tsuid, layout)
    decoded = _decoded_layout(layout, meta)
    plan = plan_fill(decoded, request.fill, ds)
    changed = redact_frames(arr, decoded, request, plan, stored_words=False)

    candidates = [tsuid] if request.keep_syntax else _candidates(tsuid)
    failures: list[str] = []
    for uid in candidates:
        try:
            frames, out_pi = _encode_frames(arr, uid, decoded, layout.photometric_interpretation)
        except BaseException as exc:  # encoders may panic (pyo3)
            if isinstance(exc, _EXITS) or (
                isinstance(exc, DctRedactError) and not isinstance(exc, UnsupportedError)
            ):
                raise
            failures.append(f"{_name(uid)}: {' '.join(str(exc).split())}")
            continue
        break
    else:
        if request.keep_syntax:
            raise UnsupportedError(
                f"{_name(tsuid)} cannot be re-encoded here ({'; '.join(failures)}); the "
                "transfer syntax would have to change but keep_syntax is set"
            )
        raise UnsupportedError(
            "no lossless encoder could write the redacted pixels: " + "; ".join(failures)
        )

    data, extended = _encapsulate(frames)
    result = HandlerResult(
        pixel_data=data,
        transfer_syntax_uid=uid,
        encapsulated=True,
        changed=changed,
        unit="pixels",
        extended_offsets=extended,
    )
    _describe_changes(ds, result, tsuid, uid, layout, decoded, out_pi, lossy, failures)
    return result


def _source_layout(ds: Dataset) -> PixelLayout:
    """The *Image Pixel* module; YBR_RCT and YBR_ICT are accepted for decoding."""
    pi = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if pi in ("YBR_RCT", "YBR_ICT"):
        # Validate as RGB (3 samples); the decoder's output decides the fill.
        probe = Dataset()
        for kw in (
            "Rows",
            "Columns",
            "NumberOfFrames",
            "SamplesPerPixel",
            "BitsAllocated",
            "BitsStored",
            "HighBit",
            "PixelRepresentation",
            "PlanarConfiguration",
        ):
            if kw in ds:
                setattr(probe, kw, ds[kw].value)
        probe.PhotometricInterpretation = "RGB"
        return replace(PixelLayout.from_dataset(probe), photometric_interpretation=pi)
    return PixelLayout.from_dataset(ds)


def _describe_changes(
    ds: Dataset,
    result: HandlerResult,
    tsuid: str,
    uid: str,
    layout: PixelLayout,
    decoded: PixelLayout,
    out_pi: str,
    lossy: bool,
    failures: list[str],
) -> None:
    """Fill in notes and dataset updates for a change of syntax or representation."""
    note: Callable[[str], None] = result.notes.append
    updates = result.dataset_updates
    if uid != tsuid:
        why = (
            "the source is lossy and is never recompressed lossily"
            if lossy
            else f"no encoder for {_name(tsuid)} is available"
        )
        if failures and not lossy:
            why = "; ".join(failures)
        note(
            f"transfer syntax changed from {_name(tsuid)} ({tsuid}) to {_name(uid)} ({uid}): {why}"
        )
    if out_pi != layout.photometric_interpretation:
        updates["PhotometricInterpretation"] = out_pi
        note(
            f"Photometric Interpretation changed from {layout.photometric_interpretation} "
            f"to {out_pi} (the decoder returned {decoded.photometric_interpretation})"
        )
    if layout.samples_per_pixel > 1 and uid != RLE and layout.planar_configuration != 0:
        updates["PlanarConfiguration"] = 0
    if decoded.pixel_representation != layout.pixel_representation:
        updates["PixelRepresentation"] = decoded.pixel_representation
    if decoded.bits_stored != layout.bits_stored:
        updates["BitsStored"] = decoded.bits_stored
        updates["HighBit"] = decoded.bits_stored - 1
    if lossy:
        if tsuid in _ALWAYS_LOSSY or ds.get("LossyImageCompression") != "00":
            updates["LossyImageCompression"] = "01"
        else:
            note(
                "Lossy Image Compression is kept at 00 as the header says; the source "
                "syntax allows lossy coding"
            )
        note(
            "pixels were decoded from lossy data and written losslessly; Lossy Image "
            "Compression Ratio and Method are kept"
        )
