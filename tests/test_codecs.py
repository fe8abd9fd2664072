"""The codec interface: round trips on odd sizes, rates from file sizes, and damaged files refused."""

from pathlib import Path

import numpy as np
import pytest

from aecompress.codecs import ContainerError, available_classical, bits_per_pixel, classical_codec
from aecompress.codecs.container import pack, unpack
from aecompress.metrics import image_quality
from aecompress.training import save_model

RNG = np.random.default_rng(0)
SIZES = [(1, 1), (7, 13), (150, 225), (512, 768)]


def smooth_image(height, width, channels):
    """A photo-like image: smooth gradients plus mild noise (JPEG's home ground)."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [127 + 100 * np.sin(x / 17.0 + c) * np.cos(y / 23.0 - c) for c in range(channels)]
    image = np.stack(planes, axis=-1) + RNG.normal(0, 3, (height, width, channels))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", available_classical())
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_classical_round_trip_keeps_shape_and_type(name, channels, size):
    codec = classical_codec(name, 50)
    image = smooth_image(*size, channels)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    header, payloads = unpack(data)
    assert (header.height, header.width, header.channels) == image.shape
    assert len(data) == header.size + sum(len(p) for p in payloads)
    assert bits_per_pixel(data, image.shape) == 8 * len(data) / (size[0] * size[1])


def test_jpeg_quality_orders_rate_and_distortion(tf):
    image = smooth_image(256, 256, 3)
    scores = {}
    for quality in (10, 95):
        codec = classical_codec("jpeg", quality)
        data = codec.encode(image)
        psnr = image_quality(tf, image[None], codec.decode(data)[None])["psnr"][0]
        scores[quality] = (bits_per_pixel(data, image.shape), psnr)
    assert scores[95][1] > 38 and scores[95][0] > scores[10][0] and scores[95][1] > scores[10][1]


def test_damaged_or_foreign_files_raise_the_documented_error():
    codec = classical_codec("jpeg", 75)
    data = codec.encode(smooth_image(32, 48, 3))
    with pytest.raises(ContainerError, match="truncated"):
        codec.decode(data[:-10], "cut.aec")
    with pytest.raises(ContainerError, match="truncated inside the header"):
        codec.decode(data[:12])
    flipped = bytearray(data)
    flipped[-100] ^= 0x10
    with pytest.raises(ContainerError, match="checksum mismatch"):
        codec.decode(bytes(flipped), "flipped.aec")
    with pytest.raises(ContainerError, match="not an aecompress file"):
        codec.decode(b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png")
    with pytest.raises(ContainerError, match="checksum mismatch: .* trailing bytes"):
        codec.decode(data + b"\0")
    with pytest.raises(
        ContainerError, match="written by 'jpeg_quality-75'.*not by this codec 'jpeg_quality-50'"
    ):
        classical_codec("jpeg", 50).decode(data)
    with pytest.raises(ValueError, match="uint8 images"):
        codec.encode(np.zeros((4, 4, 3), np.float32))


def test_container_counts_every_header_byte():
    data = pack("hyperprior", None, bytes(range(16)), (3, 5, 1), [b"abc", b"de"])
    header, payloads = unpack(data)
    assert payloads == [b"abc", b"de"] and header.size == len(data) - 5
    # marker, method/channels/count, height, width, 8-byte model id, the first length, CRC-32
    assert header.size == 1 + 1 + 1 + 1 + 8 + 1 + 4
    assert (header.kind, header.point, header.model_hash, header.method) == (
        "hyperprior",
        None,
        bytes(range(8)),
        "hyperprior",
    )


def test_an_8x8_file_has_16_bytes_of_overhead_and_each_field_reads_back():
    """Version 1 spent about 80 bytes (10.1 bits per pixel of an 8x8 digit) on the header."""
    header, _ = unpack(pack("latent", None, b"\1" * 8, (8, 8, 1), [b"\0" * 4]))
    assert header.size == 16 and header.version == 2
    big = pack("slimcae", 192, b"\2" * 8, (2048, 1536, 3), [b"s" * 300, b"z" * 70000, b"w"])
    header, payloads = unpack(big)
    assert (header.height, header.width, header.channels, header.method) == (
        2048,
        1536,
        3,
        "slimcae_width-192",
    )
    assert [len(p) for p in payloads] == [300, 70000, 1] and header.size == 1 + 1 + 2 + 2 + 2 + 8 + 2 + 3 + 4
    header, _ = unpack(pack("pca", 0.1, b"\3" * 8, (8, 8, 3), [b"x"]))
    assert header.method == "pca_step-0.1" and header.point == pytest.approx(0.1)
    header, _ = unpack(pack("jpeg", 75, b"\4" * 8, (1, 1, 1), [b"x"]))
    assert header.method == "jpeg_quality-75"
    with pytest.raises(ValueError, match="unknown method 'mp3'"):
        pack("mp3", None, b"\0" * 8, (8, 8, 1), [b"x"])
    with pytest.raises(ValueError, match="'jpeg' needs operating point"):
        pack("jpeg", None, b"\0" * 8, (8, 8, 1), [b"x"])


def test_a_file_of_many_payloads_carries_its_count_and_one_of_four_is_unchanged():
    """ms2020 writes a string per latent slice: more than the 2-bit count holds."""
    import zlib

    strings = [bytes([i]) * (i + 1) for i in range(11)]
    data = pack("ms2020", None, b"\5" * 8, (40, 56, 3), strings)
    header, payloads = unpack(data)
    assert payloads == strings and header.kind == "ms2020" and data[1] & 0x04
    four = pack("hyperprior", None, b"\5" * 8, (40, 56, 3), strings[:4])
    assert not four[1] & 0x04 and unpack(four)[1] == strings[:4]  # the format-2 layout of before
    # A count above the limit is refused before anything is sliced, CRC or not.
    crafted = bytearray(data[:-4])
    crafted[2] = 33
    crafted += zlib.crc32(bytes(crafted)).to_bytes(4, "little")
    with pytest.raises(ContainerError, match="declares 33 payloads \\(at most 32\\)"):
        unpack(bytes(crafted))
    with pytest.raises(ValueError, match="1..32 payloads"):
        pack("ms2020", None, b"\5" * 8, (40, 56, 3), [b"x"] * 33)


def test_a_file_of_an_unknown_method_id_is_refused():
    import struct
    import zlib

    def crafted(method_id: bytes) -> bytes:
        """A latent file whose method id is written in the extended form: id 15, then a varint."""
        data = bytearray(pack("latent", None, b"\1" * 8, (8, 8, 1), [b"\0" * 4]))
        data[1] = 15 << 4 | (data[1] & 0x0F)
        data[2:2] = method_id
        data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
        return bytes(data)

    with pytest.raises(ContainerError, match="unknown method id 99"):  # an id no aecompress has assigned
        unpack(crafted(bytes([99])))
    with pytest.raises(ContainerError, match="method id 5 written in the extended form"):
        unpack(crafted(bytes([5])))


def test_a_version_1_file_still_decodes():
    """Written by aecompress before format 2 (tests/data, JPEG quality 50 of a 12x20 image)."""
    data_dir = Path(__file__).parent / "data"
    data = (data_dir / "version-1-jpeg-quality-50.aec").read_bytes()
    header, _ = unpack(data)
    assert header.version == 1 and header.method == "jpeg_quality-50" and len(header.model_hash) == 16
    decoded = classical_codec("jpeg", 50).decode(data)
    np.testing.assert_array_equal(decoded, np.load(data_dir / "version-1-jpeg-quality-50.npy"))
    with pytest.raises(
        ContainerError, match="written by 'jpeg_quality-50'.*not by this codec 'jpeg_quality-75'"
    ):
        classical_codec("jpeg", 75).decode(data)
    assert header.size == 55 and unpack(classical_codec("jpeg", 50).encode(decoded))[0].size == 17


@pytest.fixture(scope="module")
def trained_models(tf, tmp_path_factory):
    """A tiny untrained model of every compressive family, saved as the training job saves them."""
    import json

    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    tf.keras.utils.set_random_seed(0)  # the estimate's accuracy below depends on the weights
    unit = Normalization("unit")
    hyper = {"num_filters": 8, "latent_filters": 8, "lmbda": 0.01, "num_scales": 64, "scale_min": 0.11,
             "scale_max": 256.0}  # fmt: skip
    factorized = {"num_filters": 8, "lmbda": 0.01}
    slim = {"widths": [8, 4], "lambdas": [8, 4], "distortion": "mse"}
    ms2020 = {"lmbda": 0.01, "num_filters": 8, "latent_depth": 8, "hyperprior_depth": 8, "hyper_filters": 8,
              "slice_filters": [8, 8], "num_slices": 2, "max_support_slices": -1, "num_scales": 64,
              "scale_min": 0.11, "scale_max": 256.0}  # fmt: skip
    params = {"factorized-prior": factorized, "hyperprior": hyper, "slimcae": slim, "ms2020": ms2020}
    models = {name: (get_family(name).build_model(p, (32, 32, 3), unit), p) for name, p in params.items()}
    # The same variant name, other weights: a file of one must not decode with the other.
    models["twin"] = (get_family("factorized-prior").build_model(factorized, (32, 32, 3), unit), factorized)
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, (model, params) in models.items():
        family = "factorized-prior" if name == "twin" else name
        # Untrained: what the codec tests need is saved weights and coding tables; training
        # (and tracing the training step) is tests/test_compressive.py's part.
        model.prepare_for_compression()
        folder = root / name
        save_model(model, folder / "model")
        (folder / "model.json").write_text(
            json.dumps({"variant": f"tiny-{family}", "family": family, "params": params})
        )
        paths[name] = folder / "model"
    return paths


def test_a_file_of_another_model_with_the_same_name_is_refused(trained_models):
    from aecompress.codecs.learned import CompressiveCodec

    codec = CompressiveCodec.from_model_dir(trained_models["factorized-prior"])
    twin = CompressiveCodec.from_model_dir(trained_models["twin"])
    assert codec.method == twin.method == "tiny-factorized-prior"
    data = codec.encode(smooth_image(40, 56, 3))
    with pytest.raises(
        ContainerError, match=r"model [0-9a-f]{16}\), not by this codec 'tiny-factorized-prior'"
    ):
        twin.decode(data, "theirs.aec")


@pytest.mark.parametrize("family", ["factorized-prior", "hyperprior", "slimcae", "ms2020", "pca", "jpeg"])
def test_a_crafted_shape_the_payload_cannot_hold_is_refused_before_decoding(
    trained_models, pca_files, family
):
    """The CRC and model hash are recomputable: a 9000x9000 header (under the pixel limit) on a
    small image's payload must be refused from the payload's length, not by running out of memory."""
    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.codecs.pca import PcaCodec

    if family == "pca":
        codec = PcaCodec.from_file(pca_files["all"], 4)
    elif family == "jpeg":
        codec = classical_codec("jpeg", 75)
    else:
        codec = CompressiveCodec.from_model_dir(
            trained_models[family], {"width": 4} if family == "slimcae" else None
        )
    header, payloads = unpack(codec.encode(smooth_image(40, 56, 3)))
    crafted = pack(header.kind, header.point, header.model_hash, (9000, 9000, 3), payloads)
    expected = "JPEG payload is 56x40" if family == "jpeg" else "the header's image shape needs at least"
    with pytest.raises(ContainerError, match=f"crafted.aec: .*{expected}"):
        codec.decode(crafted, "crafted.aec")


def test_a_jpeg_file_outlives_a_pillow_upgrade(monkeypatch):
    import PIL

    data = classical_codec("jpeg", 75).encode(smooth_image(32, 48, 3))
    monkeypatch.setattr(PIL, "__version__", "99.0.0")
    assert classical_codec("jpeg", 75).decode(data).shape == (32, 48, 3)


@pytest.mark.parametrize("family", ["factorized-prior", "hyperprior", "slimcae", "ms2020"])
def test_learned_codecs_round_trip_any_size_and_refuse_other_models(trained_models, family):
    from aecompress.codecs.learned import CompressiveCodec

    codec = CompressiveCodec.from_model_dir(
        trained_models[family], {"width": 4} if family == "slimcae" else None
    )
    for size in [(1, 1), (7, 13), (150, 225), (512, 768)]:
        image = smooth_image(*size, 3)
        data = codec.encode(image)
        assert codec.decode(data).shape == image.shape
    estimated = codec.estimated_bits(image)
    payload = 8 * sum(unpack(data)[0].payload_lengths)
    assert 0.5 < payload / estimated < 2  # an untrained model: same order; the benchmark checks 1-2%
    other = "hyperprior" if family != "hyperprior" else "factorized-prior"
    with pytest.raises(ContainerError, match="not by this codec"):
        CompressiveCodec.from_model_dir(trained_models[other]).decode(data)
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    with pytest.raises(ContainerError, match="checksum mismatch"):
        codec.decode(bytes(damaged))


@pytest.fixture(scope="module")
def pca_files(tmp_path_factory):
    """Two PCA baselines fitted on smooth images: all 192 components, and only 4."""
    from aecompress.codecs.pca import fit_pca
    from aecompress.images import ImageSet

    folder = tmp_path_factory.mktemp("pca")
    train = ImageSet([smooth_image(64, 96, 3) for _ in range(4)])
    fit = fit_pca("pca-test", "smooth", train, 8, None, [4, 16], 5000, 0.5, 0, folder / "all.npz")
    assert fit["training_blocks"] == 4 * 8 * 12 and fit["components"] == 192
    assert abs(fit["explained_variance"] - 1) < 1e-6
    fit_pca("pca-four", "smooth", train, 8, 4, [4], 5000, 0.5, 0, folder / "four.npz")
    return {"all": folder / "all.npz", "four": folder / "four.npz"}


@pytest.mark.parametrize("size", SIZES)
def test_pca_round_trip_on_odd_sizes_decodes_the_quantized_coefficients(pca_files, size):
    from aecompress.codecs.pca import PcaCodec
    from aecompress.images import blocks_to_image

    codec = PcaCodec.from_file(pca_files["all"], step=4)
    image = smooth_image(*size, 3)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    expected = codec._symbols(image) * 4.0 @ codec.basis + codec.mean
    blocks = np.clip(np.rint(expected), 0, 255).astype(np.uint8).reshape(-1, 8, 8, 3)
    np.testing.assert_array_equal(decoded, blocks_to_image(blocks, *size))
    payload_bits = 8 * sum(unpack(data)[0].payload_lengths)
    assert abs(payload_bits - codec.estimated_bits(image)) <= 0.03 * payload_bits + 64


def test_pca_rate_and_quality_follow_step_and_components(tf, pca_files):
    from aecompress.codecs.pca import PcaCodec

    image = smooth_image(128, 128, 3)
    scores = {}
    for name, step in [("all", 4), ("all", 16), ("four", 4)]:
        codec = PcaCodec.from_file(pca_files[name], step)
        data = codec.encode(image)
        psnr = image_quality(tf, image[None], codec.decode(data)[None])["psnr"][0]
        scores[name, step] = (bits_per_pixel(data, image.shape), psnr)
    assert scores["all", 4][0] > scores["all", 16][0] and scores["all", 4][1] > scores["all", 16][1]
    assert scores["all", 4][1] > scores["four", 4][1] + 3  # 4 components cannot hold the detail
    assert codec.method == "pca-four_step-4"


def test_pca_refuses_what_it_was_not_fitted_for(pca_files):
    from aecompress.codecs.pca import PcaCodec

    with pytest.raises(ValueError, match=r"no prior was fitted for step 5 \(fitted steps: \[4.0, 16.0\]\)"):
        PcaCodec.from_file(pca_files["all"], 5)
    with pytest.raises(ValueError, match="codes 3-channel images, not 1-channel"):
        PcaCodec.from_file(pca_files["all"], 4).encode(smooth_image(16, 16, 1))
    with pytest.raises(ValueError, match="not a PCA coder file"):
        PcaCodec.from_file(pca_files["all"].with_name("missing.npz"), 4)
    other = PcaCodec.from_file(pca_files["all"], 16)
    with pytest.raises(ContainerError, match="not by this codec"):
        other.decode(PcaCodec.from_file(pca_files["all"], 4).encode(smooth_image(16, 16, 3)))


def test_every_registered_codec_is_one_module_with_a_unique_method_id():
    from aecompress.codecs.container import LEARNED_METHODS, METHOD_IDS
    from aecompress.codecs.registry import REGISTRY, baseline_codec

    ids = [method_id for method_id, _, _ in METHOD_IDS.values()]
    # 4 bits in the file; 15 says that the id follows as a varint (the variable-rate models' 16 and up)
    assert len(ids) == len(set(ids)) and all(1 <= i < 15 or i > 15 for i in ids)
    assert not set(REGISTRY) & set(LEARNED_METHODS)
    for name, entry in REGISTRY.items():
        spec = baseline_codec(name)
        assert spec.name == name and entry.module == f"aecompress.codecs.{name}"
        if spec.available() and spec.fitted_file is None:
            point = spec.default_point
            codec = spec.build(point)
            header, _ = unpack(codec.encode(np.zeros((16, 16, 3), np.uint8)))
            assert (header.kind, header.point) == (name, pytest.approx(point))
