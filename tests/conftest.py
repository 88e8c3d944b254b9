"""Shared test helpers: an independent coefficient oracle (libjpeg via jpeglib), decoders,
and the labelled-fixture generator run into a folder."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: jpeg_natural_order: natural (row-major) index of each zig-zag position (T.81 Figure A.6).
ZIGZAG = np.array(
    [
        0,
        1,
        8,
        16,
        9,
        2,
        3,
        10,
        17,
        24,
        32,
        25,
        18,
        11,
        4,
        5,
        12,
        19,
        26,
        33,
        40,
        48,
        41,
        34,
        27,
        20,
        13,
        6,
        7,
        14,
        21,
        28,
        35,
        42,
        49,
        56,
        57,
        50,
        43,
        36,
        29,
        22,
        15,
        23,
        30,
        37,
        44,
        51,
        58,
        59,
        52,
        45,
        38,
        31,
        39,
        46,
        53,
        60,
        61,
        54,
        47,
        55,
        62,
        63,
    ]
)


def libjpeg_coefficients(stream: bytes) -> list[np.ndarray]:
    """Quantized coefficients as libjpeg reads them (jpeglib), in zig-zag order.

    Returns one ``(blocks_high, blocks_wide, 64)`` array per component (data blocks only).
    This is an oracle independent of dctredact's own entropy decoder.
    """
    import jpeglib

    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as fh:
        fh.write(stream)
        name = fh.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = jpeglib.read_dct(name)
            comps = [im.Y]
            if im.Cb is not None:
                comps += [im.Cb, im.Cr]
            if getattr(im, "K", None) is not None:
                comps.append(im.K)
    finally:
        os.unlink(name)
    out = []
    for c in comps:
        arr = np.asarray(c).astype(np.int16)
        flat = arr.reshape(arr.shape[0], arr.shape[1], 64)
        out.append(flat[:, :, ZIGZAG])
    return out


def pillow_decode(stream: bytes, *, raw: bool = False) -> np.ndarray:
    """Decode with Pillow (libjpeg-turbo). ``raw`` keeps YCbCr (no colour conversion)."""
    from PIL import Image

    im = Image.open(io.BytesIO(stream))
    if raw and im.mode == "RGB":
        im.draft("YCbCr", im.size)
    im.load()
    return np.asarray(im)


def pylibjpeg_decode(stream: bytes) -> np.ndarray:
    """Decode with pylibjpeg-libjpeg (Thomas Richter's libjpeg), a second decoder."""
    from libjpeg import decode

    return np.asarray(decode(stream))


@pytest.fixture
def tmp_out(tmp_path):
    return tmp_path


def generate_text_fixtures(out: Path, *args: str) -> dict[str, Any]:
    """Run ``tools/make_text_fixtures.py --out OUT ARGS``; the ground truth's ``files``."""
    tool = Path(__file__).resolve().parents[1] / "tools" / "make_text_fixtures.py"
    subprocess.run(
        [sys.executable, str(tool), "--out", str(out), *args], check=True, capture_output=True
    )
    files: dict[str, Any] = json.loads((out / "ground_truth.json").read_text())["files"]
    return files
