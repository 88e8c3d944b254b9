"""The command line: exit codes, outputs, errors without tracebacks, help on every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from dctredact.cli import app

FIXTURES = Path(__file__).parent.parent / "fixtures"
runner = CliRunner()


def jpeg_file() -> str:
    return str(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm"))


def test_every_command_has_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"redact", "inspect", "scan"} <= set(commands)
    for name in commands:
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, name
        assert "Usage" in sub.output


def test_redact_one_file_with_boxes(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    result = runner.invoke(
        app,
        ["redact", jpeg_file(), "-o", str(out), "--box", "0,0,100,20", "--no-ocr", "--json"],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["outcome"] == "redacted"
    assert record["handler"] == "jpeg-baseline"
    assert record["transfer_syntax_out"] == "1.2.840.10008.1.2.4.50"
    assert record["boxes"] == [{"x": 0, "y": 0, "w": 100, "h": 20, "source": "explicit"}]
    assert pydicom.dcmread(out).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"


def test_bad_box_is_a_usage_error() -> None:
    result = runner.invoke(app, ["redact", jpeg_file(), "-o", "x.dcm", "--box", "1,2,3"])
    assert result.exit_code == 2
    assert "four integers" in result.output


def test_folder_with_a_corrupt_file_fails_closed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    good = Path(jpeg_file()).read_bytes()
    (src / "good.dcm").write_bytes(good)
    # Corrupt the entropy-coded data of the second copy: it must not be written.
    bad = bytearray(good)
    sos = bad.rindex(b"\xff\xda")
    for i in range(sos + 20, min(sos + 400, len(bad) - 20)):
        bad[i] = 0xFF if i % 2 else 0x13
    (src / "sub" / "bad.dcm").write_bytes(bytes(bad))
    (src / "notes.txt").write_text("not dicom")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["redact", str(src), "-o", str(out), "--box", "0,0,50,50", "--no-ocr"]
    )
    assert result.exit_code == 1
    assert (out / "good.dcm").exists()
    assert not (out / "sub" / "bad.dcm").exists()
    assert "FAILED" in result.output and "bad.dcm" in result.output
    assert "Traceback" not in result.output
    assert not list(out.rglob("*.part"))


def test_refuses_to_overwrite_the_input(tmp_path: Path) -> None:
    f = tmp_path / "a.dcm"
    f.write_bytes(Path(jpeg_file()).read_bytes())
    result = runner.invoke(app, ["redact", str(f), "-o", str(f), "--box", "0,0,5,5", "--no-ocr"])
    assert result.exit_code == 2
    assert f.read_bytes() == Path(jpeg_file()).read_bytes()


def test_not_dicom_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "x.dcm"
    f.write_bytes(b"hello")
    result = runner.invoke(app, ["redact", str(f), "-o", str(tmp_path / "y.dcm"), "--no-ocr"])
    assert result.exit_code == 1
    assert "not a DICOM Part 10 file" in result.output
    assert not (tmp_path / "y.dcm").exists()


def test_inspect_human_and_json() -> None:
    result = runner.invoke(app, ["inspect", jpeg_file(), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["handler"] == "jpeg-baseline"
    assert info["jpeg"]["sampling"] == "2x1/1x1/1x1 4:2:2"
    assert info["jpeg"]["sof"].startswith("SOF0")
    human = runner.invoke(app, ["inspect", str(FIXTURES / "jpeg" / "restart_420.dcm")])
    assert human.exit_code == 0
    assert "restart_interval: 3" in human.output


def test_rules_and_box_file(tmp_path: Path) -> None:
    boxes = tmp_path / "boxes.json"
    ds = pydicom.dcmread(jpeg_file())
    boxes.write_text(
        json.dumps(
            {ds.SOPInstanceUID: [[1, 2, 3, 4]], "*": [{"x": 0, "y": 0, "w": 9, "h": 9, "frame": 0}]}
        )
    )
    result = runner.invoke(app, ["scan", jpeg_file(), "--no-ocr", "--boxes", str(boxes), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["boxes"] == [{"x": 1, "y": 2, "w": 3, "h": 4, "source": "boxes"}]
    assert record["frame_boxes"] == {"0": [{"x": 0, "y": 0, "w": 9, "h": 9, "source": "boxes"}]}


def test_missing_rules_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "redact",
            jpeg_file(),
            "-o",
            str(tmp_path / "o.dcm"),
            "--no-ocr",
            "--rules",
            str(tmp_path / "nope.script"),
        ],
    )
    assert result.exit_code == 2
    assert "nope.script" in result.output


@pytest.mark.slow
def test_real_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "o.dcm"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dctredact",
            "redact",
            jpeg_file(),
            "-o",
            str(out),
            "--box",
            "0,0,10,10",
            "--no-ocr",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert "1 of 1 file(s) written" in proc.stderr


def test_no_header_value_reaches_stderr(tmp_path: Path) -> None:
    # pydicom warns about invalid values by quoting them; the CLI must not pass that on.
    ds = pydicom.dcmread(jpeg_file())
    ds.StudyInstanceUID = "1.2.SECRET-PATIENT-VALUE"
    ds.PatientName = "Secret^Patient"
    src = tmp_path / "in.dcm"
    ds.save_as(src)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dctredact",
            "redact",
            str(src),
            "-o",
            str(tmp_path / "o.dcm"),
            "--box",
            "0,0,10,10",
            "--no-ocr",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "SECRET" not in proc.stderr + proc.stdout
    assert "Secret" not in proc.stderr + proc.stdout


def test_scan_textnet_switch() -> None:
    shot = str(FIXTURES / "text" / "screen_001.dcm")
    on = runner.invoke(app, ["scan", shot, "--json"])
    off = runner.invoke(app, ["scan", shot, "--no-textnet", "--json"])
    assert on.exit_code == 0 and off.exit_code == 0, on.output + off.output
    sources_on = {b["source"] for b in json.loads(on.stdout)["boxes"]}
    sources_off = {b["source"] for b in json.loads(off.stdout)["boxes"]}
    assert "textnet" in sources_on
    assert "textnet" not in sources_off and sources_off <= {"ocr"}


def _run_into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with standard output a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write fails (EPIPE) from the first: nothing races
    try:
        return subprocess.run(
            [sys.executable, "-m", "dctredact", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.slow
def test_closed_stdout_stops_the_run_and_says_so(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.dcm", "b.dcm", "c.dcm"):
        (src / name).write_bytes(Path(jpeg_file()).read_bytes())
    out = tmp_path / "out"
    args = ["redact", str(src), "-o", str(out), "--box", "0,0,10,10", "--no-ocr", "--json"]
    proc = _run_into_closed_pipe(args)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "standard output was closed: stopped after 1 of 3 file(s)" in proc.stderr
    # What was written is whole and in the report; a rerun finishes the batch.
    report = [json.loads(line) for line in (out / "dctredact-report.jsonl").open()]
    written = sorted(p.name for p in out.glob("*.dcm"))
    assert written == sorted(Path(r["output"]).name for r in report)
    for name in written:
        assert pydicom.dcmread(out / name).pixel_array.shape
    again = subprocess.run(
        [sys.executable, "-m", "dctredact", *args], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.glob("*.dcm")) == ["a.dcm", "b.dcm", "c.dcm"]


@pytest.mark.slow
def test_closed_stdout_stops_scan(tmp_path: Path) -> None:
    for json_flag in ([], ["--json"]):
        proc = _run_into_closed_pipe(
            ["scan", jpeg_file(), "--box", "0,0,10,10", "--no-ocr", *json_flag]
        )
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert "standard output was closed: stopped after 0 of 1 file(s)" in proc.stderr
