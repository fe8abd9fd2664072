"""Compressive AEs (tensorflow-compression): real bitstreams, quantization, slimmable widths, reloading."""

import numpy as np
import pytest

from aecompress.codecs.container import unpack
from aecompress.codecs.learned import CompressiveCodec, automatic_tile
from aecompress.models import get_family
from aecompress.preprocessing import Normalization
from aecompress.training import save_model

UNIT = Normalization("unit")
RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # not a multiple of the stride
BATCH = RNG.random((2, 48, 48, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def build(tf):
    """build(family, params, shape): a new model through the family's contract."""
    from aecompress.models import get_family

    return lambda family, params, shape: get_family(family).build_model(params, shape, UNIT, {})


def hyperprior_params(**kw):
    return {"num_filters": 8, "latent_filters": 12, "lmbda": 0.01, "num_scales": 64, "scale_min": 0.11,
            "scale_max": 256.0, **kw}  # fmt: skip


# A small model of every compressive family (the tests' sizes, not the papers').
PARAMS = {
    "factorized-prior": {"num_filters": 8, "lmbda": 0.05},
    "hyperprior": hyperprior_params(),
    "slimcae": {"widths": [12, 6], "lambdas": [64.0, 16.0], "distortion": "ms_ssim"},
    "ms2020": {"lmbda": 0.05, "num_filters": 8, "latent_depth": 12, "hyperprior_depth": 8, "hyper_filters": 8,
               "slice_filters": [8, 8], "num_slices": 3, "max_support_slices": 2, "num_scales": 64,
               "scale_min": 0.11, "scale_max": 256.0},
}  # fmt: skip
SINGLE_POINT = ["factorized-prior", "hyperprior", "ms2020"]
STRINGS = {"factorized-prior": 1, "hyperprior": 2, "ms2020": 4}  # ms2020: three slices and z


@pytest.fixture(scope="module")
def training(tf, build):
    """One briefly trained model of each kind (two steps on BATCH), ready for compression, and
    its rate-distortion loss on BATCH before and after (`test_step`: rounding, no noise)."""
    tf.keras.utils.set_random_seed(0)
    models = {kind: build(kind, params, (48, 48, 3)) for kind, params in PARAMS.items()}
    losses = {}
    for kind, model in models.items():
        # Eagerly: two steps cost less than tracing the step (34 s against 92 s for the four).
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), run_eagerly=True)
        before = model.test_on_batch(BATCH, return_dict=True)["loss"]
        model.fit(BATCH, epochs=2, batch_size=2, verbose=0)
        losses[kind] = (before, model.test_on_batch(BATCH, return_dict=True)["loss"])
        model.prepare_for_compression()
    return models, losses


@pytest.fixture(scope="module")
def trained(training):
    return training[0]


@pytest.fixture(scope="module")
def reloaded(tf, trained, tmp_path_factory):
    """reloaded(kind): the trained model saved and loaded back (once per kind: an ms2020 save
    traces its thirty exported functions)."""
    from aecompress.training import load_model

    models = {}

    def reload(kind):
        if kind not in models:
            folder = tmp_path_factory.mktemp(kind) / "model"
            save_model(trained[kind], folder)
            models[kind] = load_model(tf, folder)
        return models[kind]

    return reload


@pytest.mark.parametrize("kind", SINGLE_POINT)
def test_decompress_of_compress_is_the_quantized_reconstruction(tf, trained, kind):
    model = trained[kind]
    codec = CompressiveCodec.from_model(model, kind, PARAMS[kind])
    strings = codec.encode_payloads(IMAGE)
    data = codec.encode(IMAGE)
    decoded = codec.decode(data)
    assert decoded.shape == IMAGE.shape and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, model.quantized_reconstruction(tf.constant(IMAGE)).numpy())
    bits = 8 * sum(unpack(data)[0].payload_lengths)
    assert bits == 8 * sum(len(s) for s in strings) and bits > 0
    assert len(strings) == STRINGS[kind]  # side information and slices are strings of their own


def test_each_slimcae_width_codes_and_uses_a_slice_of_the_shared_kernels(tf, trained):
    model = trained["slimcae"]
    sizes = {}
    for width in (12, 6):
        codec = CompressiveCodec.from_model(model, "slimcae", PARAMS["slimcae"], {"width": width})
        data = codec.encode(IMAGE)
        quantized = model.quantized_reconstruction(tf.constant(IMAGE), width).numpy()
        np.testing.assert_array_equal(codec.decode(data), quantized)
        sizes[width] = 8 * sum(unpack(data)[0].payload_lengths)
    assert sizes[6] < sizes[12]  # half the latent channels
    # The narrow width's first layer is exactly the corner of the shared kernel.
    layer = model.analysis_layers[1]
    x = tf.random.normal((1, 8, 8, 6))
    narrow = tf.nn.conv2d(x, layer.kernel[:, :, :6, :6], 2, padding="SAME") + layer.bias[:6]
    np.testing.assert_allclose(layer(x, 6).numpy(), narrow.numpy(), rtol=1e-6)
    assert layer.kernel.shape == (5, 5, 12, 12)
    # Switchable GDN: every width owns its parameters.
    assert model.gdn["12"][0].beta.shape == (12,) and model.gdn["6"][0].beta.shape == (6,)


def test_every_slimcae_width_trains(tf, build):
    tf.keras.utils.set_random_seed(1)
    model = build("slimcae", {"widths": [8, 4], "lambdas": [512.0, 128.0], "distortion": "mse"}, (48, 48, 3))
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), run_eagerly=True)  # six steps: no tracing
    first = model.train_on_batch(BATCH, return_dict=True)
    for _ in range(5):
        last = model.train_on_batch(BATCH, return_dict=True)
    for width in (8, 4):
        assert last[f"mse_w{width}"] < first[f"mse_w{width}"]
    assert last["loss"] < first["loss"]


@pytest.mark.parametrize("kind", list(PARAMS))
def test_saved_model_reloads_and_decodes_the_same_bits(trained, reloaded, kind):
    model = trained[kind]
    point = {"width": 6} if kind == "slimcae" else None
    codec = CompressiveCodec.from_model(model, kind, PARAMS[kind], point)
    codec_again = CompressiveCodec.from_model(reloaded(kind), kind, PARAMS[kind], point)
    strings, strings_again = codec.encode_payloads(IMAGE), codec_again.encode_payloads(IMAGE)
    assert strings == strings_again  # the same bits
    np.testing.assert_array_equal(
        codec.decode(codec.encode(IMAGE)), codec_again.decode(codec_again.encode(IMAGE))
    )


def test_range_coding_tables_built_traced_equal_tfcs_eager_tables(tf):
    import tensorflow_compression as tfc

    from aecompress.models.compressive import ChannelEntropyModel, IndexedEntropyModel

    tf.keras.utils.set_random_seed(2)
    prior = tfc.NoisyDeepFactorized(batch_shape=(3,))
    eager = tfc.ContinuousBatchedEntropyModel(prior, coding_rank=3, compression=True)
    traced = ChannelEntropyModel(prior, coding_rank=3, compression=True)
    for name in ("cdf", "cdf_offset", "quantization_offset"):
        np.testing.assert_array_equal(getattr(traced, name).numpy(), getattr(eager, name).numpy())
    scales = (tfc.NoisyNormal, 6, lambda i: tf.math.exp(-2.0 + 0.7 * i))
    eager = tfc.LocationScaleIndexedEntropyModel(*scales, coding_rank=3, compression=True)
    traced = IndexedEntropyModel(*scales, coding_rank=3, compression=True)
    for name in ("cdf", "cdf_offset"):
        np.testing.assert_array_equal(getattr(traced, name).numpy(), getattr(eager, name).numpy())


def test_rate_falls_as_lambda_falls(tf, build):
    images = RNG.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    smooth = np.repeat(np.repeat(images[:, ::8, ::8], 8, axis=1), 8, axis=2).astype(np.float32) / 255
    rates = {}
    for lmbda in (0.0005, 0.5):
        tf.keras.utils.set_random_seed(0)
        model = build("factorized-prior", {"num_filters": 8, "lmbda": lmbda}, (32, 32, 3))
        model.compile(optimizer=tf.keras.optimizers.Adam(5e-3))
        history = model.fit(smooth, epochs=30, batch_size=8, verbose=0)
        rates[lmbda] = history.history["bpp"][-1]
    assert rates[0.0005] < rates[0.5]


def test_bls2017_parameter_count_at_its_documented_size(build):
    model = build("factorized-prior", {"num_filters": 128, "lmbda": 0.01}, (256, 256, 3))
    n = 128

    def conv(
        k, c_in, c_out, bias=True
    ):  # SignalConv2D keeps a k x k kernel as its real DFT (k x (k//2+1), complex)
        return 2 * k * (k // 2 + 1) * c_in * c_out + (c_out if bias else 0)

    gdn = n + n * n  # beta and gamma
    analysis = conv(9, 3, n) + gdn + conv(5, n, n) + gdn + conv(5, n, n, bias=False)
    synthesis = 2 * (conv(5, n, n) + gdn) + conv(9, n, 3)
    prior = n * (3 + 9 + 3 + 3 + 3 + 1 + 3 + 3)  # deep factorized 1-3-3-1: matrices, biases, factors
    trackers = 3 * 2  # the loss, bpp and MSE metrics' total and count (Keras counts them as weights)
    assert model.count_params() == analysis + synthesis + prior + trackers == 2_105_353


@pytest.mark.parametrize("kind", list(PARAMS))
def test_training_steps_lower_the_rate_distortion_loss(training, kind):
    """The fixture's two Adam steps lower every family's loss on their batch (measured there, so
    no family is built and traced a second time for it)."""
    before, after = training[1][kind]
    assert after < before


def smooth(count: int, size: int, rng: np.random.Generator, block: int = 8) -> np.ndarray:
    """Flat 8x8 blocks of random colours: an image model learns them in a few epochs."""
    blocks = rng.integers(0, 256, (count, size // block, size // block, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, block, 1), block, 2)


@pytest.mark.parametrize("kind", ["factorized-prior", "ms2020"])
def test_the_coded_bits_equal_the_entropy_models_estimate(tf, build, kind):
    """Once trained (here: 10 epochs on such images), the strings of a 256x256 image hold what
    the entropy model predicts, within 1% plus the range coder's flush per string. (The scale
    hyperprior's estimate is 1.8-2.5x its real bits on models trained this little: noted in
    issue 21, not asserted.)"""
    tf.keras.utils.set_random_seed(0)
    model = build(kind, PARAMS[kind], (64, 64, 3))
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
    rng = np.random.default_rng(0)  # the same data whatever ran before
    model.fit(smooth(16, 64, rng).astype(np.float32) / 255, epochs=10, batch_size=8, verbose=0)
    model.prepare_for_compression()
    codec = CompressiveCodec.from_model(model, kind, PARAMS[kind])
    image = smooth(1, 256, rng)[0]
    strings = codec.encode_payloads(image)
    bits = 8 * sum(len(s) for s in strings)
    assert abs(bits - codec.estimated_bits(image)) <= 0.01 * bits + 32 * len(strings)


@pytest.mark.parametrize("kind", list(PARAMS))
def test_tiled_coding_is_byte_identical_to_whole_image_coding(tf, trained, kind):
    """64-pixel tiles with the 64-pixel halo on a 250x266 image (20 tiles, ragged edges): the
    latent before rounding, the strings and the decoded image equal whole-image coding to the
    byte (observed for every family, SlimCAE's "SAME"-padded convolutions included)."""
    from aecompress.models import get_family

    point = {"width": 12} if kind == "slimcae" else None
    whole = CompressiveCodec.from_model(trained[kind], kind, PARAMS[kind], point)
    tiled = CompressiveCodec.from_model(trained[kind], kind, PARAMS[kind], point)
    whole.tile, tiled.tile = 0, 64
    image = np.ascontiguousarray(smooth(1, 272, np.random.default_rng(1))[0][:250, :266])
    data = whole.encode(image)
    assert tiled.encode(image) == data
    np.testing.assert_array_equal(tiled.decode(data), whole.decode(data))
    family = get_family(kind)
    y = family.function(trained[kind], "analysis_tile", whole.operating_point)(tf.constant(image)).numpy()
    np.testing.assert_array_equal(family.tiled_analysis(trained[kind], image, whole.operating_point, 64), y)
    tiled.tile = 50
    with pytest.raises(ValueError, match="tile size 50: expected a multiple of 16"):
        tiled.encode(image)


@pytest.mark.parametrize("kind", ["hyperprior", "ms2020"])
def test_a_reloaded_model_codes_its_latent_in_stripes(tf, reloaded, kind):
    """A reloaded hyperprior (ms2020: each of its slices) codes a tiled latent in stripes (4 latent
    rows each here) around one range coder, as the analysis's rows of tiles arrive: the strings
    equal the whole latent's, y_hat the whole decoder's, and a damaged string is refused by
    name. (A truncated one is not detected, by tfc's decoder either: the container's checksum
    catches that.) ms2020's slices run as a wavefront: 4-row stripes with its 5-row context make
    each slice wait for two stripes of the slices before it. Its y_hat equals the whole
    decoder's to float32 rounding (observed: up to 1.2e-7 apart, the latent residual
    prediction's convolutions summing windows in another order than the whole latent; the
    strings, which the tables decide, are identical, and so are the decoded images in
    test_tiled_coding_is_byte_identical_to_whole_image_coding)."""
    from aecompress.models import get_family

    model, family = reloaded(kind), get_family(kind)
    assert family.can_stripe(model, {})
    image = np.ascontiguousarray(smooth(1, 272, np.random.default_rng(2))[0][:250, :131])
    y = family.tiled_analysis(model, image, {}, 64)
    assert len(family.stripes(64, y.shape[1])) == 4
    bands = (y[:, first : first + 3] for first in range(0, 16, 3))  # rows arrive 3 at a time
    strings, shapes = family.compress_latent(model, bands, 16, {}, 64)
    outputs = model.compress_latent(tf.constant(y))
    assert strings == [o.numpy()[0] for o in outputs if o.dtype == tf.string]
    assert len(strings) == STRINGS[kind]
    strings = [tf.constant([s]) for s in strings]
    shapes = [tf.constant(s) for s in shapes]
    y_hat = np.concatenate([stripe for _, stripe in family.latent_stripes(model, strings, shapes, {}, 64)], 1)
    whole = model.decompress_latent(*strings, *shapes).numpy()
    tolerance = 0 if kind == "hyperprior" else 1e-6
    np.testing.assert_allclose(y_hat, whole, rtol=tolerance, atol=tolerance)
    string = strings[0].numpy()[0]  # its first byte inverted: tfc's own decoder fails an assertion
    damaged = [tf.constant([bytes([string[0] ^ 0xFF]) + string[1:]]), *strings[1:]]
    with pytest.raises(ValueError, match=f"{kind}: the latent's string does not decode to a 16x9 latent"):
        list(family.latent_stripes(model, damaged, shapes, {}, 64))


def test_ms2020_holds_a_band_of_latent_rows_not_its_latent(trained, monkeypatch):
    """A 2048-pixel-tall image (128 latent rows, 32 stripes of 4): every buffer of latent rows
    that the coder and the decoder keep (y; the hyper-synthesis's means and scales; each slice's
    quantized and final rows) stays a band of the latent, however tall the image. Observed: at
    most 76 rows (the encoder's y): the side information's 16-row context twice over, then the
    wavefront of three slices, each 4 stripes behind the one that conditions it (two stripes
    for its 5-row context, two for that slice's own)."""
    from aecompress.models import hyperprior

    held = []
    append = hyperprior.LatentRows.append

    def counted(self, rows):
        append(self, rows)
        held.append(self.end - self.first)

    monkeypatch.setattr(hyperprior.LatentRows, "append", counted)
    codec = CompressiveCodec.from_model(trained["ms2020"], "ms2020", PARAMS["ms2020"])
    codec.tile = 64
    image = np.repeat(smooth(1, 256, np.random.default_rng(3))[0][:, :48], 8, axis=0)
    decoded = codec.decode(codec.encode(image))
    assert decoded.shape == image.shape == (2048, 48, 3)
    assert max(held) <= 80 < 128


def test_large_images_are_tiled_unless_told_otherwise(trained):
    codec = CompressiveCodec.from_model(
        trained["factorized-prior"], "factorized-prior", PARAMS["factorized-prior"]
    )
    assert codec.tile_for(4000, 6000) == 256 and codec.tile_for(2048, 2048) is None  # automatic above 4.2 MP
    codec.tile = 0
    assert codec.tile_for(4000, 6000) is None
    codec.tile = 128
    assert codec.tile_for(300, 300) == 128


def test_the_automatic_tile_narrows_with_the_models_width():
    """Paper-size models: N = 128 keeps 256-pixel tiles; N = 192 (the scale hyperprior, ms2020,
    SlimCAE's widest width) gets a smaller window, whose transposed convolutions fit 1 GB."""
    hyperprior, slimcae = get_family("hyperprior"), get_family("slimcae")
    assert automatic_tile(hyperprior, {"num_filters": 128}, {}) == 256
    assert automatic_tile(hyperprior, {"num_filters": 192}, {}) == 176
    assert automatic_tile(hyperprior, {"num_filters": 8}, {}) == 256
    assert automatic_tile(hyperprior, {"num_filters": 100_000}, {}) == 16  # never below the stride
    widths = {"widths": [192, 48]}
    assert [automatic_tile(slimcae, widths, {"width": w}) for w in (192, 48)] == [176, 256]
