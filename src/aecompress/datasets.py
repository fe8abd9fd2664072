"""The dataset registry: where each dataset comes from, how it is read, and how it is split.

Sources load their images lazily (inside `load`), so that importing this module while
Snakemake builds the DAG costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from aecompress.images import (
    DEFAULT_MAX_PIXELS,
    ImageSet,
    PreparedDataset,
    convert_channels,
    decode_image,
)

# A loader returns either all images (split by the config's fractions) or the source's
# official {"train": ..., "test": ...} split (validation is then carved out of train).
Loaded = ImageSet | dict[str, ImageSet]


@dataclass(frozen=True)
class RemoteFile:
    """One file a dataset is built from, as its publisher serves it."""

    name: str
    url: str
    size: int | None
    sha256: str | None
    md5: str | None


# Testing only: a YAML file {source: [{name, size, sha256, md5}]} whose entries replace the
# checksums of the official files of the same name, so the workflow can run on same-layout
# sample archives (e.g. the offline mirror's CIFAR-10 sample). The official entries never change.
# It disables the verification of official files, so it is honoured only inside a pytest run
# (pytest sets PYTEST_CURRENT_TEST, which the test's subprocesses and SLURM jobs inherit).
REGISTRY_OVERRIDE_ENV = "AECOMPRESS_TEST_REGISTRY_OVERRIDE"


@cache
def _official_files() -> dict[str, tuple[RemoteFile, ...]]:
    text = resources.files("aecompress").joinpath("data/remote_files.yaml").read_text()
    return {
        source: tuple(RemoteFile(**f) for f in entries) for source, entries in yaml.safe_load(text).items()
    }


def official_files() -> dict[str, tuple[RemoteFile, ...]]:
    override = os.environ.get(REGISTRY_OVERRIDE_ENV)
    if not override:
        return _official_files()
    if not os.environ.get("PYTEST_CURRENT_TEST"):
        raise ValueError(
            f"{REGISTRY_OVERRIDE_ENV}={override}: refused outside the test suite; it replaces the "
            "checksums that official dataset files are verified against. Unset it."
        )
    return _overridden_files(override)


@cache
def _overridden_files(override: str) -> dict[str, tuple[RemoteFile, ...]]:
    return _apply_override(_official_files(), Path(override))


def _apply_override(
    files: dict[str, tuple[RemoteFile, ...]], path: Path
) -> dict[str, tuple[RemoteFile, ...]]:
    try:
        entries = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(
            f"{REGISTRY_OVERRIDE_ENV}={path}: cannot read the registry override ({err})"
        ) from err
    print(f"aecompress: registry checksums overridden from {path} (testing only)", file=sys.stderr)
    out = dict(files)
    for source, replaced in (entries or {}).items():
        by_name = {f.name: f for f in files.get(source, ())}
        for entry in replaced:
            if entry.get("name") not in by_name:
                raise ValueError(f"{path}: '{source}' has no official file named {entry.get('name')!r}")
            fields = {k: entry.get(k) for k in ("size", "sha256", "md5")}
            by_name[entry["name"]] = replace(by_name[entry["name"]], **fields)
        out[source] = tuple(by_name.values())
    return out


@dataclass(frozen=True)
class DatasetSource:
    name: str
    description: str
    native_channels: int
    fixed_size: bool | None  # every image has the same (H, W); None: known only once loaded
    class_names: tuple[str, ...] | None
    licence: str
    citation: str
    # (options, downloaded files by name, staging folder for a streamed split's unpacked files)
    load: Callable[[dict[str, Any], dict[str, Path], Path | None], Loaded]
    extra_options: frozenset[str] = frozenset()
    downloads: bool = False  # its files come from `official_files()[name]`
    streamed: bool = False  # prepared as an index of image files (corpus.py), not decoded arrays
    archives: tuple[str, ...] = ()  # a corpus's training and validation archives, in that order


def _load_sklearn_digits(
    options: dict[str, Any], files: dict[str, Path], staging: Path | None = None
) -> ImageSet:
    """scikit-learn's digits: 8x8 grey, integer levels 0..16, mapped to 0..255 by round(v * 255 / 16)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    levels = np.asarray(digits.images, dtype=np.float64)
    pixels = np.rint(levels * 255.0 / 16.0).astype(np.uint8)[..., None]
    return ImageSet(
        images=list(pixels),
        labels=np.asarray(digits.target, dtype=np.int64),
        names=[f"digit{i:04d}" for i in range(len(pixels))],
    )


DEFAULT_MAX_EXTRACT_BYTES = 8 * 2**30  # STL-10 unpacks to 2.6 GB; a zip bomb stops here
_REMOTE_OPTIONS = frozenset({"mirror", "max_extract_bytes", "max_extract_members", "checksums"})
_IMAGE_FILE_OPTIONS = frozenset({"max_image_pixels"})


# Photographs shipped inside installed packages (no download). Checked offline: each file is
# part of the wheel; scikit-image images that need its `pooch` fetcher are deliberately absent.
BUNDLED_PHOTOS: dict[str, tuple[str, str]] = {
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "astronaut": ("skimage", "data/astronaut.png"),
    "camera": ("skimage", "data/camera.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle": ("skimage", "data/motorcycle_left.png"),
    "hubble": ("skimage", "data/hubble_deep_field.jpg"),
    "immunohistochemistry": ("skimage", "data/ihc.png"),
}


def bundled_photo_path(name: str):
    package, relative = BUNDLED_PHOTOS[name]
    return resources.files(package).joinpath(relative)


def _load_bundled_photos(
    options: dict[str, Any], files: dict[str, Path], staging: Path | None = None
) -> ImageSet:
    names = options.get("images") or list(BUNDLED_PHOTOS)
    images = []
    for name in names:
        with resources.as_file(bundled_photo_path(name)) as path:
            images.append(decode_image(path, channels=3, max_pixels=max_image_pixels(options)))
    return ImageSet(images=images, labels=None, names=list(names))


def _numbered(split: str, images: np.ndarray, labels: np.ndarray | None) -> ImageSet:
    """An ImageSet of a stacked (N, H, W[, C]) array, images named `<split><index>`."""
    images = images[..., None] if images.ndim == 3 else images
    return ImageSet(list(images), labels, [f"{split}{i:05d}" for i in range(len(images))])


def _load_idx_pair(files: dict[str, Path]) -> dict[str, ImageSet]:
    from aecompress.readers import read_idx

    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(files[f"{prefix}-images-idx3-ubyte.gz"])
        labels = read_idx(files[f"{prefix}-labels-idx1-ubyte.gz"]).astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f"{prefix}: {len(images)} images but {len(labels)} labels")
        splits[split] = _numbered(split, images, labels)
    return splits


def _load_mnist(options: dict[str, Any], files: dict[str, Path], staging: Path | None = None) -> Loaded:
    return _load_idx_pair(files)


@contextlib.contextmanager
def _extracted(archive: Path, options: dict[str, Any]):
    """Unpack `archive` into a temporary folder next to it; yield the unpacked root.

    The folder is removed when the block ends, whether the extraction or the reading failed
    or not. (POSIX keeps memory-mapped files readable after their names are removed.)
    """
    from aecompress.downloads import DEFAULT_MAX_EXTRACT_MEMBERS, extract

    tmp = Path(tempfile.mkdtemp(prefix=".extract.", dir=archive.parent))
    try:
        yield extract(
            archive,
            tmp / "x",
            max_bytes=options.get("max_extract_bytes") or DEFAULT_MAX_EXTRACT_BYTES,
            max_members=options.get("max_extract_members") or DEFAULT_MAX_EXTRACT_MEMBERS,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unpacked(archive: Path, options: dict[str, Any], staging: Path | None) -> Path:
    """Unpack `archive` into the staging folder (PreparedDataset.save moves its files into the
    prepared dataset); the root of what it unpacked."""
    from aecompress.downloads import DEFAULT_MAX_EXTRACT_MEMBERS, extract

    if staging is None:
        raise ValueError(f"{archive}: a streamed dataset is unpacked into a staging folder; none was given")
    return extract(
        archive,
        staging / archive.name.removesuffix(".zip").removesuffix(".tar.gz"),
        max_bytes=options.get("max_extract_bytes") or DEFAULT_MAX_EXTRACT_BYTES,
        max_members=options.get("max_extract_members") or DEFAULT_MAX_EXTRACT_MEMBERS,
    )


def _load_corpus(options: dict[str, Any], files: dict[str, Path], staging: Path | None = None) -> Loaded:
    """A photo corpus published as a training and a validation archive (CLIC, DIV2K): streamed
    from its files; the official validation photos are the test split."""
    from aecompress.readers import read_image_folder

    source = REGISTRY[options["source"]]
    splits = {}
    for split, name in zip(("train", "test"), source.archives, strict=True):
        root = _unpacked(files[name], options, staging)
        images, _, skipped = read_image_folder(
            root,
            skip_corrupt=bool(options.get("skip_corrupt")),
            max_pixels=max_image_pixels(options),
            stream=True,
        )
        if skipped:
            print(f"{root}: skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:10])}")
        splits[split] = images
    return splits


def max_image_pixels(options: dict[str, Any]) -> int:
    """The largest image file (in pixels) a dataset entry decodes."""
    return options.get("max_image_pixels") or DEFAULT_MAX_PIXELS


def _load_cifar10(options: dict[str, Any], files: dict[str, Path], staging: Path | None = None) -> Loaded:
    from aecompress.readers import read_cifar10_binary

    with _extracted(files["cifar-10-binary.tar.gz"], options) as root:
        folder = root / "cifar-10-batches-bin"
        parts = [read_cifar10_binary(folder / f"data_batch_{i}.bin") for i in range(1, 6)]
        test_images, test_labels = read_cifar10_binary(folder / "test_batch.bin")
    train_images = np.concatenate([p[0] for p in parts])
    train_labels = np.concatenate([p[1] for p in parts])
    return {
        "train": _numbered("train", train_images, train_labels),
        "test": _numbered("test", test_images, test_labels),
    }


def _load_stl10(options: dict[str, Any], files: dict[str, Path], staging: Path | None = None) -> Loaded:
    from aecompress.readers import read_stl10_binary

    with _extracted(files["stl10_binary.tar.gz"], options) as root:
        folder = root / "stl10_binary"
        splits = {}
        for split in ("train", "test"):
            images, labels = read_stl10_binary(folder / f"{split}_X.bin", folder / f"{split}_y.bin")
            splits[split] = _numbered(split, images, labels)
        if options.get("unlabeled"):
            # The 100,000 unlabelled images join the training pool as views of the memory-mapped
            # file (no copy); the pool then has no labels, so its split is not stratified.
            unlabeled, _ = read_stl10_binary(folder / "unlabeled_X.bin")
            labelled = splits["train"]
            splits["train"] = ImageSet(
                labelled.images + list(unlabeled),
                None,
                labelled.names + [f"unlabeled{i:06d}" for i in range(len(unlabeled))],
            )
    return splits


def _load_kodak(options: dict[str, Any], files: dict[str, Path], staging: Path | None = None) -> Loaded:
    names = sorted(files)
    images = [decode_image(files[n], channels=3, max_pixels=max_image_pixels(options)) for n in names]
    return ImageSet(images, None, [n.split(".")[0] for n in names])


def _load_image_folder(
    options: dict[str, Any], files: dict[str, Path], staging: Path | None = None
) -> Loaded:
    from aecompress.readers import read_image_folder

    skip, limit = bool(options.get("skip_corrupt")), max_image_pixels(options)
    if options.get("stream"):  # an index of the files; an archive is unpacked into the staging folder
        root = (
            Path(options["path"])
            if options.get("path")
            else _unpacked(next(iter(files.values())), options, staging)
        )
        images, class_names, skipped = read_image_folder(
            root, skip_corrupt=skip, max_pixels=limit, stream=True
        )
    else:
        with (
            _extracted(next(iter(files.values())), options)
            if options.get("url")
            else contextlib.nullcontext(Path(options["path"]))
        ) as root:
            images, class_names, skipped = read_image_folder(root, skip_corrupt=skip, max_pixels=limit)
    if skipped:
        print(f"{root}: skipped {len(skipped)} corrupt image(s): {', '.join(skipped[:10])}")
    images.class_names = class_names or None
    return images


CLIC_CITATION = "Toderici, G. et al. (2020). Workshop and Challenge on Learned Image Compression (CLIC 2020)."

REGISTRY: dict[str, DatasetSource] = {
    "sklearn-digits": DatasetSource(
        name="sklearn-digits",
        description="1,797 labelled 8x8 grey handwritten digits (UCI optical recognition set).",
        native_channels=1,
        fixed_size=True,
        class_names=tuple(str(d) for d in range(10)),
        licence="CC BY 4.0 (UCI Machine Learning Repository)",
        citation=(
            "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
            "UCI Machine Learning Repository."
        ),
        load=_load_sklearn_digits,
    ),
    "bundled-photos": DatasetSource(
        name="bundled-photos",
        description="Natural photos bundled with scikit-learn (china, flower) and scikit-image.",
        native_channels=3,
        fixed_size=False,
        class_names=None,
        licence="Per image: see scikit-learn's and scikit-image's data READMEs (public domain or CC).",
        citation="scikit-learn sample images; scikit-image data module (van der Walt et al., 2014).",
        load=_load_bundled_photos,
        extra_options=frozenset({"images"}) | _IMAGE_FILE_OPTIONS,
    ),
    "mnist": DatasetSource(
        name="mnist",
        description="MNIST: 70,000 28x28 grey handwritten digits (official 60,000 / 10,000 split).",
        native_channels=1,
        fixed_size=True,
        class_names=tuple(str(d) for d in range(10)),
        licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
        citation="LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Proc. IEEE 86(11).",
        load=_load_mnist,
        extra_options=_REMOTE_OPTIONS,
        downloads=True,
    ),
    "fashion-mnist": DatasetSource(
        name="fashion-mnist",
        description="Fashion-MNIST: 70,000 28x28 grey Zalando article images (60,000 / 10,000).",
        native_channels=1,
        fixed_size=True,
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        licence="MIT (Zalando Research)",
        citation="Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST. arXiv:1708.07747.",
        load=_load_mnist,
        extra_options=_REMOTE_OPTIONS,
        downloads=True,
    ),
    "cifar10": DatasetSource(
        name="cifar10",
        description="CIFAR-10 (binary version): 60,000 32x32 colour images, 10 classes (50,000 / 10,000).",
        native_channels=3,
        fixed_size=True,
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        licence="No explicit licence; cite the technical report.",
        citation="Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images.",
        load=_load_cifar10,
        extra_options=_REMOTE_OPTIONS,
        downloads=True,
    ),
    "stl10": DatasetSource(
        name="stl10",
        description="STL-10 (binary): 96x96 colour images, 5,000 labelled train / 8,000 test, 10 classes.",
        native_channels=3,
        fixed_size=True,
        class_names=(
            "airplane",
            "bird",
            "car",
            "cat",
            "deer",
            "dog",
            "horse",
            "monkey",
            "ship",
            "truck",
        ),
        licence="Derived from ImageNet; research use.",
        citation="Coates, A., Ng, A. & Lee, H. (2011). An Analysis of Single-Layer Networks... AISTATS.",
        load=_load_stl10,
        extra_options=_REMOTE_OPTIONS | {"unlabeled"},
        downloads=True,
    ),
    "kodak": DatasetSource(
        name="kodak",
        description="Kodak Lossless True Color Image Suite: 24 photos of 768x512 (6 portrait).",
        native_channels=3,
        fixed_size=False,
        class_names=None,
        licence="Released by Eastman Kodak for unrestricted research use.",
        citation="Kodak PhotoCD suite, http://r0k.us/graphics/kodak/",
        load=_load_kodak,
        extra_options=_REMOTE_OPTIONS | _IMAGE_FILE_OPTIONS,
        downloads=True,
    ),
    "clic2020-professional": DatasetSource(
        name="clic2020-professional",
        description=(
            "CLIC 2020 professional: 585 training and 41 validation photos of about 2K from DSLR "
            "cameras (the Challenge on Learned Image Compression), streamed from their PNG files."
        ),
        native_channels=3,
        fixed_size=False,
        class_names=None,
        licence="See the challenge's terms (compression.cc); photos from Unsplash and other sources.",
        citation=CLIC_CITATION,
        load=_load_corpus,
        extra_options=_REMOTE_OPTIONS | _IMAGE_FILE_OPTIONS | {"skip_corrupt"},
        downloads=True,
        streamed=True,
        archives=("professional_train_2020.zip", "professional_valid_2020.zip"),
    ),
    "clic2020-mobile": DatasetSource(
        name="clic2020-mobile",
        description=(
            "CLIC 2020 mobile: 1,048 training and 61 validation photos from phone cameras, streamed "
            "from their PNG files."
        ),
        native_channels=3,
        fixed_size=False,
        class_names=None,
        licence="See the challenge's terms (compression.cc).",
        citation=CLIC_CITATION,
        load=_load_corpus,
        extra_options=_REMOTE_OPTIONS | _IMAGE_FILE_OPTIONS | {"skip_corrupt"},
        downloads=True,
        streamed=True,
        archives=("mobile_train_2020.zip", "mobile_valid_2020.zip"),
    ),
    "div2k": DatasetSource(
        name="div2k",
        description="DIV2K: 800 training and 100 validation 2K photos (HR), streamed from their PNG files.",
        native_channels=3,
        fixed_size=False,
        class_names=None,
        licence="Academic research use (NTIRE 2017 challenge terms).",
        citation=(
            "Agustsson, E. & Timofte, R. (2017). NTIRE 2017 Challenge on Single Image Super-Resolution: "
            "Dataset and Study. CVPR Workshops."
        ),
        load=_load_corpus,
        extra_options=_REMOTE_OPTIONS | _IMAGE_FILE_OPTIONS | {"skip_corrupt"},
        downloads=True,
        streamed=True,
        archives=("DIV2K_train_HR.zip", "DIV2K_valid_HR.zip"),
    ),
    "image-folder": DatasetSource(
        name="image-folder",
        description="The user's own PNG/JPEG/BMP/TIFF images: a local folder, or a zip/tar at a URL.",
        native_channels=3,
        fixed_size=None,
        class_names=None,
        licence="As the user's images.",
        citation="",
        load=_load_image_folder,
        extra_options=frozenset({"path", "url", "sha256", "skip_corrupt", "max_extract_bytes", "stream"})
        | {"max_extract_members"}
        | _IMAGE_FILE_OPTIONS,
    ),
}

_COMMON_OPTIONS = frozenset({"source", "test_fraction", "val_fraction", "channels", "subset", "folds"})


def check_dataset_options(options: dict[str, Any]) -> list[str]:
    """Problems with one validated `datasets.<name>` entry that the schema cannot express."""
    source = REGISTRY[options["source"]]
    problems = []
    for key, value in options.items():
        if key not in _COMMON_OPTIONS | source.extra_options and value is not None:
            problems.append(f"{key}: not an option of source '{source.name}'")
    for name in options.get("images") or []:
        if name not in BUNDLED_PHOTOS:
            problems.append(f"images: unknown photo '{name}' (known: {', '.join(BUNDLED_PHOTOS)})")
    if options["test_fraction"] == 1:
        if options["val_fraction"]:
            problems.append("val_fraction: must be 0 for a test-only dataset (test_fraction: 1)")
    elif options["test_fraction"] + options["val_fraction"] >= 1:
        problems.append("test_fraction + val_fraction must leave images for training (sum < 1)")
    if options.get("checksums") and source.downloads:
        official = {f.name: f for f in official_files()[source.name]}
        for name, pinned in options["checksums"].items():
            if name not in official:
                problems.append(
                    f"checksums.{name}: not a file of source '{source.name}' ({', '.join(official)})"
                )
            elif official[name].sha256 and official[name].sha256 != pinned:
                problems.append(
                    f"checksums.{name}: {pinned} differs from the registry's SHA-256 {official[name].sha256}"
                )
    if source.name == "image-folder":
        if bool(options.get("path")) == bool(options.get("url")):
            problems.append("path/url: give exactly one: a local folder `path` or an archive `url`")
        elif options.get("path") and not Path(options["path"]).is_dir():
            where = Path(options["path"]).resolve()
            problems.append(f"path: '{options['path']}' is not a folder ({where} does not exist)")
        if options.get("url") and not options.get("sha256"):
            problems.append("sha256: required with `url`, so that the archive can be verified")
    return problems


class ConfiguredSource:
    """A registry source as one `datasets.<name>` entry uses it.

    An image folder's images may or may not share one size; the families that need one
    size ask `fixed_size`, which is then read from the files' headers (no pixel is decoded),
    so a mixed folder fails at config validation instead of in a training job.
    """

    def __init__(self, source: DatasetSource, options: dict[str, Any]):
        self._source, self._options = source, options

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    @property
    def streamed(self) -> bool:
        """Prepared as an index of files and read while training (corpus.py), not decoded arrays."""
        return self._source.streamed or bool(self._options.get("stream"))

    @property
    def fixed_size(self) -> bool | None:
        if self.streamed:
            return False  # a corpus is read as its files: its sizes are not looked at in advance
        path = self._options.get("path")
        if self._source.fixed_size is not None or not path or not Path(path).is_dir():
            return self._source.fixed_size
        sizes = image_folder_sizes(str(Path(path).resolve()))
        return None if not sizes else len(sizes) == 1  # no readable image: reported when prepared


def configured_source(options: dict[str, Any]) -> ConfiguredSource:
    return ConfiguredSource(REGISTRY[options["source"]], options)


@cache
def image_folder_sizes(folder: str) -> frozenset[tuple[int, int]]:
    """The (width, height) sizes of a folder's images, read from headers; stops at the second
    size found. Files whose header cannot be read are left to the prepare step to report."""
    from PIL import Image

    from aecompress.readers import image_files

    sizes: set[tuple[int, int]] = set()
    for path in image_files(Path(folder)):
        try:
            with Image.open(path) as img:
                sizes.add(img.size)
        except Exception:  # noqa: BLE001 - corrupt files are reported when the folder is prepared
            continue
        if len(sizes) > 1:
            break
    return frozenset(sizes)


def remote_files(options: dict[str, Any]) -> list[RemoteFile]:
    """The files a dataset entry must fetch before it can be prepared (none for embedded data)."""
    source = REGISTRY[options["source"]]
    if source.downloads:
        pins = options.get("checksums") or {}  # SHA-256s the user pinned (checked by check_dataset_options)
        return [replace(f, sha256=f.sha256 or pins.get(f.name)) for f in official_files()[source.name]]
    if source.name == "image-folder" and options.get("url"):
        name = options["url"].rstrip("/").rsplit("/", 1)[-1] or "images.archive"
        return [RemoteFile(name=name, url=options["url"], size=None, sha256=options["sha256"], md5=None)]
    return []


def verified_against_official(meta: dict[str, Any]) -> bool | None:
    """Whether a prepared dataset's files were verified against the registry's official
    digests (False: a test-only override, i.e. a same-layout sample). None for sources that
    download nothing from the registry (embedded data, your own folder)."""
    source = REGISTRY.get(meta.get("source", ""))
    if source is None or not source.downloads:
        return None
    official = {f.name: f for f in _official_files().get(source.name, ())}
    return all(
        f["name"] in official
        and f["sha256"] == official[f["name"]].sha256
        and f["md5"] == official[f["name"]].md5
        for f in meta.get("source_files") or []
    )


def resolve_url(file: RemoteFile, options: dict[str, Any]) -> str:
    """Where to fetch `file` from: the official URL, or `mirror` + file name.

    `mirror` may be an http(s):// or file:// base URL or a local folder (a copy made on a
    login node); the file is verified against the registry's checksum either way.
    """
    mirror = options.get("mirror")
    if not mirror:
        return file.url
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + file.name
    return str(Path(mirror).expanduser() / file.name)


def _stratification(labels: np.ndarray | None, held_out: int) -> np.ndarray | None:
    """Labels to stratify by, when every class has 2+ images and both sides can hold every class."""
    if labels is None:
        return None
    counts = np.bincount(labels)
    classes = int((counts > 0).sum())
    if counts[counts > 0].min() < 2 or held_out < classes or len(labels) - held_out < classes:
        return None
    return labels


def split_indices(
    n: int, labels: np.ndarray | None, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Seeded train/val/test indices; stratified by label when every class can be.

    test_fraction 0 leaves the test split empty (for sources with an official test set).
    """
    from sklearn.model_selection import train_test_split

    indices = np.arange(n)
    if test_fraction == 1:  # a test-only set
        return {"train": indices[:0], "val": indices[:0], "test": indices}
    n_test = max(1, round(test_fraction * n)) if test_fraction else 0
    n_val = round(val_fraction * n)
    if n_test + n_val >= n:
        raise ValueError(
            f"{n} images leave none for training with test_fraction={test_fraction}, "
            f"val_fraction={val_fraction}"
        )
    if n_test:
        stratify = _stratification(labels, n_test)
        rest, test = train_test_split(indices, test_size=n_test, random_state=seed, stratify=stratify)
    else:
        rest, test = indices, np.zeros(0, dtype=np.int64)
    if n_val:
        stratify = _stratification(None if labels is None else labels[rest], n_val)
        train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1, stratify=stratify)
    else:
        train, val = rest, np.zeros(0, dtype=np.int64)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def fold_assignment(n: int, labels: np.ndarray | None, k: int, seed: int) -> np.ndarray:
    """Seeded K-fold id (0..k-1) of each of `n` images; stratified when every class has k+ images."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if n < k:
        raise ValueError(f"folds: {k} folds need at least {k} training images, the split has {n}")
    counts = None if labels is None else np.bincount(labels)
    stratify = counts is not None and counts[counts > 0].min() >= k
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=k, shuffle=True, random_state=seed)
    folds = np.empty(n, dtype=np.int64)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(n), labels if stratify else None)):
        folds[held_out] = fold
    return folds


def _take(images: ImageSet, idx: np.ndarray, channels: int) -> ImageSet:
    if images.files is not None:  # streamed: the channel rule is applied when a file is decoded
        from dataclasses import replace as with_fields

        from aecompress.images import LazyImages

        chosen = [with_fields(images.files[i], shape=(*images.files[i].shape[:2], channels)) for i in idx]
        labels = None if images.labels is None else images.labels[idx]
        return ImageSet(LazyImages(chosen), labels, [images.names[i] for i in idx], files=chosen)
    return ImageSet(
        images=[convert_channels(images.images[i], channels) for i in idx],
        labels=None if images.labels is None else images.labels[idx],
        names=[images.names[i] for i in idx],
    )


def _subset(idx: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    if size is None or len(idx) <= size:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, size=size, replace=False))


def prepare_dataset(
    options: dict[str, Any],
    seed: int,
    files: dict[str, str | Path] | None = None,
    staging: str | Path | None = None,
) -> PreparedDataset:
    """Load a registered source, convert channels, and split it reproducibly.

    Sources with an official test split keep it (test_fraction is then not used) and carve
    validation out of their training split; `subset` caps every split for quick runs.
    """
    source = REGISTRY[options["source"]]
    staging = None if staging is None else Path(staging).resolve()  # as the file index records paths
    loaded = source.load(options, {name: Path(path) for name, path in (files or {}).items()}, staging)
    channels = options.get("channels") or source.native_channels
    if isinstance(loaded, dict):
        train = loaded["train"]
        parts = split_indices(len(train), train.labels, 0.0, options["val_fraction"], seed)
        pools = {"train": train, "val": train, "test": loaded["test"]}
        parts["test"] = np.arange(len(loaded["test"]))
        class_names = source.class_names
    else:
        parts = split_indices(
            len(loaded), loaded.labels, options["test_fraction"], options["val_fraction"], seed
        )
        pools = dict.fromkeys(parts, loaded)
        class_names = loaded.class_names or source.class_names
    splits = {
        split: _take(pools[split], _subset(idx, options.get("subset"), seed + i), channels)
        for i, (split, idx) in enumerate(parts.items())
    }
    meta = {
        "source": source.name,
        "description": source.description,
        "licence": source.licence,
        "citation": source.citation,
        "class_names": list(class_names) if class_names else None,
        "channels": channels,
        "seed": seed,
        "options": options,
        "official_test_split": isinstance(loaded, dict),
        # The digests each input file was verified against by the download rule.
        "source_files": [{"name": f.name, "sha256": f.sha256, "md5": f.md5} for f in remote_files(options)],
        "split_sizes": {split: len(s) for split, s in splits.items()},
        "folds": options.get("folds"),
    }
    folds = None
    if options.get("folds"):
        train = splits["train"]
        folds = fold_assignment(len(train), train.labels, options["folds"], seed + 10)
    return PreparedDataset(splits=splits, meta=meta, folds=folds, staging=staging)
