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
