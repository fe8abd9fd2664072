"""Factorized-prior compressive autoencoder (Balle, Laparra, Simoncelli 2017; tfc's bls2017).

The network is `compressive.FactorizedPrior`: analysis 9x9/4 - GDN - 5x5/2 - GDN - 5x5/2,
synthesis mirrored with IGDN, the latent coded with one learned density per channel.
"""

from __future__ import annotations

from typing import Any

from aecompress.models.family import (
    VARIABLE_RATE,
    CompressiveFamily,
    Payload,
    params_from_yaml,
    unit_normalization_required,
)


class FactorizedPriorFamily(CompressiveFamily):
    name = "factorized-prior"
    description = (
        "Compressive AE with a factorized prior (Balle et al. 2017; tfc's bls2017): GDN transforms, "
        "learned entropy model, range-coded bitstreams; one model per lambda."
    )
    params_schema = params_from_yaml(
        """
        num_filters:
          type: integer
          minimum: 1
          default: 128
          description: >
            Filters N of every transform layer and latent channels (bls2017 uses 128; 192 at high
            rates).
        lmbda:
          type: number
          exclusiveMinimum: 0
          default: 0.01
          description: >
            Rate-distortion trade-off: loss = bits per pixel + lmbda * MSE, the MSE on the 0..255
            scale (tfc's units; bls2017's default is 0.01). Larger means higher rate and quality.
    """,
        VARIABLE_RATE,
    )
    method_id, variable_rate_method_id = 6, 16

    def latent_channels(self, params: dict[str, Any]) -> int:
        return params["num_filters"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        from aecompress.models.compressive import FactorizedPrior

        unit_normalization_required(normalization, self.name)
        params = self.with_defaults(params)
        return FactorizedPrior(
            params["lmbda"],
            params["num_filters"],
            image_shape[2],
            params["lambda_range"],
            params["rate_anchors"],
        )

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        y = self.coded_shapes(params, height, width)[1]
        return [Payload(model.entropy_model, y[0] * y[1], None)]


FAMILY = FactorizedPriorFamily()
