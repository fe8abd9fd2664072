"""Factorized-prior compressive autoencoder (Balle et al. 2017); see compressive.py."""

from functools import partial

from aecompress.models import compressive
from aecompress.models.compressive import (  # noqa: F401  (the family interface)
    compile_model,
    downsampling_factor,
    latent_shape,
    nominal_ratio,
    training_pixels,
)

build_model = partial(compressive.build_model, "factorized-prior")
reconstruct = partial(compressive.reconstruct, "factorized-prior")
