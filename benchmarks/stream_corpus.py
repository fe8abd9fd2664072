"""Benchmark: training on a photo corpus streamed from its files, in bounded memory.

Writes a synthetic corpus of 2048x1536 PNG photos (smooth gradients, edges and noise, so PNG
decoding does real work), prepares it as a streamed image folder (`stream: true`: an index of
the files, nothing decoded) and measures, each in a fresh process:

- ``index``: preparing the dataset (headers and SHA-256 of every file) and its peak memory;
- ``patches``: random 256x256 patches per second drawn by `corpus.stream_patches` (parallel
  decode, several crops per photo), also per core;
- ``train``: a training job (`training.train_variant`, factorized prior) on the corpus for
  `--train-steps` steps, and its peak resident memory. Target: at most 2 GiB for 5,000 photos,
  whose decoded copy would be 5,000 x 9.4 MB = 47 GB.

    python benchmarks/stream_corpus.py                 # 5,000 photos (~12 GB of PNGs in a temp folder)
    python benchmarks/stream_corpus.py --images 200    # a quick run

Prints a table and writes benchmarks/results/stream_corpus.json. The corpus is deleted at the
end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_corpus(folder: Path, count: int, height: int, width: int, seed: int, distinct: int) -> int:
    """`count` PNGs of `height` x `width`, `distinct` of them rendered and the rest copies of
    those (each a file of its own, decoded as often: rendering and PNG-encoding 5,000 photos
    would take most of an hour on 2 cores); returns their total size in bytes."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    total = 0
    for i in range(count):
        path = folder / f"{i:05d}.png"
        if i >= distinct:
            shutil.copyfile(folder / f"{i % distinct:05d}.png", path)
            total += path.stat().st_size
            continue
        fx, fy, phase = rng.uniform(0.002, 0.02, 2).tolist() + [rng.uniform(0, 6.3)]
        base = 127 + 90 * np.sin(x * fx + phase)[..., None] * np.cos(y * fy)[..., None]
        photo = base + rng.uniform(-40, 40, 3) + rng.normal(0, 6, (height, width, 1))
        photo[(x // 256 + y // 256).astype(int) % 7 == i % 7] += 30  # hard edges
        Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(path, compress_level=1)
        total += path.stat().st_size
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_index(corpus: Path, work: Path) -> dict:
    from aecompress.config import validate_config
    from aecompress.datasets import prepare_dataset

    started = time.perf_counter()
    prepared = prepare_dataset(validate_config(config(corpus, 256, 1))["datasets"]["corpus"], seed=0)
    prepared.save(work / "prepared")
    return {
        "seconds": time.perf_counter() - started,
        "images": sum(len(s) for s in prepared.splits.values()),
        "peak_rss_mb": peak_rss_mb(),
    }


def stage_patches(work: Path, batches: int, threads: int) -> dict:
    from aecompress.corpus import stream_patches
    from aecompress.images import PreparedDataset
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(threads)
    train = PreparedDataset.load(work / "prepared").splits["train"]
    stream = stream_patches(tf, train, 256, batches * 8, True, 0, 8, lambda: 0)
    iterator = iter(stream)
    next(iterator)  # warm-up: the first decodes and tracing
    started, count = time.perf_counter(), 0
    for batch in iterator:
        count += int(batch.shape[0])
    seconds = time.perf_counter() - started
    return {
        "patches": count,
        "seconds": seconds,
        "patches_per_s": count / seconds,
        "patches_per_s_per_core": count / seconds / threads,
        "peak_rss_mb": peak_rss_mb(),
    }


def stage_train(corpus: Path, work: Path, steps: int, threads: int) -> dict:
    from aecompress.config import validate_config
    from aecompress.images import PreparedDataset
    from aecompress.plan import all_variants
    from aecompress.training import train_variant

    validated = validate_config(config(corpus, 256, steps))
    variant = next(iter(all_variants(validated).values()))
    dataset = PreparedDataset.load(work / "prepared")
    started = time.perf_counter()
    card = train_variant(variant, dataset, seed=0, threads=threads, out_dir=work / "model")
    return {"steps": card["steps"], "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def config(corpus: Path, patch: int, steps: int) -> dict:
    return {
        "datasets": {
            "corpus": {
                "source": "image-folder",
                "path": str(corpus),
                "stream": True,
                "test_fraction": 0.01,
                "val_fraction": 0.01,
            }
        },
        "experiments": [
            {
                "name": "fp",
                "family": "factorized-prior",
                "dataset": "corpus",
                "params": {"num_filters": 64},
                "preprocessing": {"patches": {"size": patch, "per_epoch": 8 * min(steps, 100)}},
                "training": {"epochs": max(1, steps // 100), "batch_size": 8},
            }
        ],
    }


def in_fresh_process(stage: str, args, work: Path) -> dict:
    """Run one stage in its own Python, so its peak memory is its own."""
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--work",
        str(work),
        "--corpus",
        str(args.corpus),
        "--threads",
        str(args.threads),
        "--train-steps",
        str(args.train_steps),
        "--batches",
        str(args.batches),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--height", type=int, default=1536)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--distinct", type=int, default=50, help="photos rendered; the rest are copies")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=60, help="batches of 8 patches timed")
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--corpus", type=Path, help="an existing folder of photos instead of a synthetic one")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--stage", choices=["index", "patches", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/stream_corpus.json")
    args = parser.parse_args()
    if args.stage:  # one stage, in this (fresh) process; its result is the last line of stdout
        result = {
            "index": lambda: stage_index(args.corpus, args.work),
            "patches": lambda: stage_patches(args.work, args.batches, args.threads),
            "train": lambda: stage_train(args.corpus, args.work, args.train_steps, args.threads),
        }[args.stage]()
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="stream-corpus-"))
    try:
        corpus_bytes = None
        if args.corpus is None:
            args.corpus = work / "corpus"
            started = time.perf_counter()
            corpus_bytes = write_corpus(
                args.corpus, args.images, args.height, args.width, seed=0, distinct=args.distinct
            )
            seconds = time.perf_counter() - started
            print(f"wrote {args.images} PNGs ({corpus_bytes / 1e9:.1f} GB) in {seconds:.0f} s")
        results = {stage: in_fresh_process(stage, args, work) for stage in ("index", "patches", "train")}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    decoded = args.images * args.height * args.width * 3
    summary = {
        "images": args.images,
        "distinct_images": min(args.distinct, args.images) if corpus_bytes is not None else None,
        "size": f"{args.width}x{args.height}",
        "png_bytes": corpus_bytes,
        "decoded_bytes": decoded,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        **results,
    }
    print(f"{'stage':<8} {'seconds':>8} {'peak RSS MB':>12}  notes")
    print(
        f"{'index':<8} {results['index']['seconds']:>8.1f} {results['index']['peak_rss_mb']:>12.0f}  "
        f"{results['index']['images']} images indexed"
    )
    p = results["patches"]
    print(
        f"{'patches':<8} {p['seconds']:>8.1f} {p['peak_rss_mb']:>12.0f}  {p['patches_per_s']:.0f} patches/s, "
        f"{p['patches_per_s_per_core']:.0f} per core"
    )
    t = results["train"]
    print(
        f"{'train':<8} {t['seconds']:>8.1f} {t['peak_rss_mb']:>12.0f}  {t['steps']} steps "
        f"(the decoded corpus would be {decoded / 2**30:.1f} GiB)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
