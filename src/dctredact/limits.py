"""Resource limits: decompression bombs and runaway inputs are refused, not attempted.

A DICOM header or a JPEG frame header can declare an image far larger than the file
that holds it (a SOF of 65535 x 65535 in a few hundred bytes; Rows = Columns = 60000
with 10,000 frames and no pixel data). Every such declaration is checked against a
:class:`Limits` *before* anything is allocated or decoded, and the work on one file is
bounded in time by a cooperative check between frames.

The limits in force are held in a context variable, so the deep places that allocate
(the JPEG marker parser, the frame iterator, the pixel handlers) can check them without
every signature carrying them: :func:`dctredact.api.redact_file` and friends enter
:func:`enforce` for the duration of one file, and code outside it sees the defaults.

Examples
--------
>>> from dctredact.limits import Limits
>>> Limits(max_frame_pixels=4096 * 4096, max_seconds=30.0).max_frames
50000
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import ResourceLimitError

__all__ = [
    "DEFAULT_LIMITS",
    "Budget",
    "Limits",
    "check_dataset",
    "current",
    "declared_pixel_bytes",
    "enforce",
]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one file (each ``None`` means unlimited).

    Parameters
    ----------
    max_frame_pixels : int or None
        Largest ``Rows x Columns`` (or JPEG ``X x Y``) of one frame. The default, 2**28
        (268 million, e.g. 16384 x 16384), is above any real radiograph or slide tile
        and below the 65535 x 65535 a JPEG header can declare.
    max_frames : int or None
        Largest (0028,0008) *Number of Frames*. Default 50,000.
    max_decoded_bytes : int or None
        Largest amount of decoded data for one file: sample bytes for pixel handlers
        (``Rows x Columns x Samples x bytes per sample x frames``), coefficient bytes for
        one JPEG frame (2 bytes per coefficient). Default 4 GiB.
    max_seconds : float or None
        Wall-clock budget for one file, checked between frames. Default 600 s.
    """

    max_frame_pixels: int | None = 1 << 28
    max_frames: int | None = 50_000
    max_decoded_bytes: int | None = 4 << 30
    max_seconds: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("max_frame_pixels", "max_frames", "max_decoded_bytes"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"Limits.{name} must be a positive int or None, not {value!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"Limits.max_seconds must be > 0 or None, not {self.max_seconds!r}")

    def check_frame(self, columns: int, rows: int, *, what: str = "frame") -> None:
        """Refuse a frame of ``columns x rows`` pixels above :attr:`max_frame_pixels`.

        Raises
        ------
        ResourceLimitError
            When the frame is too large.
        """
        pixels = int(columns) * int(rows)
        if self.max_frame_pixels is not None and pixels > self.max_frame_pixels:
            raise ResourceLimitError(
                f"{what} declares {columns}x{rows} = {pixels} pixels; the limit is "
                f"{self.max_frame_pixels} pixels per frame (Limits.max_frame_pixels)"
            )

    def check_frames(self, frames: int) -> None:
        """Refuse more than :attr:`max_frames` frames.

        Raises
        ------
        ResourceLimitError
            When there are too many frames.
        """
        if self.max_frames is not None and frames > self.max_frames:
            raise ResourceLimitError(
                f"(0028,0008) Number of Frames is {frames}; the limit is {self.max_frames} "
                "(Limits.max_frames)"
            )

    def check_bytes(self, nbytes: int, *, what: str = "decoded pixel data") -> None:
        """Refuse decoding `nbytes` bytes above :attr:`max_decoded_bytes`.

        Raises
        ------
        ResourceLimitError
            When the amount is too large.
        """
        if self.max_decoded_bytes is not None and nbytes > self.max_decoded_bytes:
            raise ResourceLimitError(
                f"{what} would take {nbytes} bytes; the limit is {self.max_decoded_bytes} "
                "bytes (Limits.max_decoded_bytes)"
            )


#: The limits used when none are given.
DEFAULT_LIMITS = Limits()


@dataclass
class Budget:
    """The limits in force for one file, with its start time.

    Attributes
    ----------
    limits : Limits
        The configured limits.
    started : float
        ``time.monotonic()`` when work on the file began.
    """

    limits: Limits = DEFAULT_LIMITS
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        """Seconds since the file was started."""
        return time.monotonic() - self.started

    def check_time(self, where: str = "") -> None:
        """Raise when the file has used up :attr:`Limits.max_seconds`.

        Parameters
        ----------
        where : str
            What was being done (e.g. ``"frame 12"``), for the message.

        Raises
        ------
        ResourceLimitError
            When the time budget is exceeded.
        """
        limit = self.limits.max_seconds
        if limit is not None and self.elapsed() > limit:
            at = f" at {where}" if where else ""
            raise ResourceLimitError(
                f"stopped{at} after {self.elapsed():.1f} s; the limit is {limit:g} s per "
                "file (Limits.max_seconds)"
            )


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "dctredact_budget", default=None
)


def current() -> Budget:
    """The budget of the file being worked on (default limits outside :func:`enforce`)."""
    budget = _CURRENT.get()
    return budget if budget is not None else Budget(DEFAULT_LIMITS, time.monotonic())


@contextlib.contextmanager
def enforce(limits: Limits | None = None) -> Iterator[Budget]:
    """Make `limits` the ones in force (with a fresh clock) inside the ``with`` block.

    Nested use keeps the outer clock when no new limits are given, so an API function
    called from another one does not reset the time budget.

    Parameters
    ----------
    limits : Limits, optional
        The limits; :data:`DEFAULT_LIMITS` when None.

    Yields
    ------
    Budget
        The budget in force.
    """
    outer = _CURRENT.get()
    if limits is None and outer is not None:
        budget = outer
    else:
        budget = Budget(limits or DEFAULT_LIMITS, time.monotonic())
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def _int(ds: Any, keyword: str, default: int) -> int:
    """An integer element value, or `default` when absent or unreadable."""
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else default
    except Exception:  # corrupt raw values raise many types; validation reports them
        return default


def declared_pixel_bytes(ds: Any) -> int:
    """Bytes the *Image Pixel* module of `ds` declares once decoded (0 if it says nothing).

    ``Rows x Columns x Samples per Pixel x ceil(Bits Allocated / 8) x Number of Frames``;
    unparsable values count as 1 (their own validation reports them).
    """
    rows = max(_int(ds, "Rows", 0), 0)
    columns = max(_int(ds, "Columns", 0), 0)
    spp = max(_int(ds, "SamplesPerPixel", 1), 1)
    bits = max(_int(ds, "BitsAllocated", 8), 1)
    frames = max(_int(ds, "NumberOfFrames", 1), 1)
    return rows * columns * spp * -(-bits // 8) * frames


def check_dataset(ds: Any, limits: Limits | None = None) -> None:
    """Check what the header of `ds` declares against `limits`, before any decoding.

    Checks *Rows x Columns* against :attr:`Limits.max_frame_pixels`, *Number of Frames*
    against :attr:`Limits.max_frames` and the decoded size against
    :attr:`Limits.max_decoded_bytes`. Values that are not integers are left to the
    handlers' own validation.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The dataset (only header elements are read).
    limits : Limits, optional
        The limits; those in force (:func:`current`) when None.

    Raises
    ------
    ResourceLimitError
        When a declared size exceeds a limit.
    """
    lim = limits if limits is not None else current().limits
    rows = _int(ds, "Rows", 0)
    columns = _int(ds, "Columns", 0)
    lim.check_frame(columns, rows, what="(0028,0010) Rows x (0028,0011) Columns")
    lim.check_frames(_int(ds, "NumberOfFrames", 1))
    if "PixelData" in ds:
        lim.check_bytes(declared_pixel_bytes(ds), what="decoding the declared image")
