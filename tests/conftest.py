from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ota_desktop.demo import write_demo  # noqa: E402
from ota_desktop.store import Store  # noqa: E402


@pytest.fixture
def store() -> Store:
    """An empty project store on an in-memory database."""
    return Store.memory()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo project (≈981K devices), written once per test run. Read-only by
    convention: tests that change it copy it first."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    store = Store.open(path)
    write_demo(store)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


@pytest.fixture
def small_demo(tmp_path: Path) -> Path:
    """The demo at 1/1000 scale (981 devices), in a file a test may change."""
    path = tmp_path / "small.db"
    store = Store.open(path)
    write_demo(store, scale=0.001)
    store.close()
    return path
