"""The workflow on a real single-node SLURM cluster (tools/slurm-local-cluster.sh), through
`snakemake --profile slurm` typed in the repository root: Snakemake's SLURM executor plugin
submits every job with sbatch.

Skipped, with the reason, only where the cluster cannot be started (no Debian packages, not
root); .ci/run installs them first.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import require

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tools/slurm-local-cluster.sh"
TINY = {
    "seed": 3,
    "datasets": {"digits": {"source": "sklearn-digits"}},
    "experiments": [
        {"name": "dense", "family": "dense", "dataset": "digits", "grid": {"latent_units": [4, 16]},
         "training": {"epochs": 3, "batch_size": 64, "learning_rate": 0.01}},
    ],
    "evaluation": {"reconstruction_samples": 2, "latent_coding": {"bits": 6}},
    "resources": {"train": {"threads": 1, "mem_mb": 1500, "runtime": 10},
                  "evaluate": {"threads": 1, "mem_mb": 1500, "runtime": 10}},
}  # fmt: skip


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running cluster (its slurm.conf in /etc/slurm), stopped by pid at the end."""
    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(tool) is None]
    require(
        not missing,
        f"SLURM is not installed ({', '.join(missing)} missing): tools/slurm-local-cluster.sh install",
    )
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(
        ["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=120
    )
    if started.returncode:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], timeout=60)
        pytest.fail(f"the local SLURM cluster did not start:\n{started.stdout}\n{started.stderr}")
    yield dict(os.environ)
    subprocess.run(["bash", str(CLUSTER), "stop", str(state)], timeout=60)


def profile_run(workdir: Path, environment: dict, *args: str, timeout: int = 600, **popen):
    """`snakemake --profile slurm` from the repository root, on a config in `workdir`."""
    command = [
        "timeout", "-k", "10", str(timeout), sys.executable, "-m", "snakemake", "--profile", "slurm",
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
        "--slurm-init-seconds-before-status-checks", "3", *args,
    ]  # fmt: skip
    if popen:
        return subprocess.Popen(command, cwd=REPO, env=environment, text=True, **popen)
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)


def slurm_job_ids(output: str) -> list[str]:
    """The SLURM job ids the executor plugin logs, one per submission."""
    return re.findall(r"has been submitted with SLURM jobid (\d+)", output)


def test_the_tiny_workflow_runs_through_sbatch(slurm, tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    result = profile_run(tmp_path, slurm)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert (tmp_path / "results/report.html").exists()
    job_ids = slurm_job_ids(output)
    # prepare_dataset, 2 x train, 2 x evaluate (each fitting its latent coder) went to SLURM; the
    # report ran here.
    assert len(job_ids) == 5, output[-5000:]
    for job_id in job_ids:  # SLURM's own record of each job (kept for MinJobAge seconds)
        record = subprocess.run(
            ["scontrol", "show", "job", job_id], env=slurm, capture_output=True, text=True
        )
        assert "JobState=COMPLETED" in record.stdout, record.stdout + record.stderr
    logs = list((tmp_path / "logs/slurm").rglob("*.log"))
    assert len(logs) == 5  # one SLURM log per job, named by its jobid
    summaries = list((tmp_path / "results/evaluation").glob("*/*/summary.json"))
    assert len(summaries) == 2 and all(json.loads(p.read_text())["bpp"] > 0 for p in summaries)


def test_a_failing_job_fails_the_run_and_shows_its_log(slurm, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.png").write_bytes(b"not a png at all")
    config = {
        "datasets": {"photos": {"source": "image-folder", "path": str(photos)}},
        "experiments": [{"name": "dense", "family": "dense", "dataset": "photos",
                         "params": {"block_size": 8, "latent_units": 8}, "training": {"epochs": 1}}],
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = profile_run(tmp_path, slurm, "--retries", "0", timeout=300)  # no resubmission of a real error
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert slurm_job_ids(output), output[-4000:]  # it failed on the cluster, not before
    assert "Error in rule prepare_dataset" in output
    assert "broken.png" in output  # the job's log, with the file it could not read, is shown


def test_a_training_job_cancelled_with_scancel_resumes_from_its_checkpoint(slurm, tmp_path):
    config = json.loads(json.dumps(TINY))
    experiment = config["experiments"][0]
    experiment["grid"] = {"latent_units": [16]}
    experiment["training"] = {"epochs": 60, "batch_size": 8, "learning_rate": 0.001}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    log = tmp_path / "snakemake.log"
    with open(log, "w") as sink:
        model = "results/models/dense_latent_units-16/model.json"  # the model is enough here
        process = profile_run(tmp_path, slurm, model, timeout=900, stdout=sink, stderr=subprocess.STDOUT)
        history = tmp_path / "results/checkpoints/dense_latent_units-16/history.csv"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if history.exists() and len(history.read_text().splitlines()) >= 4:  # 3 epochs kept
                break
            time.sleep(0.5)
        assert process.poll() is None, log.read_text()[-4000:]
        running = subprocess.run(["squeue", "-h", "-o", "%i %k"], env=slurm, capture_output=True, text=True)
        (train_job,) = [line.split()[0] for line in running.stdout.splitlines() if "train" in line]
        subprocess.run(["scancel", train_job], env=slurm, check=True)
        assert process.wait(timeout=900) == 0, log.read_text()[-5000:]
    output = log.read_text()
    assert train_job in slurm_job_ids(output)
    assert len(set(slurm_job_ids(output))) == 3  # prepare, train, and train again after scancel
    epochs = re.findall(
        r"^epoch (\d+)/60", (tmp_path / "logs/train/dense_latent_units-16.log").read_text(), re.M
    )
    assert int(epochs[0]) > 1  # the retry's log starts where the cancelled job stopped
    card = json.loads((tmp_path / "results/models/dense_latent_units-16/model.json").read_text())
    assert card["epochs_run"] == 60


def test_a_two_task_training_job_trains_one_compressive_model_on_both_workers(slurm, tmp_path):
    """resources.train.tasks_per_node: 2 -> one sbatch job of 2 tasks; its script starts both with
    srun as MultiWorkerMirroredStrategy workers (TensorFlow's SlurmClusterResolver), the chief
    exports a model that codes real files."""
    config = {
        "datasets": {"photos": {"source": "bundled-photos"}},
        "experiments": [{"name": "fp", "family": "factorized-prior", "dataset": "photos",
                         "params": {"num_filters": 8, "lmbda": 0.01},
                         "preprocessing": {"patches": {"size": 64, "per_epoch": 16}},
                         "training": {"epochs": 2, "batch_size": 2, "learning_rate": 0.001}}],
        "resources": {"train": {"threads": 1, "mem_mb": 3000, "runtime": 10, "tasks_per_node": 2},
                      "prepare": {"threads": 1, "mem_mb": 1000, "runtime": 10}},
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = profile_run(tmp_path, slurm, "results/models/fp/model.json", timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    prepare_job, train_job = slurm_job_ids(output)
    record = subprocess.run(["scontrol", "show", "job", train_job], env=slurm, capture_output=True, text=True)
    assert "JobState=COMPLETED" in record.stdout and "NumTasks=2" in record.stdout, record.stdout
    log = (tmp_path / "logs/train/fp.log").read_text()
    assert "starting the workers: srun --ntasks=2 --nodes=1 --ntasks-per-node=2" in log
    assert len(re.findall(r"^epoch \d+/2", log, re.M)) == 2  # the chief alone logs epochs

    card = json.loads((tmp_path / "results/models/fp/model.json").read_text())
    assert card["distribution"] == {"strategy": "multi-worker", "replicas": 2, "global_batch_size": 4}
    assert card["steps"] == 2 * 4  # 16 patches per epoch in global batches of 4
    assert not (tmp_path / "results/checkpoints/fp").exists()  # removed once both workers stopped

    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.runtime import import_tensorflow
    from aecompress.training import load_model

    tf = import_tensorflow(1)
    model = load_model(tf, tmp_path / "results/models/fp/model")
    codec = CompressiveCodec.from_model_dir(tmp_path / "results/models/fp/model", model=model)
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    np.testing.assert_array_equal(codec.decode(data), decoded)
