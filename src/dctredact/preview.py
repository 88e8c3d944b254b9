"""QA previews: before | after images and an HTML contact sheet of a batch.

Before panes outline every detected box (colour by source); after panes tint the area
that was actually redacted (the planned 8x8 blocks on the DCT path, the boxes on pixel
paths) so a reviewer sees both what was found and what was removed. Cines show a few
frames sampled evenly.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from .detect.frames import display_frames
from .dicomio import read_dicom, write_atomically
from .geometry import Box
from .verify import boxes_from_record

__all__ = ["contact_sheet", "render_preview", "sample_indices"]

SOURCE_COLOURS: dict[str, tuple[int, int, int]] = {
    "ocr": (255, 40, 40),
    "textnet": (255, 80, 160),
    "rules": (255, 150, 0),
    "explicit": (255, 230, 0),
    "boxes": (230, 0, 230),
    "us-regions": (0, 200, 255),
}
_TINT = np.array([0, 255, 90], dtype=np.float32)
_BACKGROUND = (32, 32, 36)


def sample_indices(frames: int, count: int) -> list[int]:
    """Up to `count` frame indices spread evenly over `frames` (first and last included)."""
    if frames <= count:
        return list(range(frames))
    return sorted({round(float(v)) for v in np.linspace(0, frames - 1, count)})


def _frames(path: str | os.PathLike[str], wanted: Sequence[int]) -> dict[int, npt.NDArray[Any]]:
    ds = read_dicom(path).dataset
    out: dict[int, npt.NDArray[Any]] = {}
    last = max(wanted)
    for i, frame in enumerate(display_frames(ds)):
        if i in wanted:
            out[i] = frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2)
        if i >= last:
            break
    return out


def _frame_count(path: str | os.PathLike[str]) -> int:
    ds = read_dicom(path).dataset
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _label(img: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (img.width, img.height + 14), _BACKGROUND)
    out.paste(img, (0, 14))
    ImageDraw.Draw(out).text((3, 1), text, fill=(230, 230, 230))
    return out


def render_preview(
    original: str | os.PathLike[str],
    redacted: str | os.PathLike[str],
    boxes: Sequence[Box] = (),
    frame_boxes: Mapping[int, Sequence[Box]] | None = None,
    *,
    handler: str | None = None,
    frames: int = 4,
    max_width: int = 1200,
) -> Image.Image:
    """Render before | after for up to `frames` sampled frames, one row each.

    Parameters
    ----------
    original, redacted : path
        The input and output files.
    boxes, frame_boxes : optional
        What was redacted (from the report record).
    handler : str, optional
        ``jpeg-baseline`` marks the planned 8x8 blocks instead of the boxes.
    frames : int
        Frames sampled from a cine.
    max_width : int
        Width of the whole image (panes are scaled down to fit, never up).

    Returns
    -------
    PIL.Image.Image
    """
    from .check import coverage_mask

    frame_boxes = frame_boxes or {}
    wanted = sample_indices(_frame_count(original), frames)
    before = _frames(original, wanted)
    after = _frames(redacted, wanted)
    rows: list[Image.Image] = []
    for i in wanted:
        a, b = before.get(i), after.get(i)
        if a is None or b is None:
            continue
        h, w = a.shape[:2]
        these = [*boxes, *frame_boxes.get(i, ())]
        mask = coverage_mask(Path(redacted), handler, these, h, w)
        tinted = b.astype(np.float32)
        tinted[mask] = tinted[mask] * 0.6 + _TINT * 0.4
        left = Image.fromarray(a)
        draw = ImageDraw.Draw(left)
        for box in these:
            c = box.clip(w, h)
            if not c.is_empty():
                colour = SOURCE_COLOURS.get(box.source, (255, 255, 255))
                draw.rectangle([c.x, c.y, c.x1 - 1, c.y1 - 1], outline=colour)
        right = Image.fromarray(tinted.clip(0, 255).astype(np.uint8))
        scale = min(1.0, (max_width / 2 - 6) / w)
        if scale < 1.0:
            size = (max(1, int(w * scale)), max(1, int(h * scale)))
            left = left.resize(size, Image.Resampling.LANCZOS)
            right = right.resize(size, Image.Resampling.LANCZOS)
        suffix = f" - frame {i + 1}" if len(wanted) > 1 or i else ""
        left, right = _label(left, f"before{suffix}"), _label(right, f"after{suffix}")
        row = Image.new("RGB", (left.width + right.width + 6, left.height), _BACKGROUND)
        row.paste(left, (0, 0))
        row.paste(right, (left.width + 6, 0))
        rows.append(row)
    if not rows:
        return _label(Image.new("RGB", (200, 40), _BACKGROUND), "no frames")
    sheet = Image.new(
        "RGB", (max(r.width for r in rows), sum(r.height + 4 for r in rows)), _BACKGROUND
    )
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    return sheet


def png_bytes(img: Image.Image) -> bytes:
    """The image as PNG bytes (deterministic: no time stamp)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def preview_record(
    record: Mapping[str, Any], *, frames: int = 4, max_width: int = 1200
) -> Image.Image:
    """Render the preview of one successful batch record."""
    every, per_frame = boxes_from_record(record)
    return render_preview(
        record["input"],
        record["output"],
        every,
        per_frame,
        handler=record.get("handler"),
        frames=frames,
        max_width=max_width,
    )


_CSS = """
body { background: #1e1e22; color: #ddd; font: 14px system-ui, sans-serif; margin: 16px; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { margin: 0 0 14px; color: #aaa; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.card { background: #2b2b31; border-radius: 6px; padding: 8px; width: 500px; }
.card img { width: 100%; display: block; image-rendering: pixelated; }
.name { font-family: monospace; font-size: 12px; word-break: break-all; margin-bottom: 4px; }
.meta { font-size: 12px; color: #bbb; margin-top: 4px; }
.redacted { border-left: 4px solid #2ecc71; }
.no-text { border-left: 4px solid #7f8c8d; }
.failed { border-left: 4px solid #e74c3c; }
.skipped { border-left: 4px solid #f39c12; }
.legend span { margin-right: 12px; }
"""


def contact_sheet(
    records: Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    embed: bool = False,
    frames: int = 2,
    width: int = 480,
) -> Path:
    """Write an HTML contact sheet of a batch: one card per file, scrollable.

    Parameters
    ----------
    records : iterable of dict
        Report records (see :mod:`dctredact.report`).
    path : path
        The HTML file. Thumbnails go to ``<stem>_files/`` beside it unless `embed`.
    embed : bool
        Embed the PNGs as data URIs (one self-contained file).
    frames : int
        Frames sampled per cine.
    width : int
        Thumbnail width in pixels.

    Returns
    -------
    Path
        The HTML file.
    """
    target = Path(path)
    assets = target.parent / f"{target.stem}_files"
    ordered = sorted(records, key=lambda r: str(r.get("input", "")))
    counts: dict[str, int] = {}
    cards = []
    for n, record in enumerate(ordered):
        outcome = str(record.get("outcome"))
        counts[outcome] = counts.get(outcome, 0) + 1
        name = html.escape(str(record.get("rel") or record.get("input")))
        body = ""
        if outcome in ("redacted", "no-text") and record.get("output"):
            try:
                png = png_bytes(preview_record(record, frames=frames, max_width=width))
            except Exception as exc:
                body = f'<div class="meta">no preview ({html.escape(type(exc).__name__)})</div>'
            else:
                if embed:
                    src = "data:image/png;base64," + base64.b64encode(png).decode()
                else:
                    write_atomically(assets / f"{n:05d}.png", png)
                    src = f"{assets.name}/{n:05d}.png"
                body = f'<img src="{src}" alt="before and after" loading="lazy">'
        else:
            body = f'<div class="meta">{html.escape(str(record.get("error") or ""))}</div>'
        sources = ", ".join(f"{k} {v}" for k, v in (record.get("box_sources") or {}).items())
        meta = (
            f"{html.escape(outcome)} &middot; {html.escape(str(record.get('handler')))} "
            f"&middot; {record.get('changed', 0)} {html.escape(str(record.get('unit') or ''))}"
            f"{' &middot; boxes: ' + html.escape(sources) if sources else ''}"
        )
        cards.append(
            f'<div class="card {html.escape(outcome)}"><div class="name">{name}</div>'
            f'{body}<div class="meta">{meta}</div></div>'
        )
    summary = ", ".join(f"{v} {html.escape(k)}" for k, v in sorted(counts.items()))
    legend = "".join(
        f'<span style="color: rgb{c}">&#9632; {html.escape(s)}</span>'
        for s, c in SOURCE_COLOURS.items()
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>dctredact contact sheet</title><style>{_CSS}</style></head><body>"
        f'<h1>dctredact contact sheet</h1><p class="summary">{len(ordered)} file(s): '
        f"{summary}. Before: detected boxes outlined. After: redacted area tinted green."
        f'</p><p class="legend">{legend}</p><div class="grid">{"".join(cards)}</div>'
        "</body></html>\n"
    )
    write_atomically(target, page.encode("utf-8"))
    return target
