"""Pool start-up: fork when it is safe, a forkserver otherwise, same outputs either way;
one Tesseract thread per process in every backend."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import threading
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dctredact import batch
from dctredact.batch import BatchOptions, Job, run_local
from dctredact.geometry import parse_box
from dctredact.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
OPTIONS = BatchOptions(settings=Settings(boxes=(parse_box("0,0,40,24"),), ocr=False))


def _jobs(tmp_path: Path, out: str) -> list[Job]:
    sources = [Path(str(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm")))]
    sources += sorted((FIXTURES / "jpeg").glob("*.dcm"))[:5]
    return [
        Job(str(p), p.name, str(tmp_path / out / f"{i}-{p.name}")) for i, p in enumerate(sources)
    ]


def _digests(records: list[dict]) -> dict[str, str]:
    return {
        r["rel"]: hashlib.sha256(Path(r["output"]).read_bytes()).hexdigest()
        for r in records
        if r["output"]
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_fork_only_without_other_threads_or_thread_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    for name in batch._THREAD_POOL_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert batch._fork_is_safe()
    assert batch._mp_context().get_start_method() == "fork"
    monkeypatch.setitem(sys.modules, "onnxruntime", sys)  # a loaded native thread pool
    assert not batch._fork_is_safe()
    assert batch._mp_context().get_start_method() in ("forkserver", "spawn")
    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setattr(threading, "active_count", lambda: 2)  # another Python thread
    assert batch._mp_context().get_start_method() in ("forkserver", "spawn")


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_start_methods_give_the_same_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["dctredact.batch", "dctredact.api"])
    local = list(run_local(_jobs(tmp_path, "one"), OPTIONS, 1))
    monkeypatch.setattr(batch, "_mp_context", lambda: ctx)
    pooled = list(run_local(_jobs(tmp_path, "two"), OPTIONS, 2))
    assert sorted(r["rel"] for r in pooled) == sorted(r["rel"] for r in local)
    assert {r["rel"]: r["outcome"] for r in pooled} == {r["rel"]: r["outcome"] for r in local}
    assert _digests(pooled) == _digests(local)
    assert len(_digests(local)) >= 5


def test_one_tesseract_thread_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    seen: list[str | None] = []

    def spy(job: Job, options: BatchOptions) -> dict:
        seen.append(os.environ.get("OMP_THREAD_LIMIT"))
        return {"rel": job.rel}

    monkeypatch.setattr(batch, "process_one", spy)
    assert list(run_local([Job("a", "a", "a")], OPTIONS, 1)) == [{"rel": "a"}]
    assert seen == ["1"]  # the in-process (-j 1) run uses one core too ...
    assert "OMP_THREAD_LIMIT" not in os.environ  # ... and restores the caller's environment
    monkeypatch.setenv("OMP_THREAD_LIMIT", "3")  # a limit the user set is kept
    list(run_local([Job("a", "a", "a")], OPTIONS, 1))
    assert seen[-1] == "3"
    monkeypatch.delenv("OMP_THREAD_LIMIT")
    # process_many (pool and Dask workers) sets it for the worker process
    batch.process_many([Job("b", "b", "b")], OPTIONS)
    assert seen[-1] == "1"
    monkeypatch.delenv("OMP_THREAD_LIMIT")


def test_forked_workers_build_their_own_detectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(batch._DETECTORS, "parent", [])
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    batch._worker_init()
    assert "parent" not in batch._DETECTORS


def test_command_line_does_not_load_the_dicom_stack() -> None:
    """The process that only plans a batch and writes its report (``-j N`` parent, Dask
    client) never reads a DICOM file: importing the CLI must not import pydicom (0.3 s of
    start-up that the Dask client would add to ``import distributed``)."""
    import subprocess

    code = "import sys, dctredact.cli; print(sorted(m for m in sys.modules if 'pydicom' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pydicom_is_quietened_when_it_loads_after_the_request() -> None:
    """The command line asks for pydicom's quiet mode before pydicom is loaded; the
    process that later reads DICOM gets it (value validation off: its warnings quote
    header values)."""
    import subprocess

    code = (
        "import sys\n"
        "from dctredact.quiet import quiet_pydicom\n"
        "quiet_pydicom(load=False)\n"
        "assert 'pydicom' not in sys.modules\n"
        "import dctredact.api, pydicom.config\n"
        "print(pydicom.config.settings.reading_validation_mode == pydicom.config.IGNORE)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("status", "code", "stderr"),
    [(None, 0, ""), (0, 0, ""), (3, 3, ""), ("cannot go on", 1, "cannot go on\n")],
)
def test_console_script_exit_keeps_status_output_and_exit_handlers(
    status: object, code: int, stderr: str
) -> None:
    """The console script ends without interpreter teardown (:func:`dctredact.cli.exit_now`)
    but otherwise as :func:`sys.exit` would: same status, buffered output written,
    ``atexit`` handlers run (a pool's or a temporary directory's clean-up)."""
    import subprocess

    code_text = (
        "import atexit, sys\n"
        "from dctredact.cli import exit_now\n"
        "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
        "sys.stdout.write('buffered ')\n"
        f"exit_now({status!r})\n"
        "print('not reached')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code_text], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (code, "buffered handler ran\n", stderr)


def test_console_script_status_of_a_failed_run(tmp_path: Path) -> None:
    """A usage error and a run with a file that cannot be redacted keep their statuses
    through the console script's exit."""
    import subprocess

    cli = [sys.executable, "-m", "dctredact"]
    usage = subprocess.run([*cli, "redact"], capture_output=True, text=True)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    bad = tmp_path / "in" / "bad.dcm"
    bad.parent.mkdir()
    whole = Path(str(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm"))).read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])  # the pixel data cut short
    failed = subprocess.run(
        [*cli, "redact", str(bad.parent), "-o", str(tmp_path / "out"), "--no-ocr", "-q"],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1, failed.stderr
    assert not (tmp_path / "out" / "bad.dcm").exists()
    version = subprocess.run([*cli, "version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip()


def test_no_progress_bar_no_rich(tmp_path: Path) -> None:
    """Without a terminal (or with ``-q``) there is no progress bar and rich, 25 ms of
    import, is not loaded; messages still reach stderr."""
    import subprocess

    src = tmp_path / "in"
    src.mkdir()
    whole = Path(str(get_testdata_file("SC_rgb_dcmtk_+eb+cy+n2.dcm"))).read_bytes()
    (src / "ok.dcm").write_bytes(whole)
    (src / "cut.dcm").write_bytes(whole[: len(whole) // 2])
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from dctredact.cli import app\n"
        f"args = ['redact', {str(src)!r}, '-o', {str(tmp_path / 'out')!r}, '--no-ocr', '-v']\n"
        "result = CliRunner().invoke(app, args)\n"
        "print(result.exit_code, sorted(m for m in sys.modules if m.startswith('rich')))\n"
        "print(result.output)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    first, _, output = proc.stdout.partition("\n")
    assert first == "1 []", proc.stdout + proc.stderr
    assert "FAILED" in output and "redacted" in output
