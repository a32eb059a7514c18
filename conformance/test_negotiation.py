"""Content negotiation of WADO-RS responses (PS3.18-2019a 8.7.5-8.7.8, 8.3.3.1, 8.8).

Accept header field and accept query parameter: missing Accept, q-values,
lists, wildcards, unsupported and mixed DICOM/Rendered media types.
"""

from __future__ import annotations

import pytest

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.wado import EXPLICIT_VR_LE, instance_path, read_part10

JSON = "application/dicom+json"
XML = 'multipart/related; type="application/dicom+xml"'
DICOM = 'multipart/related; type="application/dicom"'
OCTETS = 'multipart/related; type="application/octet-stream"'


#: The feature of each resource these tests use as a vehicle (``uses`` marks: not claimed -> skipped;
#: not served -> blocked by the resource's own requirement).
_FEATURE = {"metadata": "wado-metadata", "frames": "frames", "rendered": "wado-rendered",
            "thumbnail": "wado-thumbnail"}


def _v(values: list) -> list:
    """Parameter values marked with the feature of their resource (the first member of each value)."""
    out = []
    for value in values:
        resource = value[0] if isinstance(value, tuple) else value
        feature = _FEATURE.get(resource)
        out.append(pytest.param(*(value if isinstance(value, tuple) else (value,)),
                                marks=[pytest.mark.uses(feature)] if feature else []))
    return out


def _paths(truth) -> dict[str, str]:
    single = instance_path(truth.instance_by_file("doe-mr-t2-002.dcm"))
    return {"metadata": f"{single}/metadata", "instance": single, "frames": f"{single}/frames/1",
            "rendered": f"{single}/rendered", "thumbnail": f"{single}/thumbnail"}


def _media_type(expect, response, req=None) -> str:
    """The response's media type; for multipart/related with the media type of its type parameter."""
    raw = expect.header(response, "Content-Type", req=req)
    media, params = expect.parse_media_type(raw)
    root = params.get("type", "").split(";")[0].strip().lower()  # the type's own parameters: HTTP-008's concern
    return f'{media}; type="{root}"' if media == "multipart/related" else media


# (thumbnails are an optional feature, so they are not among these resources)
@pytest.mark.requirement("NEG-001")
@pytest.mark.parametrize("resource", _v(["metadata", "instance", "frames", "rendered"]))
def test_request_without_accept_is_406(client, truth, expect, resource):
    response = client.get(_paths(truth)[resource], headers={"Accept": None})
    expect.status(response, 406)


@pytest.mark.requirement("NEG-002")
@pytest.mark.parametrize("accept", ["application/dicom+json; x-unknown-parameter=1",
                                    "not a media type, application/dicom+json",
                                    "application/dicom+json; charset=x-no-such-charset"],
                         ids=["unsupported-parameter", "invalid-entry", "unsupported-charset"])
@pytest.mark.uses("wado-metadata")
def test_invalid_or_unsupported_accept_values_are_ignored(client, truth, expect, accept):
    response = client.get(_paths(truth)["metadata"], headers={"Accept": accept})
    expect.status(response, 200)
    expect.content_type(response, JSON)


@pytest.mark.requirement("NEG-003")
@pytest.mark.parametrize("resource, accept", _v([("metadata", f"{JSON}, image/jpeg"), ("instance", f"{DICOM}, image/png"),
                                              ("rendered", f"image/jpeg, {JSON}"),
                                              ("frames", f"{OCTETS}, image/gif")]),
                         ids=["metadata", "instance", "rendered", "frames"])
def test_accept_mixing_dicom_and_rendered_media_types_is_400(client, truth, expect, resource, accept):
    response = client.get(_paths(truth)[resource], headers={"Accept": accept})
    expect.status(response, 400)


@pytest.mark.requirement("NEG-009")
@pytest.mark.parametrize("resource, accept", _v([("metadata", "application/dicom+json,image/jpeg"),
                                              ("rendered", "image/jpeg,application/dicom+json")]))
def test_accept_query_parameter_mixing_dicom_and_rendered_is_400(client, truth, expect, resource, accept):
    response = client.get(_paths(truth)[resource], params={"accept": accept}, headers={"Accept": "*/*"})
    expect.status(response, 400)


@pytest.mark.requirement("NEG-004")
@pytest.mark.parametrize("resource, accept, default", _v([
    ("metadata", "application/pdf", JSON),
    ("metadata", OCTETS, JSON),
    ("instance", "text/plain", DICOM),
]), ids=["metadata-pdf", "metadata-octets", "instance-text"])
def test_no_supported_media_type_gives_the_default_or_406(client, truth, expect, resource, accept, default):
    response = client.get(_paths(truth)[resource], headers={"Accept": accept})
    expect.status(response, (200, 406))
    if response.status_code == 200:
        expect.equal(_media_type(expect, response), default, what="media type of a 200 answer", response=response,
                     note="8.7.3 table 8.7.3-1: the default media type when none of the Acceptable ones is supported")


@pytest.mark.requirement("NEG-005")
@pytest.mark.parametrize("query", [False, True], ids=["header", "accept-parameter"])
@pytest.mark.uses("wado-rendered")
def test_no_supported_media_type_and_no_default_is_406(client, truth, expect, query):
    inst = truth.instance_by_file("sato-mr-cine-001.dcm")  # Multi-Frame Image: no default Rendered Media Type
    params = {"accept": "text/html"} if query else None
    response = client.get(f"{instance_path(inst)}/rendered", params=params, headers={"Accept": "text/html"})
    expect.status(response, 406)


@pytest.mark.requirement("NEG-006")
@pytest.mark.uses("wado-metadata")
def test_accept_query_parameter_selects_the_media_type(client, truth, expect):
    response = client.get(_paths(truth)["metadata"], params={"accept": XML}, headers={"Accept": "*/*"})
    expect.status(response, 200)
    expect.content_type(response, XML)
    expect_multipart(response, root_type="application/dicom+xml")


@pytest.mark.requirement("NEG-006")
@pytest.mark.uses("wado-metadata")
def test_accept_query_parameter_comes_before_the_header(client, truth, expect):
    response = client.get(_paths(truth)["metadata"], params={"accept": JSON},
                          headers={"Accept": f"{XML}, {JSON}; q=0.5"})
    expect.status(response, 200)
    expect.content_type(response, JSON)


@pytest.mark.requirement("NEG-006")
@pytest.mark.uses("wado-rendered")
def test_accept_query_parameter_selects_a_rendered_media_type(client, truth, expect):
    response = client.get(_paths(truth)["rendered"], params={"accept": "image/png"}, headers={"Accept": "image/*"})
    expect.status(response, 200)
    expect.content_type(response, "image/png")
    expect.that(response.content[:8] == b"\x89PNG\r\n\x1a\n", what="PNG signature", expected="\\x89PNG\\r\\n\\x1a\\n",
                actual=response.content[:8], response=response)


@pytest.mark.requirement("NEG-007")
@pytest.mark.parametrize("resource, accept, chosen", _v([
    ("metadata", f"{JSON}; q=0.5, {XML}; q=0.9", XML),
    ("metadata", f"{XML}; q=0.4, {JSON}; q=0.8", JSON),
    ("metadata", f"{XML}; q=0, {JSON}; q=0.1", JSON),
    ("metadata", f"{JSON}; q=0, {XML}; q=0.2", XML),
    ("rendered", "image/jpeg; q=0.2, image/png; q=0.8", "image/png"),
    ("rendered", "image/png; q=0, image/jpeg; q=0.3", "image/jpeg"),
]), ids=["xml-preferred", "json-preferred", "xml-q0", "json-q0", "png-preferred", "png-q0"])
def test_quality_values_rank_the_media_types(client, truth, expect, resource, accept, chosen):
    response = client.get(_paths(truth)[resource], headers={"Accept": accept})
    expect.status(response, 200)
    expect.equal(_media_type(expect, response), chosen, what=f"media type selected for Accept: {accept}",
                 response=response)


@pytest.mark.requirement("NEG-008")
@pytest.mark.parametrize("charset", ["x-no-such-charset", "utf-8;q=abc, nonsense"])
@pytest.mark.uses("wado-metadata")
def test_invalid_accept_charset_is_ignored(client, truth, expect, charset):
    """8.8.4 says both "If this header field has a value that is not a valid or supported character set, the
    origin server shall return a 400 (Bad Request)" and "Any Accept-Charset header field values that are not
    valid or not supported shall be ignored": either answer is conformant."""
    response = client.get(_paths(truth)["metadata"], headers={"Accept": JSON, "Accept-Charset": charset})
    expect.status(response, (200, 400))
    if response.status_code == 200:
        expect.content_type(response, JSON)


@pytest.mark.requirement("NEG-010")
@pytest.mark.parametrize("resource, default", _v([("metadata", JSON), ("instance", DICOM), ("frames", OCTETS),
                                               ("rendered", "image/jpeg")]))
def test_any_media_range_selects_the_default_media_type(client, truth, expect, resource, default):
    response = client.get(_paths(truth)[resource], headers={"Accept": "*/*"})
    expect.status(response, 200)
    expect.equal(_media_type(expect, response), default, what="media type selected for Accept: */*",
                 response=response)
    if resource == "instance":
        mp = expect_multipart(response, root_type="application/dicom")
        for part in mp.parts:
            try:
                syntax = str(read_part10(part.body).file_meta.TransferSyntaxUID)
            except ValueError as exc:
                syntax = f"unreadable: {exc}"
            expect.equal(syntax, EXPLICIT_VR_LE, what=f"Transfer Syntax of part {part.index} for */*",
                         response=response, note="the default Transfer Syntax of application/dicom (table 8.7.3-2)")


@pytest.mark.requirement("NEG-011")
@pytest.mark.parametrize("resource, accept, allowed", _v([("metadata", "application/*", {JSON}),
                                                       ("rendered", "image/*", {"image/jpeg", "image/png", "image/gif"})]))
def test_type_wildcard_matches_that_type(client, truth, expect, resource, accept, allowed):
    response = client.get(_paths(truth)[resource], headers={"Accept": accept})
    expect.status(response, 200)
    got = _media_type(expect, response)
    expect.that(got in allowed, what=f"media type selected for Accept: {accept}", expected=" or ".join(sorted(allowed)),
                actual=got, response=response)


@pytest.mark.requirement("NEG-012")
@pytest.mark.parametrize("resource, accept, chosen", _v([
    ("metadata", f"{OCTETS}, {JSON}", JSON),
    ("metadata", f"application/x-unknown, {XML}", XML),
    ("rendered", "image/x-unknown, image/png", "image/png"),
]), ids=["octets-then-json", "unknown-then-xml", "unknown-then-png"])
def test_accept_list_selects_a_supported_member(client, truth, expect, resource, accept, chosen):
    response = client.get(_paths(truth)[resource], headers={"Accept": accept})
    expect.status(response, 200)
    expect.equal(_media_type(expect, response), chosen, what=f"media type selected for Accept: {accept}",
                 response=response)
