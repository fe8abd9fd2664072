"""Benchmark: how a learned codec's Kodak rate-distortion improves with training steps, on this CPU.

Trains a compressive autoencoder through the training job's own code (`training.train_variant`,
the project's small-budget recipe: peak 3e-3, 200 warm-up steps, cosine decay to 1% over the
whole budget, gradients clipped to norm 1) on random patches of a photo corpus (default: the
offline mirror's 209 CID22 photos), and scores it on all 24 Kodak images through real
range-coded files:

- ``--stage family``: factorized prior and hyperprior, ``--family-steps`` each (own schedule),
  at one lambda; the lower rate-distortion cost picks the family of the next stages.
- ``--stage curve``: one model, ``--steps`` steps, saved after each of ``--snapshots`` steps
  (one schedule over the whole budget) and scored at each: bpp, PSNR, RD cost
  (bpp + lambda * 255^2 * MSE, the loss it minimises) and JPEG's PSNR at the same bpp (per image,
  interpolated on that image's JPEG curve).
- ``--stage lambdas``: one model per lambda, ``--lambda-steps`` each; BD-rate (PSNR) against
  JPEG 4:2:0 on Kodak.
- ``--stage variable``: one variable-rate model (``lambda_range`` = the lambdas' span) trained for
  the three lambdas' whole budget (``--variable-steps``, default 3 x ``--lambda-steps``), scored
  after each of ``--variable-snapshots`` steps at the lambdas and ``--extra-points`` more, with
  BD-rate against JPEG at each snapshot. It keeps its checkpoint under ``--work``, so a run that
  is stopped continues from its last finished epoch when started again with the same arguments.

    python benchmarks/learning_curve.py                      # all three stages (~1.5 h on 2 cores)
    python benchmarks/learning_curve.py --stage curve --family factorized-prior

Prints each point as it is scored and keeps benchmarks/results/learning_curve.json up to date
after every point (other stages' results in it are kept), then draws benchmarks/figures/learning_curve.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "datasets"
RECIPE = {
    "learning_rate": 3e-3,
    "warmup_steps": 200,
    "decay": "cosine",
    "final_learning_rate_fraction": 0.01,
    "clip_global_norm": 1.0,
}
FAMILIES = {
    "factorized-prior": lambda n, lmbda: {"num_filters": n, "lmbda": lmbda},
    "hyperprior": lambda n, lmbda: {
        "num_filters": n,
        "latent_filters": n,
        "lmbda": lmbda,
        "num_scales": 64,
        "scale_min": 0.11,
        "scale_max": 256.0,
    },
}


def corpus(folder: Path):
    from aecompress.images import ImageSet, PreparedDataset
    from aecompress.readers import read_image_folder

    images, _, _ = read_image_folder(folder, channels=3)
    return PreparedDataset({"train": images, "val": ImageSet([]), "test": ImageSet([])}, {"channels": 3})


def variant(family: str, filters: int, lmbda: float, steps: int, args):
    from aecompress.config import training_defaults
    from aecompress.plan import Variant

    steps_per_epoch = args.steps_per_epoch
    return Variant(
        id=f"{family}-{lmbda:g}-{steps}",
        experiment="learning-curve",
        family=family,
        dataset="corpus",
        params=FAMILIES[family](filters, lmbda),
        test_dataset="kodak",
        training={
            **training_defaults(),
            **RECIPE,
            "epochs": steps // steps_per_epoch,
            "batch_size": args.batch,
        },
        preprocessing={
            "normalization": "unit",
            "padding": None,
            "patches": {"size": args.patch, "per_epoch": steps_per_epoch * args.batch, "flips": True},
        },
        grid_values={"lmbda": lmbda},
    )


def variable_variant(family: str, filters: int, lambdas: list[float], steps: int, anchors: int, args):
    """One variable-rate model over the lambdas' span, trained for `steps` on the same recipe."""
    import dataclasses

    lambdas = sorted(lambdas)
    base = variant(family, filters, lambdas[0], steps, args)
    params = {**base.params, "lambda_range": [lambdas[0], lambdas[-1]], "rate_anchors": anchors}
    return dataclasses.replace(
        base, id=f"{family}-vr-{steps}", params=params, grid_values={"lambda_range": "range"}
    )


def lambda_points(lambdas: list[float], extra: int) -> list[float]:
    """A variable-rate model's evaluated lambdas: the given ones and `extra` more between their
    ends, spaced evenly in log lambda."""
    low, high = min(lambdas), max(lambdas)
    return sorted({*lambdas, *np.geomspace(low, high, extra + 2)[1:-1].round(6)})


def snapshot_callback(tf, v, data, out: Path, snapshots: list[int], steps_per_epoch: int, on_snapshot):
    from aecompress.models import get_family
    from aecompress.preprocessing import fit_normalization, model_input_shape
    from aecompress.training import plain_copy, save_model

    train = data.splits["train"]
    input_shape = model_input_shape(v, train)
    normalization = fit_normalization(v.preprocessing["normalization"], train)

    class Snapshots(tf.keras.callbacks.Callback):
        """Save the model, ready to code, after each snapshot's step and score it at once
        (so a run cut short keeps every point it reached). What is saved is a copy: preparing
        the training model itself would swap its entropy models mid-training, and leave its
        exported coder functions holding the swapped-out tables, which the final save cannot
        write."""

        def on_epoch_end(self, epoch, logs=None):
            step = (epoch + 1) * steps_per_epoch
            if step in snapshots:
                copy = plain_copy(tf, v, input_shape, normalization, self.model.get_weights())
                get_family(v.family).prepare_for_coding(copy)
                save_model(copy, out / f"step-{step}" / "model")
                on_snapshot(step)

    return Snapshots()


def jpeg_curves(images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Per image, JPEG 4:2:0's bpp and PSNR at every quality 1..100 (this project's JPEG codec)."""
    from aecompress.codecs import bits_per_pixel, classical_codec
    from aecompress.comparisons import psnr_8bit

    curves = []
    for image in images:
        bpp, psnr = [], []
        for quality in range(1, 101):
            codec = classical_codec("jpeg", quality)
            data = codec.encode(image)
            bpp.append(bits_per_pixel(data, image.shape))
            psnr.append(psnr_8bit(image, codec.decode(data, max_pixels=image.size)))
        order = np.argsort(bpp)  # sorted by rate, for interpolation; by quality, for the mean curve
        curves.append(
            {
                "bpp": np.asarray(bpp)[order],
                "psnr": np.asarray(psnr)[order],
                "bpp_by_quality": np.asarray(bpp),
                "psnr_by_quality": np.asarray(psnr),
            }
        )
    return curves


def score(
    model_dir: Path, card: dict, images, curves, lmbda: float, point: dict | None = None, model=None
) -> dict:
    """bpp, PSNR and RD cost of a saved model on the images (at `point`: a variable-rate model's
    lambda), and JPEG's PSNR at the same bpp."""
    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.comparisons import psnr_8bit
    from aecompress.evaluation import code_images

    (model_dir.parent / "model.json").write_text(json.dumps(card))
    codec = CompressiveCodec.from_model_dir(model_dir, point, model=model)
    reconstructions, rates = code_images(codec, images)
    psnr = np.array([psnr_8bit(a, b) for a, b in zip(images, reconstructions, strict=True)])
    mse = np.array(
        [np.mean((a.astype(float) - b) ** 2) / 255**2 for a, b in zip(images, reconstructions, strict=True)]
    )
    bpp = rates["bpp"].to_numpy()
    jpeg = np.array([np.interp(b, c["bpp"], c["psnr"]) for b, c in zip(bpp, curves, strict=True)])
    return {
        "bpp": float(bpp.mean()),
        "psnr": float(psnr.mean()),
        "rd_cost": float(bpp.mean() + lmbda * 255**2 * mse.mean()),
        "jpeg_psnr_same_bpp": float(jpeg.mean()),
        "psnr_over_jpeg_db": float((psnr - jpeg).mean()),
    }


def train_and_score(
    tf, family, filters, lmbda, steps, snapshots, data, images, curves, args, work: Path, record
) -> list:
    """Train one model, scoring each snapshot as it is saved; `record(rows)` after every row."""
    from aecompress.training import train_variant

    work.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{work.name}-", dir=work.parent))  # a fresh folder per run
    v = variant(family, filters, lmbda, steps, args)
    card_for_scoring = {"family": family, "params": v.params, "variant": v.id}
    started = time.perf_counter()
    rows = []

    def on_snapshot(step: int) -> None:
        seconds = time.perf_counter() - started
        scoring = time.perf_counter()
        r = score(work / f"step-{step}" / "model", card_for_scoring, images, curves, lmbda)
        started_offset = time.perf_counter() - scoring
        rows.append(
            {
                "family": family,
                "filters": filters,
                "lmbda": lmbda,
                "budget": steps,
                "step": step,
                "training_seconds": seconds - sum(row["scoring_seconds"] for row in rows),
                "scoring_seconds": started_offset,
                **r,
            }
        )
        record(rows)
        print(
            f"{family:<17} lambda {lmbda:<7g} step {step:>6}: bpp {r['bpp']:.3f} PSNR {r['psnr']:.2f} "
            f"RD {r['rd_cost']:.3f} JPEG {r['jpeg_psnr_same_bpp']:.2f} ({r['psnr_over_jpeg_db']:+.2f} dB)",
            flush=True,
        )

    callback = snapshot_callback(tf, v, data, work, snapshots, args.steps_per_epoch, on_snapshot)
    train_variant(v, data, seed=args.seed, threads=args.threads, out_dir=work / "final", callbacks=[callback])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=MIRROR / "cid22-train")
    parser.add_argument("--kodak", type=Path, default=MIRROR / "kodak")
    parser.add_argument(
        "--stage", choices=["family", "curve", "lambdas", "variable", "all", "bd"], default="all"
    )
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="(--stage bd) more result files")
    parser.add_argument("--curve-point", action="store_true", help="(--stage bd) see bd_stage")
    parser.add_argument("--family", choices=list(FAMILIES), help="skip the family stage")
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lmbda", type=float, default=0.01)
    parser.add_argument("--family-steps", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=16000)
    parser.add_argument("--snapshots", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0025, 0.01, 0.04])
    parser.add_argument("--lambda-steps", type=int, default=4000)
    parser.add_argument("--variable-steps", type=int, help="(--stage variable) default: 3 x --lambda-steps")
    parser.add_argument("--variable-snapshots", type=int, nargs="+", help="default: 1/3, 2/3 and all steps")
    parser.add_argument("--anchors", type=int, default=4, help="(--stage variable) the model's rate_anchors")
    parser.add_argument("--extra-points", type=int, default=2, help="(--stage variable) lambdas between")
    parser.add_argument("--steps-per-epoch", type=int, default=500)
    parser.add_argument("--kodak-images", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks/results/learning_curve")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/learning_curve.json")
    parser.add_argument("--figure", type=Path, default=REPO / "benchmarks/figures/learning_curve.png")
    parser.add_argument("--plot-only", action="store_true", help="draw --figure from --out and stop")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads(args.out.read_text()), args.figure)
        return

    from aecompress.images import decode_image

    images = [decode_image(p) for p in sorted(args.kodak.glob("kodim*.png"))[: args.kodak_images]]
    curves = jpeg_curves(images)
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.stage == "bd":
        result["lambdas"] = bd_stage(args, result, curves)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
        plot(result, args.figure)
        return

    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(args.threads)
    data = corpus(args.corpus)
    result.update(
        machine={
            "machine": platform.machine(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "threads": args.threads,
        },
        corpus={"folder": str(args.corpus), "images": len(data.splits["train"])},
        recipe=RECIPE,
        patch=args.patch,
        batch=args.batch,
        filters=args.filters,
    )
    stages = ["family", "curve", "lambdas"] if args.stage == "all" else [args.stage]

    def save(key: str, value) -> None:
        """Write the JSON after every scored point (atomically), so a cut-short run keeps them."""
        result[key] = value
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_suffix(".json.partial")
        partial.write_text(json.dumps(result, indent=2))
        partial.replace(args.out)

    def run(name, lmbda, steps, snapshots, work, record):
        return train_and_score(
            tf, name, args.filters, lmbda, steps, snapshots, data, images, curves, args, work, record
        )

    family = args.family
    if "family" in stages and family is None:
        rows: list = []
        for name in FAMILIES:
            done = list(rows)
            rows += run(
                name,
                args.lmbda,
                args.family_steps,
                [args.family_steps],
                args.work / f"family-{name}",
                lambda new, done=done: save("family", done + new),
            )
        family = min(rows, key=lambda r: r["rd_cost"])["family"]
        print(f"chosen family: {family} (lower RD cost at {args.family_steps} steps)")
    family = family or "factorized-prior"
    save("chosen_family", family)
    if "curve" in stages:
        curve_work = args.work / "curve"
        run(family, args.lmbda, args.steps, args.snapshots, curve_work, lambda new: save("curve", new))
    if "lambdas" in stages:
        rows = []
        for lmbda in args.lambdas:
            done = list(rows)
            rows += run(
                family,
                lmbda,
                args.lambda_steps,
                [args.lambda_steps],
                args.work / f"lambda-{lmbda:g}",
                lambda new, done=done: save("lambdas", {"rows": done + new}),
            )
        save("lambdas", against_jpeg(rows, curves, args.lambda_steps))
    if "variable" in stages:
        variable_stage(tf, args, family, data, images, curves, result.get("variable") or {}, save)
    print(f"wrote {args.out}")
    plot(result, args.figure)


def variable_stage(tf, args, family: str, data, images, curves, previous: dict, save) -> None:
    """One variable-rate model trained for the three lambdas' whole budget, scored at every
    snapshot along its lambda range; resumable (its checkpoint and snapshots live in --work)."""
    from aecompress.training import load_model, train_variant

    steps = args.variable_steps or len(args.lambdas) * args.lambda_steps
    snapshots = args.variable_snapshots or [steps // 3, 2 * steps // 3, steps]
    lambdas = lambda_points(args.lambdas, args.extra_points)
    v = variable_variant(family, args.filters, args.lambdas, steps, args.anchors, args)
    work = args.work / f"variable-{v.id}"
    card = {"family": family, "params": v.params, "variant": v.id}
    # Snapshots scored by an earlier, stopped run of the same model are kept.
    done = {s["step"]: s for s in previous.get("snapshots", []) if previous.get("variant") == v.id}
    started = time.perf_counter()

    def record() -> None:
        save("variable", {"variant": v.id, "lambdas": lambdas, "snapshots": sorted(
            done.values(), key=lambda s: s["step"])})  # fmt: skip

    def on_snapshot(step: int) -> None:
        seconds = time.perf_counter() - started
        model_dir = work / f"step-{step}" / "model"
        model = load_model(tf, model_dir)  # once for every lambda
        rows = []
        for lmbda in lambdas:
            r = score(model_dir, card, images, curves, float(lmbda), {"lambda": float(lmbda)}, model)
            rows.append({"family": family, "filters": args.filters, "lmbda": float(lmbda), "budget": steps,
                         "step": step, **r})  # fmt: skip
            print(
                f"variable-rate {family} step {step:>6} lambda {lmbda:<8g}: bpp {r['bpp']:.3f} "
                f"PSNR {r['psnr']:.2f} RD {r['rd_cost']:.3f} JPEG {r['jpeg_psnr_same_bpp']:.2f} "
                f"({r['psnr_over_jpeg_db']:+.2f} dB)",
                flush=True,
            )
        done[step] = {
            "step": step,
            "wall_seconds_this_run": seconds,
            **against_jpeg(rows, curves, step),
        }
        record()

    for step in snapshots:  # saved by a stopped run but not scored yet
        if step not in done and (work / f"step-{step}" / "model" / "saved_model.pb").exists():
            on_snapshot(step)
    if (work / "final" / "model.json").exists():
        print(f"{v.id}: trained already ({work / 'final'})")
        return
    callback = snapshot_callback(tf, v, data, work, snapshots, args.steps_per_epoch, on_snapshot)
    train_variant(
        v,
        data,
        seed=args.seed,
        threads=args.threads,
        out_dir=work / "final",
        checkpoint_dir=work / "checkpoint",
        callbacks=[callback],
    )


def against_jpeg(rows: list[dict], curves, steps: int) -> dict:
    """The three-lambda result: its rows, JPEG's mean Kodak curve at qualities 5..95 and the
    BD-rate (PSNR) of the learned points against it."""
    import pandas as pd

    from aecompress.comparisons import bd_metrics

    dense = pd.DataFrame(
        {
            "bpp": np.mean([c["bpp_by_quality"] for c in curves], axis=0),
            "psnr": np.mean([c["psnr_by_quality"] for c in curves], axis=0),
        }
    )
    # The anchor at every quality 1..100: sampled every 10 qualities, its first gap (q5 -> q15,
    # 4.3 dB) is wide enough for the interpolation to favour the learned curve there.
    jpeg = dense.iloc[4:95:10]
    learned = pd.DataFrame([{"bpp": r["bpp"], "psnr": r["psnr"]} for r in rows])
    bd = bd_metrics(dense, learned, "psnr")
    print(
        f"BD-rate against JPEG (PSNR, Kodak, {len(rows)} lambdas at {steps} steps): "
        f"{bd['bd_rate']} % (overlap {bd['overlap']}, reliable by the report's rule: {bd['reliable']})"
    )
    return {
        "rows": rows,
        "jpeg": {"quality": list(range(5, 96, 10)), **{k: jpeg[k].tolist() for k in ("bpp", "psnr")}},
        "bd_rate_vs_jpeg_psnr_%": bd["bd_rate"],
        "overlap": bd["overlap"],
        # comparisons.bd_metrics: at least 4 points per curve and half the quality range shared
        "reliable": bd["reliable"],
    }


def bd_stage(args, result: dict, curves) -> dict:
    """`--stage bd`: the BD-rate of lambda rows gathered from this and `--merge` result files
    (runs made apart), optionally with the curve's snapshot at `--lambda-steps` standing in for
    its lambda (`--curve-point`: the same steps on the curve's longer schedule, so not annealed:
    a weaker model than a run of that budget, and the BD-rate an upper bound)."""
    rows = list((result.get("lambdas") or {}).get("rows") or [])
    for other in args.merge:
        rows += (json.loads(other.read_text()).get("lambdas") or {}).get("rows") or []
    by_lambda = {r["lmbda"]: r for r in rows}
    if args.curve_point:  # only where no run of that lambda's own budget exists
        point = next(r for r in result["curve"] if r["step"] == args.lambda_steps)
        stand_in = f"snapshot at step {point['step']} of the {point['budget']}-step curve"
        by_lambda.setdefault(point["lmbda"], {**point, "stand_in": stand_in})
    rows = sorted(by_lambda.values(), key=lambda r: r["lmbda"])
    return against_jpeg(rows, curves, args.lambda_steps)


def plot(result: dict, figure: Path) -> None:
    """The report's learning-curve figure (report.plot_learning_curve), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aecompress.report.rate_distortion import plot_learning_curve

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    plot_learning_curve(result, axes)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=90)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
