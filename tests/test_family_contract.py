"""The family contract: every family is one module behind one interface, the config schema and the
file format follow the registry, and the DAG never imports TensorFlow to read a family."""

import subprocess
import sys
import textwrap

import pytest

from aecompress.config import ConfigError, config_schema, validate_config
from aecompress.models import FAMILY_MODULES, families, get_family
from aecompress.models.family import CompressiveFamily, Family, LatentFamily


def test_every_registered_family_follows_the_contract():
    from aecompress.codecs.container import METHOD_IDS
    from aecompress.codecs.registry import REGISTRY

    codec_ids = {entry.method_id for entry in REGISTRY.values()}
    learned_ids = []
    for name, family in families().items():
        assert family.name == name and isinstance(family, LatentFamily | CompressiveFamily)
        assert family.description and family.params_schema["additionalProperties"] is False
        assert all("default" in p and "description" in p for p in family.params_schema["properties"].values())
        if family.compressive:
            assert METHOD_IDS[name][0] == family.method_id and family.method_id not in codec_ids
            learned_ids.append(family.method_id)
    assert len(set(learned_ids)) == len(learned_ids)  # a file names its family by this id


def test_the_schema_lists_the_registry_and_each_familys_params():
    schema = config_schema()
    experiment = schema["$defs"]["experiment"]
    assert experiment["properties"]["family"]["enum"] == list(FAMILY_MODULES)
    for name, family in families().items():
        assert schema["$defs"][f"{name}_params"] == family.params_schema
        assert set(schema["$defs"][f"{name}_grid"]["properties"]) == set(family.params_schema["properties"])


def test_an_unknown_family_is_named():
    with pytest.raises(KeyError, match="unknown model family 'vae' \\(known: dense, "):
        get_family("vae")


def test_reading_every_family_and_validating_a_config_imports_no_tensorflow():
    code = textwrap.dedent("""
        import sys
        from aecompress.config import validate_config
        from aecompress.models import families
        from aecompress.plan import evaluation_jobs
        patches = {"patches": {"size": 64}}
        experiments = [
            {"name": n.replace("-", ""), "family": n, "dataset": "d", "preprocessing": patches}
            for n, f in families().items() if f.compressive
        ]
        datasets = {"d": {"source": "bundled-photos"}}
        config = validate_config({"datasets": datasets, "experiments": experiments})
        assert evaluation_jobs(config)
        print("tensorflow" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


class ToyFamily(LatentFamily):
    """A family written against the contract alone, as a user's new module would be."""

    name = "toy"
    description = "A toy family: one registry line away from the workflow."
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "units": {"type": "integer", "minimum": 1, "default": 4, "description": "Latent units."}
        },
    }

    def check(self, params, preprocessing, source):
        return ["params.units: toy families want 4"] if params["units"] != 4 else []

    def latent_shape(self, params, image_shape):
        return (params["units"],)

    def build_model(self, params, image_shape, normalization, preprocessing=None):
        raise NotImplementedError("not trained in this test")


def test_a_new_family_is_one_module_and_one_registry_line(monkeypatch, tmp_path):
    module = tmp_path / "toy_family.py"
    module.write_text(f"from {__name__} import ToyFamily\n\nFAMILY = ToyFamily()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(FAMILY_MODULES, "toy", "toy_family")
    get_family.cache_clear()
    config_schema.cache_clear()
    try:
        experiment = {"name": "t", "family": "toy", "dataset": "d"}
        config = validate_config(
            {"datasets": {"d": {"source": "sklearn-digits"}}, "experiments": [experiment]}
        )
        assert config["experiments"][0]["params"] == {"units": 4}  # the family's own defaults
        assert get_family("toy").nominal_ratio({"units": 4}, (8, 8, 1)) == 16  # the shared default
        with pytest.raises(ConfigError, match="toy families want 4"):
            validate_config({"datasets": {"d": {"source": "sklearn-digits"}},
                             "experiments": [{**experiment, "params": {"units": 2}}]})  # fmt: skip
        with pytest.raises(ConfigError, match=r"params: Additional properties .*'size'"):
            validate_config({"datasets": {"d": {"source": "sklearn-digits"}},
                             "experiments": [{**experiment, "params": {"size": 2}}]})  # fmt: skip
    finally:
        monkeypatch.undo()
        get_family.cache_clear()
        config_schema.cache_clear()


def test_the_contract_refuses_a_family_that_leaves_out_a_required_method():
    class Incomplete(Family):
        name, description, params_schema = "incomplete", "", {}

    with pytest.raises(TypeError, match="abstract methods"):
        Incomplete()
