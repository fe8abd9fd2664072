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
    # The rate points one trained model is evaluated at (SlimCAE: one per width).
    operating_points: Callable[[dict[str, Any]], list[dict[str, Any]]] = lambda params: [{}]
    # True: trained with a learned entropy model and range coder of its own (compressive AEs);
    # False: its latent is quantized and coded with a prior fitted after training (codecs.latent).
    entropy_model: bool = False

    def implementation(self):
        return importlib.import_module(self.module)


def _check_dense(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    problems = []
    if params.get("block_size") is None and dataset_source.fixed_size is False:
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
    if dataset_source.fixed_size is False and not preprocessing.get("patches"):
        return [
            f"preprocessing.patches: source '{dataset_source.name}' has images of different sizes; "
            "train on patches (e.g. {size: 64})"
        ]
    return []


def _check_compressive(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    problems = _check_conv(params, preprocessing, dataset_source)
    if preprocessing.get("normalization") != "unit":
        problems.append("preprocessing.normalization: compressive autoencoders code [0, 1] pixels; use unit")
    if preprocessing.get("padding") is not None:
        problems.append(
            "preprocessing.padding: compressive autoencoders pad with zeros inside their transforms and "
            "crop back; leave it null"
        )
    return problems


def _check_slimcae(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    problems = _check_compressive(params, preprocessing, dataset_source)
    widths, lambdas = params["widths"], params["lambdas"]
    if len(widths) != len(lambdas):
        problems.append(
            f"params.lambdas: one lambda per width is needed ({len(widths)} widths, {len(lambdas)} lambdas)"
        )
    if widths != sorted(widths, reverse=True):
        problems.append(f"params.widths: list them widest first (got {widths})")
    return problems


def _check_linear_latent(params: dict[str, Any], preprocessing: dict[str, Any], dataset_source) -> list[str]:
    problems = []
    if dataset_source.fixed_size is False:
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
    "factorized-prior": ModelFamily(
        name="factorized-prior",
        description=(
            "Compressive AE with a factorized prior (Balle et al. 2017; tfc's bls2017): GDN transforms, "
            "learned entropy model, range-coded bitstreams; one model per lambda."
        ),
        module="aecompress.models.factorized_prior",
        check=_check_compressive,
        entropy_model=True,
    ),
    "hyperprior": ModelFamily(
        name="hyperprior",
        description=(
            "Compressive AE with a scale hyperprior (Balle et al. 2018; tfc's bmshj2018): side "
            "information predicts a Gaussian scale per latent element."
        ),
        module="aecompress.models.hyperprior",
        check=_check_compressive,
        entropy_model=True,
    ),
    "slimcae": ModelFamily(
        name="slimcae",
        description=(
            "Slimmable compressive AE (SlimCAE, Yang et al. 2021; the Zagreb thesis): one network, "
            "shared kernels sliced to several widths, switchable GDN, one entropy model and one rate "
            "point per width."
        ),
        module="aecompress.models.slimcae",
        check=_check_slimcae,
        entropy_model=True,
        operating_points=lambda params: [{"width": w} for w in params["widths"]],
    ),
}


# Which families write which kind of bitstream (codecs.learned / codecs.latent).
COMPRESSIVE_FAMILIES = tuple(name for name, family in FAMILIES.items() if family.entropy_model)
LATENT_FAMILIES = tuple(name for name, family in FAMILIES.items() if not family.entropy_model)


def get_family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family '{name}' (known: {', '.join(FAMILIES)})") from None


def check_variant(variant, dataset_options: dict[str, Any]) -> list[str]:
    """Problems of one plan.Variant against its dataset entry, as `key: what was expected`."""
    from aecompress.datasets import configured_source

    family = get_family(variant.family)
    source = configured_source(dataset_options)
    problems = family.check(variant.params, variant.preprocessing, source)
    if source.streamed and not variant.preprocessing.get("patches") and not problems:
        problems.append(
            f"preprocessing.patches: source '{source.name}' is streamed from its files (stream: true or a "
            "photo corpus); only models trained on patches read it (e.g. patches: {size: 256})"
        )
    return problems
