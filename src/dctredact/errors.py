"""The error hierarchy of dctredact.

Every failure the library raises is a :class:`DctRedactError`. Messages say *what* is
wrong, *where* (file, frame, element or marker) and *what was expected*; they never quote
patient data (header values or recognised text).
"""

from __future__ import annotations

__all__ = [
    "DctRedactError",
    "DetectionError",
    "GeometryError",
    "InvalidDicomError",
    "JpegStreamError",
    "ResourceLimitError",
    "RulesSyntaxError",
    "UnsupportedError",
]


class DctRedactError(Exception):
    """Base class of every error raised by dctredact.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    path : str, optional
        The file the error is about; prefixed to the message when given.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.reason = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def with_path(self, path: str) -> DctRedactError:
        """Return a copy of this error that names `path` (if it names no file yet)."""
        if self.path is not None:
            return self
        err = type(self).__new__(type(self))
        DctRedactError.__init__(err, self.reason, path=path)
        return err


class InvalidDicomError(DctRedactError):
    """The file is not DICOM, or a required data element is missing or inconsistent."""


class JpegStreamError(DctRedactError):
    """A JPEG stream is malformed or is not what its transfer syntax promises."""


class UnsupportedError(DctRedactError):
    """The input is valid but this tool cannot redact it (and will not pretend to)."""


class GeometryError(DctRedactError):
    """A redaction box is malformed (e.g. negative width)."""


class ResourceLimitError(DctRedactError):
    """The input exceeds a configured resource limit (frames, pixels, bytes, time)."""


class RulesSyntaxError(DctRedactError):
    """A CTP pixel-anonymizer script or a box file cannot be parsed."""


class DetectionError(DctRedactError):
    """Text detection failed (e.g. Tesseract is not installed)."""
