"""The fixtures conformance tests use (registered by :mod:`conformance.plugin`).

=================  ========  ==============================================================
fixture            scope     value
=================  ========  ==============================================================
``client``         function  :class:`~conformance.http.RecordingClient` on the target, with
                             the run's credentials/TLS/timeout; transport errors fail the test
``make_client``    function  factory of more clients (other credentials) sharing the log
``expect``         function  the :mod:`conformance.expect` module
``truth``          session   :class:`~conformance.truth.Truth` of what the run stored
``fresh_truth``    function  factory of a Truth under brand-new UIDs, not stored (STOW tests)
``target``         session   :class:`~conformance.target.Target` (URLs, identity)
``target_profile`` session   :class:`~conformance.profiles.Profile`
``run_options``    session   :class:`~conformance.options.RunOptions`
=================  ========  ==============================================================
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from . import expect as expect_module
from .http import RecordingClient
from .options import RunOptions
from .profiles import Profile
from .run import RunState, state_of
from .target import Target, client_auth
from .truth import RunIds, Truth

__all__ = ["client", "make_client", "expect", "truth", "fresh_truth", "target", "target_profile", "run_options"]


def _state(request: pytest.FixtureRequest) -> RunState:
    state = state_of(request.config)
    if state is None or not state.prepared:
        pytest.fail("the DICOMweb conformance fixtures are only available to tests under the conformance "
                    "paths, in a run that selected them", pytrace=False)
    return state


def _log() -> list | None:
    context = expect_module.current()
    return context.exchanges if context is not None else None


@pytest.fixture(scope="session")
def run_options(request: pytest.FixtureRequest) -> RunOptions:
    """The validated options of the run (URLs, credentials, profile, strict, timeout, preloaded...)."""
    return _state(request).options


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The server under test: ``dicomweb_url``, ``wado_uri_url``, ``origin``, ``identity``, ``embedded``."""
    state = _state(request)
    assert state.target is not None
    return state.target


@pytest.fixture(scope="session")
def target_profile(request: pytest.FixtureRequest) -> Profile:
    """The target profile (claimed features, known deviations, STOW limits)."""
    return _state(request).options.profile


@pytest.fixture(scope="session")
def truth(request: pytest.FixtureRequest) -> Truth:
    """Ground truth of what the run stored (manifest entries under the run's UIDs and PatientIDs)."""
    return _state(request).truth


@pytest.fixture
def client(request: pytest.FixtureRequest) -> RecordingClient:
    """Recording HTTP client on the target; a transport error fails the test with the exchange."""
    return make_client_for(_state(request))


def make_client_for(state: RunState, *, auth: Any = ..., headers: dict[str, str] | None = None) -> RecordingClient:
    """A test client: the run's credentials unless ``auth`` is given (None: no credentials)."""
    assert state.target is not None
    run_auth, run_headers = client_auth(state.options)
    if auth is ...:
        auth, base_headers = run_auth, run_headers
    else:
        base_headers = {}
    return RecordingClient(state.target.dicomweb_url, state.target.wado_uri_url, session=state.session,
                           timeout=state.options.timeout, auth=auth, headers={**base_headers, **(headers or {})},
                           cert=state.session.cert, verify=state.session.verify, fail_on_transport_error=True,
                           exchanges=_log())


@pytest.fixture
def make_client(request: pytest.FixtureRequest) -> Callable[..., RecordingClient]:
    """Factory of more clients sharing the test's exchange log.

    ``make_client()`` is like ``client``; ``make_client(auth=None)`` sends no
    credentials; ``make_client(auth=requests.auth.HTTPBasicAuth("u", "wrong"))``
    others; ``headers={...}`` adds default headers.
    """
    state = _state(request)
    return lambda *, auth=..., headers=None: make_client_for(state, auth=auth, headers=headers)


@pytest.fixture
def expect() -> Any:
    """The :mod:`conformance.expect` module: checks whose failures explain themselves."""
    return expect_module


@pytest.fixture
def fresh_truth(request: pytest.FixtureRequest) -> Callable[[], Truth]:
    """Factory of a :class:`Truth` under brand-new UIDs and PatientIDs that the run did *not* store.

    For STOW tests: ``t = fresh_truth(); data = t.file_bytes(t.instance_by_file("wang-ct-001.dcm")
    ["SOPInstanceUID"]); client.stow([data])``.
    """
    _state(request)
    import dicomweb_fixtures as fixtures
    from .cleanup import note_fresh
    return lambda: note_fresh(Truth(fixtures.load_manifest(), RunIds.new(fixtures.UID_ROOT)))
