"""Process-level helpers: resumable state folders that only resume the same settings."""

import json

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
