"""Every conv family: any image size in, the same size out; documented sizes; it learns; it reloads."""

import numpy as np
import pytest

from aecompress.preprocessing import Normalization
from aecompress.training import save_model

UNIT = Normalization("unit")
SYMMETRIC = Normalization("symmetric")

DEEP_CAE = {"filters": [64, 32], "bottleneck_filters": 32, "downsampling": "pool", "upsampling": "resize"}
LINEAR_LATENT = {"stage_filters": [48, 96, 192, 384], "latent_units": 200, "dropout": 0.2}
RATE_CAE = {"rate": 4, "filters": 32, "latent_channels": 3}


@pytest.fixture(scope="module")
def families(tf):
    from aecompress.models import get_family

    return {name: get_family(name) for name in ("deep-cae", "linear-latent-cae", "rate-cae")}


def conv_params(w, k_in, k_out):
    return w * w * k_in * k_out + k_out


@pytest.mark.parametrize(
    "params",
    [
        DEEP_CAE,
        {**DEEP_CAE, "downsampling": "strided", "upsampling": "transposed"},
        {**DEEP_CAE, "filters": [16, 16, 16], "bottleneck_filters": 8},
    ],
)
@pytest.mark.parametrize("size", [(150, 225), (768, 512), (33, 17)])
def test_deep_cae_keeps_any_image_size(families, params, size):
    model = families["deep-cae"].build_model(params, (*size, 3), SYMMETRIC, {"padding": None})
    out = model(np.zeros((1, *size, 3), np.float32), training=False)
    assert out.shape == (1, *size, 3)
    assert model.get_layer("decoder").layers[-1].activation.__name__ == "tanh"


@pytest.mark.parametrize("rate", [2, 4, 8, 16])
def test_rate_cae_latent_follows_the_spatial_rate(families, rate):
    params = {**RATE_CAE, "rate": rate}
    model = families["rate-cae"].build_model(params, (32, 32, 3), UNIT, {})
    latent = model.get_layer("encoder")(np.zeros((1, 32, 32, 3), np.float32))
    assert latent.shape == (1, 32 // rate, 32 // rate, 3)
    assert families["rate-cae"].nominal_ratio(params, (32, 32, 3)) == rate**2
    assert model(np.zeros((1, 150, 225, 3), np.float32)).shape == (1, 150, 225, 3)


def test_documented_parameter_counts(families):
    deep = families["deep-cae"].build_model(DEEP_CAE, (150, 225, 3), UNIT, {})
    batch_norm = 4 * (64 + 32) * 2  # gamma, beta, moving mean and variance, after each down and up step
    expected = (
        conv_params(3, 3, 64) + conv_params(3, 64, 32) + conv_params(3, 32, 32)  # encoder
        + conv_params(3, 32, 32) + conv_params(3, 32, 64) + conv_params(3, 64, 3)  # decoder
        + batch_norm
    )  # fmt: skip
    assert deep.count_params() == expected == 59747

    rate = families["rate-cae"].build_model(RATE_CAE, (32, 32, 3), UNIT, {})
    expected = 2 * (conv_params(3, 3, 32) + conv_params(3, 32, 32) + conv_params(3, 32, 3))
    assert rate.count_params() == expected

    linear = families["linear-latent-cae"].build_model(LINEAR_LATENT, (96, 96, 3), UNIT, {})
    widths = [3, 48, 96, 192, 384]
    encoder = sum(
        conv_params(3, a, b) + conv_params(3, b, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
    )
    encoder += 6 * 6 * 384 * 200 + 200
    decoder = 200 * 6 * 6 * 384 + 6 * 6 * 384
    for a, b in [(384, 192), (192, 96), (96, 48), (48, 48)]:
        decoder += conv_params(3, a, b) + conv_params(3, b, b)
    decoder += conv_params(3, 48, 3)
    assert linear.count_params() == encoder + decoder
    assert families["linear-latent-cae"].nominal_ratio(LINEAR_LATENT, (96, 96, 3)) == 96 * 96 * 3 / 200
    assert linear(np.zeros((2, 96, 96, 3), np.float32)).shape == (2, 96, 96, 3)
    padded = families["linear-latent-cae"].build_model(
        {**LINEAR_LATENT, "stage_filters": [8, 8]},
        (150, 225, 3),
        UNIT,
        {"padding": {"multiple": 4, "mode": "zero"}},
    )
    assert padded(np.zeros((1, 150, 225, 3), np.float32)).shape == (1, 150, 225, 3)


@pytest.mark.parametrize(
    ("family", "params", "shape"),
    [
        ("deep-cae", {**DEEP_CAE, "filters": [8, 8], "bottleneck_filters": 4}, (24, 40, 3)),
        ("rate-cae", {**RATE_CAE, "filters": 8}, (32, 32, 3)),
        ("linear-latent-cae", {"stage_filters": [8, 16], "latent_units": 16, "dropout": 0.0}, (32, 32, 3)),
    ],
)
def test_one_step_lowers_the_loss_and_save_load_keeps_outputs(tf, families, tmp_path, family, params, shape):
    from aecompress.training import load_model

    tf.keras.utils.set_random_seed(0)
    model = families[family].build_model(params, shape, UNIT, {})
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    x = np.random.default_rng(0).random((4, *shape)).astype(np.float32)
    before = model.train_on_batch(x, x)
    after = model.train_on_batch(x, x)  # the loss of the weights after one step
    assert after < before

    save_model(model, tmp_path / "m")
    reloaded = load_model(tf, tmp_path / "m")
    np.testing.assert_allclose(reloaded(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "huber", "ssim", "ms_ssim"])
def test_every_reconstruction_loss_trains(tf, families, loss):
    from aecompress.losses import reconstruction_loss

    shape = (48, 48, 3)
    model = families["rate-cae"].build_model({**RATE_CAE, "filters": 8}, shape, SYMMETRIC, {})
    fn = reconstruction_loss(tf, {"loss": loss, "huber_delta": 0.5}, SYMMETRIC, shape)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=fn)
    x = SYMMETRIC.forward(np.random.default_rng(1).integers(0, 256, (4, *shape), dtype=np.uint8))
    values = [model.train_on_batch(x, x) for _ in range(3)]
    assert np.isfinite(values).all() and values[-1] < values[0]


def test_training_ms_ssim_equals_tf_image_and_has_finite_gradients(tf):
    from aecompress.losses import ms_ssim
    from aecompress.metrics import MS_SSIM_WEIGHTS

    rng = np.random.default_rng(2)
    x = rng.random((2, 181, 200, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    for scales in (3, 5):
        weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
        reference = tf.image.ssim_multiscale(x, y, 1.0, power_factors=tuple(weights)).numpy()
        np.testing.assert_allclose(ms_ssim(tf, x, y, scales).numpy(), reference, rtol=2e-3)
    noise = tf.Variable(rng.random((1, 64, 64, 1)).astype(np.float32))  # unrelated: terms hit 0
    with tf.GradientTape() as tape:
        value = ms_ssim(tf, tf.zeros((1, 64, 64, 1)) + 0.5, noise, 3)
    assert np.isfinite(tape.gradient(value, noise).numpy()).all()
