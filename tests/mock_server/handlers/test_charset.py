"""The charset Query Parameter and Accept-Charset on WADO-RS and QIDO-RS (PS3.18 8.8, 8.3.3.2)."""

from __future__ import annotations

import json

import pytest

JSON = "application/dicom+json"


def _instance(manifest, file):
    return next(i for i in manifest["instances"] if i["file"] == file)


def _path(manifest, file):
    i = _instance(manifest, file)
    return f"/dicom-web/studies/{i['StudyInstanceUID']}/series/{i['SeriesInstanceUID']}/instances/{i['SOPInstanceUID']}"


def _name(manifest, file):
    study = next(s for s in manifest["studies"] if s["StudyInstanceUID"] == _instance(manifest, file)["StudyInstanceUID"])
    return next(p for p in manifest["patients"] if p["PatientID"] == study["PatientID"])["PatientName"]


@pytest.mark.parametrize("file", ["sato-mr-cine-001.dcm", "wang-ct-001.dcm", "yamada-cr-001.dcm"])
@pytest.mark.parametrize("request_charset", [{"query_string": "charset=UTF-8"},
                                             {"query_string": "charset=%22ISO_IR%20192%22"},
                                             {"headers": {"Accept": JSON, "Accept-Charset": "ISO-8859-1"}},
                                             {"headers": {"Accept": f"{JSON}; charset=utf-8"}}],
                         ids=["query", "query-defined-term", "accept-charset-unsupported", "media-type-parameter"])
def test_metadata_is_transcoded_to_utf8(client, manifest, file, request_charset):
    kwargs = {"headers": {"Accept": JSON}, **request_charset}
    r = client.get(_path(manifest, file) + "/metadata", **kwargs)
    assert r.status_code == 200
    name = json.loads(r.data.decode("utf-8"))[0]["00100010"]["Value"][0]
    assert name == _name(manifest, file)


@pytest.mark.parametrize("value", ["ISO-8859-1", "x-no-such-charset", "*", "UTF-8;q=abc", "UTF-8,ISO-8859-1"])
@pytest.mark.parametrize("resource", ["/metadata", "/rendered", ""])
def test_charset_query_parameter_not_valid_or_not_supported_is_400(client, manifest, value, resource):
    r = client.get(_path(manifest, "doe-mr-t2-002.dcm") + resource, query_string={"charset": value},
                   headers={"Accept": "*/*"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain") and "charset" in r.get_data(as_text=True)


def test_search_with_charset_query_parameter(client, manifest):
    study = _instance(manifest, "sato-mr-cine-001.dcm")["StudyInstanceUID"]
    ok = client.get("/dicom-web/studies", query_string={"StudyInstanceUID": study, "charset": "UTF-8"})
    assert ok.status_code == 200
    assert json.loads(ok.data)[0]["00100010"]["Value"][0] == _name(manifest, "sato-mr-cine-001.dcm")
    refused = client.get("/dicom-web/studies", query_string={"StudyInstanceUID": study, "charset": "GB18030"})
    assert refused.status_code == 400


def test_rendered_supports_utf8(client, manifest):
    for kwargs in ({"query_string": "charset=UTF-8"}, {"headers": {"Accept": "image/jpeg", "Accept-Charset": "UTF-8"}}):
        r = client.get(_path(manifest, "doe-mr-t2-002.dcm") + "/rendered", **{"headers": {"Accept": "image/jpeg"},
                                                                              **kwargs})
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
