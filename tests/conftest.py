from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def minimal_config() -> dict:
    return {
        "datasets": {"digits": {"source": "sklearn-digits"}},
        "experiments": [
            {"name": "dense", "family": "dense", "dataset": "digits", "grid": {"latent_units": [2, 8]}}
        ],
    }


@pytest.fixture(scope="session")
def tf():
    from aecompress.runtime import import_tensorflow

    return import_tensorflow(2)


# The longest modules first: pytest-xdist (`--dist loadfile`, see pyproject.toml) hands out whole
# modules in collection order, so the end-to-end runs start at once on separate workers instead
# of leaving one worker alone with them at the end.
LONGEST_FIRST = (
    "test_workflow.py",
    "test_slurm.py",
    "test_tuning.py",
    "test_compressive.py",
    "test_codecs.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its own order
