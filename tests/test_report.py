"""Report helpers: published reference curves."""

from pathlib import Path

import pytest

from aecompress import plan
from aecompress.references import ReferenceError, load_reference_curves, read_reference_curve

REFERENCES = Path(__file__).resolve().parents[1] / "resources/reference-results"


def test_published_kodak_curves_are_read_with_their_codec_names():
    for metric, low, high in (("psnr", 20, 55), ("ms_ssim", 0.7, 1.0)):
        curves = load_reference_curves(REFERENCES / "kodak", metric)
        assert set(curves["codec"]) == {
            "JPEG (4:2:0)", "WebP", "BPG (4:4:4)",
            "Ballé 2017 (ICLR, opt. MSE)", "Ballé 2018 (ICLR, opt. MSE)",
        }  # fmt: skip
        assert curves["value"].between(low, high).all() and (curves["bpp"] > 0).all()
    # The published ordering the report leans on: the hyperprior beats the factorized prior,
    # which beats JPEG, near 0.5 bpp.
    psnr = load_reference_curves(REFERENCES / "kodak", "psnr")
    near = psnr[psnr["bpp"].between(0.4, 0.6)].groupby("codec")["value"].mean()
    assert near["Ballé 2018 (ICLR, opt. MSE)"] > near["Ballé 2017 (ICLR, opt. MSE)"] > near["JPEG (4:2:0)"]


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
