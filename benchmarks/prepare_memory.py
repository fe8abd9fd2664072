"""Benchmark: wall time and peak resident memory of preparing a dataset.

Cases: MNIST from the offline mirror (or any folder holding the four official files), and
an STL-10-sized synthetic archive (by default 100,000 images of 96x96x3 uint8, 2.8 GB) in
the official binary layout. Each case runs `prepare_dataset` + `save` in a fresh process,
so its peak RSS (getrusage) is its own. Target: peak RSS at most 2x the dataset's uint8 size.

    python benchmarks/prepare_memory.py [--mirror ../shared/datasets] [--stl-images 100000]

Prints a table and writes benchmarks/results/prepare_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
from aecompress.datasets import official_files, prepare_dataset
options = json.loads(sys.argv[1]); files = json.loads(sys.argv[2]); out = sys.argv[3]
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # interpreter + imports
start = time.perf_counter()
prepared = prepare_dataset(options, seed=0, files=files)
prepared.save(out)
elapsed = time.perf_counter() - start
pixels = sum(im.size for split in prepared.splits.values() for im in split.images)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "peak_rss_bytes": peak, "rss_before_bytes": rss_before,
                  "uint8_bytes": int(pixels), "images": sum(len(s) for s in prepared.splits.values())}))
"""

BASE_OPTIONS = {"test_fraction": 0.2, "val_fraction": 0.1, "channels": None, "subset": None,
                "mirror": None, "max_extract_bytes": 16 * 2**30}  # fmt: skip


def run_case(name: str, options: dict, files: dict, workdir: Path) -> dict:
    out = workdir / f"{name}-prepared"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({**BASE_OPTIONS, **options}), json.dumps(files), str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{result.stderr[-3000:]}")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["case"] = name
    record["rss_over_uint8"] = record["peak_rss_bytes"] / record["uint8_bytes"]
    return record


def synthetic_stl10(workdir: Path, n_train: int, n_test: int = 1000) -> Path:
    """An uncompressed tar in the STL-10 binary layout (tarfile reads it under the official name)."""
    folder = workdir / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, size=(1000, 3 * 96 * 96), dtype=np.uint8)
    for split, n in (("train", n_train), ("test", n_test)):
        with open(folder / f"{split}_X.bin", "wb") as fh:
            for start in range(0, n, len(block)):
                fh.write(block[: min(len(block), n - start)].tobytes())
        (folder / f"{split}_y.bin").write_bytes(((np.arange(n) % 10) + 1).astype(np.uint8).tobytes())
    archive = workdir / "stl10_binary.tar.gz"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname="stl10_binary")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mirror", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--stl-images", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "prepare_memory.json")
    args = parser.parse_args()

    records = []
    with tempfile.TemporaryDirectory(prefix="aecompress-bench-") as tmp:
        workdir = Path(tmp)
        mnist = {name: str(args.mirror / "mnist" / name) for name in (
            "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}  # fmt: skip
        records.append(run_case("mnist", {"source": "mnist"}, mnist, workdir))
        start = time.perf_counter()
        archive = synthetic_stl10(workdir, args.stl_images)
        print(f"synthetic STL-10 archive written in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        records.append(
            run_case(
                f"stl10-synthetic-{args.stl_images}",
                {"source": "stl10"},
                {archive.name: str(archive)},
                workdir,
            )
        )

    header = f"{'case':<28}{'images':>9}{'uint8 MB':>10}{'seconds':>9}{'imports MB':>12}{'peak RSS MB':>13}"
    print(header + f"{'RSS/uint8':>11}")
    for r in records:
        print(
            f"{r['case']:<28}{r['images']:>9}{r['uint8_bytes'] / 1e6:>10.1f}{r['seconds']:>9.1f}"
            f"{r['rss_before_bytes'] / 1e6:>12.1f}{r['peak_rss_bytes'] / 1e6:>13.1f}"
            f"{r['rss_over_uint8']:>11.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    args.out.write_text(json.dumps({"machine": machine, "results": records}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
