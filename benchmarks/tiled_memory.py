"""Benchmark: peak memory of coding a large photo with each compressive family, tiled and whole.

For each family at its paper size (untrained weights: memory and time do not depend on them),
a fresh process builds the model, codes one synthetic photo (smooth gradients plus noise,
6000x4000 by default) and reports its peak resident memory (ru_maxrss) and time; a second
process decodes the file. Each reports its resident memory once TensorFlow, the model and the
input are in memory ("ready") and the peak while coding (VmHWM, reset just before coding through
/proc/self/clear_refs), so the coding's own share is the difference; Linux only.

    python benchmarks/tiled_memory.py [--size 6000x4000] [--tile 256] [--families factorized-prior ...]
        [--whole]   # also whole-image coding (tile 0), for comparison

Prints a table and writes benchmarks/results/tiled_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

# The paper sizes (train_throughput.py's cases): bls2017 N = 128, bmshj2018 N = 192/M = 320 at
# high rates, SlimCAE's widest width 192, ms2020 the reference's.
PAPER = {
    "factorized-prior": {"num_filters": 128, "lmbda": 0.01},
    "hyperprior": {"num_filters": 192, "latent_filters": 320, "lmbda": 0.01, "num_scales": 64,
                   "scale_min": 0.11, "scale_max": 256.0},
    "slimcae": {"widths": [192, 144, 96, 72, 48], "lambdas": [2048, 1024, 512, 256, 128],
                "distortion": "mse"},
    "ms2020": {"lmbda": 0.01, "num_filters": 192, "latent_depth": 320, "hyperprior_depth": 192,
               "hyper_filters": 256, "slice_filters": [224, 128], "num_slices": 10, "max_support_slices": 5,
               "num_scales": 64, "scale_min": 0.11, "scale_max": 256.0},
}  # fmt: skip

CHILD = """
import json, sys, time
import numpy as np
from aecompress.runtime import import_tensorflow
tf = import_tensorflow(int(sys.argv[6]))
from aecompress.codecs.learned import CompressiveCodec
from aecompress.models import get_family
from aecompress.preprocessing import Normalization
family, params, (height, width), tile, path, _ = json.loads(sys.argv[1]), json.loads(sys.argv[2]), \\
    json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5], sys.argv[6]
tf.keras.utils.set_random_seed(0)
model = get_family(family).build_model(params, (256, 256, 3), Normalization("unit"))
model.prepare_for_compression()
codec = CompressiveCodec.from_model(model, family, params)
codec.tile = tile  # None: the codec's automatic tile
if sys.argv[7] == "compress":
    columns = (np.arange(width) * 255 // width).astype(np.uint8)
    rows = (np.arange(height) * 255 // height).astype(np.uint8)
    data = np.empty((height, width, 3), np.uint8)
    data[..., 0], data[..., 1] = columns[None, :], rows[:, None]
    data[..., 2] = columns[None, :] // 2 + rows[:, None] // 2
    data += np.random.default_rng(0).integers(0, 8, (height, width, 3), dtype=np.uint8)
else:
    data = open(path, "rb").read()


def rss(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024


ready = rss("VmRSS")  # TensorFlow, the model, and the input
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from here
start = time.perf_counter()
if sys.argv[7] == "compress":
    out = codec.encode(data)
    open(path, "wb").write(out)
    size = len(out)
else:
    size = codec.decode(data).size
seconds = time.perf_counter() - start
peak = rss("VmHWM")
result = {"tile": codec.tile_for(height, width) or 0, "ready_mb": ready, "peak_mb": peak,
          "coding_mb": peak - ready, "seconds": seconds, "bytes": size}
print(json.dumps(result))
"""


def run(
    family: str, params: dict, size: tuple[int, int], tile: int | None, path: str, threads: int, step: str
):
    command = [sys.executable, "-c", CHILD, json.dumps(family), json.dumps(params), json.dumps(size),
               json.dumps(tile), path, str(threads), step]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        return {"error": (result.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the photo")
    parser.add_argument("--tile", type=int, help="tile size in pixels (default: the codec's automatic one)")
    parser.add_argument("--families", nargs="*", default=list(PAPER))
    parser.add_argument("--whole", action="store_true", help="also code the whole image at once (tile 0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "tiled_memory.json"))
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for family in args.families:
            for tile in [args.tile] + ([0] if args.whole else []):
                path = str(Path(folder) / f"{family}-{tile}.aec")
                row = {"family": family, "size": args.size, "tile": tile}
                for step in ("compress", "decompress"):
                    outcome = run(family, PAPER[family], (height, width), tile, path, args.threads, step)
                    row[step] = outcome
                rows.append(row)
                c, d = row["compress"], row["decompress"]
                nan = float("nan")
                errors = c.get("error", "") + d.get("error", "")
                shown = c.get("tile", "auto" if tile is None else tile)
                print(
                    f"{family:<17} tile {shown:>4}  compress: peak {c.get('peak_mb', nan):7.0f} MB "
                    f"(ready {c.get('ready_mb', nan):5.0f} MB) {c.get('seconds', nan):6.1f} s  "
                    f"decompress: peak {d.get('peak_mb', nan):7.0f} MB {d.get('seconds', nan):6.1f} s  "
                    f"{c.get('bytes', 0) * 8 / (width * height):.3f} bpp {errors}",
                    flush=True,
                )
    result = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "threads": args.threads},
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
