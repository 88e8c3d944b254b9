"""check: the CI regression check on fixture images."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dctredact.cli import app

FIXTURES = Path(__file__).parent.parent / "fixtures"
runner = CliRunner()


def expectations(tmp_path: Path, **extra: object) -> Path:
    data = {
        "settings": {"ocr": False, "box": ["0,0,48,24"], "fill": "black"},
        "files": {
            "restart_420.dcm": {"boxes": [{"x": 3, "y": 3, "w": 40, "h": 18, "frames": None}]},
            "sampling_411.dcm": {"boxes": [[0, 0, 40, 20]]},
        },
        **extra,
    }
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(data))
    return path


def test_check_passes_and_pins_hashes(tmp_path: Path) -> None:
    exp = expectations(tmp_path)
    args = ["check", str(FIXTURES / "jpeg"), "--expect", str(exp), "--no-residual"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 of 2 fixture(s) passed" in result.output
    updated = runner.invoke(app, [*args, "--update-hashes"])
    assert updated.exit_code == 0
    pinned = json.loads(exp.read_text())
    assert all(len(f["sha256"]) == 64 for f in pinned["files"].values())
    assert runner.invoke(app, args).exit_code == 0  # deterministic output


def test_check_reports_a_readable_diff(tmp_path: Path) -> None:
    exp = expectations(tmp_path)
    data = json.loads(exp.read_text())
    data["files"]["restart_420.dcm"]["boxes"].append({"x": 60, "y": 40, "w": 10, "h": 10})
    data["files"]["sampling_411.dcm"]["sha256"] = "0" * 64
    data["files"]["missing.dcm"] = {"boxes": []}
    exp.write_text(json.dumps(data))
    result = runner.invoke(
        app, ["check", str(FIXTURES / "jpeg"), "--expect", str(exp), "--no-residual", "--json"]
    )
    assert result.exit_code == 1
    assert "FAIL restart_420.dcm" in result.output
    assert "box 60,60,10,10" not in result.output
    assert "box 60,40,10,10 (all frames): 0.0% covered, expected >= 100%" in result.output
    assert "sha256: expected 0000" in result.output
    assert "missing.dcm" in result.output and "not found" in result.output
    assert "0 of 3 fixture(s) passed" in result.output


def test_check_settings_errors_are_usage_errors(tmp_path: Path) -> None:
    exp = tmp_path / "e.json"
    exp.write_text(json.dumps({"settings": {"bogus": 1}, "files": {}}))
    result = runner.invoke(app, ["check", str(FIXTURES / "jpeg"), "--expect", str(exp)])
    assert result.exit_code == 2 and "unknown key" in result.output


def test_check_with_ocr_on_a_text_fixture(tmp_path: Path) -> None:
    truth = json.loads((FIXTURES / "text" / "ground_truth.json").read_text())
    exp = tmp_path / "e.json"
    exp.write_text(
        json.dumps(
            {"settings": {"ocr": True}, "files": {"us_004.dcm": truth["files"]["us_004.dcm"]}}
        )
    )
    result = runner.invoke(app, ["check", str(FIXTURES / "text"), "--expect", str(exp)])
    assert result.exit_code == 0, result.output
    assert "tokens" not in result.output
