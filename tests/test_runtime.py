"""Process-level helpers: resumable state folders that only resume the same settings; freed memory
handed back to the OS."""

import json
import platform
import subprocess
import sys

import pytest

from aecompress.runtime import FINGERPRINT_FILE, changed_keys, claim_state_folder


def test_state_of_the_same_settings_is_resumed_and_of_other_settings_discarded(tmp_path):
    lines = []
    state = tmp_path / "state"
    settings = {"training": {"epochs": 100, "learning_rate": 0.01}, "dataset": {"content_sha256": "aa"}}
    assert claim_state_folder(state, settings, {"backup"}, lines.append) is False  # nothing to resume
    (state / "backup").mkdir()
    (state / "backup" / "epoch").write_text("50")
    assert claim_state_folder(state, settings, {"backup"}, lines.append) is True
    assert (state / "backup" / "epoch").exists() and "resuming" in lines[-1]
    changed = {"training": {"epochs": 30, "learning_rate": 0.01}, "dataset": {"content_sha256": "bb"}}
    assert claim_state_folder(state, changed, {"backup"}, lines.append) is False
    assert "other settings (dataset.content_sha256, training.epochs)" in lines[-1]
    assert not (state / "backup").exists()
    assert json.loads((state / FINGERPRINT_FILE).read_text()) == changed


def test_a_state_folder_with_files_the_job_did_not_write_is_never_deleted(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "thesis.tex").write_text("mine")
    with pytest.raises(FileExistsError, match="thesis.tex, which this job did not write"):
        claim_state_folder(state, {"a": 1}, {"backup"}, print)
    assert (state / "thesis.tex").read_text() == "mine" and not (state / FINGERPRINT_FILE).exists()


def test_changed_keys_names_nested_differences():
    assert changed_keys({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 1, "c": 4}, "e": 3}) == ["a.c", "d", "e"]


# A fresh process frees a 4 MB block and allocates one again, then counts its mmapped blocks
# (glibc's mallinfo2): by default glibc raises its mmap threshold to the freed block's size and
# serves the second block from the heap, where it stays once freed; after return_freed_memory
# the second block is mmapped again, so freeing it hands it back to the OS.
MALLOC_PROBE = """
import ctypes, sys
import numpy as np
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "bounded":
    from aecompress.runtime import return_freed_memory
    assert return_freed_memory() and return_freed_memory()  # idempotent
block = np.ones(4 << 20, np.uint8)
del block
before = libc.mallinfo2().hblkhd
block = np.ones(4 << 20, np.uint8)
print(libc.mallinfo2().hblkhd - before)
"""


def has_mallinfo2() -> bool:
    libc, version = platform.libc_ver()
    return libc == "glibc" and tuple(int(part) for part in version.split(".")[:2]) >= (2, 33)


@pytest.mark.skipif(not has_mallinfo2(), reason="glibc >= 2.33's malloc (mallinfo2) only")
def test_after_return_freed_memory_large_blocks_are_mmapped_again_after_one_was_freed():
    def mmapped_growth(mode: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", MALLOC_PROBE, mode], capture_output=True, text=True, check=True
        )
        return int(result.stdout.split()[-1])

    assert mmapped_growth("default") == 0  # glibc's dynamic threshold: from the heap
    assert mmapped_growth("bounded") >= 4 << 20
