"""Shared pytest fixtures (helper code the tests share is in :mod:`tests.helpers`).

* ``manifest`` - the fixture data set's ground truth (``fixtures/manifest.json``).
* ``files`` - fixture file name -> path of the generated instances.
* ``fixture_app`` - one app with the fixtures loaded on a memory store, shared by the whole
  session: use it for read-only requests only.
* ``client`` - a :class:`~tests.helpers.http.MockClient` on ``fixture_app``.
* ``fixture_copy`` - makes writable apps holding the fixtures (copies of ``fixture_app``'s store).
* ``empty_app`` - a fresh app with an empty memory store, per test (safe to write to).
* ``fixture_store_dir`` - a disk store directory holding the fixtures, to copy.
* ``empty_disk_app`` - a fresh app with an empty disk store, for tests of the store's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import Settings, parse_config
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.store.memory import MemoryStore
from tests.helpers.http import MockClient


@pytest.fixture(scope="session")
def manifest() -> dict[str, Any]:
    """The fixture manifest (ground truth)."""
    return fixtures.load_manifest()


@pytest.fixture(scope="session")
def files(manifest) -> dict[str, Path]:
    """Fixture file name -> path (generated, and checked against the manifest, on first use)."""
    return {p.name: p for p in fixtures.instance_files()}


@pytest.fixture(scope="session")
def fixture_app() -> Iterator[MockApp]:
    """The mock with the fixtures loaded, on a memory store; shared, so never modify its store
    (:func:`fixture_copy` gives a writable one)."""
    app = create_app(store=MemoryStore())
    yield app
    app.store.close()


@pytest.fixture(scope="session")
def client(fixture_app: MockApp) -> MockClient:
    """Test client on the shared, read-only ``fixture_app`` (``Accept: */*`` unless a test names one)."""
    return MockClient(fixture_app)


@pytest.fixture
def fixture_copy(fixture_app: MockApp) -> Iterator[Callable[..., MockApp]]:
    """Makes writable mocks holding the fixtures (``fixture_copy(settings=None)``): each on its
    own copy of the shared memory store, closed after the test."""
    made: list[MockApp] = []

    def make(settings: Settings | None = None) -> MockApp:
        store = fixture_app.store
        assert isinstance(store, MemoryStore)
        made.append(create_app(settings, store.copy()))
        return made[-1]

    yield make
    for app in made:
        app.store.close()


@pytest.fixture
def empty_app() -> Iterator[MockApp]:
    """A fresh mock with an empty memory store (default settings), closed after the test."""
    app = create_app(parse_config({}), MemoryStore(), fixtures=False)
    yield app
    app.store.close()


@pytest.fixture(scope="session")
def fixture_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A :class:`DiskStore` directory holding the fixtures, to copy (``shutil.copytree``) where a
    test needs the on-disk store with the fixtures; never opened in place."""
    root = tmp_path_factory.mktemp("fixture-store") / "store"
    store = DiskStore(root)
    store.load(fixtures.instance_files())
    store.close()
    return root


@pytest.fixture
def empty_disk_app(tmp_path: Path) -> Iterator[MockApp]:
    """A fresh mock with an empty :class:`DiskStore` (default settings), for tests of its files."""
    app = create_app(parse_config({}), DiskStore(tmp_path / "disk-store"), fixtures=False)
    yield app
    app.store.close()
