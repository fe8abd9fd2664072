"""Benchmark: one variable-rate model against three fixed-lambda models at an equal number of
training steps, on Kodak, on this CPU (issue 21, part 3).

Both arms train through the training job's own code (`training.train_variant`, the project's
small-budget recipe of benchmarks/learning_curve.py) on random patches of a photo corpus (default:
the offline mirror's 209 CID22 photos):

- fixed: one model per lambda of ``--lambdas`` (three by default), ``--steps / 3`` steps each;
- variable: one model with ``lambda_range`` = [min, max] of those lambdas, ``--steps`` steps,
  lambda drawn per batch.

The two arms run at once in two processes of ``--threads`` threads each. Then every model codes
the Kodak images through real range-coded files: each fixed model at its lambda, the variable-rate
model at the same lambdas and at ``--extra-points`` more across the range. Printed and written to
benchmarks/results/variable_rate.json: each point's mean bpp and PSNR, the BD-rate (PSNR) of the
variable-rate curve against the fixed models' curve over the bpp span both cover (bjontegaard,
pchip: three points do not reach comparisons.bd_metrics' four-point rule, so the figure is the
package's own), and ``--target-bpp`` searches on ``--target-images`` Kodak images: the bpp each
reached against its target and the encodes it took.

    python benchmarks/variable_rate.py                       # about 45 min on 2 cores
    python benchmarks/variable_rate.py --steps 300 --kodak-images 2 --target-images 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning_curve import MIRROR, REPO, corpus, lambda_points, variable_variant, variant  # noqa: E402


def arm_variants(args) -> dict[str, list]:
    """The models of each arm (plan.Variant), with their own step budgets."""
    lambdas = sorted(args.lambdas)
    fixed_steps = args.steps // len(lambdas)
    fixed = [variant(args.family, args.filters, lmbda, fixed_steps, args) for lmbda in lambdas]
    vr = variable_variant(args.family, args.filters, lambdas, args.steps, args.anchors, args)
    return {"fixed": fixed, "variable": [vr]}


def train_arm(args) -> None:
    """`--train ARM`: train the arm's models into --work/<variant id>/ (model + model.json)."""
    from aecompress.runtime import import_tensorflow
    from aecompress.training import train_variant

    import_tensorflow(args.threads)
    data = corpus(args.corpus)
    for v in arm_variants(args)[args.train]:
        out = args.work / v.id
        if (out / "model.json").exists():
            print(f"{v.id}: trained already ({out})", flush=True)
            continue
        started = time.perf_counter()
        train_variant(v, data, seed=args.seed, threads=args.threads, out_dir=out)
        (out / "seconds").write_text(f"{time.perf_counter() - started:.1f}")
        print(f"{v.id}: {time.perf_counter() - started:.0f} s", flush=True)


def score(model_dir: Path, point: dict, images) -> dict:
    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.comparisons import psnr_8bit
    from aecompress.evaluation import code_images

    codec = CompressiveCodec.from_model_dir(model_dir, point)
    reconstructions, rates = code_images(codec, images)
    psnr = [psnr_8bit(a, b) for a, b in zip(images, reconstructions, strict=True)]
    return {"method": codec.method, "bpp": float(rates["bpp"].mean()), "psnr": float(np.mean(psnr))}


def bd_rate(anchor: list[dict], test: list[dict]) -> dict:
    """BD-rate (%, over the PSNR range both curves cover) and BD-PSNR (dB, over the bpp span both
    cover) of `test` against `anchor`. Where one curve lies wholly above the other in PSNR, there
    is no BD-rate; `rate_saving_at_least_%` then bounds it: the test curve's cheapest point
    already beats the anchor's best."""
    import warnings

    import bjontegaard

    anchor, test = sorted(anchor, key=lambda r: r["bpp"]), sorted(test, key=lambda r: r["bpp"])
    rate_a, psnr_a = [r["bpp"] for r in anchor], [r["psnr"] for r in anchor]
    rate_t, psnr_t = [r["bpp"] for r in test], [r["psnr"] for r in test]
    options = {"method": "pchip", "require_matching_points": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "curves do not overlap": said below in words
        rate = float(bjontegaard.bd_rate(rate_a, psnr_a, rate_t, psnr_t, **options))
        quality = float(bjontegaard.bd_psnr(rate_a, psnr_a, rate_t, psnr_t, **options))
    result = {
        "bd_rate_%": None if np.isnan(rate) else rate,  # NaN: the curves share no PSNR range
        "bd_psnr_db": None if np.isnan(quality) else quality,
        "bpp_span": [max(rate_a[0], rate_t[0]), min(rate_a[-1], rate_t[-1])],
    }
    if result["bd_rate_%"] is None and min(psnr_t) > max(psnr_a):
        best = int(np.argmax(psnr_a))
        result["rate_saving_at_least_%"] = 100 * (1 - rate_t[0] / rate_a[best])
    return result


def target_searches(vr_dir: Path, images, targets: list[float]) -> list[dict]:
    from aecompress.codecs.targets import Target, model_points, search

    rows = []
    candidates = model_points([str(vr_dir)])
    for index, image in enumerate(images):
        for value in targets:
            found = search(candidates(image), image, Target("bpp", value))
            reached = found.chosen.measures["bpp"]
            # At either end of the lambda grid the target lies outside what the model reaches on
            # this image: no error to speak of.
            inside = 0 < found.chosen.index < len(candidates(image)) - 1
            rows.append({
                "image": index, "target_bpp": value, "bpp": reached, "point": found.chosen.point,
                "error_%": 100 * (reached - value) / value, "met": found.met, "encodes": found.encodes,
                "inside_range": inside,
            })  # fmt: skip
            print(f"  image {index} target {value} bpp: {found.summary()}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=MIRROR / "cid22-train")
    parser.add_argument("--kodak", type=Path, default=MIRROR / "kodak")
    parser.add_argument("--family", default="hyperprior", choices=["factorized-prior", "hyperprior"])
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lambdas", type=float, nargs=3, default=[0.0025, 0.01, 0.04])
    parser.add_argument("--anchors", type=int, default=4, help="the variable-rate model's rate_anchors")
    parser.add_argument("--steps", type=int, default=2400, help="each arm's total training steps")
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--extra-points", type=int, default=2, help="more lambdas of the variable-rate model")
    parser.add_argument("--kodak-images", type=int, default=24)
    parser.add_argument("--target-images", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="per arm (the arms run at once)")
    parser.add_argument("--train", choices=["fixed", "variable"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/results/variable_rate")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/variable_rate.json")
    args = parser.parse_args()
    if args.train:
        train_arm(args)
        return

    started = time.perf_counter()
    command = [sys.executable, __file__, *sys.argv[1:]]
    arms = [subprocess.Popen([*command, "--train", arm]) for arm in ("fixed", "variable")]
    if any(arm.wait() for arm in arms):
        raise SystemExit("training failed (see above)")
    training_seconds = time.perf_counter() - started

    from aecompress.images import decode_image
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(2)
    images = [decode_image(p) for p in sorted(args.kodak.glob("kodim*.png"))[: args.kodak_images]]
    variants = arm_variants(args)
    fixed = []
    for v in variants["fixed"]:
        fixed.append({"lmbda": v.params["lmbda"], **score(args.work / v.id / "model", {}, images)})
        print(
            f"fixed    lambda {fixed[-1]['lmbda']:<7g}: {fixed[-1]['bpp']:.4f} bpp {fixed[-1]['psnr']:.2f} dB"
        )
    vr_dir = args.work / variants["variable"][0].id / "model"
    lambdas = lambda_points(args.lambdas, args.extra_points)
    variable = []
    for lmbda in lambdas:
        variable.append({"lmbda": float(lmbda), **score(vr_dir, {"lambda": float(lmbda)}, images)})
        print(f"variable lambda {lmbda:<7g}: {variable[-1]['bpp']:.4f} bpp {variable[-1]['psnr']:.2f} dB")
    same_lambdas = [r for r in variable if r["lmbda"] in args.lambdas]
    result = {
        "machine": {"machine": platform.machine(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "threads_per_arm": args.threads},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "train"},
        "training_seconds": {
            v.id: float((args.work / v.id / "seconds").read_text())
            for arm in variants.values() for v in arm if (args.work / v.id / "seconds").exists()
        },
        "wall_seconds_training": training_seconds,
        "kodak_images": len(images),
        "fixed": fixed,
        "variable": variable,
        "bd_rate_variable_vs_fixed": bd_rate(fixed, variable),
        "bd_rate_variable_at_the_fixed_lambdas": bd_rate(fixed, same_lambdas),
    }  # fmt: skip
    bd = result["bd_rate_variable_vs_fixed"]
    print(f"variable-rate curve against the three fixed models: BD-rate {bd['bd_rate_%']} %, BD-PSNR "
          f"{bd['bd_psnr_db']} dB over {bd['bpp_span'][0]:.3f}-{bd['bpp_span'][1]:.3f} bpp; rate saving at "
          f"least {bd.get('rate_saving_at_least_%')} % where the curves share no PSNR")  # fmt: skip
    # Targets inside the variable-rate curve's mean bpp span (a quarter, half, three quarters, in log)
    span = np.log([variable[0]["bpp"], variable[-1]["bpp"]])
    targets = [round(float(np.exp(span[0] + f * (span[1] - span[0]))), 3) for f in (0.25, 0.5, 0.75)]
    result["target_bpp"] = target_searches(vr_dir, images[: args.target_images], targets)
    errors = [abs(r["error_%"]) for r in result["target_bpp"] if r["inside_range"]]
    result["target_bpp_worst_error_%"] = max(errors) if errors else None
    encodes = max(r["encodes"] for r in result["target_bpp"])
    print(f"--target-bpp: worst |error| {result['target_bpp_worst_error_%']} % over {len(errors)} searches "
          f"inside the model's range, at most {encodes} encodes")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
