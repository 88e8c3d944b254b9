"""QA previews: before | after PNGs and the HTML contact sheet, rendered in Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dctredact.cli import app
from dctredact.preview import sample_indices

FIXTURES = Path(__file__).parent.parent / "fixtures"
runner = CliRunner()


def test_sample_indices() -> None:
    assert sample_indices(1, 4) == [0]
    assert sample_indices(10, 3) == [0, 4, 9] or sample_indices(10, 3) == [0, 5, 9]
    assert sample_indices(3, 4) == [0, 1, 2]


def test_preview_png_of_a_cine(tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    src = FIXTURES / "text" / "cine_000.dcm"
    result = runner.invoke(
        app,
        ["preview", str(src), "-o", str(out), "--no-ocr", "--box", "0,0,100,40", "--frames", "3"],
    )
    assert result.exit_code == 0, result.output
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[0] > 3 * 240 * 0.9  # three sampled frames, one row each
    # the redacted area is tinted green on the right, the box outlined (yellow) on the left
    half = img.shape[1] // 2
    after = img[20:50, half + 10 : half + 80]
    assert (after[..., 1] > after[..., 0] + 50).mean() > 0.9
    left = img[:260, :half]
    assert ((left[..., 0] > 200) & (left[..., 1] > 200) & (left[..., 2] < 60)).any()


def test_preview_usage_errors(tmp_path: Path) -> None:
    assert runner.invoke(app, ["preview", "--html", str(tmp_path / "x.html")]).exit_code == 2
    assert runner.invoke(app, ["preview"]).exit_code == 2


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_contact_sheet_renders_in_chromium(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("screen_001.dcm", "cine_000.dcm"):
        (src / name).write_bytes((FIXTURES / "text" / name).read_bytes())
    (src / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00junk")
    out = tmp_path / "out"
    sheet = tmp_path / "sheet.html"
    result = runner.invoke(
        app,
        [
            "redact",
            str(src),
            "-o",
            str(out),
            "--no-ocr",
            "--box",
            "0,0,120,40",
            "--html",
            str(sheet),
        ],
    )
    assert result.exit_code == 1  # the broken file
    html = sheet.read_text()
    assert html.count('class="card') == 3 and "sheet_files/" in html
    assert (tmp_path / "sheet_files").is_dir()
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                _chromium() or "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1200,900",
                sheet.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (900, 1200)
    assert img.std() > 20  # not blank
    # the thumbnails loaded: the green "redacted" tint is on screen
    green = (
        (img[..., 1] > 120) & (img[..., 1] > img[..., 0] + 60) & (img[..., 1] > img[..., 2] + 30)
    )
    assert green.sum() > 500
