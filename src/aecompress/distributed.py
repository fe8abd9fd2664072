"""One training job over several devices: MirroredStrategy on one machine, MultiWorkerMirroredStrategy
over SLURM tasks (launched with srun inside the job's allocation).

The rule for batches and learning rates: `training.batch_size` is per replica, so the global batch
is batch_size x replicas (tfc's and the papers' settings are per GPU: batch 8 on one GPU), an epoch
keeps its `per_epoch` patches (fewer, larger steps), and the learning rate is the configured one
times `training.replica_learning_rate_scaling` of the replica count (none: 1; sqrt; linear).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

# srun's ports for the workers' gRPC servers: a range per job, so that two multi-worker jobs
# sharing a node do not collide (TensorFlow's resolver would give every job 8888, 8889, ...).
PORT_BASE, PORT_SPAN = 20000, 20000


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where one training job runs: GPUs per worker, workers (SLURM tasks), CPU replicas.

    `cpu_replicas` splits the CPU into that many logical devices and mirrors over them: the
    strategy's own cost and correctness are measured on a machine without GPUs this way.
    """

    gpus: int = 0
    nodes: int = 1
    tasks_per_node: int = 1
    cpu_replicas: int = 1

    @property
    def workers(self) -> int:
        return self.nodes * self.tasks_per_node


class Distribution:
    """The strategy a job trains under, and whether this process writes the job's outputs."""

    def __init__(self, tf, strategy, chief: bool, kind: str):
        self.tf, self.strategy, self.chief, self.kind = tf, strategy, chief, kind

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def multi_worker(self) -> bool:
        return self.kind == "multi-worker"

    def describe(self) -> dict[str, Any]:
        """For the model card: how the model was trained."""
        return {"strategy": self.kind, "replicas": self.replicas}

    def prepare(self, batches):
        """A pipeline of global batches, ready for the strategy: every multi-worker worker runs it
        whole and keeps its share (DATA sharding: the patch streams are generators, not files)."""
        if not self.multi_worker or batches is None:
            return batches
        options = self.tf.data.Options()
        options.experimental_distribute.auto_shard_policy = self.tf.data.experimental.AutoShardPolicy.DATA
        return batches.with_options(options)


def make_distribution(tf, placement: Placement | None) -> Distribution:
    """The strategy for `placement`; call right after importing TensorFlow, before any op runs
    (logical devices and the multi-worker runtime must be configured first)."""
    placement = placement or Placement()
    if placement.workers > 1:
        resolver = cluster_resolver(tf, placement)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        workers = len(resolver.cluster_spec().as_dict().get("worker", []))
        if workers != placement.workers:
            raise RuntimeError(
                f"the job asked for {placement.workers} workers (resources.train nodes x tasks_per_node) "
                f"but its cluster has {workers}"
            )
        task_type, task_id = resolver.task_type, resolver.task_id
        chief = task_type == "chief" or (task_type == "worker" and task_id == 0)
        return Distribution(tf, strategy, chief, "multi-worker")
    if placement.cpu_replicas > 1:
        # The logical devices share the job's cores: each replica gets its share of the op
        # threads, and the replicas run side by side (one inter-op thread each), as GPUs would.
        threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1
        tf.config.threading.set_intra_op_parallelism_threads(max(1, threads // placement.cpu_replicas))
        tf.config.threading.set_inter_op_parallelism_threads(placement.cpu_replicas)
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * placement.cpu_replicas
        )
        devices = [f"/cpu:{i}" for i in range(placement.cpu_replicas)]
        return Distribution(tf, tf.distribute.MirroredStrategy(devices), True, "mirrored")
    if placement.gpus > 1:
        visible = tf.config.list_physical_devices("GPU")
        if len(visible) < placement.gpus:
            raise RuntimeError(
                f"resources.train.gpu is {placement.gpus} but this job sees {len(visible)} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
            )
        devices = [f"/gpu:{i}" for i in range(placement.gpus)]
        return Distribution(tf, tf.distribute.MirroredStrategy(devices), True, "mirrored")
    return Distribution(tf, tf.distribute.get_strategy(), True, "default")


def cluster_resolver(tf, placement: Placement):
    """TF_CONFIG when it is set (any launcher), else the SLURM step this process is a task of."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if "SLURM_PROCID" not in os.environ:
        raise RuntimeError(
            f"resources.train asks for {placement.workers} workers, which run as the tasks of a SLURM "
            "job (snakemake --profile slurm) or of a launcher that sets TF_CONFIG; this process is neither"
        )
    job = int(os.environ.get("SLURM_JOB_ID", "0"))
    port_base = PORT_BASE + (job * placement.tasks_per_node) % PORT_SPAN
    if placement.gpus:
        # One task per node mirrors over all its GPUs; several tasks per node get a share each
        # (the resolver sets CUDA_VISIBLE_DEVICES).
        return tf.distribute.cluster_resolver.SlurmClusterResolver(
            port_base=port_base,
            gpus_per_node=placement.gpus,
            gpus_per_task=placement.gpus // placement.tasks_per_node,
            auto_set_gpu=placement.tasks_per_node > 1,
        )
    # CPU-only tasks: the resolver pairs every task with a range of GPU ids and cannot step
    # through zero of them, so it is told of one id per task and kept from setting any.
    return tf.distribute.cluster_resolver.SlurmClusterResolver(
        port_base=port_base,
        gpus_per_node=placement.tasks_per_node,
        gpus_per_task=1,
        auto_set_gpu=False,
    )


def learning_rate_factor(scaling: str, replicas: int) -> float:
    """How the configured learning rate grows with the replica count (and so the global batch)."""
    return {"none": 1.0, "sqrt": replicas**0.5, "linear": float(replicas)}[scaling]


# --- Multi-worker jobs on SLURM ------------------------------------------------------------------


def srun_command(placement: Placement, threads: int, spec: Path) -> list[str]:
    """The job step that starts every worker: one task per worker, all of them killed if one fails
    (a worker left alone would wait in its collectives until the time limit)."""
    return [
        "srun",
        f"--ntasks={placement.workers}",
        f"--nodes={placement.nodes}",
        f"--ntasks-per-node={placement.tasks_per_node}",
        f"--cpus-per-task={threads}",
        "--kill-on-bad-exit=1",
        "--export=ALL",
        sys.executable,
        "-m",
        "aecompress.distributed",
        str(spec),
    ]


def launch_workers(spec: dict[str, Any], placement: Placement, threads: int, spec_path: Path) -> None:
    """Train as `placement.workers` tasks of the current SLURM allocation; returns when all succeed.

    The spec (variant, dataset, seed, output folders) is a JSON file on the shared filesystem,
    written next to the job's checkpoints, which every worker reads.
    """
    if "SLURM_JOB_ID" not in os.environ:
        raise RuntimeError(
            f"resources.train.nodes x tasks_per_node = {placement.workers} workers: such a job runs "
            "only inside a SLURM allocation (snakemake --profile slurm); set both to 1 to train here"
        )
    spec_path.write_text(json.dumps(spec, indent=2, sort_keys=True))
    command = srun_command(placement, threads, spec_path)
    print("starting the workers:", shlex.join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command)
    if result.returncode:
        raise RuntimeError(f"the training job's workers failed (srun exit status {result.returncode})")


def run_worker(spec_path: str | Path) -> None:
    """One worker of a multi-worker job (the body of `python -m aecompress.distributed SPEC`)."""
    from aecompress.images import PreparedDataset
    from aecompress.plan import Variant
    from aecompress.training import train_variant

    spec = json.loads(Path(spec_path).read_text())
    train_variant(
        Variant(**spec["variant"]),
        PreparedDataset.load(spec["dataset"]),
        seed=spec["seed"],
        threads=spec["threads"],
        out_dir=spec["out_dir"],
        checkpoint_dir=spec["checkpoint_dir"],
        placement=Placement(**spec["placement"]),
    )


if __name__ == "__main__":
    run_worker(sys.argv[1])
