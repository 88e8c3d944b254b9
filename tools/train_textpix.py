#!/usr/bin/env python3
"""Train the text-pixel network (``src/dctredact/detect/models/textpix.onnx``).

The network is a small U-Net (four scales, 16 to 64 channels, about 0.26 M weights) that
reads a frame's BT.601 luminance and chroma and marks the boxes of its text lines. It is
trained on images of ``make_text_fixtures.py`` (ultrasound-like and screen-like frames,
every colour, size and encoding the scorer's sets use), made here from seeds of their
own (``"train-{seed}-{i}"``; the labelled sets are made from ``"{seed}-{i}"``, so no
training image is in a scored set). Three in five images also get structure that is
not text drawn under the text layer: bodies of regions with curved edges (as on CT or
MR), filled and outlined ellipses, lines, arcs, rectangles,
traces, tick marks, dots, gradient bars and discs of anatomy-like texture, and some are
blank frames with or without text. Without such negatives a network taught on the
generator alone takes any structure for text (on real CT and MR images it marked 30-66 %
of the frame).

Training: 96 x 96 crops (70 % of them over a text line), batches of 16, AdamW with a
one-cycle learning rate (peak 3e-3), binary cross-entropy (text weighted 2) plus the
Dice loss, on the CPU. The model is exported to ONNX with a sigmoid on its output; at
run time it needs only onnxruntime (:meth:`dctredact.detect.textnet.TextNet.boxes_pixel`).

Needs PyTorch and onnx, which dctredact itself does not::

    pip install torch onnx
    python tools/train_textpix.py --images 5200 --steps 4000 \\
        --out src/dctredact/detect/models/textpix.onnx

One run takes about 25 minutes on two cores. Runs are seeded, but PyTorch's CPU kernels
do not promise bit-identical results across machines; a retrained model follows the
same recipe, not the same bytes.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_text_fixtures as fixtures

try:
    from dctredact.detect.textnet import pixel_input
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from dctredact.detect.textnet import pixel_input

SIZES = [(240, 320), (480, 640), (400, 512)]
MODES = ["420", "422", "444", "gray", "raw-rgb", "raw-gray"]


def _smooth_noise(nrng: np.random.Generator, rows: int, cols: int, cell: int) -> np.ndarray:
    """Noise smooth over about `cell` pixels, in 0..1."""
    small = nrng.normal(size=(max(2, rows // cell), max(2, cols // cell)))
    small = (small - small.min()) / (np.ptp(small) + 1e-9) * 255
    img = Image.fromarray(small.astype(np.uint8)).resize((cols, rows), Image.BICUBIC)
    return np.asarray(img).astype(np.float64) / 255


def distract(rng: random.Random, nrng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """`rgb` with structure that is not text drawn on it (the network's negatives)."""
    rows, cols = rgb.shape[:2]
    img = Image.fromarray(rgb)
    if rng.random() < 0.3:  # a body of regions with curved edges, as on CT or MR
        field = _smooth_noise(nrng, rows, cols, rng.choice([16, 32, 64]))
        levels = np.array(sorted(rng.uniform(0, 255) for _ in range(rng.randint(3, 6))))
        region = np.digitize(field, np.linspace(0, 1, len(levels) + 1)[1:-1])
        body = levels[region] + nrng.normal(0, rng.uniform(0, 12), (rows, cols))
        yy, xx = np.mgrid[0:rows, 0:cols]
        cy, cx = rng.uniform(0.35, 0.65) * rows, rng.uniform(0.35, 0.65) * cols
        ry, rx = rng.uniform(0.3, 0.6) * rows, rng.uniform(0.3, 0.6) * cols
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        a = np.asarray(img).astype(np.float64)
        a[inside] = body[inside][:, None]
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        if rng.random() < 0.5:
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    if rng.random() < 0.3:  # a disc of anatomy-like texture
        tex = 0.6 * _smooth_noise(nrng, rows, cols, rng.choice([8, 16, 32]))
        tex += 0.4 * _smooth_noise(nrng, rows, cols, 4)
        yy, xx = np.mgrid[0:rows, 0:cols]
        cy, cx = rng.uniform(0.3, 0.7) * rows, rng.uniform(0.3, 0.7) * cols
        ry, rx = rng.uniform(0.2, 0.5) * rows, rng.uniform(0.2, 0.5) * cols
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        a = np.asarray(img).astype(np.float64)
        lo, hi = rng.uniform(0, 120), rng.uniform(130, 255)
        a[inside] = (lo + (hi - lo) * tex[inside])[:, None]
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        if rng.random() < 0.5:
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 8)):
        g = rng.randint(0, 255)
        col = (g, g, g) if rng.random() < 0.7 else tuple(rng.randint(0, 255) for _ in range(3))
        x0, y0 = rng.randint(-20, cols), rng.randint(-20, rows)
        w, h = rng.randint(3, cols // 2), rng.randint(3, rows // 2)
        kind, width = rng.random(), rng.randint(1, 3)
        if kind < 0.2:
            fill = col if rng.random() < 0.5 else None
            d.ellipse([x0, y0, x0 + w, y0 + h], fill=fill, outline=col, width=width)
        elif kind < 0.4:
            d.line([x0, y0, rng.randint(0, cols), rng.randint(0, rows)], fill=col, width=width)
        elif kind < 0.5:
            d.rectangle([x0, y0, x0 + w, y0 + h], outline=col, width=width)
        elif kind < 0.65:  # a trace
            n = rng.randint(10, 60)
            xs = np.linspace(x0, x0 + 2 * w, n)
            ys = y0 + np.cumsum(nrng.normal(0, rng.uniform(1, 6), n))
            d.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=col, width=width)
        elif kind < 0.75:
            d.arc([x0, y0, x0 + w, y0 + w], rng.randint(0, 360), rng.randint(0, 360), col, width)
        elif kind < 0.85:  # tick marks of a scale
            vertical, step, length = rng.random() < 0.5, rng.randint(4, 20), rng.randint(2, 8)
            for t in range(rng.randint(3, 20)):
                if vertical:
                    d.line([x0, y0 + t * step, x0 + length, y0 + t * step], fill=col)
                else:
                    d.line([x0 + t * step, y0, x0 + t * step, y0 + length], fill=col)
        elif kind < 0.92:  # dots
            for _dot in range(rng.randint(3, 30)):
                px, py, r = x0 + rng.randint(0, w), y0 + rng.randint(0, h), rng.randint(1, 3)
                d.ellipse([px - r, py - r, px + r, py + r], fill=col)
        else:  # a gray bar
            for t in range(w):
                v = int(255 * t / max(1, w))
                d.line([x0 + t, y0, x0 + t, y0 + min(h, 20)], fill=(v, v, v))
    return np.asarray(img).copy()


def encode_like_fixtures(rng: random.Random, rgb: np.ndarray, quality: int) -> np.ndarray:
    """`rgb` as a fixture's display frame: through JPEG (4:2:0, 4:2:2, 4:4:4 or gray at
    `quality`) or uncompressed RGB or gray, chosen at random."""
    mode = rng.choice(MODES)
    if mode in ("gray", "raw-gray"):
        gray = fixtures.to_gray(rgb)
        if mode == "gray":
            buf = io.BytesIO()
            Image.fromarray(gray).save(buf, "JPEG", quality=quality)
            gray = np.asarray(Image.open(buf))
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "raw-rgb":
        return rgb
    buf = io.BytesIO()
    sub = {"420": 2, "422": 1, "444": 0}[mode]
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=sub)
    return np.asarray(Image.open(buf).convert("RGB"))


def example(seed: int, index: int, negatives: bool) -> tuple[np.ndarray, np.ndarray]:
    """One training image (uint8 RGB) and its mask of text line boxes (uint8 0/1).

    Without `negatives`: a fixture frame as the labelled sets make them (320 x 240 or
    640 x 480, JPEG at quality 92). With: also 512 x 400 and blank frames, structure
    from :func:`distract` under the text on 70 % of them, JPEG quality 75-95.
    """
    tag = "train2" if negatives else "train"
    rng = random.Random(f"{tag}-{seed}-{index}")
    nrng = np.random.default_rng([seed, index, 11 if negatives else 7])
    rows, cols = rng.choice(SIZES if negatives else SIZES[:2])
    kind = rng.choice(["us", "screen", "blank"] if negatives else ["us", "screen"])
    if kind == "blank":
        canvas = fixtures.Canvas(np.zeros((rows, cols, 3), np.uint8) + rng.randint(0, 60))
    else:
        make = fixtures.make_us if kind == "us" else fixtures.make_screen
        canvas = make(rng, nrng, rows, cols)
    if negatives and rng.random() < 0.7:
        canvas.background = distract(rng, nrng, canvas.background)
    if kind == "blank" and rng.random() < 0.5:
        colours = list(fixtures.COLOURS_DARK_BG.items())
        region = (0, 0, cols - 30, rows - 12)
        for text in fixtures.fake_texts(rng)[: rng.randint(0, 5)]:
            fixtures.place_text(rng, canvas, text, rng.choice(colours), region)
    rgb = canvas.render()
    mask = np.zeros((rows, cols), np.uint8)
    for it in canvas.items:
        if it.tokens:
            mask[it.y : it.y + it.h, it.x : it.x + it.w] = 1
    quality = rng.choice([75, 85, 92, 95]) if negatives else 92
    return encode_like_fixtures(rng, rgb, quality), mask


def build_network(channels: int = 16) -> Any:
    """The U-Net (PyTorch module) with `channels` at full scale."""
    import torch
    from torch import nn
    from torch.nn import functional

    def block(i: int, o: int, dilation: int = 1) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(o),
            nn.ReLU(inplace=True),
        )

    c = channels

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e1 = nn.Sequential(block(2, c), block(c, c))
            self.e2 = nn.Sequential(block(c, 2 * c), block(2 * c, 2 * c))
            self.e3 = nn.Sequential(block(2 * c, 4 * c), block(4 * c, 4 * c))
            self.e4 = nn.Sequential(block(4 * c, 4 * c), block(4 * c, 4 * c, 2))
            self.d3 = block(8 * c, 4 * c)
            self.d2 = block(6 * c, 2 * c)
            self.d1 = block(3 * c, c)
            self.out = nn.Conv2d(c, 1, 1)

        def forward(self, x: Any) -> Any:
            pool, up = functional.max_pool2d, functional.interpolate
            a = self.e1(x)
            b = self.e2(pool(a, 2))
            m = self.e3(pool(b, 2))
            d = self.e4(pool(m, 2))
            u = self.d3(torch.cat([up(d, scale_factor=2.0, mode="nearest"), m], 1))
            u = self.d2(torch.cat([up(u, scale_factor=2.0, mode="nearest"), b], 1))
            u = self.d1(torch.cat([up(u, scale_factor=2.0, mode="nearest"), a], 1))
            return self.out(u)

    return Net()


def train(
    images: int, steps: int, out: Path, channels: int = 16, crop: int = 96, batch: int = 16
) -> None:
    """Make the images, train the network and write it to `out` as ONNX."""
    import torch
    from torch.nn import functional

    torch.manual_seed(0)
    data = []
    for i in range(images):
        # Two of every five images are plain fixture frames, three have negatives.
        negatives = i % 5 >= 2
        img, mask = example(10_000 + i // 800, i % 800, negatives)
        ys, xs = np.nonzero(mask)
        data.append((img, mask, list(zip(ys[::50], xs[::50], strict=True))))
    print(f"{len(data)} images", flush=True)
    rng = random.Random(0)

    def sample() -> tuple[Any, Any]:
        xs, ys = [], []
        for _ in range(batch):
            img, mask, points = rng.choice(data)
            h, w = mask.shape
            if points and rng.random() < 0.7:
                cy, cx = rng.choice(points)
                y0 = min(max(0, cy - rng.randint(10, crop - 10)), h - crop)
                x0 = min(max(0, cx - rng.randint(10, crop - 10)), w - crop)
            else:
                y0, x0 = rng.randint(0, h - crop), rng.randint(0, w - crop)
            # `crop` is a multiple of 8, so the input has no padding.
            xs.append(pixel_input(img[y0 : y0 + crop, x0 : x0 + crop])[0])
            ys.append(mask[None, y0 : y0 + crop, x0 : x0 + crop].astype(np.float32))
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))

    net = build_network(channels)
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps, pct_start=0.1)
    start, running = time.time(), 0.0
    for step in range(steps):
        x, y = sample()
        logit = net(x)
        p = torch.sigmoid(logit)
        bce = functional.binary_cross_entropy_with_logits(logit, y, pos_weight=torch.tensor(2.0))
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.item())
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: loss {running / 100:.4f}, {time.time() - start:.0f} s")
            running = 0.0
    export(net, out)


def export(net: Any, out: Path) -> None:
    """Write `net` with a sigmoid on its output to `out` (ONNX, any frame size)."""
    import torch

    class WithSigmoid(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return torch.sigmoid(self.inner(x))

    net.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    axes = {2: "rows", 3: "columns"}
    torch.onnx.export(
        WithSigmoid(net),
        (torch.zeros(1, 2, 240, 320),),
        str(out),
        input_names=["x"],
        output_names=["p"],
        dynamic_axes={"x": axes, "p": axes},
        opset_version=17,
        dynamo=False,
    )
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5200, help="training images to make")
    p.add_argument("--steps", type=int, default=4000, help="optimiser steps")
    p.add_argument("--channels", type=int, default=16, help="channels at full scale")
    p.add_argument("--out", type=Path, default=Path("textpix.onnx"), help="ONNX file")
    args = p.parse_args(argv)
    train(args.images, args.steps, args.out, args.channels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
