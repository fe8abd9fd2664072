import math

import numpy as np
import pytest

from aecompress.images import ImageSet
from aecompress.metrics import image_quality, ms_ssim_scales, mse
from aecompress.preprocessing import Normalization

UNIT = Normalization("unit")


@pytest.fixture(scope="module")
def dense(tf):
    from aecompress.models import get_family

    return get_family("dense")


@pytest.mark.parametrize(
    ("h", "bias", "count"), [(2, True, 64 * 2 + 2 + 2 * 64 + 64), (2, False, 256), (16, True, 2128)]
)
def test_dense_parameter_counts(dense, h, bias, count):
    model = dense.build_model({"latent_units": h, "use_bias": bias, "block_size": None}, (8, 8, 1), UNIT)
    assert model.count_params() == count
    assert model.get_layer("encoder").output_shape == (None, h)
    assert model.output_shape == (None, 8, 8, 1)


@pytest.mark.parametrize(("kind", "activation"), [("unit", "sigmoid"), ("symmetric", "tanh")])
def test_dense_output_activation_follows_the_normalization(dense, kind, activation):
    params = {"latent_units": 2, "use_bias": True, "block_size": None}
    model = dense.build_model(params, (4, 4, 1), Normalization(kind))
    assert model.get_layer("decoder").layers[0].activation.__name__ == activation


def test_dense_nominal_ratio(dense):
    assert dense.nominal_ratio({"latent_units": 2, "block_size": None}, (28, 28, 1)) == 392
    assert dense.nominal_ratio({"latent_units": 12, "block_size": 8}, (300, 451, 3)) == 16


def test_block_reconstruction_keeps_any_image_size(dense):
    params = {"latent_units": 4, "use_bias": True, "block_size": 8}
    model = dense.build_model(params, (8, 8, 3), UNIT)
    images = ImageSet([np.full((13, 30, 3), 7, np.uint8), np.zeros((9, 9, 3), np.uint8)])
    out = dense.reconstruct(model, images, params, UNIT)
    assert [o.shape for o in out] == [(13, 30, 3), (9, 9, 3)]
    assert all(o.dtype == np.uint8 for o in out)
    blocks = dense.training_pixels(images, params)
    assert blocks.shape == (2 * 4 + 2 * 2, 8, 8, 3) and blocks.dtype == np.uint8


def test_mse_and_psnr_against_hand_values(tf):
    a = np.zeros((1, 16, 16, 1), np.uint8)
    b = np.full((1, 16, 16, 1), 51, np.uint8)  # 51 / 255 = 0.2
    assert mse(a, b)[0] == pytest.approx(0.04)
    scores = image_quality(tf, a, b)
    assert scores["psnr"][0] == pytest.approx(10 * math.log10(255**2 / 51**2), abs=1e-4)  # 13.979 dB


def test_identical_images_score_perfectly_with_capped_psnr(tf):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 200, 180, 3), dtype=np.uint8)
    scores = image_quality(tf, a, a.copy())
    assert scores["mse"].tolist() == [0, 0]
    assert scores["psnr"].tolist() == [100.0, 100.0]
    assert scores["ssim"] == pytest.approx(1.0) and scores["ms_ssim"] == pytest.approx(1.0)
    assert scores["ms_ssim_scales"].tolist() == [5, 5]


def test_worse_reconstruction_scores_lower(tf):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (1, 64, 64, 1), dtype=np.uint8)
    slight = np.clip(a.astype(int) + rng.integers(-5, 6, a.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(a.astype(int) + rng.integers(-60, 61, a.shape), 0, 255).astype(np.uint8)
    s, h = image_quality(tf, a, slight), image_quality(tf, a, heavy)
    for name in ("psnr", "ssim", "ms_ssim"):
        assert s[name][0] > h[name][0]
    assert s["mse"][0] < h["mse"][0]


def test_ms_ssim_scale_rule_and_tiny_images(tf):
    assert [ms_ssim_scales(s, s) for s in (8, 11, 21, 22, 44, 175, 176, 1000)] == [0, 1, 1, 2, 3, 4, 5, 5]
    a = np.zeros((1, 8, 8, 1), np.uint8)
    scores = image_quality(tf, a, a + 3)
    assert math.isnan(scores["ms_ssim"][0]) and 0 < scores["ssim"][0] <= 1


def test_metrics_refuse_float_reconstructions(tf):
    with pytest.raises(TypeError, match="uint8"):
        image_quality(tf, np.zeros((1, 8, 8, 1), np.uint8), np.zeros((1, 8, 8, 1), np.float32))
