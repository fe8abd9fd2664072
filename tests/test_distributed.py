"""One model over several devices (tf.distribute), for real on CPU: MirroredStrategy over 2
logical CPU devices against one device at the same global batch and seed. Each run is its own
process: logical devices must be configured before TensorFlow starts. The multi-worker path
(MultiWorkerMirroredStrategy over SLURM tasks) runs in tests/test_slurm.py."""

import json
import subprocess
import sys

import numpy as np
import pytest

from aecompress import plan
from aecompress.config import ConfigError, validate_config
from aecompress.distributed import Placement, cluster_resolver, launch_workers, learning_rate_factor

RUN = """
import json, sys
import numpy as np
from aecompress.config import validate_config
from aecompress.datasets import prepare_dataset
from aecompress.distributed import Placement
from aecompress.plan import all_variants
from aecompress.runtime import import_tensorflow
from aecompress.training import train_variant

experiment, placement, out = json.loads(sys.argv[1]), Placement(**json.loads(sys.argv[2])), sys.argv[3]
checkpoints = sys.argv[4] if len(sys.argv) > 4 else None
tf = import_tensorflow(1)
source = "bundled-photos" if "patches" in experiment.get("preprocessing", {}) else "sklearn-digits"
config = validate_config({"datasets": {"data": {"source": source}}, "experiments": [experiment]})
variant = next(iter(all_variants(config).values()))
weights = {}

class Keep(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        weights["before"] = [w.numpy() for w in self.model.trainable_weights]

    def on_train_end(self, logs=None):
        weights["after"] = [w.numpy() for w in self.model.trainable_weights]

card = train_variant(variant, prepare_dataset(config["datasets"]["data"], seed=0), seed=3, threads=1,
                     out_dir=out, checkpoint_dir=checkpoints, placement=placement, callbacks=[Keep()])
if card is not None:  # the chief
    np.savez(out + "/weights.npz", *weights["before"], *weights["after"])
"""


def mirrored(replicas: int) -> str:
    return json.dumps({"cpu_replicas": replicas})


def start(tmp_path, name, experiment, replicas, per_replica_batch, *extra):
    """Start training in a fresh process; `finish` waits for it."""
    experiment = json.loads(json.dumps(experiment))
    experiment["training"]["batch_size"] = per_replica_batch
    out = tmp_path / name
    run = [sys.executable, "-c", RUN, json.dumps(experiment), mirrored(replicas), str(out), *extra]
    log = tmp_path / f"{name}.stderr"  # a file, not a pipe: nothing waits on a full pipe
    with open(log, "w") as sink:
        return subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=sink), out, log


def finish(started, timeout=600):
    """The card and the trainable weights before and after training, and the job's stderr."""
    process, out, log = started
    process.wait(timeout=timeout)
    stderr = log.read_text()
    assert process.returncode == 0, stderr[-4000:]
    with np.load(out / "weights.npz") as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    half = len(arrays) // 2
    return json.loads((out / "model.json").read_text()), arrays[:half], arrays[half:], stderr


def train(tmp_path, name, experiment, replicas, per_replica_batch, *extra, timeout=600):
    return finish(start(tmp_path, name, experiment, replicas, per_replica_batch, *extra), timeout)


def one_and_two_replicas(tmp_path, experiment, global_batch):
    """The same job on one device and as 2 replicas, side by side (one thread each)."""
    one = start(tmp_path, "one", experiment, 1, global_batch)
    two = start(tmp_path, "two", experiment, 2, global_batch // 2)
    try:
        return finish(one), finish(two)
    finally:
        for process, _, _ in (one, two):
            process.kill()  # only where a failure left it running
            process.wait()


DENSE = {"name": "d", "family": "dense", "dataset": "data", "params": {"latent_units": 8},
         "training": {"epochs": 3, "learning_rate": 0.01}}  # fmt: skip


def test_two_replicas_train_the_model_one_device_trains_on_the_same_global_batch(tmp_path):
    (one, start_one, end_one, _), (two, start_two, end_two, _) = one_and_two_replicas(tmp_path, DENSE, 64)
    assert one["distribution"] == {"strategy": "default", "replicas": 1, "global_batch_size": 64}
    assert two["distribution"] == {"strategy": "mirrored", "replicas": 2, "global_batch_size": 64}
    assert one["steps"] == two["steps"] > 0
    for a, b in zip(start_one, start_two, strict=True):
        np.testing.assert_array_equal(a, b)  # the same initialisation under the strategy's scope
    for a, b in zip(end_one, end_two, strict=True):
        # Each replica averages its half; the halves' mean is the whole batch's mean, up to the
        # order of float additions.
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert one["final_train_loss"] == pytest.approx(two["final_train_loss"], rel=1e-5)


def compressive(family):
    params = {"num_filters": 8, "lmbda": 0.01, **({"latent_filters": 8} if family == "hyperprior" else {})}
    return {"name": "c", "family": family, "dataset": "data", "params": params,
            "preprocessing": {"patches": {"size": 64, "per_epoch": 8}},
            "training": {"epochs": 1, "learning_rate": 0.01, "optimizer": "sgd"}}  # fmt: skip


@pytest.mark.parametrize("family", ["hyperprior"])  # the factorized prior: tests/test_slurm.py
def test_two_replicas_take_the_one_device_step_of_a_compressive_model(tmp_path, family):
    """One SGD step on the same 8 patches. Not equal to float tolerance: each replica draws its own
    uniform noise (the training stand-in for rounding) for its half, so the two runs see two noise
    draws. The step must be the same step up to that: its size within 2% (the rate-distortion
    loss is a per-replica mean: the strategy's summed gradients must be divided by the replicas,
    else the step doubles) and its direction within a few percent."""
    (one, start_one, end_one, _), (two, start_two, end_two, _) = one_and_two_replicas(
        tmp_path, compressive(family), 8
    )
    assert one["steps"] == two["steps"] == 1
    for a, b in zip(start_one, start_two, strict=True):
        np.testing.assert_array_equal(a, b)
    step_one = np.concatenate([(b - a).ravel() for a, b in zip(start_one, end_one, strict=True)])
    step_two = np.concatenate([(b - a).ravel() for a, b in zip(start_two, end_two, strict=True)])
    assert np.linalg.norm(step_two) / np.linalg.norm(step_one) == pytest.approx(1.0, abs=0.02)
    assert np.linalg.norm(step_two - step_one) / np.linalg.norm(step_one) < 0.05

    # The chief's export is a plain model that codes real files.
    from aecompress.codecs.learned import CompressiveCodec
    from aecompress.runtime import import_tensorflow
    from aecompress.training import load_model

    tf = import_tensorflow(2)
    codec = CompressiveCodec.from_model_dir(
        tmp_path / "two" / "model", model=load_model(tf, tmp_path / "two" / "model")
    )
    image = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    decoded = codec.decode(codec.encode(image))
    assert decoded.shape == image.shape and decoded.dtype == np.uint8


def kill_after_two_epochs(processes, checkpoints):
    """SIGKILL the job's processes (as a cluster's preemption) once 2 epochs are in its history."""
    import time

    history = checkpoints / "history.csv"
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline and all(p.poll() is None for p in processes):
        if history.exists() and len(history.read_text().splitlines()) >= 3:  # header + 2 epochs
            break
        time.sleep(0.1)
    for process in processes:
        process.kill()
        process.wait()


def test_a_killed_mirrored_job_resumes_from_its_last_epoch(tmp_path):
    experiment = json.loads(json.dumps(DENSE))
    experiment["training"].update(epochs=12, batch_size=8, learning_rate=0.001)
    checkpoints = tmp_path / "checkpoints"
    run = [
        sys.executable,
        "-c",
        RUN,
        json.dumps(experiment),
        mirrored(2),
        str(tmp_path / "two"),
        str(checkpoints),
    ]
    kill_after_two_epochs([subprocess.Popen(run, stderr=subprocess.DEVNULL)], checkpoints)
    assert not (tmp_path / "two" / "model.json").exists(), "finished before it could be killed"

    card, _, _, log = train(tmp_path, "two", experiment, 2, 8, str(checkpoints))
    assert "resuming from the state a killed run of the same settings left" in log
    first = int(next(line for line in log.splitlines() if line.startswith("epoch ")).split()[1].split("/")[0])
    assert first > 1 and card["epochs_run"] == 12 and card["distribution"]["replicas"] == 2


def free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_workers(experiment, out, checkpoints, ports, logs):
    """Two MultiWorkerMirroredStrategy workers on this machine (TF_CONFIG, as any launcher sets it)."""
    import os

    workers = [f"localhost:{port}" for port in ports]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        environment = {**os.environ, "TF_CONFIG": json.dumps(config)}
        placement = json.dumps({"tasks_per_node": 2})
        run = [sys.executable, "-c", RUN, json.dumps(experiment), placement, str(out), str(checkpoints)]
        with open(logs / f"worker{index}.log", "a") as log:
            processes.append(subprocess.Popen(run, env=environment, stdout=log, stderr=subprocess.STDOUT))
    return processes


def test_killed_multi_worker_training_resumes_on_every_worker(tmp_path):
    """Both workers SIGKILLed after 2 epochs, then started again: each restores the last epoch
    (the chief from the shared folder, the other from its own copy inside it) and they finish
    the run together; only the chief writes the model."""
    experiment = json.loads(json.dumps(DENSE))
    experiment["training"].update(epochs=10, batch_size=8, learning_rate=0.001)
    out, checkpoints = tmp_path / "model", tmp_path / "checkpoints"
    checkpoints.mkdir()
    kill_after_two_epochs(start_workers(experiment, out, checkpoints, free_ports(2), tmp_path), checkpoints)
    assert not (out / "model.json").exists(), (tmp_path / "worker0.log").read_text()[-3000:]

    with open(tmp_path / "worker0.log", "a") as log:
        log.write("--- started again ---\n")
    processes = start_workers(experiment, out, checkpoints, free_ports(2), tmp_path)
    assert [p.wait(timeout=600) for p in processes] == [0, 0], (tmp_path / "worker1.log").read_text()[-3000:]
    chief_log = (tmp_path / "worker0.log").read_text().split("--- started again ---")[1]
    epochs = [
        int(line.split()[1].split("/")[0]) for line in chief_log.splitlines() if line.startswith("epoch ")
    ]
    restarted_at = epochs[0]
    assert restarted_at > 1 and epochs[-1] == 10
    card = json.loads((out / "model.json").read_text())
    assert card["epochs_run"] == 10
    assert card["distribution"] == {"strategy": "multi-worker", "replicas": 2, "global_batch_size": 16}
    assert "epoch " not in (tmp_path / "worker1.log").read_text()  # the chief alone logs epochs


def test_a_checkpoint_of_another_placement_is_not_resumed(tmp_path):
    """The replicas set the global batch: a run on 2 devices is not continued on 1."""
    from aecompress.plan import all_variants
    from aecompress.runtime import changed_keys
    from aecompress.training import training_fingerprint

    config = validate_config({"datasets": {"d": {"source": "sklearn-digits"}},
                              "experiments": [{"name": "e", "family": "dense", "dataset": "d"}]})  # fmt: skip
    variant = next(iter(all_variants(config).values()))

    class Dataset:
        meta = {"channels": 1}

        def content_digest(self):
            return "0" * 64

    one, two = (training_fingerprint(variant, 1, Dataset(), Placement(cpu_replicas=n)) for n in (1, 2))
    assert changed_keys(one, two) == ["placement.cpu_replicas"]


def test_the_learning_rate_rule_and_the_placement_of_a_config():
    assert [learning_rate_factor(rule, 4) for rule in ("none", "sqrt", "linear")] == [1.0, 2.0, 4.0]
    config = validate_config({"datasets": {"d": {"source": "sklearn-digits"}},
                              "experiments": [{"name": "e", "family": "dense", "dataset": "d"}],
                              "resources": {"train": {"gpu": 4, "nodes": 2}}})  # fmt: skip
    train_resources = config["resources"]["train"]
    assert Placement(**plan.training_placement(train_resources)) == Placement(gpus=4, nodes=2)
    assert Placement(**plan.training_placement(train_resources)).workers == 2
    # The SLURM executor: 2 nodes, 2 tasks, an `mpi` job (the script runs srun), 4 GPUs per node.
    assert plan.cluster_resources(train_resources) == {
        "nodes": 2, "tasks": 2, "mpi": "srun", "tasks_per_gpu": 0, "gres": "gpu:4"
    }  # fmt: skip
    single = {**train_resources, "gpu": 1, "nodes": 1}
    assert plan.cluster_resources(single) == {"gpu": 1}
    assert plan.training_placement(single) == {"gpus": 0, "nodes": 1, "tasks_per_node": 1}  # one device


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"evaluate": {"nodes": 2}}, "resources.evaluate.nodes: 2; only `train` runs on several workers"),
        (
            {"train": {"gpu": 4, "tasks_per_node": 3}},
            "resources.train.tasks_per_node: 3 does not divide gpu: 4",
        ),
    ],
)
def test_resources_that_cannot_be_placed_are_refused(resources, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"datasets": {"d": {"source": "sklearn-digits"}},
                         "experiments": [{"name": "e", "family": "dense", "dataset": "d"}],
                         "resources": resources})  # fmt: skip


def test_a_multi_worker_job_outside_slurm_is_refused_clearly(tmp_path, monkeypatch, tf):
    for name in ("SLURM_JOB_ID", "SLURM_PROCID", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    placement = Placement(nodes=2)
    with pytest.raises(RuntimeError, match="only inside a SLURM allocation"):
        launch_workers({}, placement, 1, tmp_path / "workers.json")
    assert not (tmp_path / "workers.json").exists()
    with pytest.raises(RuntimeError, match="run as the tasks of a SLURM job"):
        cluster_resolver(tf, placement)


def test_the_slurm_resolver_places_the_tasks_of_a_step(monkeypatch, tf):
    """What a worker reads from srun's variables: the cluster, its own task, a port per task."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    step = {"SLURM_JOB_ID": "41", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "4",
            "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_STEP_TASKS_PER_NODE": "2(x2)"}  # fmt: skip
    for name, value in step.items():
        monkeypatch.setenv(name, value)
    resolver = cluster_resolver(tf, Placement(nodes=2, tasks_per_node=2))
    workers = resolver.cluster_spec().as_dict()["worker"]
    port = 20000 + 41 * 2
    assert workers == [f"gpu07:{port}", f"gpu07:{port + 1}", f"gpu08:{port}", f"gpu08:{port + 1}"]
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    gpu_resolver = cluster_resolver(tf, Placement(gpus=4, nodes=2, tasks_per_node=2))
    gpu_resolver.cluster_spec()
    assert gpu_resolver.num_accelerators() == {"GPU": 2}
