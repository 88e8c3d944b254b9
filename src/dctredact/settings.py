"""Redaction settings: one object the CLI, the batch runner and a TOML config all build.

The settings digest identifies a policy: a batch run records it for each file, and a
re-run with the same input content and the same digest skips the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .detect.base import Detector
from .errors import DctRedactError
from .extras import ExtraOptions, IconPolicy, OverlayPolicy
from .geometry import Box
from .handlers.base import Fill

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Everything that decides what a redaction run does to a file.

    Attributes
    ----------
    boxes : tuple of Box
        Explicit boxes for every frame of every file.
    fill : Fill
        What redacted areas become.
    ocr : bool
        Run Tesseract OCR.
    ocr_confidence : float
        Minimum word confidence (0..100).
    ocr_padding : int
        Pixels added around every OCR word box.
    textnet : bool
        With OCR: also run the trained text detection network (:mod:`.detect.textnet`).
    rules : str or None
        A CTP DicomPixelAnonymizer script.
    box_file : str or None
        A JSON file of boxes keyed by SOP Instance UID or path.
    us_regions : bool
        Redact everything outside the Sequence of Ultrasound Regions.
    keep_syntax : bool
        Refuse files whose transfer syntax would have to change.
    report_text : bool
        Put recognised text into reports (patient data: off by default).
    icon : str
        Icon Image Sequence: ``redact`` (boxes scaled; default), ``remove`` or ``keep``.
    remove_overlays : bool
        Remove overlay planes (60xx,3000) instead of only reporting them.
    strip_markers : bool
        Remove COM and non-essential APPn segments from JPEG streams.
    policy : str
        ``"all"`` (redact every detected text) or ``"phi"`` (only OCR text matching the
        file's identifying header values); see :mod:`dctredact.detect.policy`.
    keep_words : tuple of str
        Words OCR never redacts (e.g. scanner UI labels).
    """

    boxes: tuple[Box, ...] = ()
    fill: Fill = Fill.BLACK
    ocr: bool = True
    ocr_confidence: float = 30.0
    ocr_padding: int = 1
    textnet: bool = True
    rules: str | None = None
    box_file: str | None = None
    us_regions: bool = False
    keep_syntax: bool = False
    report_text: bool = False
    icon: str = "redact"
    remove_overlays: bool = False
    strip_markers: bool = False
    policy: str = "all"
    keep_words: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (boxes as ``[x, y, w, h]``)."""
        d = asdict(self)
        d["boxes"] = [list(b.as_tuple()) for b in self.boxes]
        d["fill"] = self.fill.value
        d.pop("extra")
        return d

    def digest(self) -> str:
        """A short hash of everything that changes the output (file contents included)."""
        d = self.to_dict()
        d.pop("report_text")
        for key in ("rules", "box_file"):
            if d[key]:
                with contextlib.suppress(OSError):
                    d[key] = hashlib.sha256(Path(d[key]).read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def extras(self) -> ExtraOptions:
        """Icon, overlay and JPEG marker handling as :class:`~dctredact.extras.ExtraOptions`.

        Raises
        ------
        DctRedactError
            When ``icon`` is not one of redact, remove, keep.
        """
        try:
            icon = IconPolicy(self.icon)
        except ValueError:
            raise DctRedactError(
                f"icon policy {self.icon!r} is unknown; expected redact, remove or keep"
            ) from None
        overlays = OverlayPolicy.REMOVE if self.remove_overlays else OverlayPolicy.REPORT
        return ExtraOptions(icon, overlays, self.strip_markers)

    def detectors(self) -> list[Detector]:
        """Build the enabled detectors (validating rule and box files now, not per file).

        Raises
        ------
        DctRedactError
            When a rules or box file cannot be read or parsed.
        """
        found: list[Detector] = []
        if self.rules:
            from .detect.rules import RulesDetector, load_script

            found.append(RulesDetector(load_script(self.rules)))
        if self.box_file:
            from .detect.boxfile import BoxFileDetector, load_box_file

            found.append(BoxFileDetector(load_box_file(self.box_file)))
        if self.us_regions:
            from .detect.usregions import UltrasoundRegionsDetector

            found.append(UltrasoundRegionsDetector())
        if self.ocr:
            try:
                from .detect.ocr import OcrDetector
                from .detect.policy import Policy
            except ImportError as exc:  # pragma: no cover - pytesseract is a dependency
                raise DctRedactError(f"OCR is unavailable: {exc}") from None
            try:
                policy = Policy(self.policy, tuple(self.keep_words))
            except ValueError as exc:
                raise DctRedactError(str(exc)) from None
            found.append(
                OcrDetector(
                    confidence=self.ocr_confidence,
                    padding=self.ocr_padding,
                    keep_text=self.report_text,
                    policy=policy,
                    textnet=self.textnet,
                )
            )
        return found
