"""Benchmark: one evaluation job against what it cannot avoid (process start-up + metric time).

An evaluation job codes every test image at each rate point of a curve, decodes it and scores it
(MSE, PSNR, SSIM, MS-SSIM with tf.image). What it cannot avoid is starting Python and
TensorFlow once and computing the metrics; everything else (coding, sample saving, summaries)
should be small beside it. Measured, each on one thread as the default run's jobs are:

- start-up: a fresh process that imports TensorFlow the way a job does;
- metrics: per_image_metrics of the decoded images of every rate point, in this process;
- the job: evaluation.evaluate_job for a JPEG baseline in a fresh process, on a prepared dataset
  whose test split is the photos.

Target (issue 20): job <= 1.5 x (start-up + metrics).

    python benchmarks/evaluation_job.py [--photos ../shared/datasets/cid22-train] [--images 25] \
        [--qualities 50] [--qualities 5 10 20 40 60 80 95]

Prints a table and writes benchmarks/results/evaluation_job.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
JOB = """
import json, sys
from aecompress.evaluation import evaluate_job
job, baseline = json.loads(sys.argv[1]), json.loads(sys.argv[2])
evaluate_job(job, {"photos": sys.argv[3]}, 1, sys.argv[4], 8, baseline=baseline)
"""
STARTUP = "from aecompress.runtime import import_tensorflow; import_tensorflow(1)"


def photos(folder: Path, count: int) -> tuple[list[np.ndarray], str]:
    from aecompress.images import decode_image

    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:count]
    if len(files) < count:
        sys.exit(f"{folder}: {len(files)} photos, {count} asked for (--photos names a folder of photos)")
    images = [decode_image(f) for f in files]
    shapes = sorted({im.shape for im in images})
    return images, f"{count} photos of {folder} ({', '.join('x'.join(map(str, s)) for s in shapes[:3])})"


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/datasets/cid22-train")
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--qualities", type=int, nargs="+", action="append")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/evaluation_job.json"))
    args = parser.parse_args()
    curves = args.qualities or [[50], [5, 10, 20, 40, 60, 80, 95]]

    from aecompress.codecs import classical_codec
    from aecompress.evaluation import per_image_metrics
    from aecompress.images import ImageSet, PreparedDataset
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(1)
    images, source = photos(args.photos, args.images)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared"
        PreparedDataset(
            {"train": ImageSet([]), "val": ImageSet([]), "test": ImageSet(images)}, {"source": "benchmark"}
        ).save(prepared)
        startup = min(seconds([sys.executable, "-c", STARTUP]) for _ in range(2))
        for qualities in curves:
            start = time.perf_counter()
            for quality in qualities:
                codec = classical_codec("jpeg", quality)
                decoded = [codec.decode(codec.encode(image)) for image in images]
                per_image_metrics(tf, images, decoded)
            metrics = time.perf_counter() - start  # coding included: milliseconds beside the metrics
            name = "jpeg-bench"
            job = {
                "variant": None,
                "evaluations": [
                    {"id": f"{name}_quality-{q}", "point": {"quality": q}, "dataset": "photos"}
                    for q in qualities
                ],
            }
            baseline = {"name": name, "codec": "jpeg", "dataset": "photos", "qualities": qualities}
            out = Path(tmp) / f"job-{len(qualities)}"
            job_s = seconds(
                [sys.executable, "-c", JOB, json.dumps(job), json.dumps(baseline), str(prepared), str(out)]
            )
            floor = startup + metrics
            rows.append(
                {
                    "qualities": qualities,
                    "images": len(images),
                    "startup_s": startup,
                    "metrics_and_coding_s": metrics,
                    "job_s": job_s,
                    "job_over_floor": job_s / floor,
                }
            )
            print(
                f"{len(qualities)} qualities x {len(images)} images: start-up {startup:5.1f} s + metrics "
                f"{metrics:6.1f} s = {floor:6.1f} s; the job {job_s:6.1f} s ({job_s / floor:.2f}x)",
                flush=True,
            )
    result = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "threads": 1},
        "images": source,
        "target": "job <= 1.5 x (start-up + metrics)",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
