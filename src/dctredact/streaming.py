"""Frame-by-frame redaction of large encapsulated JPEG files.

The in-memory path reads a whole file, holds its frames and builds the output in memory.
For multi-gigabyte cine loops this module streams instead: the header is parsed without
Pixel Data, fragments are read one frame at a time from the file, each frame is redacted
and written to the output as soon as it is done, and the Basic (or Extended) Offset
Table is filled in at the end. Peak memory is one frame in and out plus the header.

The output is byte-identical to the in-memory path's: the bytes before and after Pixel
Data are copied, Pixel Data gets one fragment per frame with a Basic Offset Table (or an
empty one plus the Extended Offset Table when the input had one).
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import FileDataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.tag import Tag

from .errors import DctRedactError, InvalidDicomError
from .handlers.base import RedactionRequest
from .handlers.jpeg_baseline import check_frame_header
from .jpeg.codec import redact_stream
from .jpeg.stream import SOF0, parse_jpeg, strip_segments
from .limits import current

__all__ = ["DicomHeader", "StreamOutcome", "read_header", "redact_streaming"]

ITEM = b"\xfe\xff\x00\xe0"
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


@dataclass
class DicomHeader:
    """A DICOM file's data set without Pixel Data, and where Pixel Data sits.

    Attributes
    ----------
    path : str
        The file.
    dataset : pydicom.dataset.FileDataset
        Every element before (7FE0,0010).
    element_start : int
        Offset of the Pixel Data element (its tag).
    value_start : int or None
        Offset of its value when it is encapsulated (undefined length), else None.
    size : int
        File size in bytes.
    eot_spans : list of (int, int) or None
        Offsets and sizes of the Extended Offset Table and its lengths' values.
    """

    path: str
    dataset: FileDataset
    element_start: int
    value_start: int | None
    size: int
    eot_spans: list[tuple[int, int]] | None = None

    @property
    def transfer_syntax_uid(self) -> str:
        """(0002,0010)."""
        return str(self.dataset.file_meta.get("TransferSyntaxUID", ""))


def read_header(path: str | os.PathLike[str]) -> DicomHeader | None:
    """Parse everything before Pixel Data; None when the file has no Pixel Data.

    Raises
    ------
    InvalidDicomError
        When the file is not readable DICOM.
    """
    name = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            start = fp.tell()
            head = fp.read(12)
    except OSError as exc:
        raise InvalidDicomError(f"cannot read file: {exc.strerror}", path=name) from None
    except PydicomInvalidDicomError:
        raise InvalidDicomError(
            "not a DICOM Part 10 file (no 'DICM' prefix after the preamble)", path=name
        ) from None
    except Exception as exc:
        raise InvalidDicomError(
            f"cannot parse DICOM data set ({type(exc).__name__})", path=name
        ) from None
    if head[:4] != b"\xe0\x7f\x10\x00":
        return None
    value_start: int | None = None
    if head[4:6] in (b"OB", b"OW") and head[8:12] == b"\xff\xff\xff\xff":
        value_start = start + 12
    elif head[4:8] == b"\xff\xff\xff\xff":
        value_start = start + 8
    return DicomHeader(name, ds, start, value_start, size, _eot_positions(ds))


@dataclass
class StreamOutcome:
    """What :func:`redact_streaming` did."""

    frames: int
    changed: int
    notes: list[str]


def _copy_range(src: BinaryIO, dst: BinaryIO, start: int, end: int) -> None:
    src.seek(start)
    remaining = end - start
    while remaining > 0:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise InvalidDicomError("file ended while copying")
        dst.write(chunk)
        remaining -= len(chunk)


def _frames(fp: BinaryIO, header: DicomHeader, count: int) -> Iterator[bytes]:
    """Frames read from the file one at a time (pydicom's fragment logic)."""
    assert header.value_start is not None
    ds = header.dataset
    eot = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        eot = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    fp.seek(header.value_start)
    seen = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in generate_frames(fp, number_of_frames=count, extended_offsets=eot):
                seen += 1
                if seen > count:
                    raise InvalidDicomError(
                        f"Pixel Data holds more than the {count} frame(s) that "
                        "(0028,0008) Number of Frames declares"
                    )
                yield frame
    except DctRedactError:
        raise
    except Exception as exc:
        raise InvalidDicomError(f"encapsulated Pixel Data is malformed ({exc})") from None
    if seen != count:
        raise InvalidDicomError(
            f"Pixel Data holds {seen} frame(s); (0028,0008) Number of Frames declares {count}"
        )


def _pixel_end(fp: BinaryIO, header: DicomHeader) -> int:
    """Offset just past the Pixel Data sequence delimiter (walking the items)."""
    assert header.value_start is not None
    pos = header.value_start
    while True:
        fp.seek(pos)
        tag = fp.read(8)
        if len(tag) < 8:
            raise InvalidDicomError("encapsulated Pixel Data has no sequence delimiter")
        if tag == SEQUENCE_DELIMITER:
            return pos + 8
        if tag[:4] != ITEM:
            raise InvalidDicomError(
                f"expected an item tag (FFFE,E000) at byte {pos} of Pixel Data, "
                f"found {tag[:4].hex()}"
            )
        length = struct.unpack("<I", tag[4:8])[0]
        if length == 0xFFFFFFFF or pos + 8 + length > header.size:
            raise InvalidDicomError(
                f"Pixel Data item at byte {pos} declares {length} bytes; "
                f"only {header.size - pos - 8} remain"
            )
        pos += 8 + length


def _eot_positions(ds: FileDataset) -> list[tuple[int, int]] | None:
    """Where the Extended Offset Table values are in the file (read before any access)."""
    spans = []
    for tag in (0x7FE00001, 0x7FE00002):
        raw: Any = ds._dict.get(Tag(tag))
        if raw is None or getattr(raw, "value_tell", None) is None or raw.value is None:
            return None
        spans.append((int(raw.value_tell), len(raw.value)))
    return spans


def redact_streaming(
    header: DicomHeader,
    dst: str | os.PathLike[str] | None,
    request: RedactionRequest,
    *,
    allowed_sof: frozenset[int] = frozenset({SOF0}),
) -> StreamOutcome:
    """Redact an encapsulated JPEG Baseline file frame by frame into `dst`.

    The output is written to a temporary file next to `dst` and renamed when complete;
    on any error it is removed, so nothing partial is ever left.

    Raises
    ------
    DctRedactError
        When a frame cannot be redacted or the encapsulation is malformed.
    """
    if header.value_start is None:
        raise InvalidDicomError("Pixel Data is not encapsulated (undefined length expected)")
    ds = header.dataset
    photometric = str(ds.get("PhotometricInterpretation", "")).strip() or None
    count = int(ds.get("NumberOfFrames", 1) or 1)
    budget = current()
    budget.limits.check_frames(count)
    eot_spans = header.eot_spans if "ExtendedOffsetTable" in ds else None
    if "ExtendedOffsetTable" in ds and eot_spans is None:
        raise InvalidDicomError("Extended Offset Table present but unreadable")
    notes: dict[str, int] = {}
    changed = 0
    offsets: list[int] = []
    lengths: list[int] = []
    target = Path(dst) if dst is not None else None
    tmp_name: str | None = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        out: BinaryIO = os.fdopen(fd, "w+b")
    else:
        out = open(os.devnull, "w+b")  # noqa: SIM115 - closed below
    try:
        with open(header.path, "rb") as src:
            _copy_range(src, out, 0, header.value_start)
            use_eot = eot_spans is not None
            # A Basic Offset Table cannot address past 4 GiB: leave it empty for such files.
            huge = header.size > 2**32 - 2**26
            bot_at = out.tell()
            bot_len = 0 if use_eot or huge else 4 * count
            if huge and not use_eot:
                notes["file near 4 GiB: Basic Offset Table left empty"] = 1
            out.write(ITEM + struct.pack("<I", bot_len) + b"\x00" * bot_len)
            position = 0
            reader = open(header.path, "rb")  # noqa: SIM115 - a second handle for fragments
            try:
                for index, frame in enumerate(_frames(reader, header, count)):
                    budget.check_time(f"frame {index + 1}")
                    try:
                        result = redact_stream(
                            frame,
                            request.boxes_for(index),
                            request.fill,
                            photometric=photometric,
                            allowed_sof=allowed_sof,
                        )
                        assert result.header is not None
                        check_frame_header(ds, result.header, index)
                    except DctRedactError as exc:
                        if not exc.reason.startswith("frame"):
                            raise type(exc)(f"frame {index + 1}: {exc.reason}") from None
                        raise
                    data = result.data
                    if request.strip_markers:
                        data, removed = strip_segments(parse_jpeg(data, allowed_sof=allowed_sof))
                        if removed:
                            key = "COM/APPn segment(s) removed"
                            notes[key] = notes.get(key, 0) + 1
                    if len(data) % 2:
                        data += b"\x00"
                    offsets.append(position)
                    lengths.append(len(data))  # the item value, padded (as pydicom)
                    out.write(ITEM + struct.pack("<I", len(data)))
                    out.write(data)
                    position += 8 + len(data)
                    changed += result.changed
                    for note in result.notes:
                        notes[note] = notes.get(note, 0) + 1
                tail_start = _pixel_end(reader, header)
            finally:
                reader.close()
            out.write(SEQUENCE_DELIMITER)
            _copy_range(src, out, tail_start, header.size)
        if use_eot:
            assert eot_spans is not None
            values = (
                struct.pack(f"<{count}Q", *offsets),
                struct.pack(f"<{count}Q", *lengths),
            )
            for (at, size), value in zip(eot_spans, values, strict=True):
                if size != len(value):
                    raise InvalidDicomError(
                        "Extended Offset Table size does not match Number of Frames"
                    )
                out.seek(at)
                out.write(value)
        elif bot_len:
            if offsets[-1] >= 2**32:  # pragma: no cover - guarded by `huge`
                raise DctRedactError("Pixel Data offsets exceed the Basic Offset Table")
            out.seek(bot_at + 8)
            out.write(struct.pack(f"<{count}I", *offsets))
        out.flush()
        if target is not None:
            os.fsync(out.fileno())
        out.close()
        if target is not None and tmp_name is not None:
            os.replace(tmp_name, target)
            tmp_name = None
    except BaseException:
        out.close()
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        raise
    return StreamOutcome(
        frames=count,
        changed=changed,
        notes=[f"{note} ({n} frame(s))" for note, n in notes.items()],
    )
