#!/usr/bin/env python3
"""Generate labelled DICOM fixtures with burned-in text.

Every image is synthetic: ultrasound-like frames (dark background, speckled fan-shaped
sector, text in the margins and a little on the sector), screenshot-like frames (light or
textured backgrounds, panels, dark and light text) and multi-frame cines whose clock and
frame counter change. Names, IDs and dates are generated from syllables and random digits,
so no real person appears.

Files are written as JPEG Baseline DICOM (4:2:0, 4:2:2, 4:4:4 or grayscale) or as
uncompressed Explicit VR Little Endian DICOM, next to ``ground_truth.json``::

    {"version": 1, "seed": S, "files": {"us_000.dcm": {
        "kind": "us", "rows": 240, "columns": 320, "frames": 1,
        "transfer_syntax": "1.2.840.10008.1.2.4.50", "sampling": "420",
        "boxes": [{"x": 4, "y": 3, "w": 90, "h": 9, "tokens": ["Name:", "KALDOR,", "MIKA"],
                   "frames": null, "size": 11, "font": "DejaVuSans", "color": "yellow"}]}}}

``frames`` is ``null`` for text shown on every frame, else the list of 0-based frames
that show it. Boxes are the tight ink bounding box of one line of text.

Usage::

    python tools/make_text_fixtures.py --out fixtures/text --count 10 --seed 1
"""

from __future__ import annotations

import argparse
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = [
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono-Bold.ttf",
]
SIZES = [8, 9, 10, 10, 11, 12, 12, 13, 14, 16, 18, 20, 24, 28, 32]
COLOURS_DARK_BG = {
    "white": (255, 255, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "green": (0, 220, 0),
    "gray": (150, 150, 150),
    "lowgray": (95, 95, 95),
    "orange": (255, 160, 40),
}
COLOURS_LIGHT_BG = {
    "black": (0, 0, 0),
    "darkblue": (20, 30, 120),
    "darkgray": (70, 70, 70),
    "red": (170, 20, 20),
}
SYLLABLES = [
    "ka", "lor", "ven", "mi", "dra", "tos", "bel", "ri", "nak", "sul", "fen", "do",
    "ra", "vi", "tem", "or", "qua", "zel", "mar", "tin", "os", "gru", "pe", "hal",
]  # fmt: skip
US_SOP = "1.2.840.10008.5.1.4.1.1.6.1"
US_MF_SOP = "1.2.840.10008.5.1.4.1.1.3.1"
SC_SOP = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class TextItem:
    """One rendered line of text and its ground truth."""

    x: int
    y: int
    w: int
    h: int
    tokens: list[str]
    size: int
    font: str
    colour: str
    frames: list[int] | None = None

    def as_json(self) -> dict[str, Any]:
        """The ground-truth record of this line."""
        return {
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "tokens": self.tokens,
            "frames": self.frames,
            "size": self.size,
            "font": self.font,
            "color": self.colour,
        }


@dataclass
class Canvas:
    """A background, a transparent text layer and the lines placed on it so far."""

    background: np.ndarray
    layer: Image.Image = field(init=False)
    items: list[TextItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        rows, cols = self.background.shape[:2]
        self.layer = Image.new("RGBA", (cols, rows), (0, 0, 0, 0))

    def render(self, background: np.ndarray | None = None) -> np.ndarray:
        """The text layer composited over `background` (default: the canvas's own)."""
        bg = self.background if background is None else background
        out = Image.alpha_composite(Image.fromarray(bg).convert("RGBA"), self.layer)
        return np.asarray(out.convert("RGB")).copy()

    def free(self, box: tuple[int, int, int, int], gap: int = 3) -> bool:
        """True when `box` (x0, y0, x1, y1) overlaps no placed line (with a gap)."""
        x0, y0, x1, y1 = box
        for it in self.items:
            if (
                x0 < it.x + it.w + gap
                and it.x < x1 + gap
                and y0 < it.y + it.h + gap
                and (it.y < y1 + gap)
            ):
                return False
        return True


def fake_word(rng: random.Random, n: int | None = None) -> str:
    """A pronounceable invented word (no real person's name)."""
    return "".join(rng.choice(SYLLABLES) for _ in range(n or rng.randint(2, 3)))


def fake_texts(rng: random.Random) -> list[str]:
    """Candidate annotation lines: names, IDs, dates, sites, technical labels."""
    last, first = fake_word(rng).upper(), fake_word(rng, 2).capitalize()
    y, m, d = rng.randint(1930, 2015), rng.randint(1, 12), rng.randint(1, 28)
    ident = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 9)))
    return [
        rng.choice([f"Name: {last}, {first}", f"{last}^{first.upper()}", f"{first} {last}"]),
        rng.choice([f"ID: {ident}", f"MRN {ident}", f"PID {ident}"]),
        rng.choice([f"DOB: {y:04d}-{m:02d}-{d:02d}", f"DOB {d:02d}/{m:02d}/{y:04d}"]),
        f"Acc: A{rng.randint(100000, 999999)}",
        f"{fake_word(rng).capitalize()} Hospital",
        f"Dr. {fake_word(rng).capitalize()}",
        f"{2000 + rng.randint(10, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        rng.choice(["C5-1 Abd", "L12-3 MSK", "P4-2 Card", "Liver", "Kidney R"]),
        f"Gn {rng.randint(20, 80)} D {rng.randint(4, 24)}cm",
        f"MI {rng.randint(3, 14) / 10:.1f} TIS {rng.randint(1, 9) / 10:.1f}",
    ]


def load_font(rng: random.Random, size: int) -> tuple[Any, str, int]:
    """A random font at `size` px (or PIL's default bitmap font now and then)."""
    if rng.random() < 0.1:
        return ImageFont.load_default(), "PIL-default", 11
    name = rng.choice(FONT_FILES)
    path = FONT_DIR / name
    if not path.exists():
        return ImageFont.load_default(), "PIL-default", 11
    return ImageFont.truetype(str(path), size), path.stem, size


def place_text(
    rng: random.Random,
    canvas: Canvas,
    text: str,
    colour: tuple[str, tuple[int, int, int]],
    region: tuple[int, int, int, int],
    size: int | None = None,
    tries: int = 40,
    frames: list[int] | None = None,
    draw: bool = True,
) -> TextItem | None:
    """Draw `text` at a free random spot whose top-left lies in `region`."""
    size = size or rng.choice(SIZES)
    font, font_name, size = load_font(rng, size)
    d = ImageDraw.Draw(canvas.layer)
    cols, rows = canvas.layer.size
    rx0, ry0, rx1, ry1 = region
    for _ in range(tries):
        x = rng.randint(rx0, max(rx0, rx1))
        y = rng.randint(ry0, max(ry0, ry1))
        x0, y0, x1, y1 = d.textbbox((x, y), text, font=font)
        if x0 < 0 or y0 < 0 or x1 > cols or y1 > rows:
            # Slide back inside so the ink touches the edge at most.
            x -= max(0, x1 - cols) - max(0, -x0)
            y -= max(0, y1 - rows) - max(0, -y0)
            x0, y0, x1, y1 = d.textbbox((x, y), text, font=font)
            if x0 < 0 or y0 < 0 or x1 > cols or y1 > rows:
                continue
        if not canvas.free((x0, y0, x1, y1)):
            continue
        if draw:
            d.text((x, y), text, font=font, fill=colour[1])
        item = TextItem(x0, y0, x1 - x0, y1 - y0, text.split(), size, font_name, colour[0])
        item.frames = frames
        canvas.items.append(item)
        return item
    return None


def speckle(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Ultrasound-like speckle in 0..1 (Rayleigh noise, smoothed, with a few blobs)."""
    noise = rng.rayleigh(0.35, size=(rows, cols))
    k = np.ones(3) / 3
    noise = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, noise)
    noise = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, noise)
    yy, xx = np.mgrid[0:rows, 0:cols]
    for _ in range(3):
        cy, cx, r = rng.uniform(0, rows), rng.uniform(0, cols), rng.uniform(10, 40)
        noise *= 1 - 0.7 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return np.clip(noise, 0, 1)


def fan_mask(rows: int, cols: int, top: int) -> np.ndarray:
    """Boolean mask of a fan-shaped sector (apex at the top centre)."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    ax, ay = cols / 2, top - 10
    r = np.hypot(xx - ax, yy - ay)
    ang = np.degrees(np.arctan2(xx - ax, yy - ay))
    return (r > 25) & (r < rows - ay - 8) & (np.abs(ang) < 36)


def us_background(nrng: np.random.Generator, rows: int, cols: int) -> tuple[np.ndarray, Any]:
    """Dark background with a speckled sector; returns the image and the fan mask."""
    top = int(rows * 0.12)
    mask = fan_mask(rows, cols, top)
    img = nrng.integers(0, 12, size=(rows, cols)).astype(np.float64)
    img[mask] = 15 + 200 * speckle(nrng, rows, cols)[mask]
    rgb = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return rgb, mask


def screen_background(rng: random.Random, nrng: np.random.Generator, rows: int, cols: int):
    """A screenshot-like background: light window, gradient or textured content."""
    kind = rng.choice(["light", "gradient", "texture", "dark"])
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    if kind == "light":
        img = np.full((rows, cols, 3), rng.randint(200, 245), dtype=np.float64)
        img[: rows // 10] = (60, 80, 140)  # title bar
    elif kind == "gradient":
        base = 40 + 180 * (xx / cols)
        img = np.stack([base, base * 0.9, 255 - base], axis=2)
    elif kind == "texture":
        t = 128 + 60 * np.sin(xx / rng.uniform(3, 9)) * np.cos(yy / rng.uniform(3, 9))
        t += nrng.normal(0, 15, size=(rows, cols))
        img = np.stack([t, t * 0.8 + 20, t * 0.6 + 40], axis=2)
    else:
        img = np.full((rows, cols, 3), 25, dtype=np.float64)
        y0, x0 = rows // 4, cols // 4
        img[y0 : y0 + rows // 2, x0 : x0 + cols // 2] = (
            80 + 100 * speckle(nrng, rows // 2, cols // 2)[..., None]
        )
    return np.clip(img, 0, 255).astype(np.uint8), kind


def colour_for(rng: random.Random, rgb: np.ndarray, x: int, y: int):
    """A text colour contrasting with the background near (x, y)."""
    patch = rgb[max(0, y - 4) : y + 12, max(0, x - 4) : x + 40]
    light = patch.size and float(patch.mean()) > 110
    table = COLOURS_LIGHT_BG if light else COLOURS_DARK_BG
    name = rng.choice(list(table))
    return name, table[name]


def make_us(rng: random.Random, nrng: np.random.Generator, rows: int, cols: int) -> Canvas:
    """An ultrasound-like frame with annotations in the margins (and one on the sector)."""
    rgb, _ = us_background(nrng, rows, cols)
    canvas = Canvas(rgb)
    texts = fake_texts(rng)
    rng.shuffle(texts)
    margin_regions = [
        (0, 0, cols // 3, rows // 3),  # top left (edges allowed)
        (2 * cols // 3 - 40, 0, cols - 20, rows // 4),  # top right
        (0, 2 * rows // 3, cols // 5, rows - 8),  # bottom left
        (3 * cols // 4, rows // 3, cols - 20, rows - 8),  # right margin
    ]
    n = rng.randint(5, 8)
    for i, text in enumerate(texts[:n]):
        region = margin_regions[i % len(margin_regions)]
        place_text(rng, canvas, text, rng.choice(list(COLOURS_DARK_BG.items())), region)
    # One label on the sector (text on textured content).
    place_text(
        rng,
        canvas,
        texts[n % len(texts)],
        rng.choice([("white", (255, 255, 255)), ("yellow", (255, 255, 0))]),
        (cols // 3, rows // 3, cols // 2, 2 * rows // 3),
        size=rng.choice([10, 12, 14, 16]),
    )
    return canvas


def make_screen(rng: random.Random, nrng: np.random.Generator, rows: int, cols: int) -> Canvas:
    """A screenshot-like frame with text on varied backgrounds, some at the edges."""
    rgb, _ = screen_background(rng, nrng, rows, cols)
    canvas = Canvas(rgb)
    texts = fake_texts(rng)
    rng.shuffle(texts)
    for text in texts[: rng.randint(5, 9)]:
        for _ in range(6):
            x, y = rng.randint(0, cols - 30), rng.randint(0, rows - 12)
            if place_text(rng, canvas, text, colour_for(rng, rgb, x, y), (x, y, x, y), tries=1):
                break
    return canvas


def make_cine(
    rng: random.Random, nrng: np.random.Generator, rows: int, cols: int, nframes: int
) -> tuple[list[np.ndarray], list[TextItem]]:
    """A cine: live sector, static annotations, a clock and a frame counter that change."""
    static = make_us(rng, nrng, rows, cols)
    fan = fan_mask(rows, cols, int(rows * 0.12))
    colour = rng.choice(list(COLOURS_DARK_BG.items()))
    h, m, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 50)
    font, font_name, size = load_font(rng, rng.choice([10, 11, 12, 14]))
    probe = ImageDraw.Draw(static.layer)
    spots = []
    for template in ("00:00:00", "Fr 00/00"):
        for _ in range(80):
            x, y = rng.randint(cols - 100, cols - 60), rng.randint(rows // 3, rows - 14)
            bx = probe.textbbox((x, y), template, font=font)
            if bx[2] <= cols and bx[3] <= rows and static.free(bx, gap=4):
                # Reserve the spot (tokens empty: not a ground-truth line itself).
                static.items.append(
                    TextItem(bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1], [], size, "", "")
                )
                spots.append((x, y))
                break
    items = [it for it in static.items if it.tokens]
    frames = []
    for k in range(nframes):
        bg = static.background.copy()
        live = np.clip(15 + 200 * speckle(nrng, rows, cols), 0, 255).astype(np.uint8)
        bg[fan] = live[fan][:, None]
        img = Image.fromarray(static.render(bg))
        d = ImageDraw.Draw(img)
        texts = [f"{h:02d}:{m:02d}:{(s + k // 3) % 60:02d}", f"Fr {k + 1}/{nframes}"]
        for (x, y), text in zip(spots, texts, strict=False):
            d.text((x, y), text, font=font, fill=colour[1])
            x0, y0, x1, y1 = d.textbbox((x, y), text, font=font)
            items.append(
                TextItem(x0, y0, x1 - x0, y1 - y0, text.split(), size, font_name, colour[0], [k])
            )
        frames.append(np.asarray(img).copy())
    return frames, items


def base_dataset(rng: random.Random, sop_class: str, seed: int, index: int) -> Dataset:
    """A minimal valid dataset with fake identifiers."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    uid = generate_uid(entropy_srcs=[str(seed), str(index), "sop"])
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[str(seed), str(index), "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(seed), str(index), "series"])
    ds.PatientName = f"{fake_word(rng).upper()}^{fake_word(rng, 2).upper()}"
    ds.PatientID = "".join(rng.choice("0123456789") for _ in range(8))
    ds.StudyDate = "20240102"
    ds.Modality = "US" if sop_class != SC_SOP else "OT"
    ds.BurnedInAnnotation = "YES"
    ds.SamplesPerPixel = 3
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def to_gray(frame: np.ndarray, gray_from: str = "luma") -> np.ndarray:
    """One gray plane of an RGB frame: ITU-R BT.601 luminance, or the channels' maximum.

    Luminance is what a conversion to gray gives (PIL's ``convert("L")``, the Y of
    YCbCr). The maximum (``gray_from="max"``, used before 2026-12-01) is kept to remake
    older sets: it keeps bright text of any hue bright, but turns the dark text that
    :func:`colour_for` picks for light backgrounds into light gray (dark blue
    (20, 30, 120) becomes 120), so on a textured screen the text took the texture's own
    mean gray: not the contrasting text the colour was chosen for, and not what a
    device's conversion to gray does.
    """
    if gray_from not in ("luma", "max"):
        raise ValueError(f"gray_from must be 'luma' or 'max', not {gray_from!r}")
    if frame.ndim == 2:
        return frame
    if gray_from == "max":
        return frame.max(axis=2)
    y = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def encode(ds: Dataset, frames: list[np.ndarray], mode: str, gray_from: str = "luma") -> str:
    """Store `frames` in `ds` as JPEG Baseline (mode 420/422/444/gray) or uncompressed
    (mode raw-rgb / raw-gray / raw-gray16). Returns the sampling label. Gray modes take
    the frames' gray by :func:`to_gray` with `gray_from`."""
    rows, cols = frames[0].shape[:2]
    ds.Rows, ds.Columns = rows, cols
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
        ds.FrameTime = 40
    gray = mode in ("gray", "raw-gray", "raw-gray16")
    if gray:
        frames = [to_gray(f, gray_from) for f in frames]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    else:
        ds.PlanarConfiguration = 0
    if mode.startswith("raw"):
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if mode == "raw-gray16":
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
            # 12-bit values 15 p + 60 (<= 3885); the window maps them back to about p.
            data = [(f.astype(np.uint16) * 15 + 60) for f in frames]
            ds.WindowCenter, ds.WindowWidth = 60 + 128 * 15, 256 * 15
            ds.PixelData = b"".join(d.astype("<u2").tobytes() for d in data)
        else:
            if not gray:
                ds.PhotometricInterpretation = "RGB"
            ds.PixelData = b"".join(f.tobytes() for f in frames)
        ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
        return mode
    subsampling = {"420": 2, "422": 1, "444": 0, "gray": 0}[mode]
    chunks = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=92, subsampling=subsampling)
        chunks.append(buf.getvalue())
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    if not gray:
        ds.PhotometricInterpretation = "YBR_FULL" if mode == "444" else "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.PixelData = encapsulate(chunks)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return mode


def generate(
    out: Path,
    count: int,
    seed: int,
    rows: int = 240,
    cols: int = 320,
    cine_frames: int = 10,
    cines: int = 1,
    modes: list[str] | None = None,
    gray_from: str = "luma",
) -> dict[str, Any]:
    """Write `count` single-frame files plus `cines` cines to `out`; return the ground truth.

    Parameters
    ----------
    out : Path
        Output directory (created).
    count : int
        Number of single-frame images (alternating ultrasound-like and screenshot-like).
    seed : int
        Seed; the output is a deterministic function of all arguments.
    rows, cols : int
        Image size.
    cine_frames, cines : int
        Frames per cine and number of cines.
    modes : list of str, optional
        Encodings to cycle through (default: JPEG 420/422/444/gray and raw-rgb/raw-gray).
    gray_from : {"luma", "max"}
        How gray images are made from the rendered RGB (:func:`to_gray`).
    """
    out.mkdir(parents=True, exist_ok=True)
    modes = modes or ["420", "raw-rgb", "422", "444", "gray", "raw-gray", "raw-gray16"]
    truth: dict[str, Any] = {"version": 1, "seed": seed, "gray_from": gray_from, "files": {}}
    for i in range(count + cines):
        rng = random.Random(f"{seed}-{i}")
        nrng = np.random.default_rng([seed, i])
        mode = modes[i % len(modes)]
        if i >= count:
            frames, items = make_cine(rng, nrng, rows, cols, cine_frames)
            name, sop = f"cine_{i - count:03d}.dcm", US_MF_SOP
            if mode in ("gray", "raw-gray", "raw-gray16"):
                mode = "420"
        else:
            kind = "us" if i % 2 == 0 else "screen"
            canvas = (make_us if kind == "us" else make_screen)(rng, nrng, rows, cols)
            frames, items = [canvas.render()], canvas.items
            name, sop = f"{kind}_{i:03d}.dcm", US_SOP if kind == "us" else SC_SOP
        ds = base_dataset(rng, sop, seed, i)
        sampling = encode(ds, frames, mode, gray_from)
        ds.save_as(out / name, enforce_file_format=True)
        truth["files"][name] = {
            "kind": name.split("_")[0],
            "rows": rows,
            "columns": cols,
            "frames": len(frames),
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "sampling": sampling,
            "boxes": [it.as_json() for it in items if it.tokens],
        }
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--count", type=int, default=10, help="single-frame images")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rows", type=int, default=240)
    p.add_argument("--cols", type=int, default=320)
    p.add_argument("--cines", type=int, default=1)
    p.add_argument("--cine-frames", type=int, default=10)
    p.add_argument(
        "--modes",
        default="",
        help="comma list of encodings: 420,422,444,gray,raw-rgb,raw-gray,raw-gray16",
    )
    p.add_argument(
        "--gray-from",
        choices=("luma", "max"),
        default="luma",
        help="gray images from the RGB's luminance, or its channels' maximum (sets "
        "made before 2026-12-01)",
    )
    a = p.parse_args(argv)
    modes = [m for m in a.modes.split(",") if m] or None
    truth = generate(
        a.out, a.count, a.seed, a.rows, a.cols, a.cine_frames, a.cines, modes, a.gray_from
    )
    n = sum(len(f["boxes"]) for f in truth["files"].values())
    print(f"wrote {len(truth['files'])} files, {n} boxes to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
