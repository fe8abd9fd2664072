"""The dataset registry's official entries, source overrides, and preparing each source from the mirror."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import MIRROR

from aecompress.config import ConfigError, validate_config
from aecompress.datasets import official_files, prepare_dataset, remote_files, resolve_url

needs_mirror = pytest.mark.usefixtures("mirror")


def options(**entry):
    config = validate_config(
        {
            "datasets": {"d": entry},
            "experiments": [{"name": "e", "family": "dense", "dataset": "d", "params": {"block_size": 8}}],
        }
    )
    return config["datasets"]["d"]


@needs_mirror
@pytest.mark.parametrize("source", ["mnist", "fashion-mnist", "kodak"])
def test_official_checksums_match_the_real_files(source):
    folder = MIRROR / source
    for file in official_files()[source]:
        data = (folder / file.name).read_bytes()
        assert len(data) == file.size
        assert hashlib.sha256(data).hexdigest() == file.sha256
        if file.md5:
            assert hashlib.md5(data).hexdigest() == file.md5


def test_every_official_file_has_a_checksum_and_a_secure_or_published_url():
    for source, files in official_files().items():
        assert files, source
        for file in files:
            assert file.sha256 or file.md5
            assert file.url.startswith(("https://", "http://")) and file.url.endswith(file.name)


def test_mirror_overrides_the_base_url_only():
    file = official_files()["mnist"][0]
    assert resolve_url(file, options(source="mnist")) == file.url
    assert resolve_url(file, options(source="mnist", mirror="http://127.0.0.1:8000/m/")) == (
        f"http://127.0.0.1:8000/m/{file.name}"
    )
    assert resolve_url(file, options(source="mnist", mirror="/data/mnist")) == f"/data/mnist/{file.name}"


def test_source_specific_options_are_checked():
    with pytest.raises(ConfigError, match="mirror: not an option of source 'sklearn-digits'"):
        options(source="sklearn-digits", mirror="/x")
    with pytest.raises(ConfigError, match="give exactly one"):
        options(source="image-folder")
    with pytest.raises(ConfigError, match="sha256: required with `url`"):
        options(source="image-folder", url="https://example.org/photos.zip")
    entry = options(source="image-folder", url="https://example.org/p.zip", sha256="a" * 64)
    assert [f.name for f in remote_files(entry)] == ["p.zip"]
    assert remote_files(options(source="sklearn-digits")) == []


def _mirror_files(source: str, folder: str) -> dict[str, Path]:
    return {f.name: MIRROR / folder / f.name for f in official_files()[source]}


@needs_mirror
def test_mnist_keeps_the_official_test_split_and_subsets():
    prepared = prepare_dataset(
        options(source="mnist", subset=500), seed=1, files=_mirror_files("mnist", "mnist")
    )
    assert prepared.meta["official_test_split"] is True
    recorded = {f["name"]: f["sha256"] for f in prepared.meta["source_files"]}
    assert (
        recorded["t10k-labels-idx1-ubyte.gz"]
        == "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    )
    assert {k: len(v) for k, v in prepared.splits.items()} == {"train": 500, "val": 500, "test": 500}
    assert all(name.startswith("test") for name in prepared.splits["test"].names)
    assert prepared.splits["train"].stacked().shape == (500, 28, 28, 1)
    again = prepare_dataset(
        options(source="mnist", subset=500), seed=1, files=_mirror_files("mnist", "mnist")
    )
    assert again.splits["val"].names == prepared.splits["val"].names


@needs_mirror
def test_cifar10_and_stl10_sample_archives_prepare(tmp_path):
    for source, folder, archive, shape in [
        ("cifar10", "cifar-10-sample", "cifar-10-binary.tar.gz", (32, 32, 3)),
        ("stl10", "stl10-sample", "stl10_binary.tar.gz", (96, 96, 3)),
    ]:
        local = tmp_path / archive
        local.write_bytes((MIRROR / folder / archive).read_bytes())
        prepared = prepare_dataset(options(source=source, val_fraction=0.1), seed=0, files={archive: local})
        assert prepared.splits["test"].images[0].shape == shape
        assert len(prepared.meta["class_names"]) == 10
        assert sorted(p.name for p in tmp_path.iterdir()) == [archive]  # extraction cleaned up
        local.unlink()


@needs_mirror
def test_kodak_and_image_folder():
    files = _mirror_files("kodak", "kodak")
    prepared = prepare_dataset(options(source="kodak", test_fraction=0.25, val_fraction=0.0), 0, files)
    assert len(prepared.splits["test"]) == 6 and len(prepared.splits["train"]) == 18
    folder = prepare_dataset(options(source="image-folder", path=str(MIRROR / "kodak"), channels=1), 0)
    assert sum(len(s) for s in folder.splits.values()) == 24
    assert {im.shape[2] for im in folder.splits["train"].images} == {1}
    assert np.asarray(folder.splits["train"].images[0]).dtype == np.uint8


def test_registry_override_replaces_checksums_by_name_only(tmp_path, capsys):
    from aecompress.datasets import _apply_override

    path = tmp_path / "o.yaml"
    path.write_text("cifar10:\n  - {name: cifar-10-binary.tar.gz, size: 10, sha256: " + "b" * 64 + "}\n")
    files = _apply_override(official_files(), path)
    (cifar,) = files["cifar10"]
    assert (cifar.size, cifar.sha256, cifar.md5) == (10, "b" * 64, None)
    assert cifar.url == official_files()["cifar10"][0].url and files["mnist"] == official_files()["mnist"]
    assert "overridden" in capsys.readouterr().err
    path.write_text("cifar10:\n  - {name: other.tar.gz, sha256: null}\n")
    with pytest.raises(ValueError, match="no official file named 'other.tar.gz'"):
        _apply_override(official_files(), path)


def test_the_registry_override_is_refused_outside_a_test_run(tmp_path, monkeypatch):
    """It disables the verification of official files: honoured only where pytest runs."""
    from aecompress.datasets import REGISTRY_OVERRIDE_ENV

    path = tmp_path / "o.yaml"
    path.write_text("cifar10:\n  - {name: cifar-10-binary.tar.gz, size: 10, sha256: " + "b" * 64 + "}\n")
    monkeypatch.setenv(REGISTRY_OVERRIDE_ENV, str(path))
    assert official_files()["cifar10"][0].sha256 == "b" * 64  # inside pytest
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    with pytest.raises(ValueError, match=f"{REGISTRY_OVERRIDE_ENV}=.*refused outside the test suite"):
        official_files()


@pytest.mark.parametrize("damage", ["unsafe member", "missing batch"])
def test_a_failed_extraction_or_read_leaves_no_temporary_folder(tmp_path, damage):
    import io
    import tarfile

    from aecompress.downloads import UnsafeArchiveError
    from aecompress.images import DatasetFileError

    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        name = "../escape.bin" if damage == "unsafe member" else "cifar-10-batches-bin/data_batch_1.bin"
        member = tarfile.TarInfo(name)
        member.size = 3073
        tf.addfile(member, io.BytesIO(bytes(3073)))
    expected = UnsafeArchiveError if damage == "unsafe member" else DatasetFileError
    with pytest.raises(expected):
        prepare_dataset(options(source="cifar10"), seed=0, files={archive.name: archive})
    assert [p.name for p in tmp_path.iterdir()] == [archive.name]  # no .extract.* folder left


def test_a_pinned_sha256_is_added_to_an_md5_only_file_and_must_agree_with_the_registry():
    entry = options(source="cifar10", checksums={"cifar-10-binary.tar.gz": "c" * 64})
    (cifar,) = remote_files(entry)
    assert cifar.sha256 == "c" * 64 and cifar.md5 == official_files()["cifar10"][0].md5
    with pytest.raises(ConfigError, match=r"checksums\.other\.zip: not a file of source 'cifar10'"):
        options(source="cifar10", checksums={"other.zip": "c" * 64})
    with pytest.raises(
        ConfigError, match=r"checksums\.t10k-labels-idx1-ubyte\.gz: .* differs from the registry"
    ):
        options(source="mnist", checksums={"t10k-labels-idx1-ubyte.gz": "c" * 64})


def test_the_photo_corpora_are_registered_with_two_digests_where_two_sources_agree():
    expected = {
        "clic2020-professional": ("professional_train_2020.zip", "professional_valid_2020.zip"),
        "div2k": ("DIV2K_train_HR.zip", "DIV2K_valid_HR.zip"),
    }
    for source, names in expected.items():
        files = {f.name: f for f in official_files()[source]}
        assert tuple(files) == names
        for file in files.values():
            assert file.size > 10**8 and len(file.sha256) == 64 and len(file.md5) == 32
            assert file.url.startswith("https://data.vision.ee.ethz.ch/cvl/")
    assert all(f.sha256 and f.md5 is None for f in official_files()["clic2020-mobile"])
