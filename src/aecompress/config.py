"""Loading and validating the workflow config against its JSON schema.

The schema (schemas/config.schema.yaml) is the single source of truth for keys, types,
ranges and defaults; this module only fills the defaults in, adds the checks that span
several keys, and turns validation errors into messages that name the offending key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """The config does not match the schema or is inconsistent."""


# Variant and evaluation ids are folder names under results/ and Snakemake wildcards.
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@cache
def config_schema() -> dict[str, Any]:
    """The schema, with the model families (names, `<family>_params` and the `<family>_grid`
    derived from it) from the model registry, and the baselines' codecs (names and own settings)
    from the codec registry."""
    from aecompress.codecs.registry import REGISTRY, baseline_codec
    from aecompress.models import families

    text = resources.files("aecompress").joinpath("schemas/config.schema.yaml").read_text()
    schema = yaml.safe_load(text)
    baseline = schema["properties"]["baselines"]["items"]["properties"]
    baseline["codec"]["enum"] = list(REGISTRY)
    for name in REGISTRY:
        if baseline_codec(name).settings.get("properties"):
            baseline[name] = copy.deepcopy(baseline_codec(name).settings)
    definitions = schema["$defs"]
    experiment = definitions["experiment"]
    experiment["properties"]["family"]["enum"] = list(families())
    experiment["allOf"] = []
    for name, family in families().items():
        definitions[f"{name}_params"] = copy.deepcopy(family.params_schema)
        experiment["allOf"].append({
            "if": {"properties": {"family": {"const": name}}},
            "then": {"properties": {"params": {"$ref": f"#/$defs/{name}_params"},
                                    "grid": {"$ref": f"#/$defs/{name}_grid"}}},
        })  # fmt: skip
    for name, params in list(definitions.items()):
        if name.endswith("_params"):
            definitions[name.removesuffix("_params") + "_grid"] = {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    key: {
                        "type": "array",
                        "minItems": 1,
                        # A repeated value would be one variant id, i.e. one model for two grid points.
                        "uniqueItems": True,
                        "items": {k: v for k, v in value.items() if k not in ("default", "description")},
                        "description": f"Values of `{key}` to sweep, each once.",
                    }
                    for key, value in params["properties"].items()
                },
            }
    return schema


def training_defaults() -> dict[str, Any]:
    """Every key of an experiment's `training` block at its schema default."""
    properties = config_schema()["$defs"]["training"]["properties"]
    return {key: copy.deepcopy(value["default"]) for key, value in properties.items() if "default" in value}


def _validator_filling_defaults(base):
    """A jsonschema validator class that inserts each missing property's `default`."""
    validate_properties = base.VALIDATORS["properties"]

    def fill_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" not in subschema:
                    continue
                default = subschema["default"]
                if name not in instance:
                    instance[name] = copy.deepcopy(default)
                elif isinstance(default, dict) and isinstance(instance[name], dict):
                    # A partly given object keeps its own defaults for the keys not given (e.g.
                    # `resources.train: {threads: 1}` keeps train's memory and time, not the
                    # generic ones of job_resources).
                    for key, value in default.items():
                        instance[name].setdefault(key, copy.deepcopy(value))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": fill_defaults})


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def validate_config(config: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated deep copy of `config` with every default filled in.

    Raises ConfigError listing every problem as `<source>: <key path>: <what was expected>`.
    """
    config = copy.deepcopy(dict(config))
    schema = config_schema()
    validator_cls = _validator_filling_defaults(jsonschema.Draft202012Validator)
    # Defaults are filled while validating; a second pass reports against the filled config.
    list(validator_cls(schema).iter_errors(config))
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    problems = [f"{_key_path(e.absolute_path)}: {_describe(e)}" for e in _leaf_errors(errors)]
    problems += _cross_checks(config) if not problems else []
    if problems:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))
    return config


def _leaf_errors(errors):
    """Replace an if/then failure by the concrete errors inside it."""
    for error in errors:
        if error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def _describe(error: jsonschema.ValidationError) -> str:
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    message = error.message
    if description and error.validator not in ("additionalProperties", "required"):
        message += f" (expected: {' '.join(description.split())})"
    return message


def _cross_checks(config: dict[str, Any]) -> list[str]:
    from aecompress.datasets import check_dataset_options
    from aecompress.models import check_variant, get_family
    from aecompress.plan import expand_variants

    channels = partial(dataset_channels, config)
    problems: list[str] = []
    for name, options in config["datasets"].items():
        problems += [f"datasets.{name}.{p}" for p in check_dataset_options(options)]
    names = [e["name"] for e in config["experiments"]]
    for i, experiment in enumerate(config["experiments"]):
        where = f"experiments[{i}]"
        if names.count(experiment["name"]) > 1:
            problems.append(f"{where}.name: '{experiment['name']}' is used by more than one experiment")
        if experiment["dataset"] not in config["datasets"]:
            known = ", ".join(sorted(config["datasets"]))
            problems.append(
                f"{where}.dataset: '{experiment['dataset']}' is not a key of `datasets` (known: {known})"
            )
            continue
        test_dataset = experiment.get("test_dataset")
        if test_dataset is not None and test_dataset not in config["datasets"]:
            known = ", ".join(sorted(config["datasets"]))
            problems.append(
                f"{where}.test_dataset: '{test_dataset}' is not a key of `datasets` (known: {known})"
            )
        if config["datasets"][experiment["dataset"]]["test_fraction"] == 1:
            problems.append(
                f"{where}.dataset: '{experiment['dataset']}' is test-only (test_fraction: 1); train on "
                "another dataset and use this one as test_dataset"
            )
        elif test_dataset is not None and channels(test_dataset) != channels(experiment["dataset"]):
            problems.append(
                f"{where}.test_dataset: '{test_dataset}' has {channels(test_dataset)} channels, the "
                f"training dataset {channels(experiment['dataset'])}; set `channels` on one of them"
            )
        primary = test_dataset or experiment["dataset"]
        for name in experiment["also_test_on"]:
            if name not in config["datasets"]:
                known = ", ".join(sorted(config["datasets"]))
                problems.append(f"{where}.also_test_on: '{name}' is not a key of `datasets` (known: {known})")
            elif name == primary:
                problems.append(f"{where}.also_test_on: '{name}' is already the experiment's test set")
            elif primary in config["datasets"] and channels(name) != channels(primary):
                problems.append(
                    f"{where}.also_test_on: '{name}' has {channels(name)} channels, the test set "
                    f"'{primary}' {channels(primary)}"
                )
        if experiment["training"]["mixed_precision"] and get_family(experiment["family"]).compressive:
            problems.append(
                f"{where}.training.mixed_precision: not supported for compressive autoencoders "
                "(their entropy models and range coder work in float32)"
            )
        dataset_options = config["datasets"][experiment["dataset"]]
        for variant in expand_variants(experiment):
            if not SAFE_ID.fullmatch(variant.id):
                problems.append(
                    f"{where}.grid: variant id '{variant.id}' is not a safe file name (letters, digits, "
                    "'.', '_', '+', '-'); use grid values of that form"
                )
            for problem in check_variant(variant, dataset_options):
                problems.append(f"{where} (variant {variant.id}): {problem}")
    problems += _resource_problems(config)
    problems += _baseline_problems(config)
    problems += _target_problems(config) if not problems else []
    problems += _classifier_problems(config)
    problems += _tuning_problems(config)
    return problems


def _resource_problems(config: dict[str, Any]) -> list[str]:
    """Only a training job spreads over workers; a worker's GPUs must split evenly among its tasks."""
    problems = []
    for rule, requests in config["resources"].items():
        for key in ("nodes", "tasks_per_node"):
            if rule != "train" and requests[key] != 1:
                problems.append(
                    f"resources.{rule}.{key}: {requests[key]}; only `train` runs on several workers"
                )
    train = config["resources"]["train"]
    if train["gpu"] and train["gpu"] % train["tasks_per_node"]:
        problems.append(
            f"resources.train.tasks_per_node: {train['tasks_per_node']} does not divide gpu: {train['gpu']} "
            "(each worker takes an equal share of its node's GPUs)"
        )
    return problems


def _tuning_problems(config: dict[str, Any]) -> list[str]:
    from aecompress.models import check_variant
    from aecompress.plan import all_variants, tuned_variant

    problems = []
    taken = [e["name"] for e in config["experiments"]] + [b["name"] for b in config["baselines"]]
    taken += list(all_variants({**config, "tuning": []}))
    names = [s["name"] for s in config["tuning"]]
    for i, study in enumerate(config["tuning"]):
        where, dataset = f"tuning[{i}]", study["dataset"]
        if study["name"] in taken or names.count(study["name"]) > 1:
            problems.append(
                f"{where}.name: '{study['name']}' is already used by another study, experiment, variant "
                "or baseline"
            )
        if dataset not in config["datasets"]:
            known = ", ".join(sorted(config["datasets"]))
            problems.append(f"{where}.dataset: '{dataset}' is not a key of `datasets` (known: {known})")
            continue
        options = config["datasets"][dataset]
        if not options.get("folds"):
            problems.append(
                f"{where}.dataset: '{dataset}' has no folds; set datasets.{dataset}.folds to K_outer "
                "(e.g. 10, the coursework's)"
            )
        if options["test_fraction"] == 1:
            problems.append(f"{where}.dataset: '{dataset}' is test-only (test_fraction: 1)")
        deepest = 2 ** max(study["search_space"]["blocks"])
        multiple = (study["preprocessing"].get("padding") or {}).get("multiple")
        if multiple and multiple % deepest:
            problems.append(
                f"{where}.preprocessing.padding.multiple: {multiple} is not a multiple of {deepest}, the "
                "downsampling factor of the deepest searched model (2^max(search_space.blocks))"
            )
        variant = tuned_variant(study)
        for problem in check_variant(variant, options):
            problems.append(f"{where}: {problem}")
    return problems


def _target_problems(config: dict[str, Any]) -> list[str]:
    from aecompress.plan import all_variants

    tested = {v.test_dataset for v in all_variants(config).values()} | {
        b["dataset"] for b in config["baselines"]
    }
    problems = []
    for i, name in enumerate(config["evaluation"]["targets"]["datasets"] or []):
        if name not in tested:
            known = ", ".join(sorted(tested)) or "none"
            problems.append(
                f"evaluation.targets.datasets[{i}]: '{name}' is not the test set of any experiment or "
                f"baseline (test sets: {known})"
            )
    return problems


def _baseline_problems(config: dict[str, Any]) -> list[str]:
    from aecompress.codecs.registry import baseline_codec

    problems = []
    names = [e["name"] for e in config["experiments"]] + [b["name"] for b in config["baselines"]]
    for i, baseline in enumerate(config["baselines"]):
        where = f"baselines[{i}]"
        if names.count(baseline["name"]) > 1:
            problems.append(
                f"{where}.name: '{baseline['name']}' is used by more than one experiment or baseline"
            )
        if baseline["dataset"] not in config["datasets"]:
            known = ", ".join(sorted(config["datasets"]))
            problems.append(
                f"{where}.dataset: '{baseline['dataset']}' is not a key of `datasets` (known: {known})"
            )
        else:
            problems += baseline_codec(baseline["codec"]).problems(config, baseline, where)
    return problems


def _classifier_problems(config: dict[str, Any]) -> list[str]:
    from aecompress.datasets import REGISTRY

    problems, seen = [], set()
    for i, classifier in enumerate(config["classifiers"]):
        where, name = f"classifiers[{i}].dataset", classifier["dataset"]
        if name in seen:
            problems.append(f"{where}: '{name}' has more than one classifier")
        seen.add(name)
        if name not in config["datasets"]:
            known = ", ".join(sorted(config["datasets"]))
            problems.append(f"{where}: '{name}' is not a key of `datasets` (known: {known})")
            continue
        source = REGISTRY[config["datasets"][name]["source"]]
        if source.class_names is None or source.fixed_size is not True:
            problems.append(
                f"{where}: '{name}' (source {source.name}) is not a labelled dataset of one image size; "
                "a classifier needs both"
            )
        elif config["datasets"][name]["test_fraction"] == 1:
            problems.append(f"{where}: '{name}' is test-only (test_fraction: 1); a classifier trains on it")
        elif config["datasets"][name].get("unlabeled"):
            problems.append(
                f"{where}: '{name}' pools unlabelled images into its training split (unlabeled: true); "
                "declare a second dataset entry without it for the classifier"
            )
    return problems


def dataset_channels(config: dict[str, Any], dataset: str) -> int:
    """The channels a dataset's images have after preparation (its `channels`, or its source's)."""
    from aecompress.datasets import REGISTRY

    options = config["datasets"][dataset]
    return options.get("channels") or REGISTRY[options["source"]].native_channels


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return validate_config(raw, source=str(path))
