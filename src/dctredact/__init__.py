"""dctredact: remove burned-in text from DICOM images without recompressing them."""

from __future__ import annotations

from .errors import (
    DctRedactError,
    DetectionError,
    GeometryError,
    InvalidDicomError,
    JpegStreamError,
    ResourceLimitError,
    RulesSyntaxError,
    UnsupportedError,
)
from .geometry import Box, parse_box
from .handlers.base import Fill, RedactionRequest

__version__ = "0.1.0"

__all__ = [
    "Box",
    "DctRedactError",
    "DetectionError",
    "Fill",
    "GeometryError",
    "InvalidDicomError",
    "JpegStreamError",
    "RedactionRequest",
    "ResourceLimitError",
    "RulesSyntaxError",
    "UnsupportedError",
    "__version__",
    "parse_box",
]
