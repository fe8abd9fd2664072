"""The model registry: every family is registered once, by name, with its checks and builder.

Builders live in per-family modules that import TensorFlow; they are imported only when a
job builds or loads a model, never while Snakemake builds the DAG.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelFamily:
    name: str
    description: str
    module: str  # implements build_model, training_pixels, reconstruct, nominal_ratio
    check: Callable[[dict[str, Any], dict[str, Any], Any], list[str]]  # (params, preprocessing, source)

    def implementation(self):
        return importlib.import_module(self.module)


def _check_dense(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    problems = []
    if params.get("block_size") is None and not dataset_source.fixed_size:
        problems.append(
            f"block_size: null makes each whole image one input vector, but source "
            f"'{dataset_source.name}' has images of different sizes; set block_size (e.g. 8)"
        )
    for key in ("padding", "patches"):
        if preprocessing.get(key) is not None:
            problems.append(
                f"preprocessing.{key}: not used by the dense family, which codes whole images or "
                "block_size blocks (edge-padded to a multiple of the block)"
            )
    return problems


def _check_conv(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    if not dataset_source.fixed_size and not preprocessing.get("patches"):
        return [
            f"preprocessing.patches: source '{dataset_source.name}' has images of different sizes; "
            "train on patches (e.g. {size: 64})"
        ]
    return []


def _check_linear_latent(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    problems = []
    if not dataset_source.fixed_size:
        problems.append(
            f"family linear-latent-cae: its dense latent fixes the image size, but source "
            f"'{dataset_source.name}' has images of different sizes"
        )
    if preprocessing.get("patches"):
        problems.append("preprocessing.patches: linear-latent-cae trains on whole images of one size")
    return problems


FAMILIES: dict[str, ModelFamily] = {
    "dense": ModelFamily(
        name="dense",
        description="Dense autoencoder: inputs -> h sigmoid units -> inputs (the MNIST paper's family).",
        module="aecompress.models.dense",
        check=_check_dense,
    ),
    "deep-cae": ModelFamily(
        name="deep-cae",
        description=(
            "Deep CAE (the coursework): pad to 2^k, conv + max-pool/strided blocks with BatchNorm and "
            "LeakyReLU, linear bottleneck conv, resize-convolution decoder, crop back."
        ),
        module="aecompress.models.deep_cae",
        check=_check_conv,
    ),
    "linear-latent-cae": ModelFamily(
        name="linear-latent-cae",
        description=(
            "Linear-latent CAE (the STL-10 notebook): stride-2 conv stages, a dense latent vector, "
            "transposed-conv decoder, optional spatial dropout."
        ),
        module="aecompress.models.linear_latent",
        check=_check_linear_latent,
    ),
    "rate-cae": ModelFamily(
        name="rate-cae",
        description=(
            "Rate-study CAE (the CIFAR-10 paper): log2(rate) conv + max-pool stages, ReLU, "
            "nearest-neighbour upsampling decoder."
        ),
        module="aecompress.models.rate_cae",
        check=_check_conv,
    ),
}


def get_family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family '{name}' (known: {', '.join(FAMILIES)})") from None


def check_variant(variant, source_name: str) -> list[str]:
    """Problems of one plan.Variant against its dataset source, as `key: what was expected`."""
    from aecompress.datasets import REGISTRY

    family = get_family(variant.family)
    return family.check(variant.params, variant.preprocessing, REGISTRY[source_name])
