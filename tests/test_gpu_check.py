"""tools/gpu-check on a machine without a GPU: it says so and succeeds (its full run, on a GPU
or with --cpu-as-device --tiny, trains three compressive families and is not part of the suite)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_without_a_gpu_the_check_says_so_and_exits_0(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "tools/gpu-check"), "--out", str(tmp_path / "check")],
        capture_output=True,
        text=True,
        timeout=300,
        env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TensorFlow sees no GPU here (CUDA_VISIBLE_DEVICES=); nothing to check." in result.stdout
    assert not (tmp_path / "check").exists()
