"""Tests of the PHI policy: header value matching and the OCR detector under ``phi``."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from dctredact.detect.ocr import OcrDetector
from dctredact.detect.policy import PhiMatcher, Policy, date_forms, edit_distance, normalise
from dctredact.geometry import Box

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def header() -> Dataset:
    ds = Dataset()
    ds.PatientName = "KORAVIN^MELITA^ANNE"
    ds.PatientID = "40917733"
    ds.OtherPatientIDs = ["X-77123", "QZ9"]
    ds.AccessionNumber = "A186008"
    ds.PatientBirthDate = "19610407"
    ds.StudyDate = "20200114"
    ds.InstitutionName = "Talmeno General Hospital"
    ds.ReferringPhysicianName = "DRAVEN^TOS"
    ds.OperatorsName = "SULHAL"
    return ds


@pytest.fixture(scope="module")
def matcher() -> PhiMatcher:
    return PhiMatcher.from_dataset(header())


def test_helpers() -> None:
    assert normalise("Name: O'Brien-2") == "NAMEOBRIEN2"
    assert edit_distance("KORAVIN", "KORAV1N") == 1
    assert edit_distance("", "ABC") == 3
    assert date_forms("2020011") == set()


@pytest.mark.parametrize(
    "word", ["KORAVIN", "koravin,", "Melita", "ANNE", "Draven", "SULHAL", "Talmeno"]
)
def test_name_parts_match(matcher: PhiMatcher, word: str) -> None:
    assert matcher.matches(word)


@pytest.mark.parametrize("word", ["40917733", "ID:40917733", "X-77123", "A186008", "QZ9"])
def test_ids_match(matcher: PhiMatcher, word: str) -> None:
    assert matcher.matches(word)


@pytest.mark.parametrize(
    "word",
    [
        "19610407",
        "1961-04-07",
        "07/04/1961",
        "04-07-1961",
        "07.04.1961",
        "07/04/61",
        "61-04-07",
        "7/4/1961",
        "07-Apr-1961",
        "2020/01/14",
        "14.01.2020",
        "DOB:1961-04-07",
    ],
)
def test_dates_in_formats_match(matcher: PhiMatcher, word: str) -> None:
    assert matcher.matches(word)


@pytest.mark.parametrize(
    "word",
    ["KORAV1N", "K0RAVIN", "KORAVTN", "4O9l7733", "4091773", "A1860O8", "MELlTA"],
)
def test_ocr_errors_tolerated(matcher: PhiMatcher, word: str) -> None:
    assert matcher.matches(word)


@pytest.mark.parametrize(
    "word", ["Gn", "MI", "TIS", "0.7", "C5-1", "Abd", "Liver", "12:30:41", "2019-04-07", "A", ""]
)
def test_non_phi_does_not_match(matcher: PhiMatcher, word: str) -> None:
    assert not matcher.matches(word)


def test_split_words_joined(matcher: PhiMatcher) -> None:
    words = ["DOB", "1961", "04", "07", "Gn", "68"]
    boxes = [Box(10 + 40 * i, 5, 30, 10) for i in range(len(words))]
    assert matcher.select(words, boxes) == [False, True, True, True, False, False]
    # Not joined across lines (the birth year alone still matches).
    boxes[2] = Box(50, 200, 30, 10)
    assert matcher.select(words, boxes)[1:4] == [True, False, False]


def test_empty_header_matches_nothing() -> None:
    assert not PhiMatcher.from_dataset(Dataset()).matches("KORAVIN")
    assert not PhiMatcher.from_dataset(None).matches("KORAVIN")


def test_policy_options() -> None:
    assert Policy().matcher(header()) is None
    assert Policy("phi").matcher(header()) is not None
    assert Policy(keep=("Gn", "TIS")).is_kept("gn") and not Policy().is_kept("Gn")
    with pytest.raises(ValueError, match="unknown"):
        Policy("some")


# -- end to end with the detector ----------------------------------------------------


def _frame() -> tuple[np.ndarray, dict[str, Box]]:
    """A generated annotation frame: a name, an ID, a date and non-PHI settings."""
    img = Image.new("RGB", (360, 150), (0, 0, 0))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 16)
    lines = {
        "name": ((10, 10), "KORAVIN MELITA"),
        "id": ((10, 45), "40917733"),
        "gain": ((200, 10), "Gn 68"),
        "probe": ((200, 45), "Liver C5"),
        "date": ((10, 80), "07/04/1961"),
        "mi": ((200, 80), "MI 1.2"),
    }
    truth = {}
    for key, (xy, text) in lines.items():
        d.text(xy, text, font=font, fill=(255, 255, 0))
        x0, y0, x1, y1 = d.textbbox(xy, text, font=font)
        truth[key] = Box(x0, y0, x1 - x0, y1 - y0)
    return np.asarray(img).copy(), truth


def _covered(box: Box, found: list[Box]) -> float:
    mask = np.zeros((150, 360), dtype=bool)
    for b in found:
        mask[b.y : b.y1, b.x : b.x1] = True
    return float(mask[box.y : box.y1, box.x : box.x1].mean())


def test_phi_policy_keeps_settings_and_removes_identifiers() -> None:
    frame, truth = _frame()
    det = OcrDetector(policy=Policy("phi")).detect_frame(frame, header())
    for key in ("name", "id", "date"):
        assert _covered(truth[key], det.boxes) >= 0.98, key
    for key in ("gain", "probe", "mi"):
        assert _covered(truth[key], det.boxes) == 0.0, key
    assert det.texts == []  # text is never returned unless asked


def test_all_policy_with_keep_list() -> None:
    frame, truth = _frame()
    everything = OcrDetector().detect_frame(frame)
    assert all(_covered(b, everything.boxes) >= 0.98 for b in truth.values())
    kept = OcrDetector(policy=Policy(keep=("Gn", "68", "MI", "1.2"))).detect_frame(frame)
    assert _covered(truth["gain"], kept.boxes) == 0.0
    assert _covered(truth["mi"], kept.boxes) == 0.0
    assert _covered(truth["name"], kept.boxes) >= 0.98
