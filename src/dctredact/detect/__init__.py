"""Text detectors: each returns boxes (with source and confidence) for a dataset."""

from __future__ import annotations

from .base import Detection, Detector

__all__ = ["Detection", "Detector"]
