"""Process-level setup shared by every job: TensorFlow threads and log noise, seeds, atomic outputs."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
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


# mallopt's parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
_heap_bounded = False


def return_freed_memory(threshold: int = 1 << 20) -> bool:
    """Hand every freed block of `threshold` bytes or more back to the OS at once (glibc only).

    For coding that is bounded by its peak memory (tiled coding of large photos). glibc raises
    its mmap threshold to the size of each large block freed (up to 32 MB), after which blocks
    of that size come from the heap and stay in the process when freed: the tiles' tensors of
    a few MB then pile up as free heap, 0.13-0.18 GB of a paper-size hyperprior's peak
    (benchmarks/tiled_memory.py). A threshold set with mallopt stays fixed. Idempotent; False
    where the C library is not glibc. Training keeps glibc's default (mmap per tensor would
    cost page faults every step)."""
    global _heap_bounded
    if _heap_bounded:
        return True
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _heap_bounded = bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    return _heap_bounded


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
def atomic_path(
    final: str | os.PathLike, *, replace: bool = False, make_parents: bool = True
) -> Iterator[Path]:
    """Yield a temporary sibling path; move it to `final` only if the block succeeds.

    A job that fails half-way leaves nothing at `final` that could pass for a finished
    output. Works for files and for directories. It never removes what it did not create:
    an existing directory at `final` is never replaced, and an existing file only with
    `replace=True`; otherwise FileExistsError (checked before the block runs, and again,
    atomically, when the result is moved into place). `make_parents=False` refuses a
    missing parent folder instead of creating it (the command line's rule).
    """
    final = Path(final)
    if make_parents:
        final.parent.mkdir(parents=True, exist_ok=True)
    elif not final.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder (it is not created)", str(final.parent))
    refuse_existing(final, replace)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    tmp = tmp_dir / final.name
    try:
        yield tmp
        if not os.path.lexists(tmp):
            raise FileNotFoundError(f"nothing was written to {tmp} for {final}")
        if replace and not tmp.is_dir():
            os.replace(tmp, final)  # a file never replaces a directory: that fails with IsADirectoryError
        else:
            rename_no_replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def job_output(final: str | os.PathLike):
    """atomic_path for a workflow job's own output file under results/: Snakemake removed it
    before the job ran, so one found there is this job's earlier result (a direct re-run of the
    library call) and is replaced. A directory is never replaced, even here."""
    return atomic_path(final, replace=True)


def refuse_existing(path: Path, replace: bool = False) -> None:
    """Raise unless `path` is free, or is a file (not a folder) and `replace` is set."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is an existing folder; it is never replaced", str(path))
    if os.path.lexists(path) and not replace:
        raise FileExistsError(errno.EEXIST, "already exists", str(path))


_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def rename_no_replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename `source` to `target` unless `target` exists (file, folder or link), atomically.

    os.rename would silently replace an existing file or empty folder; Linux's renameat2
    with RENAME_NOREPLACE refuses in the kernel. Where that call is missing (other systems,
    some file systems) the check is made just before the rename.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    os.rename(source, target)


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


FINGERPRINT_FILE = "fingerprint.json"


def claim_state_folder(folder: str | os.PathLike, fingerprint: dict, owned: set[str], log) -> bool:
    """Make `folder` the resumable state of a job defined by `fingerprint`; True: resume from it.

    A job killed part-way (a cluster's preemption, Ctrl-C) leaves its state behind for the re-run
    to continue from; it must not continue from state written under other settings (a changed
    learning rate, epochs, dataset or seed would silently yield a model that matches neither).
    The state is kept when its recorded fingerprint equals `fingerprint`, else discarded with a
    log line naming what changed. A folder holding anything but the job's own `owned` entries
    is never deleted: that raises instead. The new fingerprint is recorded before the job runs.
    """
    folder = Path(folder)
    record = folder / FINGERPRINT_FILE
    fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back (tuples become lists)
    resumed = False
    if folder.is_dir() and any(folder.iterdir()):
        strangers = sorted(p.name for p in folder.iterdir() if p.name not in owned | {FINGERPRINT_FILE})
        try:
            recorded = json.loads(record.read_text())
        except (OSError, ValueError):
            recorded = None
        if recorded == fingerprint:
            resumed = True
            log(f"{folder}: resuming from the state a killed run of the same settings left")
        elif strangers:
            raise FileExistsError(
                f"{folder}: holds {', '.join(strangers[:5])}, which this job did not write; it is left "
                "alone: move it away to run the job"
            )
        else:
            changed = ", ".join(changed_keys(recorded, fingerprint)[:10]) if recorded else "no record"
            log(f"{folder}: discarding the state of a run with other settings ({changed}); starting afresh")
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
    return resumed


def changed_keys(old, new, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two JSON-like values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if old == new else [prefix or "<value>"]
