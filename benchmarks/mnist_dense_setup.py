"""Benchmark: which of the settings the MNIST paper leaves open train its dense autoencoders
without collapsing to the mean image.

The paper fixes 784 -> h -> 784 sigmoid units, the MSE, a learning rate of 0.01, 50 epochs and
the 60,000 / 10,000 split, and is silent on the optimizer, the initialisation and the batch
size. Each case trains the dense family of this project (`aecompress.models.dense`) on all
60,000 training digits and reports the test MSE ([0, 1] scale, float latent, as Table 1), the
trivial predictor's (the mean training image) and the collapse verdict of `aecompress.collapse`.

    python benchmarks/mnist_dense_setup.py --screen          # h in {2, 14}, 6 setups, 10 epochs
    python benchmarks/mnist_dense_setup.py --epochs 50 --setups adam-he_uniform   # Table 1

The MNIST files come from --mnist (default: the offline mirror ../shared/datasets/mnist).
Prints a table and writes benchmarks/results/mnist_dense_setup.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# optimizer, initializer; every one at the paper's learning rate of 0.01
SETUPS = {
    "adam-glorot_uniform": ("adam", "glorot_uniform"),  # Keras's defaults
    "rmsprop-glorot_uniform": ("rmsprop", "glorot_uniform"),
    "sgd-glorot_uniform": ("sgd", "glorot_uniform"),
    "sgd_momentum-glorot_uniform": ("sgd_momentum", "glorot_uniform"),
    "adam-torch_default": ("adam", "torch_default"),  # PyTorch's nn.Linear: U(+-1/sqrt(fan_in))
    "adam-he_uniform": ("adam", "he_uniform"),
}
PAPER = {  # Table 1: (h, bias) -> MSE
    (2, False): 0.0621, (2, True): 0.0624, (4, False): 0.0547, (4, True): 0.0548, (8, False): 0.0516,
    (8, True): 0.0551, (14, False): 0.0488, (14, True): 0.0463, (28, False): 0.0395, (28, True): 0.0446,
    (56, False): 0.0160, (56, True): 0.0208, (112, False): 0.0138, (112, True): 0.0085,
}  # fmt: skip


def load_mnist(folder: Path):
    from aecompress.images import ImageSet
    from aecompress.readers import read_idx

    train = read_idx(folder / "train-images-idx3-ubyte.gz")[..., None]
    test = read_idx(folder / "t10k-images-idx3-ubyte.gz")[..., None]
    return ImageSet(list(train), stack=train), list(test), train, test


def train_one(tf, train, test, h: int, bias: bool, setup: str, epochs: int, batch: int, seed: int) -> dict:
    from aecompress.models.dense import FAMILY as dense
    from aecompress.preprocessing import Normalization

    optimizer_name, initializer = SETUPS[setup]
    tf.keras.utils.set_random_seed(seed)
    keras_name = "glorot_uniform" if initializer == "torch_default" else initializer
    params = {"latent_units": h, "use_bias": bias, "block_size": None, "initializer": keras_name}
    unit = Normalization("unit")
    model = dense.build_model(params, (28, 28, 1), unit)
    if initializer == "torch_default":  # not a Keras initializer: re-draw both kernels
        init = tf.keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")
        for layer in (model.get_layer("encoder").layers[-1], model.get_layer("decoder").layers[0]):
            layer.kernel.assign(init(layer.kernel.shape))
    optimizer = {
        "adam": lambda: tf.keras.optimizers.Adam(0.01),
        "rmsprop": lambda: tf.keras.optimizers.RMSprop(0.01),
        "sgd": lambda: tf.keras.optimizers.SGD(0.01),
        "sgd_momentum": lambda: tf.keras.optimizers.SGD(0.01, momentum=0.9),
    }[optimizer_name]()
    model.compile(optimizer, "mse")
    x_train, x_test = unit.forward(train), unit.forward(test)
    started = time.perf_counter()
    history = model.fit(x_train, x_train, batch_size=batch, epochs=epochs, validation_data=(x_test, x_test),
                        verbose=0)  # fmt: skip
    curve = [float(v) for v in history.history["val_loss"]]
    latents = model.get_layer("encoder").predict(x_test[:64], verbose=0)
    seconds = time.perf_counter() - started
    return {"h": h, "bias": bias, "setup": setup, "epochs": epochs, "batch_size": batch,
            "test_mse": curve[-1], "curve": curve, "latents": latents, "seconds": seconds}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=REPO.parent / "shared" / "datasets" / "mnist")
    parser.add_argument("--screen", action="store_true", help="h in {2, 14}, every setup, 10 epochs")
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--latent-units", type=int, nargs="+", default=[2, 4, 8, 14, 28, 56, 112])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/mnist_dense_setup.json")
    args = parser.parse_args()
    if args.screen:
        args.latent_units, args.epochs = [2, 14], 10

    from aecompress.collapse import TrivialPredictor, assess, latent_spread
    from aecompress.runtime import import_tensorflow

    tf = import_tensorflow(args.threads)
    train_set, test_images, train, test = load_mnist(args.mnist)
    trivial = TrivialPredictor.fit(train_set, whole_images=True).mse(test_images)
    rows = []
    print(f"trivial predictor (mean training image): test MSE {trivial:.5f}")
    print(f"{'setup':<30} {'h':>4} {'bias':>5} {'test MSE':>9} {'paper':>7} {'collapsed':>9} {'s':>5}")
    for setup in args.setups:
        for h in args.latent_units:
            for bias in (True, False):
                row = train_one(tf, train, test, h, bias, setup, args.epochs, args.batch_size, args.seed)
                verdict = assess(row["test_mse"], trivial, latent_spread(list(row.pop("latents"))))
                row.update(collapsed=verdict["collapsed"], paper=PAPER.get((h, bias)))
                rows.append(row)
                print(f"{setup:<30} {h:>4} {bias!s:>5} {row['test_mse']:>9.5f} {row['paper'] or 0:>7.4f} "
                      f"{row['collapsed']!s:>9} {row['seconds']:>5.0f}", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.machine(), "python": platform.python_version(),
               "tensorflow": tf.__version__, "threads": args.threads}  # fmt: skip
    result = {"trivial_mse": trivial, "machine": machine, "rows": rows}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
