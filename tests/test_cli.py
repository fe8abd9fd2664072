"""The `aecompress` command line on real files."""

import json

import numpy as np
import pytest
from PIL import Image

from aecompress.cli import main
from aecompress.training import save_model


@pytest.fixture
def photo(tmp_path):
    y, x = np.mgrid[0:37, 0:53]
    image = np.stack([(x * 4) % 256, (y * 6) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    return path, image


def test_classical_compress_decompress_round_trip(tmp_path, photo, capsys):
    path, image = photo
    assert main(["compress", str(path), str(tmp_path / "p.aec"), "--codec", "jpeg", "--quality", "95"]) == 0
    assert "bpp (53x37)" in capsys.readouterr().out
    assert main(["decompress", str(tmp_path / "p.aec"), str(tmp_path / "back.png")]) == 0  # no flag needed
    decoded = np.asarray(Image.open(tmp_path / "back.png"))
    assert decoded.shape == image.shape and np.abs(decoded.astype(int) - image).mean() < 8


def test_evaluate_prints_and_writes_the_metrics(tmp_path, photo, capsys):
    path, _ = photo
    assert (
        main(
            ["evaluate", str(path), "--codec", "webp", "--quality", "50", "--json", str(tmp_path / "r.json")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "webp_quality-50" in out and "psnr" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["mean"]["bpp"] > 0 and len(result["images"]) == 1


def test_errors_name_the_file_and_exit_with_status_2(tmp_path, photo, capsys):
    path, _ = photo
    (tmp_path / "bad.aec").write_bytes(b"AECF\x01\x05ab")  # cut inside the method name
    assert main(["decompress", str(tmp_path / "bad.aec"), str(tmp_path / "x.png")]) == 2
    assert "bad.aec: truncated inside the header" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["compress", str(tmp_path / "missing.png"), str(tmp_path / "y.aec"), "--codec", "jpeg"]) == 2
    assert "missing.png" in capsys.readouterr().err
    assert not (tmp_path / "y.aec").exists()


def test_a_trained_model_compresses_a_users_png(tf, tmp_path, photo):
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    path, image = photo
    model = get_family("factorized-prior").build_model(
        {"num_filters": 8, "lmbda": 0.01}, (32, 32, 3), Normalization("unit")
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), run_eagerly=True)  # one step: no tracing
    model.fit(np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32), epochs=1, verbose=0)
    model.prepare_for_compression()
    save_model(model, tmp_path / "v" / "model")
    card = {"variant": "v", "family": "factorized-prior", "params": {"num_filters": 8}}
    (tmp_path / "v" / "model.json").write_text(json.dumps(card))
    model_dir = str(tmp_path / "v" / "model")
    assert main(["compress", str(path), str(tmp_path / "p.aec"), "--model", model_dir]) == 0
    assert main(["decompress", str(tmp_path / "p.aec"), str(tmp_path / "back.png")]) == 2  # needs its model
    assert (
        main(["decompress", str(tmp_path / "p.aec"), str(tmp_path / "back.png"), "--model", model_dir]) == 0
    )
    decoded = np.asarray(Image.open(tmp_path / "back.png"))
    # The pixels, not only the shape: exactly what the model makes of the rounded latent.
    np.testing.assert_array_equal(decoded, model.quantized_reconstruction(tf.constant(image)).numpy())


def test_a_dense_autoencoder_and_a_pca_baseline_code_a_users_png(tf, tmp_path, photo, capsys):
    """Families trained without a rate code through their fitted latent coder; PCA through its file."""
    from aecompress.codecs.latent import fit_latent_coder
    from aecompress.codecs.pca import fit_pca
    from aecompress.images import ImageSet, PreparedDataset
    from aecompress.models.dense import FAMILY as dense
    from aecompress.preprocessing import Normalization

    path, image = photo
    params = {"latent_units": 8, "use_bias": True, "block_size": 4}
    unit = Normalization("unit")
    save_model(dense.build_model(params, (4, 4, 3), unit), tmp_path / "d" / "model")
    card = {
        "variant": "d",
        "family": "dense",
        "params": params,
        "preprocessing": {"normalization": unit.to_json()},
    }
    (tmp_path / "d" / "model.json").write_text(json.dumps(card))
    train = ImageSet([image, image[::-1]])
    dataset = PreparedDataset({"train": train, "val": ImageSet([]), "test": ImageSet([])}, {})
    coding = {"bits": 6, "step": None, "fit_images": 10, "smoothing": 0.5}
    fit_latent_coder(tmp_path / "d" / "model", dataset, coding, 0, 2, tmp_path / "d" / "latent_coder.npz")
    fit_pca("pca-mine", "mine", train, 8, 16, [8.0], 1000, 0.5, 0, tmp_path / "pca.npz")
    from aecompress.codecs.latent import LatentCodec
    from aecompress.codecs.pca import PcaCodec
    from aecompress.comparisons import psnr_8bit

    in_process = {
        "--model": LatentCodec.from_model_dir(tmp_path / "d" / "model"),
        "--fitted": PcaCodec.from_file(tmp_path / "pca.npz", 8.0),
    }
    for codec in (["--model", str(tmp_path / "d" / "model")], ["--fitted", str(tmp_path / "pca.npz")]):
        coded, back = tmp_path / f"x{codec[0]}.aec", tmp_path / f"x{codec[0]}.png"
        options = codec + (["--codec", "pca", "--step", "8"] if codec[0] == "--fitted" else [])
        assert main(["compress", str(path), str(coded), *options]) == 0
        # The codec and its step are read from the file; only the fitted file is named.
        assert main(["decompress", str(coded), str(back), *codec]) == 0
        decoded = np.asarray(Image.open(back))
        decoded = decoded[:, :, None] if decoded.ndim == 2 else decoded
        # The same pixels as the codec decodes in this process, from the same bytes.
        expected = in_process[codec[0]].decode(coded.read_bytes())
        np.testing.assert_array_equal(decoded, expected)
    # PCA keeps 16 of 192 components at step 8 of a smooth image: well above a floor.
    assert psnr_8bit(image, np.asarray(Image.open(tmp_path / "x--fitted.png"))) > 25
    assert "pca-mine_step-8" in capsys.readouterr().out
    pca = ["--codec", "pca", "--fitted", str(tmp_path / "pca.npz")]
    assert main(["compress", str(path), str(tmp_path / "y.aec"), *pca]) == 2
    assert "--codec pca needs --step" in capsys.readouterr().err
    assert main(["compress", str(path), str(tmp_path / "y.aec"), "--codec", "pca", "--step", "8"]) == 2
    assert "--codec pca needs --fitted" in capsys.readouterr().err


def test_every_registered_codec_is_a_cli_codec_under_its_own_point_name(tmp_path, capsys):
    """JPEG 2000 came as one module and one registry line: the CLI knows it and its --ratio."""
    y, x = np.mgrid[0:160, 0:192]
    image = np.stack([(x * 3) % 256, (y * 5) % 256, (x * y // 64) % 256], axis=-1).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    coded, back = tmp_path / "p.aec", tmp_path / "p.png"
    assert main(["compress", str(path), str(coded), "--codec", "jpeg2000", "--ratio", "40"]) == 0
    assert main(["decompress", str(coded), str(back)]) == 0  # codec and ratio from the header
    assert "decoded by jpeg2000_ratio-40" in capsys.readouterr().out
    bpp = 8 * coded.stat().st_size / (image.shape[0] * image.shape[1])
    assert bpp == pytest.approx(8 * image.shape[2] / 40, rel=0.15)  # OpenJPEG's ratio: raw / coded
    assert np.asarray(Image.open(back)).shape == image.shape


@pytest.mark.parametrize("force", [False, True])
def test_no_verb_deletes_or_replaces_a_folder_it_is_pointed_at(tmp_path, photo, capsys, force):
    """`aecompress compress photo.png ~/Pictures` once deleted ~/Pictures; now every verb refuses."""
    path, _ = photo
    folder = tmp_path / "Pictures"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    assert main(["compress", str(path), str(tmp_path / "ok.aec"), "--codec", "jpeg"]) == 0
    flags = ["--force"] if force else []
    for argv in (
        ["compress", str(path), str(folder), "--codec", "jpeg", *flags],
        ["decompress", str(tmp_path / "ok.aec"), str(folder), *flags],
        ["evaluate", str(path), "--codec", "jpeg", "--json", str(folder), *flags],
    ):
        assert main(argv) == 2, argv
        assert f"{folder}: is a folder" in capsys.readouterr().err
        assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]
        assert (folder / "holiday.jpg").read_bytes() == b"precious"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_an_existing_output_file_needs_force(tmp_path, photo, capsys):
    path, image = photo
    out, png = tmp_path / "p.aec", tmp_path / "back.png"
    out.write_bytes(b"mine")
    png.write_bytes(b"also mine")
    assert main(["compress", str(path), str(out), "--codec", "jpeg"]) == 2
    assert "p.aec: already exists; pass --force to replace it" in capsys.readouterr().err
    assert out.read_bytes() == b"mine"
    assert main(["compress", str(path), str(out), "--codec", "jpeg", "-f"]) == 0
    assert out.read_bytes()[:1] == b"\xae"
    assert main(["decompress", str(out), str(png)]) == 2 and png.read_bytes() == b"also mine"
    assert main(["decompress", str(out), str(png), "--force"]) == 0
    assert np.asarray(Image.open(png)).shape == image.shape


def test_a_missing_output_folder_is_not_created(tmp_path, photo, capsys):
    path, _ = photo
    assert main(["compress", str(path), str(tmp_path / "no" / "such" / "p.aec"), "--codec", "jpeg"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_crafted_giant_shape_is_refused_before_decoding(tmp_path, photo, capsys):
    """A valid file whose header (CRC recomputed) declares 60000x60000, then one within the limit."""
    from aecompress.codecs.container import pack, unpack

    path, _ = photo
    assert main(["compress", str(path), str(tmp_path / "p.aec"), "--codec", "jpeg"]) == 0
    header, payloads = unpack((tmp_path / "p.aec").read_bytes())
    for size, reason in ((60000, "more than the limit of 89,478,485"), (5000, "the JPEG payload is 53x37")):
        crafted = tmp_path / f"crafted-{size}.aec"
        crafted.write_bytes(pack(header.kind, header.point, header.model_hash, (size, size, 3), payloads))
        assert main(["decompress", str(crafted), str(tmp_path / f"{size}.png")]) == 2
        err = capsys.readouterr().err
        assert f"crafted-{size}.aec" in err and reason in err, err
        assert not (tmp_path / f"{size}.png").exists()
    assert (
        main(["decompress", str(tmp_path / "p.aec"), str(tmp_path / "small.png"), "--max-pixels", "100"]) == 2
    )
    assert "more than the limit of 100" in capsys.readouterr().err
