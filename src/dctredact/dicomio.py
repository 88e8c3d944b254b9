"""Reading DICOM files and writing them back with only *Pixel Data* changed.

Encapsulated output is spliced into the original file bytes: the preamble, File Meta
Information and every other data element stay byte-identical, which no read-modify-write
through a DICOM library can promise. Where splicing is not possible (Deflated syntax,
elements that must change) the dataset is written with pydicom.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.tag import Tag

from . import limits
from .atomic import write_atomically
from .errors import DctRedactError, InvalidDicomError
from .quiet import apply_if_requested

apply_if_requested()  # the command line asked for pydicom's quiet before loading it

__all__ = [
    "PIXEL_DATA",
    "SEQUENCE_DELIMITER",
    "DicomFile",
    "encapsulate_frames",
    "encapsulated_frames",
    "number_of_frames",
    "read_dicom",
    "write_atomically",
]

PIXEL_DATA = Tag(0x7FE0, 0x0010)
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


@dataclass
class DicomFile:
    """A DICOM file read for redaction.

    Attributes
    ----------
    path : str
        Where it was read from (for messages).
    data : bytes
        The file's bytes.
    dataset : pydicom.dataset.FileDataset
        The parsed dataset (Pixel Data left raw).
    pixel_span : tuple of (int, int, int) or None
        ``(element_start, value_start, element_end)`` of the top-level encapsulated
        Pixel Data in ``data``, when it can be spliced.
    """

    path: str
    data: bytes
    dataset: FileDataset
    pixel_span: tuple[int, int, int] | None

    @property
    def transfer_syntax_uid(self) -> str:
        """The Transfer Syntax UID from the File Meta Information."""
        return str(self.dataset.file_meta.get("TransferSyntaxUID", ""))


def read_dicom(path: str | os.PathLike[str]) -> DicomFile:
    """Read a DICOM file (Part 10) for redaction.

    Raises
    ------
    InvalidDicomError
        When the file cannot be read or is not DICOM.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidDicomError(f"cannot read file: {exc.strerror}", path=name) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except PydicomInvalidDicomError:
        raise InvalidDicomError(
            "not a DICOM Part 10 file (no 'DICM' prefix after the preamble)", path=name
        ) from None
    except Exception as exc:  # pydicom raises many types on corrupt files
        raise InvalidDicomError(
            f"cannot parse DICOM data set ({type(exc).__name__})", path=name
        ) from None
    if "TransferSyntaxUID" not in ds.file_meta:
        raise InvalidDicomError(
            "File Meta Information has no (0002,0010) Transfer Syntax UID", path=name
        )
    _convert_pixel_module(ds, name)
    ds.filename = name  # read from memory: record where it came from (box-file lookups)
    return DicomFile(name, data, ds, _pixel_span(data, ds))


def _convert_pixel_module(ds: Dataset, name: str) -> None:
    """Convert the elements the handlers read now, so a corrupt one fails here, clearly.

    pydicom converts raw element values lazily; a mangled VR or value would otherwise
    surface deep in a handler as an arbitrary exception.

    Raises
    ------
    InvalidDicomError
        Naming the element that cannot be read.
    """
    raw = ds._dict.get(PIXEL_DATA)
    if isinstance(raw, RawDataElement) and raw.VR not in (None, "OB", "OW", "UN", "OB or OW"):
        raise InvalidDicomError(
            f"(7FE0,0010) Pixel Data has VR {raw.VR!r}; expected OB or OW", path=name
        )
    for tag in list(ds.keys()):
        if tag.group != 0x0028:  # Image Pixel, Multi-frame, palette, VOI ...
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds[tag]
        except Exception as exc:
            raise InvalidDicomError(
                f"element ({tag.group:04X},{tag.element:04X}) cannot be read "
                f"({type(exc).__name__}); expected a valid value",
                path=name,
            ) from None


def _pixel_span(data: bytes, ds: Dataset) -> tuple[int, int, int] | None:
    raw = ds._dict.get(PIXEL_DATA)
    if not isinstance(raw, RawDataElement) or raw.value_tell is None or raw.value is None:
        return None
    value_start = raw.value_tell
    undefined = raw.length == 0xFFFFFFFF
    # Implicit VR: tag + 4-byte length; explicit VR OB/OW: tag + VR + 2 reserved + length.
    header = 8 if raw.is_implicit_VR else 12
    start = value_start - header
    end = value_start + len(raw.value) + (8 if undefined else 0)
    if start < 0 or data[start : start + 4] != b"\xe0\x7f\x10\x00":
        return None
    if undefined and data[end - 8 : end] != SEQUENCE_DELIMITER:
        return None
    if not undefined and data[value_start:end] != raw.value:
        return None
    return (start, value_start, end)


def number_of_frames(ds: Dataset, path: str = "") -> int:
    """(0028,0008) *Number of Frames* (1 when absent).

    Raises
    ------
    InvalidDicomError
        When the value is not a positive integer, or present but empty (readers cannot
        decode such a file, so its output would not decode either).
    """
    value = ds.get("NumberOfFrames", 1)
    if value is None or value == "":
        raise InvalidDicomError(
            "(0028,0008) Number of Frames is present but empty; expected an integer >= 1",
            path=path or None,
        )
    try:
        frames = int(value)
    except (TypeError, ValueError):
        raise InvalidDicomError(
            "(0028,0008) Number of Frames is not an integer", path=path or None
        ) from None
    if frames < 1:
        raise InvalidDicomError(
            f"(0028,0008) Number of Frames is {frames}; expected >= 1", path=path or None
        )
    limits.current().limits.check_frames(frames)
    return frames


def encapsulated_frames(ds: Dataset, path: str = "") -> Iterator[bytes]:
    """Yield every frame of encapsulated *Pixel Data*, whatever its fragmentation.

    Handles several fragments per frame, an empty or present Basic Offset Table and the
    Extended Offset Table. The number of frames must match (0028,0008).

    Raises
    ------
    InvalidDicomError
        When the encapsulation is malformed or the frame count does not match.
    """
    where = path or None
    if "PixelData" not in ds:
        raise InvalidDicomError("no (7FE0,0010) Pixel Data", path=where)
    expected = number_of_frames(ds, path)
    eot = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        eot = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    count = 0
    budget = limits.current()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in generate_frames(
                ds.PixelData, number_of_frames=expected, extended_offsets=eot
            ):
                count += 1
                if count > expected:
                    raise InvalidDicomError(
                        f"Pixel Data holds more than the {expected} frame(s) that "
                        "(0028,0008) Number of Frames declares",
                        path=where,
                    )
                budget.check_time(f"frame {count}")
                yield frame
    except DctRedactError:
        raise
    except Exception as exc:
        raise InvalidDicomError(
            f"encapsulated Pixel Data is malformed ({exc})", path=where
        ) from None
    if count != expected:
        raise InvalidDicomError(
            f"Pixel Data holds {count} frame(s); (0028,0008) Number of Frames declares {expected}",
            path=where,
        )


def encapsulate_frames(
    frames: list[bytes], *, extended: bool
) -> tuple[bytes, tuple[bytes, bytes] | None]:
    """Encapsulate one fragment per frame with a correct offset table.

    Parameters
    ----------
    frames : list of bytes
        One encoded frame each.
    extended : bool
        Use the Extended Offset Table (and an empty Basic Offset Table).

    Returns
    -------
    tuple
        The *Pixel Data* value (items only, no sequence delimiter) and, when
        ``extended``, the Extended Offset Table and its lengths.
    """
    if extended:
        value, eot, eot_lengths = encapsulate_extended(frames)
        return value, (eot, eot_lengths)
    try:
        return encapsulate(frames, has_bot=True), None
    except ValueError:
        # The Basic Offset Table cannot address more than 4 GiB: use the extended one.
        value, eot, eot_lengths = encapsulate_extended(frames)
        return value, (eot, eot_lengths)


def _value_span(dicom: DicomFile, tag: int) -> tuple[int, int] | None:
    """(start, end) of a top-level defined-length element value in the file bytes."""
    raw = dicom.dataset._dict.get(Tag(tag))
    if not isinstance(raw, RawDataElement) or raw.value_tell is None or raw.value is None:
        return None
    start, end = raw.value_tell, raw.value_tell + len(raw.value)
    if raw.length == 0xFFFFFFFF or dicom.data[start:end] != raw.value:
        return None
    return start, end


def splice_extended_offsets(
    dicom: DicomFile, data: bytes, offsets: tuple[bytes, bytes]
) -> bytes | None:
    """Replace the Extended Offset Table values in `data` when their sizes are unchanged.

    Both elements precede *Pixel Data*, so their file offsets are the same in `data` as
    in the input.
    """
    out = bytearray(data)
    for tag, value in zip((0x7FE00001, 0x7FE00002), offsets, strict=True):
        span = _value_span(dicom, tag)
        if span is None or span[1] - span[0] != len(value):
            return None
        out[span[0] : span[1]] = value
    return bytes(out)


def splice_pixel_data(dicom: DicomFile, value: bytes, *, encapsulated: bool) -> bytes | None:
    """Return the file's bytes with the *Pixel Data* value replaced, or None.

    Encapsulated values (undefined length) can always be spliced; native values only
    when they keep their length, so the element header stays valid.
    """
    if dicom.pixel_span is None:
        return None
    _start, value_start, end = dicom.pixel_span
    undefined = dicom.data[end - 8 : end] == SEQUENCE_DELIMITER and encapsulated
    if encapsulated:
        if not undefined:
            return None
        return b"".join((dicom.data[:value_start], value, SEQUENCE_DELIMITER, dicom.data[end:]))
    if end - value_start != len(value):
        return None
    return b"".join((dicom.data[:value_start], value, dicom.data[end:]))


def dataset_bytes(ds: Dataset) -> bytes:
    """Serialise a dataset (with its File Meta Information) with pydicom."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
