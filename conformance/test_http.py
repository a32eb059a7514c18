"""HTTP-level rules shared by every DICOMweb service (PS3.18 2019a 8.3, 8.4.3, 8.5, 8.1.2.3).

* 405 Method Not Allowed carries an Allow header field listing the resource's methods (8.5);
* a response with a payload names its media type in Content-Type (8.4.2, 8.6) -- error
  responses included;
* without Content-Encoding a response carries a Content-Length equal to the payload size
  (8.4.3; a response framed with Transfer-Encoding cannot, RFC 7230 3.3.2, and is accepted);
* unsupported query parameters are ignored (8.3);
* failure responses should explain themselves in a payload (8.1.2.3, 8.5: SHOULD).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from dicomweb_conformance.test_wado_uri import uri_params

JSON = "application/dicom+json"
DICOM_PARTS = 'multipart/related; type="application/dicom"'
CT = "vix-ct-axial-001.dcm"


def _vehicles(cases: Any, uses: dict[str, str]) -> list[Any]:
    """Parameter values, each marked with the feature of the resource it uses as a vehicle: a test on a
    resource the profile does not claim is skipped "not claimed", one the target does not serve is
    reported as blocked by that resource's own requirement."""
    return [pytest.param(case, marks=pytest.mark.uses(uses[case]), id=case) if case in uses else
            pytest.param(case, id=case) for case in cases]

# name -> (method, resource, methods that the Allow header must list)
_WRONG_METHODS = {
    "DELETE all studies (QIDO-RS, STOW-RS)": ("DELETE", "studies", "GET"),
    "PUT study metadata (WADO-RS)": ("PUT", "metadata", "GET"),
    "DELETE series instances (QIDO-RS)": ("DELETE", "series-instances", "GET"),
    "POST rendered instance (WADO-RS)": ("POST", "rendered", "GET"),
    "DELETE WADO-URI": ("DELETE", "wado-uri", "GET"),
}


def _send(client: Any, truth: Any, method: str, resource: str, headers: dict[str, Any] | None = None) -> Any:
    """One request on a resource of the run's CT instance."""
    inst = truth.instance_by_file(CT)
    study, series, sop = inst["StudyInstanceUID"], inst["SeriesInstanceUID"], inst["SOPInstanceUID"]
    if resource == "wado-uri":
        return client.request(method, client.wado_uri_url, params=uri_params(inst), headers=headers)
    path = {"studies": "studies", "metadata": f"studies/{study}/metadata",
            "series-instances": f"studies/{study}/series/{series}/instances",
            "rendered": f"studies/{study}/series/{series}/instances/{sop}/rendered"}[resource]
    return client.request(method, path, headers=headers)


@pytest.mark.requirement("HTTP-013")
@pytest.mark.parametrize("case", _vehicles(_WRONG_METHODS, {
    "PUT study metadata (WADO-RS)": "wado-metadata", "POST rendered instance (WADO-RS)": "wado-rendered",
    "DELETE WADO-URI": "wado-uri"}))
def test_unsupported_method_is_405_with_allow(client, truth, expect, case):
    method, resource, must_allow = _WRONG_METHODS[case]
    response = _send(client, truth, method, resource, headers={"Accept": "*/*"})
    expect.status(response, 405)
    allow = expect.header(response, "Allow")
    methods = {m.strip().upper() for m in allow.split(",") if m.strip()}
    expect.that(must_allow in methods and method not in methods, what="methods listed in the Allow header",
                expected=f"{must_allow} (supported), not {method}", actual=allow, response=response)


def _check_payload_headers(response: Any, expect: Any, req_length: str, req_type: str) -> None:
    """HTTP-005: Content-Type names a media type when there is a payload; HTTP-004: Content-Length."""
    body = response.content
    if body:
        ctype = expect.header(response, "Content-Type", req=req_type)
        media_type = expect.parse_media_type(ctype)[0]
        expect.that("/" in media_type and " " not in media_type, req=req_type, response=response,
                    what="Content-Type of the payload", expected="type/subtype", actual=ctype)
    coding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if coding != "identity" or response.headers.get("Transfer-Encoding"):
        return  # the payload is content-coded or framed by chunks: no Content-Length (8.4.3, RFC 7230 3.3.2)
    length = expect.header(response, "Content-Length", req=req_length)
    expect.equal(length.strip(), str(len(body)), req=req_length, response=response,
                 what="Content-Length header against the payload size in octets")


def _check_status_line(response: Any, expect: Any) -> None:
    """HTTP-001 (8.1.2): a registered-range three-digit status code and a reason phrase without obs-text."""
    reason = response.reason or ""
    expect.that(100 <= response.status_code <= 599 and all(c in "\t" or 32 <= ord(c) < 127 for c in reason),
                req="HTTP-001", what="status line", expected="3DIGIT status code (1xx-5xx) and an ASCII reason phrase",
                actual=f"{response.status_code} {reason!r}", response=response)


def _error_requests() -> dict[str, Callable[[Any, Any], Any]]:
    """Requests that each provoke an error response on a conforming server (4xx)."""
    def unknown_study(client: Any, truth: Any) -> Any:
        return client.get(f"studies/{truth.uid_root}.999.9/metadata", headers={"Accept": JSON})

    def bad_limit(client: Any, truth: Any) -> Any:
        return client.get("studies", params={"limit": "not-a-number"}, headers={"Accept": JSON})

    def uri_missing_object(client: Any, truth: Any) -> Any:
        params = uri_params(truth.instance_by_file(CT))
        del params["objectUID"]
        return client.uri_get(params)

    def uri_unknown_object(client: Any, truth: Any) -> Any:
        return client.uri_get(uri_params(truth.instance_by_file(CT), objectUID=truth.uid_root + ".999.9.1",
                                         contentType="application/dicom"))

    def wrong_method(client: Any, truth: Any) -> Any:
        return _send(client, truth, "DELETE", "studies")

    def stow_json(client: Any, truth: Any) -> Any:
        return client.post("studies", data=b"{}", headers={"Content-Type": "application/json", "Accept": JSON})

    return {"404 unknown study": unknown_study, "400 bad limit": bad_limit,
            "400 WADO-URI without objectUID": uri_missing_object, "404 WADO-URI unknown object": uri_unknown_object,
            "405 DELETE /studies": wrong_method, "415 STOW of JSON": stow_json}


ERRORS = _error_requests()
_ERROR_USES = {"404 unknown study": "wado-metadata", "400 WADO-URI without objectUID": "wado-uri",
               "404 WADO-URI unknown object": "wado-uri"}


@pytest.mark.requirement("HTTP-001", "HTTP-004", "HTTP-005")
@pytest.mark.parametrize("case", _vehicles(ERRORS, _ERROR_USES))
def test_error_response_has_content_type_and_length(client, truth, expect, case):
    response = ERRORS[case](client, truth)
    _check_status_line(response, expect)
    expect.that(response.status_code >= 400, req="HTTP-005", what="status code (precondition)",
                expected=f"an error ({case})", actual=response.status_code, response=response)
    _check_payload_headers(response, expect, "HTTP-004", "HTTP-005")


@pytest.mark.requirement("HTTP-010")
@pytest.mark.parametrize("case", _vehicles(ERRORS, _ERROR_USES))
def test_error_response_explains_itself(client, truth, expect, case):
    """8.5 (client errors): the origin server should return a payload explaining the error."""
    response = ERRORS[case](client, truth)
    expect.that(response.status_code >= 400, what="status code (precondition)", expected="an error",
                actual=response.status_code, response=response)
    expect.that(len(response.content.strip()) > 0, what="payload of the error response",
                expected="an explanation (Status Report)", actual="(empty)", response=response)


_SUCCESS = {
    "QIDO-RS studies (JSON)": ("studies", {"Accept": JSON}),
    "WADO-RS study metadata (JSON)": ("metadata", {"Accept": JSON}),
    "WADO-RS instance (multipart)": ("instance", {"Accept": DICOM_PARTS}),
    "WADO-RS rendered (JPEG)": ("rendered", {"Accept": "image/jpeg"}),
    "WADO-URI (application/dicom)": ("wado-uri-dicom", {"Accept": "*/*"}),
    "WADO-URI (image/jpeg)": ("wado-uri", {"Accept": "*/*"}),
}


@pytest.mark.requirement("HTTP-001", "HTTP-004", "HTTP-005")
@pytest.mark.parametrize("case", _vehicles(_SUCCESS, {
    "WADO-RS study metadata (JSON)": "wado-metadata", "WADO-RS rendered (JPEG)": "wado-rendered",
    "WADO-URI (application/dicom)": "wado-uri", "WADO-URI (image/jpeg)": "wado-uri-rendered"}))
def test_success_response_has_content_type_and_length(client, truth, expect, case):
    resource, headers = _SUCCESS[case]
    inst = truth.instance_by_file(CT)
    study, series, sop = inst["StudyInstanceUID"], inst["SeriesInstanceUID"], inst["SOPInstanceUID"]
    if resource == "studies":
        response = client.get("studies", params={"StudyInstanceUID": study}, headers=headers)
    elif resource == "instance":
        response = client.get(f"studies/{study}/series/{series}/instances/{sop}", headers=headers)
    elif resource == "wado-uri-dicom":
        response = client.uri_get(uri_params(inst, contentType="application/dicom"), headers=headers)
    else:
        response = _send(client, truth, "GET", resource, headers=headers)
    _check_status_line(response, expect)
    expect.status(response, 200, req="HTTP-005")
    _check_payload_headers(response, expect, "HTTP-004", "HTTP-005")


@pytest.mark.requirement("HTTP-002")
@pytest.mark.parametrize("service", _vehicles(["WADO-RS metadata", "WADO-URI"],
                                              {"WADO-RS metadata": "wado-metadata", "WADO-URI": "wado-uri"}))
def test_unsupported_query_parameter_is_ignored(client, truth, expect, service):
    inst = truth.instance_by_file(CT)
    unknown = {"x-conformance-unsupported": "1"}
    if service == "WADO-URI":
        response = client.uri_get(uri_params(inst, contentType="application/dicom", **unknown))
        expect.status(response, 200)
        expect.content_type(response, "application/dicom")
        return
    study = inst["StudyInstanceUID"]
    response = client.get(f"studies/{study}/metadata", params=unknown, headers={"Accept": JSON})
    expect.status(response, 200)
    found = {(ds.get("00080018") or {}).get("Value", [None])[0] for ds in expect.json_body(response)}
    expect.same_set(found, [i["SOPInstanceUID"] for i in truth.instances_in_study(study)],
                    what="SOP Instance UIDs in the study metadata", response=response)


@pytest.mark.requirement("HTTP-003")
@pytest.mark.parametrize("params", [{"limit": "ten"}, {"limit": "-1"}, {"offset": "first"}],
                         ids=["limit=ten", "limit=-1", "offset=first"])
def test_invalid_value_of_a_supported_parameter_is_400(client, truth, expect, params):
    """8.3: limit and offset are supported by every QIDO-RS origin server (8.3.4.4); these values are not uint."""
    query = {"PatientID": truth.patients[0]["PatientID"], **params}
    expect.status(client.get("studies", params=query, headers={"Accept": JSON}), 400)


@pytest.mark.requirement("HTTP-006")
@pytest.mark.parametrize("resource", _vehicles(["studies", "metadata"], {"metadata": "wado-metadata"}))
def test_content_coded_response_has_no_decoded_content_length(client, truth, expect, resource):
    """8.4.3: with Content-Encoding the payload length of the decoded representation is not sent.

    A server need not compress (then there is nothing to check); a Content-Length
    equal to the decoded size alongside Content-Encoding is wrong.
    """
    inst = truth.instance_by_file(CT)
    headers = {"Accept": JSON, "Accept-Encoding": "gzip, deflate"}
    if resource == "studies":
        response = client.get("studies", params={"StudyInstanceUID": inst["StudyInstanceUID"]}, headers=headers)
    else:
        response = _send(client, truth, "GET", "metadata", headers=headers)
    expect.that(response.status_code == 200, what="status code (precondition)", expected=200,
                actual=response.status_code, response=response)
    coding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if coding == "identity":
        return
    length = response.headers.get("Content-Length")
    expect.that(length is None or length.strip() != str(len(response.content)), response=response,
                what=f"Content-Length with Content-Encoding: {coding}", expected="absent (or the encoded size)",
                actual=f"{length}, the size of the decoded payload")
