"""Character sets of responses (PS3.18-2019a 8.8, 8.3.3.2, 8.7.3.5.3, 10.1.2, 10.1.3).

* 8.8: "The origin server shall support the "UTF-8" charset name for RESTful Retrieve Rendered
  transaction".
* 10.1.2 (Table 10.1.2-1, origin server usage M) and 10.1.3: the Studies Service supports the
  Character Set Query Parameter and the charset media type parameter.
* 8.8.5: the Selected Character Set is the first supported one of the media type parameter, the
  Query Parameter, Accept-Charset, else the media type's default (UTF-8 for DICOM media types,
  8.7.3.5.3), else UTF-8; a Target Resource encoded in another character set is transcoded into
  it, "Otherwise, the origin server shall return 406 (Not Acceptable)".
* 8.3.3.2: a charset Query Parameter value "that is not a valid or supported character set" is
  answered 400; 8.8.1: "Any charset values that are not valid or not supported shall be ignored".

The instances stored in ISO 2022 IR 87, GB18030 and ISO_IR 192 carry their patients' names in
ideographic and phonetic characters (fixtures/manifest.json): a response in a charset is read
with the charset its Content-Type declares (UTF-8 when it declares none, 8.7.3.5.3) and must give
those names.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest

from dicomweb_conformance.checks.wado import instance_path

JSON = "application/dicom+json"
_PN = "00100010"
#: Instances whose text is not ASCII, by the Specific Character Set (0008,0005) they are stored in.
TEXT_INSTANCES = {"ISO 2022 IR 87": "sato-mr-cine-001.dcm", "GB18030": "wang-ct-001.dcm",
                  "ISO_IR 192": "yamada-cr-001.dcm"}
_IDS = list(TEXT_INSTANCES)
RENDERED = "doe-mr-t2-002.dcm"


def _declared_charset(expect: Any, response: Any) -> str:
    """The charset parameter of the Content-Type, or UTF-8 (the Default Character Set of DICOM Media Types)."""
    _, params = expect.parse_media_type(response.headers.get("Content-Type") or "")
    return params.get("charset", "UTF-8").strip('"')


def _codec(expect: Any, response: Any) -> str:
    """Python's name of the response's declared charset; a failure when it names no character set."""
    charset = _declared_charset(expect, response)
    try:
        return codecs.lookup(charset).name
    except LookupError:
        expect.fail(what="charset parameter of the Content-Type", expected="a character set name",
                    actual=charset, response=response)


def _names(expect: Any, response: Any) -> list[Any]:
    """PatientName (0010,0010) of each data set of a DICOM JSON payload read in its declared charset."""
    codec = _codec(expect, response)
    charset = _declared_charset(expect, response)
    try:
        data = json.loads(response.content.decode(codec))
    except (UnicodeDecodeError, ValueError) as exc:
        expect.fail(what=f"payload read as {charset}", expected="DICOM JSON in the declared charset",
                    actual=f"{type(exc).__name__}: {exc}"[:200], response=response)
    return [((ds.get(_PN) or {}).get("Value") or [None])[0] for ds in data]


def _expect_names(expect: Any, truth: Any, response: Any, file: str) -> None:
    want = truth.patient(truth.instance_by_file(file)["PatientID"])["PatientName"]
    for got in _names(expect, response):
        shown = {g: (got or {}).get(g) for g in want} if isinstance(got, dict) else got
        expect.equal(shown, want, what=f"PatientName of {file} read in the response's charset", response=response)


def _expect_utf8_names(expect: Any, truth: Any, response: Any, file: str) -> None:
    """A 200 answer is written in UTF-8, the Selected Character Set, and holds the stored names."""
    expect.equal(_codec(expect, response), "utf-8", what="charset of the response", response=response)
    _expect_names(expect, truth, response, file)


def _metadata(truth: Any, file: str) -> str:
    return f"{instance_path(truth.instance_by_file(file))}/metadata"


def _study_search(client: Any, truth: Any, file: str, params: dict[str, str], headers: dict[str, str]) -> Any:
    study = truth.instance_by_file(file)["StudyInstanceUID"]
    return client.get("studies", params={"StudyInstanceUID": study, **params}, headers={"Accept": JSON, **headers})


@pytest.mark.requirement("CHARSET-001")
@pytest.mark.parametrize("via", ["query-parameter", "accept-charset"])
@pytest.mark.uses("wado-rendered")
def test_rendered_supports_the_utf8_charset_name(client, truth, expect, via):
    params, headers = ({"charset": "UTF-8"}, {}) if via == "query-parameter" else ({}, {"Accept-Charset": "UTF-8"})
    path = f"{instance_path(truth.instance_by_file(RENDERED))}/rendered"
    response = client.get(path, params=params, headers={"Accept": "image/jpeg", **headers})
    expect.status(response, 200)
    expect.content_type(response, "image/jpeg")


@pytest.mark.requirement("CHARSET-002")
@pytest.mark.parametrize("stored", _IDS)
@pytest.mark.uses("wado-metadata")
def test_charset_query_parameter_on_metadata(client, truth, expect, stored):
    """charset=UTF-8: served in UTF-8, the stored character set transcoded; 406 only for a server that
    cannot transcode it (8.8.5)."""
    file = TEXT_INSTANCES[stored]
    response = client.get(_metadata(truth, file), params={"charset": "UTF-8"}, headers={"Accept": JSON})
    expect.status(response, (200, 406))
    if response.status_code == 200:
        expect.content_type(response, JSON)
        _expect_utf8_names(expect, truth, response, file)


@pytest.mark.requirement("CHARSET-002")
@pytest.mark.parametrize("stored", _IDS)
def test_charset_query_parameter_on_a_search(client, truth, expect, stored):
    file = TEXT_INSTANCES[stored]
    response = _study_search(client, truth, file, {"charset": "UTF-8"}, {})
    expect.status(response, (200, 406))
    if response.status_code == 200:
        _expect_utf8_names(expect, truth, response, file)


@pytest.mark.requirement("CHARSET-003")
@pytest.mark.parametrize("stored", _IDS)
@pytest.mark.parametrize("via", ["accept-charset", "media-type-parameter"])
@pytest.mark.uses("wado-metadata")
def test_selected_character_set_is_transcoded_into(client, truth, expect, via, stored):
    """UTF-8 asked for in Accept-Charset or as the charset parameter of the Accept media type (10.1.3)."""
    file = TEXT_INSTANCES[stored]
    headers = ({"Accept": JSON, "Accept-Charset": "UTF-8"} if via == "accept-charset"
               else {"Accept": f"{JSON}; charset=UTF-8"})
    response = client.get(_metadata(truth, file), headers=headers)
    expect.status(response, (200, 406))
    if response.status_code == 200:
        expect.content_type(response, JSON)
        _expect_utf8_names(expect, truth, response, file)


@pytest.mark.requirement("CHARSET-004")
@pytest.mark.parametrize("via", ["query-parameter", "accept-charset"])
@pytest.mark.uses("wado-metadata")
def test_charset_without_the_glyphs_is_never_served_in_it(client, truth, expect, via):
    """ISO-8859-1 cannot hold the Japanese names of the ISO 2022 IR 87 instance.  Supported, it is the
    Selected Character Set and the answer is 406 (8.8.5); not supported, it is ignored (8.8.1, 8.8.4) and
    the default UTF-8 is selected (200), or it is refused with 400 (8.3.3.2, 8.8.4)."""
    file = TEXT_INSTANCES["ISO 2022 IR 87"]
    params, headers = ({"charset": "ISO-8859-1"}, {}) if via == "query-parameter" else \
        ({}, {"Accept-Charset": "ISO-8859-1"})
    response = client.get(_metadata(truth, file), params=params, headers={"Accept": JSON, **headers})
    expect.status(response, (200, 400, 406))
    if response.status_code == 200:
        expect.content_type(response, JSON)
        charset = _declared_charset(expect, response)
        expect.that(charset.lower() not in ("iso-8859-1", "latin1", "iso_8859-1"), what="charset of the response",
                    expected="not ISO-8859-1 (it cannot hold the names)", actual=charset, response=response)
        _expect_names(expect, truth, response, file)


@pytest.mark.requirement("CHARSET-005")
@pytest.mark.parametrize("value", ["x-no-such-charset", "*", "UTF-8;q=abc"], ids=["unknown", "wildcard", "bad-weight"])
@pytest.mark.uses("wado-metadata")
def test_invalid_charset_query_parameter_is_400_or_ignored(client, truth, expect, value):
    """8.3.3.2 (no wildcards; a value "that is not a valid or supported character set": 400) and 8.8.1
    ("Any charset values that are not valid or not supported shall be ignored"): either answer."""
    file = TEXT_INSTANCES["ISO_IR 192"]
    response = client.get(_metadata(truth, file), params={"charset": value}, headers={"Accept": JSON})
    expect.status(response, (200, 400))
    if response.status_code == 200:
        expect.content_type(response, JSON)
        _expect_names(expect, truth, response, file)
