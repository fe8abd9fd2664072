"""Minnen & Singh 2020, "Channel-wise autoregressive entropy models for learned image
compression" (ICIP 2020; tfc's `models/ms2020.py`): the hyperprior's latent coded slice by
slice, each slice's Gaussian conditioned on the slices before it, plus latent residual
prediction. The network is `ms2020_network.ChannelwiseAutoregressive`.
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


class MinnenSingh2020(CompressiveFamily):
    name = "ms2020"
    description = (
        "Compressive AE with a channel-wise autoregressive entropy model and latent residual "
        "prediction (Minnen & Singh 2020; tfc's ms2020): y coded in slices, each conditioned on "
        "the hyperprior and the slices before it."
    )
    params_schema = params_from_yaml(
        """
        lmbda:
          type: number
          exclusiveMinimum: 0
          default: 0.01
          description: loss = bits per pixel (slices + side information) + lmbda * MSE on the 0..255 scale.
        num_filters:
          type: integer
          minimum: 1
          default: 192
          description: Filters of the analysis and synthesis transforms (the reference uses 192).
        latent_depth:
          type: integer
          minimum: 1
          default: 320
          description: Channels of the latent y; a multiple of num_slices (the reference uses 320).
        hyperprior_depth:
          type: integer
          minimum: 1
          default: 192
          description: Channels of the hyper-latent z (the reference uses 192).
        hyper_filters:
          type: integer
          minimum: 1
          default: 256
          description: Middle width of the hyper-analysis and both hyper-synthesis transforms (reference 256).
        slice_filters:
          type: array
          minItems: 2
          maxItems: 2
          items: {type: integer, minimum: 1}
          default: [224, 128]
          description: Widths of the two hidden layers of every slice transform (mean, scale, LRP).
        num_slices:
          type: integer
          minimum: 1
          maximum: 31
          default: 10
          description: Channel slices of y, each coded after and conditioned on the ones before it.
        max_support_slices:
          type: integer
          minimum: -1
          default: 5
          description: At most this many earlier slices condition a slice (-1 = all; the reference uses 5).
    """,
        GAUSSIAN_SCALES,
        VARIABLE_RATE,
    )
    method_id, variable_rate_method_id = 10, 18
    hyper_downsampling = 4

    def check(self, params: dict[str, Any], preprocessing: dict[str, Any], source) -> list[str]:
        problems = super().check(params, preprocessing, source)
        if params["latent_depth"] % params["num_slices"]:
            problems.append(
                f"params.num_slices: {params['num_slices']} does not divide latent_depth "
                f"{params['latent_depth']} into equal slices"
            )
        return problems

    def latent_channels(self, params: dict[str, Any]) -> int:
        return params["latent_depth"]

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        from aecompress.models.ms2020_network import ChannelwiseAutoregressive

        unit_normalization_required(normalization, self.name)
        params = self.with_defaults(params)
        return ChannelwiseAutoregressive(
            params["lmbda"], params["num_filters"], params["latent_depth"], params["hyperprior_depth"],
            params["num_slices"], params["max_support_slices"], params["hyper_filters"],
            params["slice_filters"], params["num_scales"], params["scale_min"], params["scale_max"],
            image_shape[2], params["lambda_range"], params["rate_anchors"],
        )  # fmt: skip

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        _, y, z = self.coded_shapes(params, height, width)
        slice_depth = params["latent_depth"] // params["num_slices"]
        slices = [Payload(model.entropy_model, y[0] * y[1], slice_depth)] * params["num_slices"]
        return [*slices, Payload(model.side_entropy_model, z[0] * z[1], None)]


FAMILY = MinnenSingh2020()
