"""The dataset registry: where each dataset comes from, how it is read, and how it is split.

Sources load their images lazily (inside `load`), so that importing this module while
Snakemake builds the DAG costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from aecompress.images import ImageSet, PreparedDataset, convert_channels, decode_image


@dataclass(frozen=True)
class DatasetSource:
    name: str
    description: str
    native_channels: int
    fixed_size: bool  # every image has the same (H, W)
    class_names: tuple[str, ...] | None
    licence: str
    citation: str
    load: Callable[[dict[str, Any]], ImageSet]
    extra_options: frozenset[str] = frozenset()


def _load_sklearn_digits(options: dict[str, Any]) -> ImageSet:
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


def _load_bundled_photos(options: dict[str, Any]) -> ImageSet:
    names = options.get("images") or list(BUNDLED_PHOTOS)
    images = []
    for name in names:
        with resources.as_file(bundled_photo_path(name)) as path:
            images.append(decode_image(path, channels=3))
    return ImageSet(images=images, labels=None, names=list(names))


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
        extra_options=frozenset({"images"}),
    ),
}

_COMMON_OPTIONS = frozenset({"source", "test_fraction", "val_fraction", "channels"})


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
    if options["test_fraction"] + options["val_fraction"] >= 1:
        problems.append("test_fraction + val_fraction must leave images for training (sum < 1)")
    return problems


def split_indices(
    n: int, labels: np.ndarray | None, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Seeded train/val/test indices; stratified by label when every class can be."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(n)
    n_test = max(1, round(test_fraction * n))
    n_val = round(val_fraction * n)
    if n_test + n_val >= n:
        raise ValueError(
            f"{n} images leave none for training with test_fraction={test_fraction}, "
            f"val_fraction={val_fraction}"
        )
    stratify = labels if labels is not None and np.bincount(labels).min() >= 2 else None
    rest, test = train_test_split(indices, test_size=n_test, random_state=seed, stratify=stratify)
    if n_val:
        strat_rest = stratify[rest] if stratify is not None else None
        train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1, stratify=strat_rest)
    else:
        train, val = rest, np.zeros(0, dtype=np.int64)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def prepare_dataset(options: dict[str, Any], seed: int) -> PreparedDataset:
    """Load a registered source, convert channels, and split it reproducibly."""
    source = REGISTRY[options["source"]]
    full = source.load(options)
    channels = options.get("channels") or source.native_channels
    images = [convert_channels(im, channels) for im in full.images]
    parts = split_indices(len(images), full.labels, options["test_fraction"], options["val_fraction"], seed)
    splits = {
        split: ImageSet(
            images=[images[i] for i in idx],
            labels=None if full.labels is None else full.labels[idx],
            names=[full.names[i] for i in idx],
        )
        for split, idx in parts.items()
    }
    meta = {
        "source": source.name,
        "description": source.description,
        "licence": source.licence,
        "citation": source.citation,
        "class_names": list(source.class_names) if source.class_names else None,
        "channels": channels,
        "seed": seed,
        "options": options,
        "split_sizes": {split: len(s) for split, s in splits.items()},
    }
    return PreparedDataset(splits=splits, meta=meta)
