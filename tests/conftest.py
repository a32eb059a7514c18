"""Shared pytest fixtures for the mock server's HTTP tests.

* ``manifest`` - the fixture data set's ground truth (``fixtures/manifest.json``).
* ``files`` - fixture file name -> path of the generated instances.
* ``fixture_app`` - one app with the fixtures loaded, shared by the whole session:
  use it for read-only requests only.
* ``client`` - a :class:`werkzeug.test.Client` on ``fixture_app``.
* ``empty_app`` - a fresh app with an empty store, per test (safe to write to).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from werkzeug.test import Client

import dicomweb_fixtures as fixtures
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import parse_config


_open = Client.open


def _open_with_accept(self: Client, *args: Any, **kwargs: Any) -> Any:
    """Send ``Accept: */*`` unless the test names an Accept header, as curl and requests do.

    PS3.18 8.7.7 wants 406 for a request without Accept (the mock's strict mode; its default
    mode serves it with a Warning); the HTTP tests are about other behaviours. A test that needs no Accept at all passes ``Accept=None``
    in ``headers`` (the header is then left out).
    """
    headers = dict(kwargs.get("headers") or {})
    if not any(k.lower() == "accept" for k in headers):
        headers["Accept"] = "*/*"
    kwargs["headers"] = {k: v for k, v in headers.items() if v is not None}
    return _open(self, *args, **kwargs)


Client.open = _open_with_accept  # type: ignore[method-assign]


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
    """The mock with the fixtures loaded; shared, so never modify its store."""
    app = create_app()
    yield app
    app.store.close()


@pytest.fixture(scope="session")
def client(fixture_app: MockApp) -> Client:
    """Test client on the shared, read-only ``fixture_app``."""
    return Client(fixture_app)


@pytest.fixture
def empty_app() -> Iterator[MockApp]:
    """A fresh mock with an empty store (default settings), closed after the test."""
    app = create_app(parse_config({}), fixtures=False)
    yield app
    app.store.close()
