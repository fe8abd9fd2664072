"""Slimmable compressive autoencoder (SlimCAE, Yang et al. 2021; the Zagreb thesis).

One network (`slimcae_network.SlimCAE`) whose shared kernels are sliced to several widths,
with a switchable GDN and an entropy model per width; every width is an operating point.
"""

from __future__ import annotations

from typing import Any

from aecompress.models.family import CompressiveFamily, Payload, params_from_yaml, unit_normalization_required


class SlimCAEFamily(CompressiveFamily):
    name = "slimcae"
    description = (
        "Slimmable compressive AE (SlimCAE, Yang et al. 2021; the Zagreb thesis): one network, "
        "shared kernels sliced to several widths, switchable GDN, one entropy model and one rate "
        "point per width."
    )
    params_schema = params_from_yaml("""
        widths:
          type: array
          minItems: 1
          items: {type: integer, minimum: 1}
          default: [192, 144, 96, 72, 48]
          description: Channel widths, widest first; width w uses the first w channels of every shared kernel.
        lambdas:
          type: array
          minItems: 1
          items: {type: number, exclusiveMinimum: 0}
          default: [2048, 1024, 512, 256, 128]
          description: >
            One lambda per width: loss = sum_k lambda_k * D_k + R_k, R in bits per pixel, D on [0, 1]
            pixels (the thesis's units: [2048..128] with D = 1 - MS-SSIM).
        distortion:
          enum: [ms_ssim, mse]
          default: ms_ssim
          description: D = 1 - MS-SSIM (the thesis; scales follow the patch size) or the MSE.
    """)
    method_id, point_name, point_type = 8, "width", "varint"
    same_padding = True  # its sliced convolutions pad as tf.nn.conv2d's "SAME"

    def check(self, params: dict[str, Any], preprocessing: dict[str, Any], source) -> list[str]:
        problems = super().check(params, preprocessing, source)
        widths, lambdas = params["widths"], params["lambdas"]
        if len(widths) != len(lambdas):
            problems.append(
                f"params.lambdas: one lambda per width is needed ({len(widths)} widths, "
                f"{len(lambdas)} lambdas)"
            )
        if widths != sorted(widths, reverse=True):
            problems.append(f"params.widths: list them widest first (got {widths})")
        return problems

    def operating_points(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"width": w} for w in params["widths"]]

    def coding_width(self, params: dict[str, Any], point: dict[str, Any]) -> int:
        return point["width"]

    def latent_channels(self, params: dict[str, Any]) -> int:
        """At the widest width; width w keeps the first w channels."""
        return max(params["widths"])

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        from aecompress.metrics import ms_ssim_scales
        from aecompress.models.slimcae_network import SlimCAE

        unit_normalization_required(normalization, self.name)
        scales = max(1, ms_ssim_scales(*image_shape[:2]))
        return SlimCAE(params["widths"], params["lambdas"], params["distortion"], image_shape[2], scales)

    def point_suffix(self, point: dict[str, Any]) -> str:
        return f"_{int(point['width'])}"

    def payloads(self, model, params, point, height, width) -> list[Payload]:
        y = self.coded_shapes(params, height, width)[1]
        return [Payload(model.entropy_models[str(int(point["width"]))], y[0] * y[1], None)]

    def analyze(self, model, image, point):
        """None for a model saved without its `analyze_<w>` functions."""
        import tensorflow as tf

        analyze = getattr(model, f"analyze_{int(point['width'])}", None)
        return None if analyze is None else analyze(tf.constant(image)).numpy()


FAMILY = SlimCAEFamily()
