"""The model registry: one line per family, naming the module that holds its `FAMILY`.

Each family module follows the contract in `aecompress.models.family` and imports no
TensorFlow until a model is built or loaded, so the config and the plan read every family
while Snakemake builds the DAG. Adding a family is one module plus one line here.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from aecompress.models.family import CompressiveFamily, Family, LatentFamily

FAMILY_MODULES: dict[str, str] = {
    "dense": "aecompress.models.dense",
    "deep-cae": "aecompress.models.deep_cae",
    "linear-latent-cae": "aecompress.models.linear_latent",
    "rate-cae": "aecompress.models.rate_cae",
    "factorized-prior": "aecompress.models.factorized_prior",
    "hyperprior": "aecompress.models.hyperprior",
    "slimcae": "aecompress.models.slimcae",
    "ms2020": "aecompress.models.ms2020",
}


@cache
def get_family(name: str) -> Family:
    try:
        module = FAMILY_MODULES[name]
    except KeyError:
        raise KeyError(f"unknown model family '{name}' (known: {', '.join(FAMILY_MODULES)})") from None
    family = importlib.import_module(module).FAMILY
    if family.name != name:
        raise RuntimeError(f"{module}: its FAMILY is named '{family.name}', registered as '{name}'")
    return family


def families() -> dict[str, Family]:
    return {name: get_family(name) for name in FAMILY_MODULES}


# Which families write which kind of bitstream (codecs.learned / codecs.latent).
COMPRESSIVE_FAMILIES = tuple(
    name for name in FAMILY_MODULES if isinstance(get_family(name), CompressiveFamily)
)
LATENT_FAMILIES = tuple(name for name in FAMILY_MODULES if isinstance(get_family(name), LatentFamily))


def check_variant(variant, dataset_options: dict[str, Any]) -> list[str]:
    """Problems of one plan.Variant against its dataset entry, as `key: what was expected`."""
    from aecompress.datasets import configured_source

    source = configured_source(dataset_options)
    problems = get_family(variant.family).check(variant.params, variant.preprocessing, source)
    if source.streamed and not variant.preprocessing.get("patches") and not problems:
        problems.append(
            f"preprocessing.patches: source '{source.name}' is streamed from its files (stream: true or a "
            "photo corpus); only models trained on patches read it (e.g. patches: {size: 256})"
        )
    return problems
