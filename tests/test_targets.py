"""Rate and quality targets (codecs.targets and `compress --target-*`): the point a codec picks is
the boundary of its ordered points, within one quality step, in at most 10 encodes."""

import json

import numpy as np
import pytest
from PIL import Image

from aecompress.cli import main
from aecompress.codecs import bits_per_pixel, classical_codec
from aecompress.codecs.registry import baseline_codec
from aecompress.codecs.targets import Target, measure, search
from aecompress.training import save_model


def photo(height=96, width=128, seed=0):
    """Smooth structure plus texture: JPEG's rate moves with every quality step."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.float64)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def jpeg_candidates():
    spec = baseline_codec("jpeg")
    return [(q, lambda q=q: spec.build(q)) for q in spec.search_points()]


@pytest.mark.parametrize("budget", [0.8, 1.5, 3.0])
def test_a_bpp_target_picks_the_best_quality_within_the_budget(budget):
    image = photo()
    found = search(jpeg_candidates(), image, Target("bpp", budget))
    quality = found.chosen.point
    assert found.met and found.chosen.measures["bpp"] <= budget and found.encodes <= 10
    above = classical_codec("jpeg", quality + 1).encode(image)
    assert bits_per_pixel(above, image.shape) > budget  # one quality step more breaks the budget


@pytest.mark.parametrize(("metric", "value"), [("psnr", 30.0), ("ms_ssim", 0.95)])
def test_a_quality_target_picks_the_cheapest_quality_that_reaches_it(tf, metric, value):
    image = photo(192, 192)
    found = search(jpeg_candidates(), image, Target(metric, value))
    quality = found.chosen.point
    assert found.met and found.chosen.measures[metric] >= value and found.encodes <= 10
    below = classical_codec("jpeg", quality - 1)
    assert measure(image, below.encode(image), below, [metric])[metric] < value  # one step less misses it


def test_every_classical_codec_searches_its_own_points():
    image = photo()
    for name in ("webp", "jpeg2000"):
        spec = baseline_codec(name)
        points = spec.search_points()
        candidates = [(p, lambda p=p, spec=spec: spec.build(p)) for p in points]
        found = search(candidates, image, Target("bpp", 1.0))
        assert found.met and found.chosen.measures["bpp"] <= 1.0 and found.encodes <= 10
        index = points.index(found.chosen.point)
        dearer = spec.build(points[index + 1]).encode(image)
        assert bits_per_pixel(dearer, image.shape) > 1.0


def test_an_unreachable_target_keeps_the_nearest_point_and_says_so():
    image = photo()
    found = search(jpeg_candidates(), image, Target("bpp", 0.001))
    assert not found.met and found.chosen.point == 0 and "NOT met" in found.summary()
    found = search(jpeg_candidates(), image, Target("psnr", 90))
    assert not found.met and found.chosen.point == 100


@pytest.mark.parametrize(("metric", "value"), [("bpp", 0), ("psnr", -3), ("ms_ssim", 1.0), ("ssim", 0.9)])
def test_a_meaningless_target_is_refused(metric, value):
    with pytest.raises(ValueError, match=f"target.*{metric}"):
        Target(metric, value)


def test_compress_reaches_a_target_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "photo.png"
    Image.fromarray(photo()).save(path)
    assert main(["compress", str(path), str(tmp_path / "t.aec"), "--codec", "webp", "--target-bpp", "1"]) == 0
    out = capsys.readouterr().out
    assert "target bpp <= 1: met after" in out and "webp_quality-" in out
    assert 8 * (tmp_path / "t.aec").stat().st_size / (96 * 128) <= 1
    assert (
        main(["decompress", str(tmp_path / "t.aec"), str(tmp_path / "back.png")]) == 0
    )  # the point is in the file
    both = [
        "compress",
        str(path),
        str(tmp_path / "u.aec"),
        "--codec",
        "jpeg",
        "--quality",
        "5",
        "--target-psnr",
        "30",
    ]
    assert main(both) == 2
    expected = "an operating point (--quality, --width, --lambda, ...) or a --target-*, not both"
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "u.aec").exists()


def test_a_set_of_models_is_searched_as_one_set_of_points(tf, tmp_path, capsys):
    """Two factorized priors of different sizes: the target picks the dearer one within the budget."""
    from aecompress.models import get_family
    from aecompress.preprocessing import Normalization

    path = tmp_path / "photo.png"
    Image.fromarray(photo(64, 64)).save(path)
    models, rates = [], {}
    for filters in (4, 16):
        tf.keras.utils.set_random_seed(filters)
        params = {"num_filters": filters, "lmbda": 0.01}
        model = get_family("factorized-prior").build_model(params, (32, 32, 3), Normalization("unit"))
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), run_eagerly=True)  # one step: no tracing
        model.fit(photo(32, 32, 1)[None].astype(np.float32) / 255, epochs=1, verbose=0)
        model.prepare_for_compression()
        folder = tmp_path / f"fp{filters}"
        save_model(model, folder / "model")
        card = {"variant": f"fp-{filters}", "family": "factorized-prior", "params": params}
        (folder / "model.json").write_text(json.dumps(card))
        assert (
            main(["compress", str(path), str(tmp_path / f"{filters}.aec"), "--model", str(folder / "model")])
            == 0
        )
        rates[card["variant"]] = 8 * (tmp_path / f"{filters}.aec").stat().st_size / 64**2
        models += ["--model", str(folder / "model")]
    cheap, dear = sorted(rates, key=rates.get)
    assert rates[cheap] < rates[dear]
    capsys.readouterr()
    for budget, expected in ((rates[dear], dear), ((rates[cheap] + rates[dear]) / 2, cheap)):
        assert (
            main(
                ["compress", str(path), str(tmp_path / "set.aec"), "-f", *models, "--target-bpp", str(budget)]
            )
            == 0
        )
        assert f"{expected}: " in capsys.readouterr().out
    assert main(["compress", str(path), str(tmp_path / "x.aec"), *models]) == 2
    assert "2 --model options" in capsys.readouterr().err
