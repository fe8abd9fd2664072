"""The conda environment files must pin exactly what uv.lock resolved."""

import re
import tomllib

import yaml


def _lock_versions(repo):
    lock = tomllib.loads((repo / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"]}


def test_env_files_match_the_lock(repo):
    locked = _lock_versions(repo)
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    direct = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in project["project"]["dependencies"]}
    job_side = direct - {"snakemake", "snakemake-executor-plugin-slurm"}
    for name in ("aecompress.yaml", "aecompress-gpu.yaml"):
        env = yaml.safe_load((repo / "envs" / name).read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        pins = {}
        for line in pip:
            package, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", package)] = version
        assert set(pins) == job_side, name
        for package, version in pins.items():
            assert locked[package] == version, (
                f"envs/{name}: {package}=={version}, uv.lock has {locked[package]}"
            )
        assert "python=3.11" in env["dependencies"]
    gpu = (repo / "envs" / "aecompress-gpu.yaml").read_text()
    assert f"tensorflow[and-cuda]=={locked['tensorflow']}" in gpu


def test_wrapt_override_is_explicit_and_locked(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert project["tool"]["uv"]["override-dependencies"] == ["wrapt>=1.15"]
    major, minor = (int(x) for x in _lock_versions(repo)["wrapt"].split(".")[:2])
    assert (major, minor) >= (1, 15)
