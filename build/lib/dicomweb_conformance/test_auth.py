"""HTTP Basic authentication on every resource family (seed: authentication; PS3.18 2019a 8.5; RFC 7235, 7617).

These tests need the run's credentials (``--basic-auth USER:PASSWORD``): a
server protected by Basic authentication refuses requests without them or
with wrong ones -- 401 Unauthorized with a WWW-Authenticate challenge (8.5:
"The server generating a 401 response shall send a WWW-Authenticate header
field"), or 403 for wrong credentials -- and serves requests with them.
Without credentials in the run they are skipped, saying so.

The same holds for the other modes of the run: ``--bearer-token`` (RFC 6750;
a 401 carries a WWW-Authenticate challenge, 8.5) and HTTPS client
certificates (``--client-cert`` on an ``https://`` target: the DICOMweb server
shares the HTTPS settings of the Orthanc HTTP server, seed: Usage).
"""

from __future__ import annotations

import re
from typing import Any

import dataclasses

import pytest
import requests

from dicomweb_conformance import expect as expect_module
from dicomweb_conformance.http import RecordingClient, TransportError
from dicomweb_conformance.target import client_auth, make_session
from dicomweb_conformance.test_wado_uri import uri_params

JSON = "application/dicom+json"
CT = "vix-ct-axial-001.dcm"
STOW_FILE = "wang-ct-001.dcm"
_BASIC_CHALLENGE = re.compile(r"(?:^|,)\s*basic(?:\s|,|$)", re.IGNORECASE)
FAMILIES = ["QIDO-RS", "WADO-RS", "WADO-URI", pytest.param("STOW-RS", marks=pytest.mark.mutates)]


@pytest.fixture
def credentials(run_options: Any) -> tuple[str, str]:
    """The run's Basic credentials, or a skip that says why the test cannot run."""
    if not run_options.basic_auth:
        pytest.skip("the run has no --basic-auth USER:PASSWORD credentials: the target is not known to require "
                    "HTTP Basic authentication (pass them to test it)")
    return tuple(run_options.basic_auth)  # type: ignore[return-value]


def _request(client: Any, truth: Any, fresh_truth: Any, family: str) -> Any:
    """One ordinary request of the family, on the run's data (a new instance for STOW-RS)."""
    inst = truth.instance_by_file(CT)
    if family == "QIDO-RS":
        return client.get("studies", params={"StudyInstanceUID": inst["StudyInstanceUID"]}, headers={"Accept": JSON})
    if family == "WADO-RS":
        return client.get(f"studies/{inst['StudyInstanceUID']}/series/{inst['SeriesInstanceUID']}/instances/"
                          f"{inst['SOPInstanceUID']}/metadata", headers={"Accept": JSON})
    if family == "WADO-URI":
        return client.uri_get(uri_params(inst, contentType="application/dicom"))
    fresh = fresh_truth()
    new = fresh.instance_by_file(STOW_FILE)
    return client.stow([fresh.file_bytes(new["SOPInstanceUID"])])


def _check_challenge(response: Any, expect: Any, req: str) -> None:
    challenge = expect.header(response, "WWW-Authenticate", req=req)
    expect.that(_BASIC_CHALLENGE.search(challenge), req=req, response=response,
                what="WWW-Authenticate challenge", expected="a Basic challenge (RFC 7617)", actual=challenge)


@pytest.mark.requirement("AUTH-001")
@pytest.mark.parametrize("family", FAMILIES)
def test_request_without_credentials_is_401_with_challenge(make_client, truth, fresh_truth, expect, credentials,
                                                           family):
    response = _request(make_client(auth=None), truth, fresh_truth, family)
    expect.status(response, 401)
    _check_challenge(response, expect, "AUTH-001")


@pytest.mark.requirement("AUTH-002")
@pytest.mark.parametrize("family", FAMILIES)
def test_request_with_wrong_credentials_is_refused(make_client, truth, fresh_truth, expect, credentials, family):
    user, password = credentials
    wrong = requests.auth.HTTPBasicAuth(user, password + "-wrong-" + truth.patient_suffix)
    response = _request(make_client(auth=wrong), truth, fresh_truth, family)
    expect.status(response, (401, 403))
    if response.status_code == 401:
        _check_challenge(response, expect, "AUTH-002")


@pytest.mark.requirement("AUTH-003")
@pytest.mark.parametrize("family", FAMILIES)
def test_request_with_valid_credentials_is_served(client, truth, fresh_truth, expect, credentials, family):
    response = _request(client, truth, fresh_truth, family)
    expect.status(response, 200)


# -- bearer token (--bearer-token) -----------------------------------------------------------------------
@pytest.fixture
def bearer_token(run_options: Any) -> str:
    """The run's bearer token, or a skip that says why the test cannot run."""
    if not run_options.bearer_token:
        pytest.skip("the run has no --bearer-token TOKEN: the target is not known to require bearer tokens "
                    "(pass one to test it)")
    return run_options.bearer_token


@pytest.mark.requirement("AUTH-006")
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("token", ["none", "wrong"])
def test_request_without_the_bearer_token_is_401(make_client, truth, fresh_truth, expect, bearer_token, token,
                                                 family):
    headers = {"Authorization": f"Bearer {bearer_token}-wrong-{truth.patient_suffix}"} if token == "wrong" else None
    response = _request(make_client(auth=None, headers=headers), truth, fresh_truth, family)
    expect.status(response, 401)
    expect.header(response, "WWW-Authenticate")


@pytest.mark.requirement("AUTH-007")
@pytest.mark.parametrize("family", FAMILIES)
def test_request_with_the_bearer_token_is_served(client, truth, fresh_truth, expect, bearer_token, family):
    response = _request(client, truth, fresh_truth, family)
    expect.status(response, 200)


# -- HTTPS client certificate (--client-cert) -------------------------------------------------------------
_REFUSALS = (400, 401, 403, 495, 496)  # 495/496: nginx's "certificate error" and "no certificate sent"


@pytest.fixture
def client_certificate(run_options: Any, target: Any) -> str:
    """The run's client certificate on an https:// target, or a skip that says why the test cannot run."""
    if not target.dicomweb_url.startswith("https://") or not run_options.client_cert:
        pytest.skip("client-certificate checks need an https:// target and --client-cert PEM [--client-key PEM]")
    return run_options.client_cert


@pytest.mark.requirement("AUTH-004")
def test_connection_without_a_client_certificate_is_refused(run_options, target, truth, expect,
                                                            client_certificate):
    bare = dataclasses.replace(run_options, client_cert=None, client_key=None)
    session = make_session(bare)  # the run's CA settings, no certificate
    auth, headers = client_auth(run_options)
    context = expect_module.current()
    no_cert = RecordingClient(target.dicomweb_url, target.wado_uri_url, session=session, timeout=run_options.timeout,
                              auth=auth, headers=headers, cert=None, verify=session.verify,
                              exchanges=context.exchanges if context is not None else None)
    try:
        response = _request(no_cert, truth, None, "QIDO-RS")
    except TransportError as exc:
        error = exc.exchange.error or ""
        expect.that(error.startswith("TLS error") or "reset" in error.lower() or "aborted" in error.lower()
                    or "closed" in error.lower(), what="connection without a client certificate",
                    expected="refused in the TLS handshake (or closed by the server)", actual=error)
        return
    finally:
        session.close()
    expect.that(response.status_code in _REFUSALS, response=response, what="request without a client certificate",
                expected=f"refused: no TLS session, or {' / '.join(map(str, _REFUSALS))}",
                actual=f"{response.status_code} {response.reason}")


@pytest.mark.requirement("AUTH-005")
def test_connection_with_the_client_certificate_is_served(client, truth, expect, client_certificate):
    response = _request(client, truth, None, "QIDO-RS")
    expect.status(response, 200)
