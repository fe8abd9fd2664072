"""Scale-hyperprior compressive autoencoder (Balle et al. 2018); see compressive.py."""

from __future__ import annotations

from typing import Any

from aecompress.models.compressive import (  # noqa: F401  (the family interface)
    build,
    compile_model,
    downsampling_factor,
    latent_shape,
    nominal_ratio,
    reconstruct,
    reconstruct_with_bits,
    training_pixels,
)
from aecompress.preprocessing import Normalization


def build_model(
    params: dict[str, Any], image_shape, normalization: Normalization, preprocessing: dict[str, Any]
):
    return build("hyperprior", params, image_shape, normalization)
