"""--dask: a batch on a distributed.LocalCluster gives the same outputs as a local run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dctredact.cli import app

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (installed with distributed)

from dctredact.dask_backend import BATCH_WORKER_CONFIG  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "fixtures"
runner = CliRunner()


def hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*.dcm")
    }


@pytest.mark.slow
def test_dask_cluster_matches_local(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "native").mkdir(parents=True)
    for p in sorted((FIXTURES / "jpeg").glob("*.dcm")):
        (src / p.name).write_bytes(p.read_bytes())
    for p in sorted((FIXTURES / "native").glob("*.dcm"))[:5]:
        (src / "native" / p.name).write_bytes(p.read_bytes())
    (src / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00junk")
    args = ["--box", "4,4,30,20", "--no-ocr", "--mark-clean"]
    local, remote = tmp_path / "local", tmp_path / "remote"
    first = runner.invoke(app, ["redact", str(src), "-o", str(local), *args])
    assert first.exit_code == 1  # bad.dcm
    with (
        dask.config.set(BATCH_WORKER_CONFIG),  # the recommended worker settings
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        result = runner.invoke(
            app, ["redact", str(src), "-o", str(remote), *args, "--dask", cluster.scheduler_address]
        )
    assert result.exit_code == 1, result.output
    assert hashes(remote) == hashes(local)
    assert len(hashes(local)) == 14

    def outcomes(root: Path) -> dict[str, str]:
        lines = (root / "dctredact-report.jsonl").read_text().splitlines()
        return {json.loads(x)["rel"]: json.loads(x)["outcome"] for x in lines}

    assert outcomes(remote) == outcomes(local)


def test_unreachable_scheduler_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCTREDACT_DASK_TIMEOUT", "1s")
    src = FIXTURES / "jpeg" / "restart_420.dcm"
    result = runner.invoke(
        app,
        [
            "redact",
            str(src),
            "-o",
            str(tmp_path / "o.dcm"),
            "--no-ocr",
            "--dask",
            "tcp://127.0.0.1:1",
        ],
    )
    assert result.exit_code == 1
    assert "Dask scheduler" in result.output
    assert "Traceback" not in result.output


def test_batch_worker_config_names_existing_dask_settings() -> None:
    # A key Dask does not know would be set silently and do nothing.
    for key, value in BATCH_WORKER_CONFIG.items():
        default = dask.config.get(key)  # KeyError when Dask has no such setting
        assert type(default) is type(value), key
        assert default != value, key


def test_batch_worker_config_matches_the_documented_yaml() -> None:
    import yaml

    text = (Path(__file__).parent.parent / "docs" / "batch.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    documented = yaml.safe_load(block)
    for key, value in BATCH_WORKER_CONFIG.items():
        assert dask.config.get(key, config=documented) == value, key

    def leaves(d: dict, prefix: str = "") -> list[str]:
        out: list[str] = []
        for k, v in d.items():
            out += leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
        return out

    assert sorted(leaves(documented)) == sorted(BATCH_WORKER_CONFIG)
