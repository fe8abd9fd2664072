"""PCA / Karhunen-Loeve transform coding on blocks: the linear baseline the SlimCAE thesis asks for.

An image is cut into `block_size` x `block_size` blocks (edge-padded, so any H x W works), each
block (all channels, in 8-bit pixel units) is projected on the leading principal components
that scikit-learn's PCA found on training blocks, the coefficients are quantized with one
uniform step (the same for every component: the classical high-rate optimum for an orthonormal
transform) and range-coded with one counted histogram per component (codecs.entropy). The
fitted basis (the number of components is fixed when it is fitted) and one prior per configured
step live in one `pca.npz`; a rate point is a step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from aecompress.codecs import Codec, settings_hash
from aecompress.codecs.container import ContainerError, Header
from aecompress.codecs.entropy import HistogramPrior
from aecompress.codecs.registry import BaselineCodec
from aecompress.images import blocks_to_image, image_to_blocks


def _step_key(step: float) -> str:
    return f"step-{float(step):g}_"


class PcaCodec(Codec):
    """The fitted principal components of each block, coefficients quantized with `step`."""

    def __init__(self, arrays: dict[str, np.ndarray], name: str, step: float, digest: bytes):
        self.name, self.step = name, float(step)
        self.block_size, self.channels = int(arrays["block_size"]), int(arrays["channels"])
        self.components = int(arrays["components"].shape[0])
        if _step_key(step) + "lookup" not in arrays:
            fitted = sorted(float(k.split("_")[0][5:]) for k in arrays if k.endswith("_lookup"))
            raise ValueError(f"{name}: no prior was fitted for step {step:g} (fitted steps: {fitted})")
        self.trained_on = str(arrays["trained_on"])
        self.mean = np.asarray(arrays["mean"], np.float64)
        self.basis = np.asarray(arrays["components"], np.float64)
        self.prior = HistogramPrior.from_arrays(arrays, _step_key(step))
        self.method = f"{name}_step-{self.step:g}"
        self.kind, self.point = "pca", self.step
        self._identity = settings_hash(self.method, digest.hex())

    @classmethod
    def from_file(cls, path: str | Path, step: float, name: str | None = None) -> PcaCodec:
        path = Path(path)
        try:
            data = path.read_bytes()
            with np.load(path) as loaded:
                arrays = dict(loaded)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a PCA coder file ({err})") from err
        if "components" not in arrays:
            raise ValueError(f"{path}: not a PCA coder file (no 'components' array)")
        return cls(arrays, name or str(arrays["name"]), step, hashlib.sha256(data).digest())

    def identity(self) -> bytes:
        return self._identity

    def _symbols(self, image: np.ndarray) -> np.ndarray:
        if image.shape[2] != self.channels:
            raise ValueError(
                f"{self.name} codes {self.channels}-channel images, not {image.shape[2]}-channel ones"
            )
        blocks = image_to_blocks(image, self.block_size).reshape(-1, self.mean.size).astype(np.float64)
        return np.round((blocks - self.mean) @ self.basis.T / self.step).astype(np.int32)

    def encode_payloads(self, image: np.ndarray) -> list[bytes]:
        return [self.prior.encode(self._symbols(image))]

    def _coefficient_shape(self, header: Header) -> tuple[int, int]:
        """(blocks, components): the coefficients an image of the header's size is coded as."""
        if header.channels != self.channels:
            raise ContainerError(f"{self.method} codes {self.channels}-channel images, not {header.channels}")
        rows = -(-header.height // self.block_size) * -(-header.width // self.block_size)
        return rows, self.components

    def check_capacity(self, payloads: list[bytes], header: Header) -> None:
        if len(payloads) != 1:
            raise ContainerError(f"{self.method} files hold one payload, this one {len(payloads)}")
        self.prior.check_capacity(payloads[0], self._coefficient_shape(header), f"{self.method} coefficients")

    def decode_payloads(self, payloads: list[bytes], header: Header) -> np.ndarray:
        rows, _ = shape = self._coefficient_shape(header)
        symbols = self.prior.decode(payloads[0], shape)
        blocks = symbols * self.step @ self.basis + self.mean
        shape = (rows, self.block_size, self.block_size, self.channels)
        blocks = np.clip(np.rint(blocks), 0, 255).astype(np.uint8).reshape(shape)
        return blocks_to_image(blocks, header.height, header.width)

    def estimated_bits(self, image: np.ndarray) -> float:
        return self.prior.estimated_bits(self._symbols(image))


def _training_blocks(images, block_size: int, max_blocks: int, seed: int):
    """The blocks of every image, (count, values) per image; of a streamed corpus, only those of
    a seeded choice of images holding about twice `max_blocks` blocks (nothing else is decoded)."""
    order = range(len(images))
    if images.files is not None:
        order = np.random.default_rng(seed).permutation(len(images))
    gathered = 0
    for i in order:
        image = images.images[int(i)]
        blocks = image_to_blocks(image, block_size).reshape(-1, block_size**2 * image.shape[2])
        gathered += len(blocks)
        yield blocks
        if images.files is not None and gathered >= 2 * max_blocks:
            break


def fit_pca(
    name: str,
    trained_on: str,
    images,
    block_size: int,
    components: int | None,
    steps: list[float],
    max_blocks: int,
    smoothing: float,
    seed: int,
    out_path: str | Path,
) -> dict[str, Any]:
    """Fit the basis on up to `max_blocks` training blocks and one prior per step; write pca.npz.

    `components` None keeps all of them (block_size^2 x channels).
    """
    from sklearn.decomposition import PCA

    from aecompress.runtime import job_output

    channels = {shape[2] for shape in images.shapes}
    if len(channels) != 1:
        raise ValueError(f"{name}: the training images mix channel counts {sorted(channels)}")
    blocks = np.concatenate(list(_training_blocks(images, block_size, max_blocks, seed)))
    components = components or blocks.shape[1]
    if blocks.shape[1] < components:
        raise ValueError(
            f"{name}: components {components} exceeds the {blocks.shape[1]} values of a "
            f"{block_size}x{block_size}x{blocks.shape[1] // block_size**2} block"
        )
    rng = np.random.default_rng(seed)
    if len(blocks) > max_blocks:
        blocks = blocks[np.sort(rng.choice(len(blocks), max_blocks, replace=False))]
    if len(blocks) < components:
        raise ValueError(f"{name}: {len(blocks)} training blocks cannot fit {components} components")
    pca = PCA(n_components=components, svd_solver="full", random_state=seed).fit(blocks.astype(np.float64))
    coefficients = pca.transform(blocks.astype(np.float64))
    arrays = {
        "name": np.array(name),
        "trained_on": np.array(trained_on),
        "block_size": np.array(block_size),
        "channels": np.array(blocks.shape[1] // block_size**2),
        "mean": pca.mean_,
        "components": pca.components_,
        "explained_variance_ratio": pca.explained_variance_ratio_,
    }
    for step in steps:
        symbols = np.round(coefficients / step).astype(np.int64)
        prior = HistogramPrior.fit(symbols, smoothing, what=f"{name} step {step:g}")
        arrays.update(prior.to_arrays(_step_key(step)))
    with job_output(out_path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return {
        "baseline": name,
        "training_blocks": len(blocks),
        "components": components,
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
        "steps": list(steps),
    }


class PcaBaseline(BaselineCodec):
    """PCA as a baseline: the basis and priors fitted on a training split, one rate point per step."""

    name, fitted_file = "pca", "pca.npz"
    settings: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": "Settings of a pca baseline (unused by the other codecs).",
        "properties": {
            "fit_dataset": {
                "type": ["string", "null"],
                "default": None,
                "description": (
                    "Dataset whose training split the basis and priors are fitted on; null means "
                    "`dataset` (a test-only dataset such as Kodak needs another one here)."
                ),
            },
            "block_size": {
                "type": "integer",
                "minimum": 1,
                "default": 8,
                "description": "Side of the square blocks the transform acts on (edge-padded at borders).",
            },
            "components": {
                "type": ["integer", "null"],
                "minimum": 1,
                "default": None,
                "description": (
                    "Leading principal components kept per block (at most block_size^2 x channels); "
                    "null keeps them all. One curve per baseline: declare another baseline for another count."
                ),
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "number", "exclusiveMinimum": 0},
                "default": [4, 8, 16, 32, 64],
                "description": (
                    "Uniform quantizer steps of the coefficients, in 8-bit pixel units (the basis is "
                    "orthonormal); one rate point each. Steps much below 1 make the priors too wide."
                ),
            },
            "max_blocks": {
                "type": "integer",
                "minimum": 1,
                "default": 200000,
                "description": "Training blocks the basis and priors are fitted on (a seeded subset beyond).",
            },
        },
    }

    def operating_points(self, baseline: dict[str, Any]) -> list[float]:
        return sorted((float(step) for step in baseline["pca"]["steps"]), reverse=True)

    def fit_dataset(self, baseline: dict[str, Any]) -> str:
        return baseline["pca"]["fit_dataset"] or baseline["dataset"]

    def problems(self, config: dict[str, Any], baseline: dict[str, Any], where: str) -> list[str]:
        from aecompress.config import dataset_channels

        options, fit_dataset = baseline["pca"], self.fit_dataset(baseline)
        if fit_dataset not in config["datasets"]:
            known = ", ".join(sorted(config["datasets"]))
            return [f"{where}.pca.fit_dataset: '{fit_dataset}' is not a key of `datasets` (known: {known})"]
        problems = []
        if config["datasets"][fit_dataset]["test_fraction"] == 1:
            problems.append(
                f"{where}.pca.fit_dataset: '{fit_dataset}' is test-only (test_fraction: 1); name a dataset "
                "with a training split to fit the basis on"
            )
        channels, coded = dataset_channels(config, fit_dataset), dataset_channels(config, baseline["dataset"])
        if channels != coded:
            problems.append(
                f"{where}.pca.fit_dataset: '{fit_dataset}' has {channels} channels, the coded dataset "
                f"'{baseline['dataset']}' {coded}"
            )
        values = options["block_size"] ** 2 * channels
        if (options["components"] or 0) > values:
            problems.append(
                f"{where}.pca.components: {options['components']} exceeds the {values} values of a "
                f"{options['block_size']}x{options['block_size']}x{channels} block"
            )
        return problems

    def fit(self, images, baseline: dict[str, Any], fit_dataset: str, smoothing: float, seed: int, out_path):
        options = baseline["pca"]
        return fit_pca(
            name=baseline["name"],
            trained_on=fit_dataset,
            images=images,
            block_size=options["block_size"],
            components=options["components"],
            steps=options["steps"],
            max_blocks=options["max_blocks"],
            smoothing=smoothing,
            seed=seed,
            out_path=out_path,
        )

    def search_points(self, fitted: str | None = None) -> list[float]:
        """The steps the file has priors for, largest (lowest rate) first."""
        if fitted is None:
            raise ValueError("a pca codec needs its fitted file (pca.npz)")
        try:
            with np.load(fitted) as arrays:
                keys = [k for k in arrays.files if k.endswith("_lookup")]
        except (OSError, ValueError) as err:
            raise ValueError(f"{fitted}: not a PCA coder file ({err})") from err
        return sorted((float(k.split("_")[0][len("step-") :]) for k in keys), reverse=True)

    def build(self, point: float, fitted: str | None = None, name: str | None = None) -> PcaCodec:
        if fitted is None:
            raise ValueError("a pca codec needs its fitted file (pca.npz)")
        return PcaCodec.from_file(fitted, point, name)

    def describe(self, codec: PcaCodec) -> dict[str, Any]:
        size = codec.block_size
        return {
            "params": {"step": codec.step, "block_size": size},
            "coding": {
                "quantized": f"the leading {codec.components} PCA coefficients of each {size}x{size} block",
                "quantizer": f"uniform, step {codec.step:g} (8-bit pixel units)",
                "prior": "one smoothed histogram per component, counted on training blocks",
                "entropy_coder": "tensorflow-compression range coder, 16-bit CDFs, overflow escape",
            },
            "trained_on": codec.trained_on,
        }


BASELINE = PcaBaseline()
