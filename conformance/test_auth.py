"""HTTP Basic authentication on every resource family (seed: authentication; PS3.18 2019a 8.5; RFC 7235, 7617).

These tests need the run's credentials (``--basic-auth USER:PASSWORD``): a
server protected by Basic authentication refuses requests without them or
with wrong ones -- 401 Unauthorized with a WWW-Authenticate challenge (8.5:
"The server generating a 401 response shall send a WWW-Authenticate header
field"), or 403 for wrong credentials -- and serves requests with them.
Without credentials in the run they are skipped, saying so.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from .test_wado_uri import uri_params

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
