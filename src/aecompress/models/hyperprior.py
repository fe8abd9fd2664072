"""Scale-hyperprior compressive autoencoder (Balle, Minnen, Singh, Hwang, Johnston 2018; tfc's
bmshj2018).

The network is `compressive.ScaleHyperprior`: four 5x5/2 layers each way, a hyper-analysis of
|y| whose side information z (factorized prior) predicts a Gaussian scale per element of y.
"""

from __future__ import annotations

from typing import Any

from aecompress.models.family import (
    GAUSSIAN_SCALES,
    VARIABLE_RATE,
    CompressiveFamily,
    Payload,
    params_from_yaml,
    unit_normalization_required,
)


class HyperpriorFamily(CompressiveFamily):
    name = "hyperprior"
    description = (
        "Compressive AE with a scale hyperprior (Balle et al. 2018; tfc's bmshj2018): side "
        "information predicts a Gaussian scale per latent element."
    )
    params_schema = params_from_yaml(
        """
        num_filters:
          type: integer
          minimum: 1
          default: 192
          description: Filters N of the transforms and hyper-transforms (Balle 2018 uses 128 or 192).
        latent_filters:
          type: integer
          minimum: 1
          default: 192
          description: Channels M of the latent y (Balle 2018 uses 192, or 320 at high rates).
        lmbda:
          type: number
          exclusiveMinimum: 0
          default: 0.01
          description: loss = bits per pixel (latent + side information) + lmbda * MSE on the 0..255 scale.
    """,
        GAUSSIAN_SCALES,
        VARIABLE_RATE,
    )
    method_id, variable_rate_method_id = 7, 17
    hyper_downsampling = 4

    def latent_channels(self, params: dict[str, Any]) -> int:
        return params["latent_filters"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        from aecompress.models.compressive import ScaleHyperprior

        unit_normalization_required(normalization, self.name)
        params = self.with_defaults(params)
        return ScaleHyperprior(
            params["lmbda"],
            params["num_filters"],
            params["latent_filters"],
            params["num_scales"],
            params["scale_min"],
            params["scale_max"],
            image_shape[2],
            params["lambda_range"],
            params["rate_anchors"],
        )

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        _, y, z = self.coded_shapes(params, height, width)
        return [
            Payload(model.entropy_model, y[0] * y[1], params["latent_filters"]),
            Payload(model.side_entropy_model, z[0] * z[1], None),
        ]


FAMILY = HyperpriorFamily()
