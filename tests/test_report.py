"""The report package's sections and helpers, and the published reference curves."""

from pathlib import Path

import pytest

from aecompress import plan
from aecompress.references import ReferenceError, load_reference_curves, read_reference_curve

REFERENCES = Path(__file__).resolve().parents[1] / "resources/reference-results"


def test_published_kodak_curves_are_read_with_their_codec_names():
    for metric, low, high in (("psnr", 20, 55), ("ms_ssim", 0.7, 1.0)):
        curves = load_reference_curves(REFERENCES / "kodak", metric)
        assert set(curves["codec"]) == {
            "JPEG (4:2:0)", "WebP", "BPG (4:4:4)", "JPEG 2000 (OpenJPEG)",
            "Ballé 2017 (ICLR, opt. MSE)", "Ballé 2018 (ICLR, opt. MSE)", "Minnen 2018 (NeurIPS)",
        }  # fmt: skip
        assert curves["value"].between(low, high).all() and (curves["bpp"] > 0).all()
    # The published ordering the report leans on: the hyperprior beats the factorized prior,
    # which beats JPEG, near 0.5 bpp.
    psnr = load_reference_curves(REFERENCES / "kodak", "psnr")
    near = psnr[psnr["bpp"].between(0.4, 0.6)].groupby("codec")["value"].mean()
    assert near["Ballé 2018 (ICLR, opt. MSE)"] > near["Ballé 2017 (ICLR, opt. MSE)"] > near["JPEG (4:2:0)"]
    assert near["Minnen 2018 (NeurIPS)"] > near["Ballé 2018 (ICLR, opt. MSE)"]


def test_a_malformed_curve_names_the_file_and_line(tmp_path):
    bad = tmp_path / "codec.txt"
    bad.write_text('# Aggregate rate-distortion data for "X" on kodak.\n0.1, 30\n0.2; 31\n')
    with pytest.raises(ReferenceError, match=r"codec.txt, line 3: expected 'bpp, value'"):
        read_reference_curve(bad)
    bad.write_text("0.1, 30\n")
    with pytest.raises(ReferenceError, match="codec.txt: expected a .* header"):
        read_reference_curve(bad)
    with pytest.raises(ReferenceError, match="'lpips'"):
        load_reference_curves(tmp_path, "lpips")


def test_only_datasets_with_published_curves_get_them():
    config = {
        "datasets": {"kodak": {"source": "kodak"}, "photos": {"source": "bundled-photos"}},
        "experiments": [{"dataset": "photos", "test_dataset": "kodak"}],
    }
    assert plan.reference_curve_folders(config, REFERENCES) == {"kodak": str(REFERENCES / "kodak")}


def test_per_image_outliers_are_beyond_tukeys_fence(tmp_path):
    import pandas as pd

    from aecompress.report.papers import per_image_outliers

    mse = [0.01, 0.011, 0.012, 0.013, 0.014, 0.015, 0.016, 0.2]
    path = tmp_path / "per_image.csv"
    pd.DataFrame({"image": [f"i{k}" for k in range(8)], "mse": mse, "psnr": 0.0, "bpp": 1.0}).to_csv(path)
    values, outliers, fence = per_image_outliers(str(path))
    q1, q3 = pd.Series(mse).quantile([0.25, 0.75])
    assert fence == pytest.approx(q3 + 1.5 * (q3 - q1))
    assert list(outliers["image"]) == ["i7"] and len(values) == 8


def test_grid_studies_tabulate_each_experiments_settings():
    import pandas as pd

    from aecompress.report.papers import grid_comparisons

    results = pd.DataFrame(
        {
            "curve": ["cae", "cae", "cae", "other"],
            "method": ["a", "b", "c", "d"],
            "param_loss": ["mse", "huber", "ssim", None],
            "param_bottleneck_filters": [8.0, 8.0, 8.0, None],
            "nominal_ratio": [6.0, 6.0, 6.0, 2.0],
            "bpp": [None] * 4,
            "mse": [0.01, 0.02, 0.03, 0.04],
            "psnr": [20.0, 17.0, 15.2, 14.0],
        }
    )
    cards = {m: {"experiment": "cae", "grid_values": {"loss": "x"}} for m in "abc"}
    cards["d"] = {"experiment": "other", "grid_values": {}}
    tables = grid_comparisons(results, cards)
    assert list(tables) == ["cae"]  # an experiment without a grid has no study
    table = tables["cae"]
    assert table.index.name == "loss" and list(table.index) == ["huber", "mse", "ssim"]
    assert table.loc["mse", "psnr"] == 20.0 and "bpp" not in table  # no bpp measured: no column


def test_latent_energy_is_stretched_over_the_image():
    import numpy as np

    from aecompress.report.models import latent_heatmap

    latent = np.zeros((2, 3, 4), np.float32)
    latent[1, 2] = -2.0  # bottom-right latent pixel: energy 2
    heat = latent_heatmap(latent, 32, 48)
    assert heat.shape == (32, 48)
    assert heat[16:, 32:].min() == 2.0 and heat[:16].max() == 0.0 and heat[:, :32].max() == 0.0


def test_the_preprocessing_table_says_what_each_model_saw():
    from aecompress.report.models import preprocessing_table

    card = {
        "variant": "cae_b-8", "dataset": "photos", "test_dataset": "kodak", "input_shape": [150, 225, 3],
        "preprocessing": {
            "normalization": {"rule": "x / 127.5 - 1"}, "padding": {"multiple": 8, "mode": "zero"},
            "patches": None,
            "crop_box": {"input": [150, 225], "padded": [152, 232], "crop": [0, 0, 150, 225]},
        },
    }  # fmt: skip
    row = preprocessing_table({"cae_b-8": card}).loc["cae_b-8"]
    assert (
        row["padding"] == "zero to a multiple of 8"
        and row["padded and cropped back"] == "150x225 -> 152x232 -> crop"
    )
    assert row["tested on"] == "kodak" and row["patches"] == "whole images" and row["input"] == "150x225x3"


def test_experiments_of_one_family_are_compared_by_what_differs():
    import pandas as pd

    from aecompress.report.papers import setting_differences

    def card(experiment, padding, loss):
        return {
            "experiment": experiment, "params": {"filters": [64, 32], "bottleneck_filters": 32},
            "training": {"loss": loss}, "preprocessing": {"padding": {"multiple": 8, "mode": padding}},
        }  # fmt: skip

    cards = {"rep": card("cae-replicate", "replicate", "mse"), "zero": card("cae-zero", "zero", "mse"),
             "ssim": card("cae-ssim", "replicate", "ssim")}  # fmt: skip
    results = pd.DataFrame({"method": ["rep", "zero", "ssim", "jpeg_q5"],
                            "curve": ["cae-replicate", "cae-zero", "cae-ssim", "jpeg"],
                            "codec": ["deep-cae"] * 3 + ["jpeg"], "dataset": ["photos"] * 4,
                            "mse": [0.010, 0.012, 0.011, 0.02],
                            "psnr": [20.0, 19.2, 19.6, 17.0]})  # fmt: skip
    (table,) = setting_differences(results, cards).values()
    assert list(table.columns) == ["curve", "loss", "padding", "mse", "psnr"]  # filters are shared
    assert table.loc["zero", "padding"] == "zero" and table.loc["ssim", "loss"] == "ssim"
    assert table.loc["zero", "mse"] == 0.012


def test_the_tuning_section_states_the_study_and_lists_the_best_finished_trials():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from aecompress.config import validate_config
    from aecompress.report import papers as report
    from aecompress.tuning import select_configuration

    config = validate_config({
        "datasets": {"digits": {"source": "sklearn-digits", "folds": 2}},
        "experiments": [{"name": "dense", "family": "dense", "dataset": "digits"}],
        "tuning": [{"name": "search", "dataset": "digits", "rate_penalty": 0.01}],
    })  # fmt: skip
    results = [
        {"study": "search", "outer_fold": k, "configuration": {"blocks": 1, "loss": "mse"}, "params": {},
         "loss": "mse", "objective": "mse", "outer_score": score, "outer_loss": score - 0.001}
        for k, score in ((0, 0.01), (1, 0.03))
    ]  # fmt: skip
    overview = report.tuning_overview(config["tuning"][0], select_configuration(results))["value"]
    assert overview["outer folds (K_outer)"] == 2 and overview["inner folds (K_inner)"] == 3
    assert overview["Hyperband"] == "factor 5, max_epochs 30, iterations 1"
    assert overview["objective"] == "mse on [0, 1] pixels + 0.01 x latent/input values"
    assert overview["chosen by outer folds"] == "2 of 2 (0, 1)"
    assert overview["outer-fold score (mean +- sd)"] == "0.02 +- 0.014"
    trials = pd.DataFrame({
        "trial_id": ["0000", "0001", "0000"], "status": ["COMPLETED", "FAILED", "COMPLETED"],
        "epochs": [2, 2, 6], "score": [0.5, 0.1, 0.2], "blocks": [1, 2, 3], "inner_loss": [0.5, 0.1, 0.2],
        "inner_loss_0": [0.5, 0.1, 0.2], "outer_fold": [0, 0, 1],
    })  # fmt: skip
    best = report.best_trials(trials)
    assert list(best.index) == [(1, "0000"), (0, "0000")]  # the failed trial is left out
    assert list(best.columns) == ["epochs", "score", "blocks"]
    fig, ax = plt.subplots()
    report.plot_trials(trials, ax)
    assert len(ax.collections) == 2 and ax.get_xscale() == "log"
    plt.close(fig)


def test_collapsed_points_are_hollow_marked_and_listed():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from aecompress.report.papers import mse_by_ratio_and_bias
    from aecompress.report.rate_distortion import plot_rate_distortion
    from aecompress.report.the_run import collapsed_models

    results = pd.DataFrame(
        {"method": ["d_2_t", "d_2_f", "d_8_t", "d_8_f"], "curve": "d", "codec": "dense",
         "dataset": "mnist", "kind": "learned", "bpp": [1.0, 1.1, 2.0, 2.1], "psnr": [12.0, 12.1, 18.0, 18.5],
         "mse": [0.0676, 0.06, 0.02, 0.018], "float_latent_mse": [0.0675, 0.06, 0.02, 0.018],
         "param_latent_units": [2, 2, 8, 8], "param_use_bias": [True, False, True, False],
         "nominal_ratio": [392.0, 392.0, 98.0, 98.0], "collapsed": [True, False, False, False],
         "trivial_mse": 0.0675, "collapse_reason": ["test MSE ... trivial predictor's", None, None, None]}
    )  # fmt: skip
    fig, ax = plt.subplots()
    plot_rate_distortion(results, ax, "psnr", "PSNR")
    line, hollow = ax.lines
    assert len(line.get_xdata()) == 3 and list(hollow.get_xdata()) == [1.0]
    assert hollow.get_markerfacecolor() == "none" and "collapsed" in hollow.get_label()
    plt.close(fig)
    table = mse_by_ratio_and_bias(results)
    assert table.loc["mnist: 392x (h=2)", "with bias"] == "0.06750 (collapsed)"
    assert table.loc["mnist: 392x (h=2)", "without bias"] == "0.06000"
    assert collapsed_models(results)["method"].tolist() == ["d_2_t"]


def test_the_learning_curve_draws_rd_cost_and_the_gain_over_jpeg_against_steps():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aecompress.report.rate_distortion import plot_learning_curve

    curve = [{"family": "factorized-prior", "lmbda": 0.01, "step": s, "rd_cost": c, "psnr_over_jpeg_db": g}
             for s, c, g in ((1000, 2.2, -3.0), (2000, 1.8, -2.1), (4000, 1.6, -1.0))]  # fmt: skip
    lambdas = {
        "rows": [{"lmbda": lm, "step": 4000, "bpp": b, "psnr": q, "psnr_over_jpeg_db": -0.5}
                 for lm, b, q in ((0.04, 0.9, 31.0), (0.0025, 0.2, 26.0))],
        "jpeg": {"bpp": [0.3, 0.6, 1.0], "psnr": [26.5, 29.0, 31.5]},
        "bd_rate_vs_jpeg_psnr_%": 12.5,
    }  # fmt: skip
    fig, axes = plt.subplots(1, 3)
    plot_learning_curve({"curve": curve, "lambdas": lambdas}, axes)
    assert list(axes[0].lines[0].get_ydata()) == [2.2, 1.8, 1.6]
    assert [len(line.get_xdata()) for line in axes[1].lines] == [3, 1, 1, 2]  # curve, 2 lambdas, zero line
    assert axes[0].get_xscale() == "log" and axes[2].get_xscale() == "linear"
    jpeg, learned = axes[2].lines
    assert list(learned.get_xdata()) == [0.2, 0.9] and "BD-rate +12.5%" in learned.get_label()
    assert list(jpeg.get_ydata()) == [26.5, 29.0, 31.5]
    plt.close(fig)

    # The variable-rate model: its latest snapshot's curve beside the three models'.
    variable = {"snapshots": [
        {"step": step, "rows": [{"bpp": b, "psnr": q} for b, q in rows], "bd_rate_vs_jpeg_psnr_%": bd}
        for step, rows, bd in ((4000, [(0.5, 27.0), (0.3, 25.0)], 9.0),
                               (12000, [(0.6, 30.0), (0.25, 26.0)], -3.25))
    ]}  # fmt: skip
    fig, axes = plt.subplots(1, 3)
    plot_learning_curve({"curve": curve, "lambdas": lambdas, "variable": variable}, axes)
    jpeg, learned, one_model = axes[2].lines
    assert list(one_model.get_xdata()) == [0.25, 0.6] and list(one_model.get_ydata()) == [26.0, 30.0]
    assert one_model.get_label() == "one variable-rate model, 12000 steps, BD-rate -3.2%"
    plt.close(fig)


def test_a_block_models_latent_is_laid_back_on_its_block_grid():
    import numpy as np

    from aecompress.report.models import spatial_latent

    latent = np.arange(5 * 7 * 3, dtype=np.float32).reshape(35, 3)  # a 36x50 image in 8x8 blocks
    grid = spatial_latent(latent, 36, 50)
    assert grid.shape == (5, 7, 3) and grid[1, 0, 2] == latent[7, 2]
    code = np.ones((1, 16), np.float32)  # one image, one code: left as it is
    assert spatial_latent(code, 8, 8).shape == (1, 16)


def test_curves_without_a_bd_rate_are_ranked_by_their_psnr_over_jpeg_at_their_rates():
    import pandas as pd

    from aecompress.report.key_results import psnr_over

    jpeg = pd.DataFrame({"bpp": [0.1, 0.4, 1.6], "psnr": [24.0, 30.0, 36.0]})
    near = pd.DataFrame({"bpp": [0.2, 0.8], "psnr": [26.0, 32.0]})  # jpeg: 27 and 33 at these rates
    assert psnr_over(jpeg, near) == pytest.approx(-1.0)
    assert pd.isna(psnr_over(jpeg, pd.DataFrame({"bpp": [3.0, 6.0], "psnr": [40.0, 45.0]})))  # out of range
