"""Other places burned-in text hides: icon thumbnails, overlay planes, JPEG comments.

- **Icon Image Sequence** (0088,0200): a thumbnail of the image carries the same text,
  smaller. By default the boxes are scaled to the icon and redacted there too; ``remove``
  deletes the sequence; an icon that cannot be redacted (e.g. encapsulated) is removed,
  never left unredacted.
- **Overlay planes** (60xx,3000): bitmaps drawn over the image, often annotations. They
  are reported; ``remove`` deletes every element of each overlay group.
- **JPEG COM / APPn segments**: free text inside each frame's stream (``strip`` removes
  every COM and APPn except APP0 "JFIF" and APP14 "Adobe", which decoders need).
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import DctRedactError
from .geometry import Box
from .handlers.base import Fill, RedactionRequest

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "ExtraOptions",
    "IconPolicy",
    "OverlayPolicy",
    "apply_extras",
    "needs_dataset_write",
    "overlay_groups",
]


class IconPolicy(enum.StrEnum):
    """What happens to an Icon Image Sequence."""

    REDACT = "redact"
    REMOVE = "remove"
    KEEP = "keep"


class OverlayPolicy(enum.StrEnum):
    """What happens to overlay planes (60xx,3000)."""

    REPORT = "report"
    REMOVE = "remove"


@dataclass(frozen=True)
class ExtraOptions:
    """Options for the places outside the main Pixel Data.

    Attributes
    ----------
    icon : IconPolicy
        ``redact`` (default: scaled boxes), ``remove`` or ``keep``.
    overlays : OverlayPolicy
        ``report`` (default) or ``remove``.
    strip_markers : bool
        Remove COM and non-essential APPn segments from every JPEG frame.
    """

    icon: IconPolicy = IconPolicy.REDACT
    overlays: OverlayPolicy = OverlayPolicy.REPORT
    strip_markers: bool = False


def overlay_groups(ds: Dataset) -> list[int]:
    """Repeating groups 6000..601E that hold Overlay Data (60xx,3000)."""
    # Tags only: iterating the data set itself would decode every element.
    return sorted(
        {
            tag.group
            for tag in ds.keys()  # noqa: SIM118 - iterating a Dataset decodes elements
            if 0x6000 <= tag.group <= 0x601E and tag.group % 2 == 0 and tag.element == 0x3000
        }
    )


def needs_dataset_write(ds: Dataset, options: ExtraOptions, has_boxes: bool) -> bool:
    """True when the options change data elements other than Pixel Data."""
    icon_edit = options.icon is IconPolicy.REMOVE or (
        options.icon is IconPolicy.REDACT and has_boxes
    )
    if icon_edit and "IconImageSequence" in ds and ds.IconImageSequence:
        return True
    return options.overlays is OverlayPolicy.REMOVE and bool(overlay_groups(ds))


def _redact_icon(icon: Dataset, main: Dataset, boxes: Iterable[Box], fill: Fill) -> Dataset:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from .handlers import native

    rows, columns = int(main.Rows), int(main.Columns)
    irows, icols = int(icon.Rows), int(icon.Columns)
    scaled = [b.scaled(icols / columns, irows / rows) for b in boxes]
    work = Dataset()
    work.update(copy.deepcopy(icon))
    work.file_meta = FileMetaDataset()
    work.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    result = native.redact(work, RedactionRequest(tuple(scaled), {}, fill))
    out = copy.deepcopy(icon)
    out.PixelData = result.pixel_data
    return out


def apply_extras(
    ds: Dataset,
    boxes: Iterable[Box],
    fill: Fill,
    options: ExtraOptions,
) -> list[str]:
    """Apply `options` to `ds` in place (a copy being written); return notes.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The output dataset (its main Pixel Data already redacted).
    boxes : iterable of Box
        Every box redacted in any frame (the icon gets their union, scaled).
    fill : Fill
        The fill mode.
    options : ExtraOptions
        What to do.
    """
    notes: list[str] = []
    box_list = [b for b in boxes if not b.is_empty()]
    if "IconImageSequence" in ds and ds.IconImageSequence:
        if options.icon is IconPolicy.REMOVE:
            del ds.IconImageSequence
            notes.append("Icon Image Sequence removed")
        elif options.icon is IconPolicy.REDACT and box_list:
            items = []
            for item in ds.IconImageSequence:
                try:
                    if item["PixelData"].is_undefined_length:
                        raise DctRedactError("encapsulated icon")
                    items.append(_redact_icon(item, ds, box_list, fill))
                except (DctRedactError, AttributeError, KeyError, ValueError, TypeError):
                    items = []
                    break
            if items:
                ds.IconImageSequence = items
                notes.append("Icon Image Sequence redacted (boxes scaled)")
            else:
                del ds.IconImageSequence
                notes.append("Icon Image Sequence removed: it could not be redacted")
        elif options.icon is IconPolicy.KEEP:
            notes.append("Icon Image Sequence kept as it was (--icon keep)")
    groups = overlay_groups(ds)
    if groups:
        names = ", ".join(f"{g:04X}" for g in groups)
        if options.overlays is OverlayPolicy.REMOVE:
            for tag in [t for t in ds.keys() if t.group in groups]:  # noqa: SIM118
                del ds[tag]
            notes.append(f"overlay plane(s) {names} removed")
        else:
            notes.append(f"overlay plane(s) {names} present (may hold text; not removed)")
    return notes
