"""Hostile input: mutated real and fixture files never crash, hang or leak.

Every case redacts a box in a mutated file with :func:`dctredact.api.redact_file` and
asserts one of two outcomes (see :func:`fuzz_corpus.run_case`):

* a :class:`~dctredact.errors.DctRedactError`, and no output file; or
* an output file that decodes with pydicom and whose box is filled in every frame;

never another exception, never a changed input (sha256 before and after), and never more
than a few seconds per case. The mutators live in ``tools/fuzz_corpus.py``, which also
runs the long corpus fuzzing.
"""

from __future__ import annotations

import importlib.util
import io
import random
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fuzz_corpus", ROOT / "tools" / "fuzz_corpus.py")
assert _spec is not None and _spec.loader is not None
fuzz_corpus = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_corpus"] = fuzz_corpus
_spec.loader.exec_module(fuzz_corpus)

#: Seconds one case may take (the real ones take milliseconds).
CASE_SECONDS = 5.0

PYDICOM_FILES = [
    "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_small_odd_jpeg.dcm",
    "examples_ybr_color.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_rle_2frame.dcm",
    "JPEG-LL.dcm",
]
FIXTURE_FILES = sorted(
    str(p.relative_to(ROOT))
    for d in ("jpeg", "native")
    for p in (ROOT / "fixtures" / d).glob("*.dcm")
)


def _first_frames(data: bytes, count: int) -> bytes:
    """A multi-frame encapsulated file cut down to its first `count` frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data))
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames <= count or not ds.file_meta.TransferSyntaxUID.is_compressed:
        return data
    kept = [
        f
        for _, f in zip(
            range(count), generate_frames(ds.PixelData, number_of_frames=frames), strict=False
        )
    ]
    ds.PixelData = encapsulate(kept)
    ds.NumberOfFrames = count
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@cache
def source(name: str) -> bytes:
    """The bytes of a named source file (multi-frame JPEGs cut to 2 frames)."""
    path = ROOT / name if name.startswith("fixtures/") else Path(get_testdata_file(name))
    return _first_frames(path.read_bytes(), 2)


SOURCES = PYDICOM_FILES + FIXTURE_FILES


def check(data: bytes, box: tuple[int, int, int, int] | None = None, what: str = "") -> str:
    """Run one case in a scratch folder and assert a clean outcome; return the kind."""
    box = box or fuzz_corpus.default_box(data)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.dcm"
        src.write_bytes(data)
        started = time.monotonic()
        record: dict[str, Any] = fuzz_corpus.run_case(str(src), box, tmp)
        elapsed = time.monotonic() - started
        assert src.read_bytes() == data, f"{what}: input changed"
    assert record["kind"] in ("error", "valid"), f"{what}: {record}"
    assert elapsed < CASE_SECONDS, f"{what}: took {elapsed:.1f} s"
    return str(record["kind"])


def test_sources_redact_cleanly() -> None:
    for name in SOURCES:
        assert check(source(name), what=name) == "valid", name


FUZZ = settings(
    max_examples=160,
    deadline=timedelta(seconds=CASE_SECONDS),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


@FUZZ
@given(name=st.sampled_from(SOURCES), rng=st.randoms(use_true_random=False))
def test_random_mutations(name: str, rng: random.Random) -> None:
    data, desc = fuzz_corpus.mutate(source(name), rng)
    check(data, fuzz_corpus.default_box(source(name)), f"{name}: {desc}")


@settings(FUZZ, max_examples=25)
@given(
    mutator=st.sampled_from(sorted(fuzz_corpus.MUTATORS)),
    name=st.sampled_from(SOURCES),
    rng=st.randoms(use_true_random=False),
)
def test_each_mutator(mutator: str, name: str, rng: random.Random) -> None:
    original = source(name)
    data, desc = fuzz_corpus.MUTATORS[mutator](original, fuzz_corpus.structure(original), rng)
    check(data, fuzz_corpus.default_box(original), f"{name}: {mutator}: {desc}")


TRUNCATE = ["SC_rgb_small_odd_jpeg.dcm", "MR_small_RLE.dcm", "fixtures/jpeg/restart_420.dcm"]
TRUNCATE += ["fixtures/native/mono2_1bit_3frame.dcm", "fixtures/jpeg/fragments_422.dcm"]


@pytest.mark.parametrize("name", TRUNCATE)
def test_truncation_at_every_boundary(name: str) -> None:
    original = source(name)
    box = fuzz_corpus.default_box(original)
    kinds = set()
    for cut in fuzz_corpus.structure(original).boundaries:
        if 0 < cut < len(original):
            kinds.add(check(original[:cut], box, f"{name} cut at {cut}"))
    assert "error" in kinds


@pytest.mark.parametrize(
    "name", ["SC_rgb_small_odd_jpeg.dcm", "fixtures/jpeg/restart_1mcu_com.dcm"]
)
def test_every_length_field_lies(name: str) -> None:
    import struct

    original = source(name)
    box = fuzz_corpus.default_box(original)
    for pos, size, order in fuzz_corpus.structure(original).lengths:
        fmt = order + ("I" if size == 4 else "H")
        old = struct.unpack_from(fmt, original, pos)[0]
        top = (1 << (8 * size)) - 1
        for new in {0, 1, 2, max(old - 1, 0), min(old + 1, top), min(old + 2, top), top}:
            if new == old:
                continue
            data = bytearray(original)
            struct.pack_into(fmt, data, pos, new)
            check(bytes(data), box, f"{name}: length at {pos} {old} -> {new}")


HEADER_VALUES = [0, 1, 2, 3, 4, 7, 8, 9, 12, 16, 17, 32, 0x7FFF, 0xFFFF]


@pytest.mark.parametrize(
    "name", ["SC_rgb_dcmtk_+eb+cy+n2.dcm", "MR_small.dcm", "fixtures/native/ybr_full_422.dcm"]
)
def test_inconsistent_header_values(name: str) -> None:
    import struct

    original = source(name)
    box = fuzz_corpus.default_box(original)
    structure = fuzz_corpus.structure(original)
    assert structure.us
    for keyword, (pos, order) in structure.us.items():
        for value in HEADER_VALUES:
            data = bytearray(original)
            struct.pack_into(order + "H", data, pos, value)
            check(bytes(data), box, f"{name}: {keyword} = {value}")


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_dcmtk_+eb+cy+n2.dcm", "fixtures/jpeg/sampling_411.dcm", "SC_rgb_small_odd_jpeg.dcm"],
)
def test_every_jpeg_header_byte(name: str) -> None:
    """Each byte of every SOF, SOS, DRI and DQT/DHT header set to extreme values."""
    original = source(name)
    box = fuzz_corpus.default_box(original)
    structure = fuzz_corpus.structure(original)
    for kind in ("SOF", "SOS", "DRI", "DHT", "DQT"):
        for _, start, end in structure.segments.get(kind, []):
            stop = end if kind in ("SOF", "SOS", "DRI") else min(end, start + 17)
            for pos in range(start, stop):
                for value in (0x00, 0x11, 0xFF):
                    if original[pos] == value:
                        continue
                    data = bytearray(original)
                    data[pos] = value
                    check(bytes(data), box, f"{name}: {kind} byte {pos} = {value:#x}")
