"""verify: coefficient, pixel and element proofs of a redaction, and residual text."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from dctredact import Box
from dctredact.api import redact_file
from dctredact.cli import app
from dctredact.verify import verify_file

FIXTURES = Path(__file__).parent.parent / "fixtures"
runner = CliRunner()


def jpeg_file() -> Path:
    return Path(str(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm")))


@pytest.mark.parametrize(
    "src",
    [
        jpeg_file(),
        FIXTURES / "jpeg" / "sampling_411.dcm",
        FIXTURES / "jpeg" / "monochrome1_odd.dcm",
        FIXTURES / "native" / "mono2_u12_hb15.dcm",
        FIXTURES / "native" / "ybr_full_422.dcm",
    ],
    ids=lambda p: p.name,
)
@pytest.mark.parametrize("fill", ["black", "flat"])
def test_redaction_verifies(tmp_path: Path, src: Path, fill: str) -> None:
    out = tmp_path / "out.dcm"
    boxes = [Box(3, 5, 21, 13), Box(30, 2, 9, 9)]
    redact_file(src, out, boxes, fill=fill)
    result = verify_file(src, out, boxes=boxes, fill=fill, ocr=False)
    assert result.ok, result.problems


def test_changes_outside_the_boxes_are_caught(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    redact_file(jpeg_file(), out, [Box(0, 0, 64, 32)])
    result = verify_file(jpeg_file(), out, boxes=[Box(0, 0, 16, 16)], ocr=False)
    assert not result.ok
    assert any("outside the planned area changed" in p for p in result.problems)
    # the wrong fill is caught too
    wrong = verify_file(jpeg_file(), out, boxes=[Box(0, 0, 64, 32)], fill="gray", ocr=False)
    assert any("do not hold the gray fill" in p for p in wrong.problems)
    native = FIXTURES / "native" / "ybr_full.dcm"
    redact_file(native, out, [Box(0, 0, 20, 20)])
    result = verify_file(native, out, boxes=[Box(0, 0, 10, 10)], ocr=False)
    assert any("outside the boxes changed" in p for p in result.problems)


def test_element_changes_are_caught_without_values(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    redact_file(jpeg_file(), out, [Box(0, 0, 8, 8)])
    ds = pydicom.dcmread(out)
    secret = "SECRETPATIENT42"
    ds.PatientID = secret
    ds.save_as(out)
    result = verify_file(jpeg_file(), out, boxes=[Box(0, 0, 8, 8)], ocr=False)
    assert any("PatientID changed" in p for p in result.problems)
    assert secret not in json.dumps(result.to_json())


def test_cli_tree_with_report(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.dcm").write_bytes(jpeg_file().read_bytes())
    (src / "b.dcm").write_bytes((FIXTURES / "native" / "rgb_planar1.dcm").read_bytes())
    out = tmp_path / "out"
    r = runner.invoke(app, ["redact", str(src), "-o", str(out), "--box", "2,2,30,20", "--no-ocr"])
    assert r.exit_code == 0, r.output
    ok = runner.invoke(app, ["verify", str(src), str(out), "--no-ocr", "--json"])
    assert ok.exit_code == 0, ok.output
    assert "2 of 2 file(s) verified" in ok.output
    assert all(json.loads(line)["ok"] for line in ok.stdout.splitlines())
    # without the report's boxes, the changed blocks are outside "nothing"
    (out / "dctredact-report.jsonl").unlink()
    bad = runner.invoke(app, ["verify", str(src / "a.dcm"), str(out / "a.dcm"), "--no-ocr"])
    assert bad.exit_code == 1
    assert "outside the planned area changed" in bad.output
    assert runner.invoke(app, ["verify", str(src), str(out / "a.dcm")]).exit_code == 2


@pytest.mark.slow
def test_ocr_flags_text_left(tmp_path: Path) -> None:
    src = FIXTURES / "text" / "screen_009.dcm"
    truth = json.loads((FIXTURES / "text" / "ground_truth.json").read_text())
    boxes = [Box(b["x"], b["y"], b["w"], b["h"]) for b in truth["files"][src.name]["boxes"]]
    out = tmp_path / "out.dcm"
    redact_file(src, out, boxes[:1])  # leave most of the text
    result = verify_file(src, out, boxes=boxes[:1])
    assert result.residual
    assert any("text left at" in p for p in result.problems)
