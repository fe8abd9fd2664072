"""Process-level setup shared by every job: TensorFlow threads and log noise, seeds, atomic outputs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def import_tensorflow(threads: int):
    """Import TensorFlow limited to `threads` cores, without its CPU start-up chatter.

    Two jobs under `snakemake --cores 2` must not each spawn a thread per core, so the
    intra-op pool gets the rule's `threads` and the inter-op pool one thread. oneDNN's
    custom kernels are switched off because they make CPU results depend on the thread
    schedule; the CUDA-registration messages TF 2.14 prints on CPU-only machines are
    hidden by raising the C++ log level (Python exceptions are unaffected).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    # tensorflow-compression warns through absl on every validation pass that it estimates
    # quantization offsets inside a tf.function (as its own examples do): expected, not news.
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        # Already initialised in this process (e.g. a second call in one test session):
        # the pools keep the size they were first given.
        pass
    return tf


def grow_gpu_memory(tf) -> None:
    """Let TensorFlow take GPU memory as it needs it, so jobs sharing a GPU node do not starve."""
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def derived_seed(seed: int, *keys: str) -> int:
    """A stable 31-bit seed for one job, derived from the config seed and the job's name.

    Variants get independent initialisations, yet every one of them is fixed by the
    single `seed` in the config.
    """
    digest = hashlib.sha256(":".join([str(seed), *keys]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(tf, seed: int) -> None:
    """Make Python, NumPy and TensorFlow draws and kernels repeatable on CPU."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it to `final` only if the block succeeds.

    A job that fails half-way leaves nothing at `final` that could pass for a finished
    output. Works for files and for directories.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    tmp = tmp_dir / final.name
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {final}")
        if final.is_dir():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


@contextlib.contextmanager
def output_to_log(log_path: str | os.PathLike | None) -> Iterator[None]:
    """Send this process's stdout and stderr (Python and C++ alike) to the rule's log file.

    Snakemake's `log:` only names the file; a script must redirect into it itself. The
    file descriptors are redirected too, so TensorFlow's native messages land there.
    A traceback raised inside the block is written to the log before it propagates.
    """
    import sys
    import traceback

    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as log:
        saved = os.dup(1), os.dup(2)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        old_streams = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log
        try:
            yield
        except BaseException:
            traceback.print_exc(file=log)
            raise
        finally:
            log.flush()
            sys.stdout, sys.stderr = old_streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
