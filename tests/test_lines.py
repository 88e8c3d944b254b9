"""Growing partial OCR boxes to whole text lines."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dctredact.detect.base import Detection
from dctredact.detect.lines import grow_detection, grow_to_line
from dctredact.geometry import Box


def _text(
    im: Image.Image,
    xy: tuple[int, int],
    text: str,
    fill: tuple[int, int, int],
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont | None = None,
) -> tuple[int, int, int, int]:
    """Draw `text` on `im` at `xy` (PIL's default font unless given); its bbox."""
    draw = ImageDraw.Draw(im)
    font = font or ImageFont.load_default()
    draw.text(xy, text, fill=fill, font=font)
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    return int(x0), int(y0), int(x1), int(y1)


def _line(background: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    im = Image.new("RGB", (200, 40), (10, 10, 10))
    if background is not None:
        im = Image.fromarray(background)
    bbox = _text(im, (12, 14), "DOE JANE 1234567 ZZ", (255, 255, 0))
    return np.asarray(im), bbox


def _doe_on_speckle(width: int, x: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """White "DOE" at (x, 60) on coarse gray speckle 120 px high; the frame and its bbox."""
    rng = np.random.default_rng(7)
    speckle = rng.integers(0, 256, (60, 200)).astype(np.uint8)
    speckle = np.asarray(Image.fromarray(speckle).resize((width, 120), Image.Resampling.NEAREST))
    im = Image.fromarray(np.repeat(speckle[:, :, None], 3, axis=2))
    bbox = _text(im, (x, 60), "DOE", (255, 255, 255))
    return np.asarray(im), bbox


def test_a_word_box_grows_to_the_whole_line() -> None:
    frame, (x0, y0, x1, y1) = _line()
    seed = Box(x0, y0, 20, y1 - y0, "ocr")  # only the first word
    grown = grow_to_line(frame, seed)
    assert grown.x <= x0 and grown.x1 >= x1 - 2  # textbbox counts the last advance
    assert grown.y <= y0 and grown.y1 >= y1
    assert grown.h <= 2 * (y1 - y0) + 4  # it does not swallow the frame


def test_growth_stops_on_a_background_of_the_text_colour() -> None:
    yellow = np.zeros((40, 200, 3), np.uint8)
    yellow[:, 100:] = (255, 255, 0)  # right half has the text's own colour
    frame, (x0, y0, _, y1) = _line(yellow)
    grown = grow_to_line(frame, Box(x0, y0, 20, y1 - y0, "ocr"))
    assert grown.w <= 30 * grown.h


def test_only_ocr_boxes_are_grown() -> None:
    frame, (x0, y0, _, y1) = _line()
    found = Detection(boxes=[Box(x0, y0, 20, y1 - y0, "ocr"), Box(x0, y0, 20, y1 - y0, "rules")])
    grown = grow_detection(None, found, lambda: iter([frame]))  # type: ignore[arg-type]
    assert grown.boxes[0].w > 20
    assert grown.boxes[1].w == 20


def test_growth_on_texture_is_bounded() -> None:
    # Coarse gray speckle: white text's colour is as common above and below the line as
    # beside it, so the box grows at most 2 line heights sideways, not in height.
    # (Unbounded, it grows to (0, 58, 190, 16) here.)
    frame, (x0, y0, x1, y1) = _doe_on_speckle(400, 150)
    seed = Box(x0, y0, x1 - x0, y1 - y0, "ocr")
    grown = grow_to_line(frame, seed)
    assert grown.y == seed.y and grown.h == seed.h
    assert grown.x >= seed.x - 2 * seed.h and grown.x1 <= seed.x1 + 2 * seed.h
    # The same word on a plain background still grows to its whole line.
    frame, (lx0, ly0, lx1, ly1) = _line()
    assert grow_to_line(frame, Box(lx0, ly0, 20, ly1 - ly0, "ocr")).x1 >= lx1 - 2


def test_text_colour_counts_blends_with_the_background_not_any_nearer_pixel() -> None:
    from dctredact.detect.lines import _text_coloured

    text, background = np.array([201.0, 204.0, 79.0]), np.array([49.0, 49.0, 35.0])
    pixels = np.array(
        [[[201, 204, 79], [140, 142, 61], [150, 150, 150], [49, 49, 35], [60, 58, 40]]],
        dtype=np.uint8,
    )  # text, a 60 % blend, gray speckle (nearer the text, no blend), background, near it
    got = _text_coloured(pixels, text, background, tolerance=40)
    assert got.tolist() == [[True, True, False, False, False]]


def test_yellow_line_does_not_grow_over_gray_speckle_beside_it() -> None:
    """Gray speckle is nearer yellow text than the black background, but no blend of
    the two: a line at the edge of an ultrasound sector stays a line (it grew over the
    sector's rows, to twice its height, before)."""
    rng = np.random.default_rng(5)
    frame = np.zeros((60, 200, 3), np.uint8)
    frame[:, :] = (20, 20, 20)
    speckle = rng.integers(90, 220, size=(26, 118), dtype=np.uint8)
    frame[18:44, :118] = speckle[:, :, None]  # gray speckle beside the line only
    im = Image.fromarray(frame)
    x0, y0, x1, y1 = _text(im, (120, 24), "ACC 620721", (230, 220, 40))
    seed = Box(x0, y0, x1 - x0, y1 - y0, "ocr")
    grown = grow_to_line(np.asarray(im), seed)
    assert grown.h <= seed.h + 2 and grown.x >= 118 - 2 * seed.h


def test_a_box_across_texture_does_not_grow_in_height() -> None:
    """A box that cannot grow sideways (here: as wide as the frame) does not grow in
    height over texture either: the rows above and below hold as much of the text's
    colour as rows further away. (In a generated cine, a block of three overlay lines
    over speckle grew by half its height above and below, to 300 x 90 px; seed 57.)"""
    frame, (_, y0, _, y1) = _doe_on_speckle(200, 80)
    seed = Box(0, y0, 200, y1 - y0, "ocr")
    assert grow_to_line(frame, seed) == seed
    # On a plain background a box cut through its glyphs still grows to their height.
    frame, (lx0, ly0, lx1, ly1) = _line()
    cut = Box(lx0, ly0 + 1, lx1 - lx0, ly1 - ly0 - 3, "ocr")
    assert grow_to_line(frame, cut).h > cut.h


def test_text_colour_of_a_loose_box_is_the_text_not_the_background() -> None:
    """Small text is under 15 % of a loose box: its colour must still be the glyphs',
    not the background's noise (following a near-black "text colour", a frame counter's
    box grew across a generated cine's whole width, 640 x 36 px in every frame; seed 61)."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 12, size=(60, 300, 3), dtype=np.uint8)  # black, with noise
    frame[20:44, :120] = rng.integers(60, 200, size=(24, 120, 1), dtype=np.uint8)  # speckle
    im = Image.fromarray(frame)
    x0, y0, x1, y1 = _text(im, (200, 26), "Fr 1/10", (255, 255, 255))
    loose = Box(x0 - 8, y0 - 8, x1 - x0 + 16, y1 - y0 + 16, "ocr")
    grown = grow_to_line(np.asarray(im), loose)
    assert grown.x >= loose.x - 2 * loose.h and grown.x1 <= 300
    assert grown.w <= loose.w + 4 * loose.h


def test_a_line_running_into_speckle_of_its_own_gray_goes_on_under_it() -> None:
    """A low-gray line from an ultrasound sector's black margin into speckle of its own
    gray: the speckle is mostly the text's colour, yet the box still grows into it by
    the bounded reach on texture (it kept the margin part only, and the rest of a date
    stayed readable; generated seed 60, us_018)."""
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 14, size=(60, 360, 3), dtype=np.uint8)
    frame[:, 120:] = rng.integers(75, 125, size=(60, 240, 1), dtype=np.uint8)  # speckle
    im = Image.fromarray(frame)
    x0, y0, _, y1 = _text(im, (100, 24), "2015-01-03 2015-01-03", (95, 95, 95))
    seed = Box(x0, y0, 120 - x0, y1 - y0, "ocr")  # the part on black
    grown = grow_to_line(np.asarray(im), seed)
    assert grown.x1 >= 120 + seed.h  # under the speckle
    assert grown.x1 <= 120 + 2 * seed.h + 1 and grown.h == seed.h  # bounded, as on texture


def test_a_line_does_not_grow_across_speckle_to_another_line() -> None:
    """Two white lines at the same height, a sector of speckle between them. Over all
    the new columns, the other line makes the growth denser in white than the speckle a
    line height away, and the box grew across the sector to join it (a generated cine,
    seed 76: 544 x 65 px in every frame). Walked outward step by step, the growth stops
    a bounded reach into the speckle."""
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 12, size=(120, 460, 3), dtype=np.uint8)
    sector = rng.integers(20, 110, size=(120, 60), dtype=np.uint8)
    sector[rng.random((120, 60)) < 0.1] = 250  # bright specks
    frame[:, 230:290] = sector[:, :, None]
    im = Image.fromarray(frame)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 20)
    other = _text(im, (82, 50), "Gn 59 D 12cm", (255, 255, 255), font)  # ends at the sector
    x0, y0, x1, y1 = _text(im, (298, 50), "MI 0.6", (255, 255, 255), font)
    seed = Box(x0, y0, x1 - x0, y1 - y0, "ocr")
    grown = grow_to_line(np.asarray(im), seed)
    assert 220 < other[2] <= 230
    assert 230 - seed.h <= grown.x <= seed.x, grown  # into the sector, not across it
    assert grown.x1 == seed.x1 and grown.h == seed.h
