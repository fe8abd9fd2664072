"""Benchmark: codec speed on Kodak-size images, real vs estimated bits, evaluation time per image.

Classical codecs (JPEG, the reference; WebP; AVIF when available) at one quality, any trained
model given with --model (e.g. the default run's results/models/factorized-photos_lmbda-0.04/model
or results/models/deep-cae-photos_bottleneck_filters-12/model), and PCA baselines given with
--pca FILE:STEP (e.g. results/baselines/pca-photos/pca.npz:8). Images: Kodak from the offline
mirror (768x512 and 512x768), or synthetic photo-like images of that size when it is absent.
"Evaluation" is what the evaluate rule does per image: encode, decode, estimate the bits (where
the codec has an estimate), and score MSE/PSNR/SSIM/MS-SSIM.

    python benchmarks/codec_throughput.py [--kodak ../shared/datasets/kodak] [--images 8] \
        [--model DIR ...] [--pca FILE:STEP ...]

Prints a table and writes benchmarks/results/codec_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def load_images(folder: Path, count: int) -> tuple[list[np.ndarray], str]:
    from aecompress.images import decode_image

    files = sorted(folder.glob("kodim*.png"))[:count] if folder.is_dir() else []
    if files:
        return [decode_image(f) for f in files], f"Kodak ({folder})"
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:512, 0:768]
    images = []
    for _ in range(count):
        planes = [
            127 + 100 * np.sin(x / rng.uniform(5, 40) + c) * np.cos(y / rng.uniform(5, 40)) for c in range(3)
        ]
        noisy = np.stack(planes, -1) + rng.normal(0, 4, (512, 768, 3))
        images.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    return images, "synthetic 768x512"


def measure(codec, images: list[np.ndarray]) -> dict:
    codec.decode(codec.encode(images[0]))  # warm-up (graph tracing for learned codecs)
    files, start = [], time.perf_counter()
    for image in images:
        files.append(codec.encode(image))
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    for data in files:
        codec.decode(data)
    decode_s = time.perf_counter() - start
    megapixels = sum(im.shape[0] * im.shape[1] for im in images) / 1e6
    pixels = np.array([im.shape[0] * im.shape[1] for im in images])
    row = {
        "method": codec.method,
        "images": len(images),
        "encode_mp_per_s": megapixels / encode_s,
        "decode_mp_per_s": megapixels / decode_s,
        "seconds_per_image": (encode_s + decode_s) / len(images),
        "bpp": float(np.mean([8 * len(d) / p for d, p in zip(files, pixels, strict=True)])),
    }
    if hasattr(codec, "estimated_bits"):
        from aecompress.codecs.container import unpack

        payload = sum(8 * sum(unpack(d)[0].payload_lengths) for d in files)
        estimated = sum(codec.estimated_bits(im) for im in images)
        row["real_over_estimated_bits"] = payload / estimated
    row["evaluate_s_per_image"] = evaluation_seconds(codec, images) / len(images)
    return row


def evaluation_seconds(codec, images: list[np.ndarray]) -> float:
    """Wall time of the evaluate rule's per-image work on these images (after the warm-up)."""
    from aecompress.evaluation import code_images, per_image_metrics
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(2)
    start = time.perf_counter()
    reconstructions, _ = code_images(codec, images, estimate=hasattr(codec, "estimated_bits"))
    per_image_metrics(tf, images, reconstructions)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kodak", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets/kodak"
    )
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--quality", type=int, default=75)
    parser.add_argument("--model", action="append", default=[], help="a trained model folder")
    parser.add_argument("--pca", action="append", default=[], help="a PCA baseline as FILE:STEP")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "codec_throughput.json"))
    args = parser.parse_args()

    from aecompress.codecs import available_classical, classical_codec
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(args.threads)
    images, source = load_images(args.kodak, args.images)
    codecs = [classical_codec(name, args.quality) for name in available_classical()]
    if args.model:
        from aecompress.codecs.learned import learned_codec

        codecs += [learned_codec(path) for path in args.model]
    if args.pca:
        from aecompress.codecs.pca import PcaCodec

        codecs += [
            PcaCodec.from_file(spec.rsplit(":", 1)[0], float(spec.rsplit(":", 1)[1])) for spec in args.pca
        ]
    rows = []
    print(f"{len(images)} images from {source}")
    for codec in codecs:
        row = measure(codec, images)
        rows.append(row)
        ratio = row.get("real_over_estimated_bits")
        print(
            f"{row['method']:<36} encode {row['encode_mp_per_s']:7.2f} MP/s  "
            f"decode {row['decode_mp_per_s']:7.2f} MP/s  "
            f"{row['seconds_per_image']:6.3f} s/image  {row['bpp']:.3f} bpp  "
            f"evaluate {row['evaluate_s_per_image']:6.3f} s/image"
            + (f"  real/estimated {ratio:.4f}" if ratio else ""),
            flush=True,
        )
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "tensorflow": tf.__version__,
        },  # fmt: skip
        "images": source,
        "codecs": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
