"""Batch runs: mixed trees fail closed, resume, determinism, marking, config, kill + re-run."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from dctredact.cli import app
from dctredact.dicomio import read_dicom

FIXTURES = Path(__file__).parent.parent / "fixtures"
runner = CliRunner()
BOX = ["--box", "0,0,40,24", "--no-ocr"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def jpeg_bytes() -> bytes:
    return Path(str(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm"))).read_bytes()


def corrupt_jpeg() -> bytes:
    bad = bytearray(jpeg_bytes())
    sos = bad.rindex(b"\xff\xda")
    for i in range(sos + 20, min(sos + 400, len(bad) - 20)):
        bad[i] = 0xFF if i % 2 else 0x13
    return bytes(bad)


def mpeg2_file(path: Path) -> None:
    """A copy of a real file relabelled MPEG-2 (refused: video)."""
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.UID("1.2.840.10008.1.2.4.100")
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path, enforce_file_format=True)


def make_tree(root: Path, *, bad: bool = True) -> Path:
    src = root / "in"
    (src / "a" / "b").mkdir(parents=True)
    (src / "good.dcm").write_bytes(jpeg_bytes())
    (src / "a" / "native.dcm").write_bytes((FIXTURES / "native" / "ybr_full.dcm").read_bytes())
    (src / "a" / "b" / "restart").write_bytes((FIXTURES / "jpeg" / "restart_420.dcm").read_bytes())
    (src / "notes.txt").write_text("not dicom")
    if bad:
        (src / "a" / "bad.dcm").write_bytes(corrupt_jpeg())
        mpeg2_file(src / "a" / "video.dcm")
    return src


def report(path: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["rel"]: r for r in rows}


def test_mixed_tree_fails_closed(tmp_path: Path) -> None:
    src = make_tree(tmp_path)
    out, quarantine = tmp_path / "out", tmp_path / "quarantine"
    result = runner.invoke(
        app, ["redact", str(src), "-o", str(out), *BOX, "--quarantine", str(quarantine)]
    )
    assert result.exit_code == 1, result.output
    assert (out / "good.dcm").is_file() and (out / "a" / "native.dcm").is_file()
    assert (out / "a" / "b" / "restart").is_file()  # DICOM by content, not extension
    assert not (out / "a" / "bad.dcm").exists() and not (out / "a" / "video.dcm").exists()
    assert not (out / "notes.txt").exists()
    assert not list(out.rglob("*.part"))
    assert (quarantine / "a" / "bad.dcm").read_bytes() == corrupt_jpeg()
    assert "FAILED" in result.output and "bad.dcm" in result.output
    assert "SKIPPED" in result.output and "MPEG-2" in result.output
    assert "3 of 5 file(s) written" in result.output
    assert "Traceback" not in result.output
    records = report(out / "dctredact-report.jsonl")
    assert set(records) == {"good.dcm", "a/native.dcm", "a/b/restart", "a/bad.dcm", "a/video.dcm"}
    good = records["good.dcm"]
    assert good["outcome"] == "redacted" and good["handler"] == "jpeg-baseline"
    assert good["output_sha256"] == sha(out / "good.dcm")
    assert good["input_sha256"] == sha(src / "good.dcm")
    assert good["boxes"] == [{"x": 0, "y": 0, "w": 40, "h": 24, "source": "explicit"}]
    assert good["box_sources"] == {"explicit": 1}
    for key in ("sop_instance_uid", "transfer_syntax_in", "transfer_syntax_out", "settings_digest"):
        assert good[key]
    assert good["changed"] > 0 and good["unit"] == "blocks" and good["fill"] == "black"
    assert records["a/native.dcm"]["unit"] == "pixels"
    bad = records["a/bad.dcm"]
    assert bad["outcome"] == "failed" and bad["output"] is None and bad["error"]
    assert bad["quarantined"].endswith("bad.dcm")
    video = records["a/video.dcm"]
    assert video["outcome"] == "skipped" and "MPEG-2" in video["error"]
    assert video["handler"] == "refused"


def test_allow_skip_exit_code(tmp_path: Path) -> None:
    src = make_tree(tmp_path, bad=False)
    mpeg2_file(src / "video.dcm")
    args = ["redact", str(src), "-o", str(tmp_path / "out"), *BOX]
    assert runner.invoke(app, args).exit_code == 1
    assert runner.invoke(app, [*args, "--allow-skip"]).exit_code == 0


def test_output_inside_input_is_refused(tmp_path: Path) -> None:
    src = make_tree(tmp_path, bad=False)
    result = runner.invoke(app, ["redact", str(src), "-o", str(src / "out"), *BOX])
    assert result.exit_code == 2 and "inside the input" in result.output
    result = runner.invoke(app, ["redact", str(src), "-o", str(src), *BOX])
    assert result.exit_code == 2
    before = sha(src / "good.dcm")
    result = runner.invoke(app, ["redact", str(src), "-o", str(src), *BOX, "--in-place", "-q"])
    assert result.exit_code == 0, result.output
    assert sha(src / "good.dcm") != before
    # quarantine must never be inside the output
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["redact", str(src), "-o", str(out), *BOX, "--quarantine", str(out / "q")]
    )
    assert result.exit_code == 2


def test_resume_and_determinism(tmp_path: Path) -> None:
    src = make_tree(tmp_path, bad=False)
    out = tmp_path / "out"
    first = runner.invoke(app, ["redact", str(src), "-o", str(out), *BOX])
    assert first.exit_code == 0, first.output
    hashes = {p.name: sha(p) for p in out.rglob("*") if p.is_file() and p.suffix != ".jsonl"}
    again = runner.invoke(app, ["redact", str(src), "-o", str(out), *BOX, "--json"])
    assert again.exit_code == 0
    assert "3 already done" in again.output
    assert all(json.loads(line)["resumed"] for line in again.stdout.splitlines())
    # a tampered output is redone; the report keeps one record per file
    (out / "good.dcm").write_bytes(b"junk")
    third = runner.invoke(app, ["redact", str(src), "-o", str(out), *BOX])
    assert "2 already done" in third.output
    assert sha(out / "good.dcm") == hashes["good.dcm"]
    assert len((out / "dctredact-report.jsonl").read_text().splitlines()) == 3
    # other settings: everything is redone
    fourth = runner.invoke(app, ["redact", str(src), "-o", str(out), *BOX, "--fill", "gray"])
    assert "already done" not in fourth.output
    # determinism: a fresh run with two workers gives byte-identical outputs
    out2 = tmp_path / "out2"
    r = runner.invoke(app, ["redact", str(src), "-o", str(out2), *BOX, "-j", "2"])
    assert r.exit_code == 0, r.output
    assert {
        p.name: sha(p) for p in out2.rglob("*") if p.suffix != ".jsonl" and p.is_file()
    } == hashes


def test_mark_clean_and_new_uids(tmp_path: Path) -> None:
    src = make_tree(tmp_path, bad=False)
    out = tmp_path / "out"
    args = ["redact", str(src), "-o", str(out), *BOX, "--mark-clean", "--new-uids"]
    assert runner.invoke(app, args).exit_code == 2  # no salt
    result = runner.invoke(app, [*args, "--uid-salt", "s3cret"])
    assert result.exit_code == 0, result.output
    old = pydicom.dcmread(src / "good.dcm")
    new = pydicom.dcmread(out / "good.dcm")
    assert new.BurnedInAnnotation == "NO"
    codes = [
        (i.CodeValue, i.CodingSchemeDesignator) for i in new.DeidentificationMethodCodeSequence
    ]
    assert ("113101", "DCM") in codes
    assert new.SOPInstanceUID != old.SOPInstanceUID
    assert new.file_meta.MediaStorageSOPInstanceUID == new.SOPInstanceUID
    assert new.PatientName == old.PatientName  # nothing else changes
    with open(tmp_path / "out-uid-map.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    mapping = {r["old_sop_instance_uid"]: r["new_sop_instance_uid"] for r in rows}
    assert mapping[old.SOPInstanceUID] == new.SOPInstanceUID
    # consistent: the same salt gives the same UID in another run
    out2 = tmp_path / "out2"
    runner.invoke(
        app,
        [
            "redact",
            str(src),
            "-o",
            str(out2),
            *BOX,
            "--mark-clean",
            "--new-uids",
            "--uid-salt",
            "s3cret",
        ],
    )
    assert sha(out2 / "good.dcm") == sha(out / "good.dcm")
    verify = runner.invoke(app, ["verify", str(src), str(out), "--no-ocr"])
    assert verify.exit_code == 0, verify.output


def test_default_changes_only_pixel_data(tmp_path: Path) -> None:
    src = make_tree(tmp_path, bad=False)
    out = tmp_path / "out"
    assert runner.invoke(app, ["redact", str(src), "-o", str(out), *BOX]).exit_code == 0
    a, b = (src / "good.dcm").read_bytes(), (out / "good.dcm").read_bytes()
    pixel = a.rindex(b"\xe0\x7f\x10\x00")
    assert a[:pixel] == b[:pixel]  # every byte before Pixel Data is the same


def test_config_file_and_override(tmp_path: Path) -> None:
    src = make_tree(tmp_path, bad=False)
    conf = tmp_path / "site.toml"
    conf.write_text('ocr = false\nbox = ["0,0,40,24", [8, 8, 8, 8]]\nfill = "gray"\n')
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["redact", str(src), "-o", str(out), "--config", str(conf), "--fill", "flat"]
    )
    assert result.exit_code == 0, result.output
    rec = report(out / "dctredact-report.jsonl")["good.dcm"]
    assert rec["fill"] == "flat"  # the flag wins
    assert [b["w"] for b in rec["boxes"]] == [40, 8]
    conf.write_text("nonsense = 1\n")
    bad = runner.invoke(app, ["redact", str(src), "-o", str(out), "--config", str(conf)])
    assert bad.exit_code == 2 and "unknown key" in bad.output


@pytest.mark.slow
def test_report_has_no_text_or_names_by_default(tmp_path: Path) -> None:
    f = FIXTURES / "text" / "screen_001.dcm"
    name = str(pydicom.dcmread(f).PatientName)
    with_text = runner.invoke(
        app, ["redact", str(f), "-o", str(tmp_path / "a.dcm"), "--report-text", "--json"]
    )
    texts = json.loads(with_text.stdout.splitlines()[-1]).get("texts", [])
    words = {w for t in texts for w in t.split() if len(w) >= 4 and w.isalnum()}
    assert words, "OCR read nothing: the check below would prove nothing"
    out = tmp_path / "out"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s.dcm").write_bytes(f.read_bytes())
    result = runner.invoke(app, ["redact", str(tmp_path / "in"), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    text = (out / "dctredact-report.jsonl").read_text() + result.stdout
    assert "texts" not in text
    for word in words:
        assert word not in text
    for part in name.replace("^", " ").split():
        assert part not in text


def test_killed_run_resumes_to_complete_outputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    data = jpeg_bytes()
    for i in range(60):
        (src / f"f{i:03d}.dcm").write_bytes(data)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dctredact", "redact", str(src), "-o", str(out), *BOX]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rep = out / "dctredact-report.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if rep.exists() and len(rep.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(rep.read_text().splitlines())
    assert done_before < 60, "the run finished before it could be killed"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "60 of 60 file(s) written" in rerun.stderr
    assert "already done" in rerun.stderr
    assert not list(out.rglob("*.part"))
    records = report(rep)
    assert len(records) == 60
    for rel, rec in records.items():
        path = out / rel
        assert sha(path) == rec["output_sha256"]
        read_dicom(path)  # complete and parseable


@given(
    weights=st.lists(st.integers(1, 10_000_000), max_size=400),
    workers=st.integers(1, 16),
)
def test_work_units_cover_every_job_once_largest_first(weights: list[int], workers: int) -> None:
    from dctredact.batch import chunked

    jobs = list(range(len(weights)))
    units = chunked(jobs, workers, weight=weights.__getitem__)  # type: ignore[arg-type]
    flat = [j for u in units for j in u]
    assert sorted(flat) == jobs
    # heaviest first; equal weights keep their order
    assert flat == sorted(jobs, key=lambda j: (-weights[j], j))
    assert all(1 <= len(u) <= 16 for u in units)
    # A unit of several files never outweighs its share, so none can be the straggler.
    share = sum(weights) / (workers * 4)
    assert all(len(u) == 1 or sum(weights[j] for j in u) <= share for u in units)
    # Enough units to keep every worker busy to the end, unless units are at full size.
    n = len(jobs)
    assert len(units) >= min(workers * 4, n, -(-n // 16))


def test_work_units_shrink_towards_the_end() -> None:
    from dctredact.batch import chunked

    weights = [1] * 400
    units = chunked(list(range(400)), 2, weight=weights.__getitem__)  # type: ignore[arg-type]
    sizes = [len(u) for u in units]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[-1]
    assert sizes[-1] <= 4


def test_job_weight_follows_the_file_size(tmp_path: Path) -> None:
    from dctredact.batch import FILE_OVERHEAD_BYTES, Job, job_weight

    big, small = tmp_path / "big.dcm", tmp_path / "small.dcm"
    big.write_bytes(b"\0" * 100_000)
    small.write_bytes(b"\0" * 10)
    assert job_weight(Job(str(big), "b", "x")) == 100_000 + FILE_OVERHEAD_BYTES
    assert job_weight(Job(str(small), "s", "x")) == 10 + FILE_OVERHEAD_BYTES
    assert job_weight(Job(str(tmp_path / "gone.dcm"), "g", "x")) == FILE_OVERHEAD_BYTES
    resumed = Job(str(big), "b", "x", previous={"outcome": "redacted"})
    assert job_weight(resumed) < job_weight(Job(str(big), "b", "x"))


class FakeLibc:
    """Records mallopt/malloc_trim calls instead of changing this process's allocator."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad, 0))
        return 1


def test_roomy_malloc_raises_and_restores_dask_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    from dctredact.batch import _roomy_malloc

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    libc = FakeLibc()
    with pytest.raises(RuntimeError), _roomy_malloc(libc):
        assert [c[1] for c in libc.calls] == [-3, -1]  # raised before the work
        assert all(c[2] >= 32 << 20 for c in libc.calls)
        raise RuntimeError("a failing unit still restores the allocator")
    assert libc.calls[2:] == [
        ("mallopt", -1, 65536),
        ("mallopt", -3, 128 * 1024),
        ("malloc_trim", 0, 0),
    ]


def test_roomy_malloc_restores_when_the_last_of_overlapping_units_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dctredact.batch import _roomy_malloc

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    libc = FakeLibc()
    with _roomy_malloc(libc):
        with _roomy_malloc(libc):  # a second thread's unit
            pass
        assert len(libc.calls) == 2  # raised once, not restored while a unit runs
    assert [c[0] for c in libc.calls[2:]] == ["mallopt", "mallopt", "malloc_trim"]


def test_roomy_malloc_leaves_an_untuned_allocator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from dctredact.batch import _roomy_malloc

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    libc = FakeLibc()
    with _roomy_malloc(libc):
        pass
    assert libc.calls == []
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "not a number")
    with _roomy_malloc(libc):
        pass
    assert libc.calls == []


def test_roomy_malloc_with_the_real_allocator() -> None:
    """In a child (the allocator is process-wide): glibc accepts the calls, work runs."""
    code = (
        "import numpy as np\n"
        "from dctredact.batch import _glibc, _roomy_malloc\n"
        "libc = _glibc()\n"
        "assert libc is not None\n"
        "with _roomy_malloc(libc):\n"
        "    total = sum(int(np.ones(1 << 20, np.uint8).sum()) for _ in range(20))\n"
        "print(total)\n"
    )
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(20 << 20)
