"""Photo corpora streamed from their files: the index, the prepared format, and the patch stream."""

import json

import numpy as np
import pytest
from PIL import Image

from aecompress.corpus import index_files, stream_patches
from aecompress.images import ImageDecodeError, PreparedDataset, decode_image

RNG = np.random.default_rng(0)


@pytest.fixture
def folder(tmp_path):
    """Six photos of three sizes; one grey, one with alpha."""
    root = tmp_path / "photos"
    root.mkdir()
    for i, (h, w) in enumerate([(40, 56), (48, 48), (64, 40), (40, 56), (48, 48), (64, 40)]):
        mode = "L" if i == 1 else ("RGBA" if i == 2 else "RGB")
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        pixels = RNG.integers(0, 256, (h, w, channels), dtype=np.uint8)
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(root / f"p{i}.png")
    return root


def test_the_index_reads_headers_and_bytes_but_decodes_nothing(folder, monkeypatch):
    import aecompress.images as images_module

    def forbidden(*args, **kwargs):
        raise AssertionError("an image was decoded while indexing")

    monkeypatch.setattr(images_module, "decode_image", forbidden)
    paths = sorted(folder.glob("*.png"))
    images, skipped = index_files(paths, None, skip_corrupt=False, name_of=lambda p: p.name)
    assert skipped == [] and images.names == [p.name for p in paths]
    shapes = [f.shape for f in images.files]
    assert shapes == [(40, 56, 3), (48, 48, 1), (64, 40, 3), (40, 56, 3), (48, 48, 3), (64, 40, 3)]
    assert images.shapes == shapes and not images.same_size
    assert images.files[0].size == paths[0].stat().st_size and len(images.files[0].sha256) == 64
    with pytest.raises(ValueError, match="not held in memory"):
        images.stacked()


def test_a_streamed_split_decodes_on_access_and_refuses_a_changed_file(folder):
    paths = sorted(folder.glob("*.png"))
    images, _ = index_files(paths, 3, skip_corrupt=False)
    assert images.files[1].shape == (48, 48, 3)  # the channel rule applies when decoding
    np.testing.assert_array_equal(images.images[2], decode_image(paths[2], 3))
    assert [im.shape for im in images.images[:2]] == [(40, 56, 3), (48, 48, 3)]
    paths[5].unlink()
    tail = images.images[4:]  # a slice is a view on the index: nothing is decoded yet
    assert len(tail) == 2 and tail[0].shape == (48, 48, 3)
    with pytest.raises(ImageDecodeError, match=r"p5\.png: cannot read the indexed image"):
        tail[1]
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(paths[0])
    with pytest.raises(ImageDecodeError, match=r"p0\.png: .*the file changed after the dataset was prepared"):
        images.images[0]


def test_a_corrupt_header_is_skipped_or_named(folder):
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    paths = sorted(folder.glob("*.png"))
    with pytest.raises(ImageDecodeError, match=r"broken\.png: cannot read the image header"):
        index_files(paths, None, skip_corrupt=False)
    images, skipped = index_files(paths, None, skip_corrupt=True)
    assert len(images) == 6 and skipped == [str(folder / "broken.png")]


def test_prepared_streamed_splits_keep_staged_files_and_reference_a_users_folder(folder, tmp_path):
    from aecompress.config import validate_config
    from aecompress.datasets import prepare_dataset

    def options(**entry):
        config = validate_config(
            {
                "datasets": {"d": {"source": "image-folder", "stream": True, "test_fraction": 0.34, **entry}},
                "experiments": [
                    {
                        "name": "e",
                        "family": "factorized-prior",
                        "dataset": "d",
                        "preprocessing": {"patches": {"size": 32}},
                    }
                ],
            }  # fmt: skip
        )
        return config["datasets"]["d"]

    prepared = prepare_dataset(options(path=str(folder)), seed=0)
    assert {k: len(v) for k, v in prepared.splits.items()} == {"train": 3, "val": 1, "test": 2}
    prepared.save(tmp_path / "in-place")
    loaded = PreparedDataset.load(tmp_path / "in-place")
    assert loaded.digest == prepared.content_digest()
    entries = json.loads((tmp_path / "in-place" / "train.files.json").read_text())
    assert all(e["path"].startswith(str(folder.resolve())) for e in entries)  # the user's files, in place
    assert not (tmp_path / "in-place" / "files").exists()
    train = loaded.splits["train"]
    np.testing.assert_array_equal(train.images[0], decode_image(folder / train.names[0], 3))

    # An archive is unpacked into the staging folder and its files moved into the dataset.
    import zipfile

    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.glob("*.png")):
            zf.write(path, f"photos/{path.name}")
    staging = tmp_path / "staging"
    staging.mkdir()
    url_options = options(url=archive.as_uri(), sha256="0" * 64)
    prepared = prepare_dataset(url_options, seed=0, files={"photos.zip": archive}, staging=staging)
    prepared.save(tmp_path / "unpacked")
    entries = json.loads((tmp_path / "unpacked" / "test.files.json").read_text())
    assert all(e["path"].startswith("files/") for e in entries)
    loaded = PreparedDataset.load(tmp_path / "unpacked")
    assert loaded.splits["test"].images[0].shape == tuple(entries[0]["shape"])
    assert not any(p.is_file() for p in staging.rglob("*"))  # every staged file was moved


def _patch_set(tmp_path, count=12):
    paths = []
    for i in range(count):
        pixels = np.full((48 + 8 * (i % 3), 64, 3), i * 20, np.uint8)
        pixels[..., 1] = np.arange(64, dtype=np.uint8)[None, :]  # columns tell where a crop came from
        paths.append(tmp_path / f"{i:02d}.png")
        Image.fromarray(pixels).save(paths[-1])
    images, _ = index_files(paths, None, skip_corrupt=False)
    return images


def _epoch(tf, images, epoch, **kw):
    options = {"size": 16, "per_epoch": 40, "flips": True, "seed": 3, "batch_size": 8, "crops_per_image": 4}
    options.update(kw)
    stream = stream_patches(tf, images, epoch_of=(lambda: epoch) if epoch is not None else None, **options)
    return [batch.numpy() for batch in stream]


def test_the_patch_stream_is_a_function_of_seed_and_epoch(tf, tmp_path):
    images = _patch_set(tmp_path)
    first = _epoch(tf, images, 0)
    assert [b.shape for b in first] == [(8, 16, 16, 3)] * 5 and first[0].dtype == np.uint8
    again = _epoch(tf, images, 0)  # as a resumed run starting at epoch 0 would draw it
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    later = _epoch(tf, images, 1)
    assert any((a != b).any() for a, b in zip(first, later, strict=True))
    # Each batch interleaves crops of 8 different photos (the red level names the photo).
    assert len({int(p[0, 0, 0]) for p in first[0]}) == 8
    # Every patch is a crop of its photo: green counts columns up (or down, when flipped).
    for patch in np.concatenate(first):
        steps = np.diff(patch[0, :, 1].astype(int))
        assert (steps == 1).all() or (steps == -1).all()
    assert any((np.diff(p[0, :, 1].astype(int)) == -1).all() for p in np.concatenate(first))  # flips happen
    validation = _epoch(tf, images, None, flips=False)
    np.testing.assert_array_equal(validation[0], _epoch(tf, images, None, flips=False)[0])


def test_patches_that_do_not_fit_are_refused(tf, tmp_path):
    images = _patch_set(tmp_path, 3)
    with pytest.raises(ValueError, match="patches.size: 56x56 patches do not fit image"):
        _epoch(tf, images, 0, size=56)


def test_a_streamed_dataset_needs_a_patch_trained_family():
    from aecompress.config import ConfigError, validate_config

    config = {
        "datasets": {"c": {"source": "div2k"}},
        "experiments": [{"name": "d", "family": "dense", "dataset": "c", "params": {"block_size": 8}}],
    }
    with pytest.raises(ConfigError, match="source 'div2k' is streamed from its files"):
        validate_config(config)
    config["experiments"] = [
        {
            "name": "fp",
            "family": "factorized-prior",
            "dataset": "c",
            "preprocessing": {"patches": {"size": 256}},
        }
    ]
    validate_config(config)


def test_the_epoch_is_read_when_the_first_batch_is_asked_for_not_when_the_iterator_is_made(tf, tmp_path):
    """Keras makes an epoch's iterator before it announces the epoch (on_epoch_begin): a stream
    that read the epoch eagerly would draw the previous epoch's patches after a resume."""
    from aecompress.training import EpochCounter

    images = _patch_set(tmp_path)
    counter = EpochCounter()
    options = {"size": 16, "per_epoch": 40, "flips": True, "seed": 3, "batch_size": 8, "crops_per_image": 4}
    stream = stream_patches(tf, images, epoch_of=lambda: counter.epoch, **options)
    iterator = iter(stream)  # what Keras does first
    counter.epoch = 5  # then on_epoch_begin(5), e.g. after BackupAndRestore restored epoch 5
    np.testing.assert_array_equal(next(iterator).numpy(), _epoch(tf, images, 5)[0])


def test_a_compressive_model_trains_on_a_streamed_folder_and_codes_its_test_photos(tmp_path, monkeypatch):
    from conftest import evaluate_trained

    import aecompress.training as training
    from aecompress.config import validate_config
    from aecompress.datasets import prepare_dataset
    from aecompress.plan import all_variants
    from aecompress.training import train_variant

    root = tmp_path / "photos"
    root.mkdir()
    y, x = np.mgrid[0:72, 0:80]
    for i in range(8):
        photo = np.stack([(x * (i + 1)) % 256, (y * 3 + i * 9) % 256, (x + y) % 256], axis=-1).astype(
            np.uint8
        )
        Image.fromarray(photo).save(root / f"{i}.png")
    config = validate_config(
        {
            "datasets": {
                "d": {
                    "source": "image-folder",
                    "path": str(root),
                    "stream": True,
                    "test_fraction": 0.25,
                    "val_fraction": 0.25,
                }
            },
            "experiments": [
                {
                    "name": "fp",
                    "family": "factorized-prior",
                    "dataset": "d",
                    "params": {"num_filters": 8},
                    "preprocessing": {"patches": {"size": 32, "per_epoch": 16}},
                    "training": {"epochs": 2, "batch_size": 4},
                }
            ],
        }  # fmt: skip
    )
    prepared = prepare_dataset(config["datasets"]["d"], seed=0)
    prepared.save(tmp_path / "prepared")
    dataset = PreparedDataset.load(tmp_path / "prepared")
    assert dataset.splits["train"].files is not None
    variant = next(iter(all_variants(config).values()))
    batch_sizes = {}
    pipeline = training.training_data

    def spy(tf, family, variant, split, normalization, seed, batch_size, epoch_of):
        batch_sizes["validation" if epoch_of is None else "training"] = batch_size
        return pipeline(tf, family, variant, split, normalization, seed, batch_size, epoch_of)

    monkeypatch.setattr(training, "training_data", spy)
    card = train_variant(variant, dataset, seed=0, threads=2, out_dir=tmp_path / "m")
    # Validation patches go through the model at the training batch size: no more memory than training.
    assert batch_sizes == {"training": 4, "validation": 4}
    assert card["epochs_run"] == 2 and card["image_shape"] == [72, 80, 3]  # one size, read from the index
    summary, _ = evaluate_trained(tmp_path / "m" / "model", dataset, tmp_path / "eval")
    assert summary["n_images"] == 2 and summary["bpp"] > 0 and summary["metrics"]["psnr"] > 5
    assert summary["collapse"]["trivial_predictor"].startswith("the per-channel mean")
