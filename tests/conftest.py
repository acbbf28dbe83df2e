"""Notebook regression tests (nbval) replay the reference pages in tests/notebooks/, executed at the
smoke preset; they read their results from the store, so train those first, once per session."""
import os
from pathlib import Path

import pytest

from monosem_lib import batches, runs, store

SMOKE_RESULTS = Path(__file__).resolve().parent.parent / ".pytest_cache" / "smoke-results"


def train_smoke() -> Path:
    """Every batch at the smoke preset, seed 0 (cached across sessions by the result store)."""
    store.migrate(SMOKE_RESULTS)  # files from before digests get theirs, rather than being retrained
    runs.train(runs.Request(tuple(batches.BATCHES), "smoke", results_dir=SMOKE_RESULTS, progress=False))
    return SMOKE_RESULTS


@pytest.fixture(scope="session")
def smoke_results() -> Path:
    return train_smoke()


def pytest_collection_modifyitems(session, config, items):
    if any(str(item.fspath).endswith(".ipynb") for item in items):
        os.environ[store.ENV_VAR] = str(train_smoke())


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    from tests.browser import chromium
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()
