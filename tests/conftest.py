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
