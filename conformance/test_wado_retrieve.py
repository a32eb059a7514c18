"""WADO-RS Retrieve of DICOM resources: study, series, instance (PS3.18-2019a 10.4.1.1.1, 8.7.3, 8.6.1.2).

Expected instances and pixel values come from the manifest (``truth``): the
SOP Instance UIDs of each study/series, ``frames_sha256`` (frames as stored)
and ``native_frames_sha256`` (frames decoded); each part is parsed with pydicom.
"""

from __future__ import annotations

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.preconditions import blocked
from dicomweb_conformance.checks.wado import (EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, instance_path,
                                     instance_pixel_problem, read_part10, series_path, study_path)

DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
DICOM_DEFAULT = 'multipart/related; type="application/dicom"'
_MANIFEST = fixtures.load_manifest()
_STUDIES = [s["StudyInstanceUID"] for s in _MANIFEST["studies"]]
_SERIES_KEYS = [s["key"] for s in _MANIFEST["series"]]
#: One instance of every series and Transfer Syntax (all but 39 of the 40 axial CT slices).
_INSTANCE_FILES = sorted({i["file"] for i in _MANIFEST["instances"]
                          if not i["file"].startswith("vix-ct-axial-") or i["file"] == "vix-ct-axial-001.dcm"})
_FORBIDDEN = {IMPLICIT_VR_LE: "Implicit VR Little Endian", EXPLICIT_VR_BE: "Explicit VR Big Endian"}


def _study_id(uid: str) -> str:
    return next(s["PatientID"] for s in _MANIFEST["studies"] if s["StudyInstanceUID"] == uid) + "-" + uid[-5:]


def _parts_as_datasets(expect, response, mp, req):
    """[(part, dataset)] of application/dicom parts; a part that is no DICOM File fails ``req``."""
    out = []
    for part in mp.parts:
        try:
            out.append((part, read_part10(part.body)))
        except ValueError as exc:
            expect.fail(req=req, what=f"part {part.index} as a DICOM File (PS3.10)", expected="a readable DICOM File",
                        actual=str(exc), response=response)
    return out


def _single(expect, response, mp, req):
    """The (part, dataset) of a one-instance response; fails ``req`` unless there is exactly one part."""
    expect.equal(len(mp.parts), 1, req=req, what="number of parts for one instance", response=response)
    return _parts_as_datasets(expect, response, mp, req)[0]


def _check_instances(expect, truth, response, expected, *, any_syntax: bool, req_set: str) -> None:
    """The parts hold exactly ``expected`` instances with faithful pixel data in an allowed Transfer Syntax."""
    mp = expect_multipart(response, req=req_set, root_type="application/dicom", part_types="application/dicom")
    pairs = _parts_as_datasets(expect, response, mp, req_set)
    expect.same_set([str(ds.SOPInstanceUID) for _, ds in pairs], [i["SOPInstanceUID"] for i in expected],
                    req=req_set, what="SOP Instance UIDs of the returned instances", response=response)
    expect.equal(len(pairs), len(expected), req=req_set, what="number of parts (one per instance)", response=response)
    for part, ds in pairs:
        inst = truth.instance(str(ds.SOPInstanceUID))
        ts = str(ds.file_meta.TransferSyntaxUID)
        name = f"part {part.index} ({inst['file']}, stored in {inst['TransferSyntaxUID']})"
        expect.that(ts not in _FORBIDDEN, req="WADO-005", what=f"Transfer Syntax of {name}",
                    expected="neither Implicit VR Little Endian nor Explicit VR Big Endian (8.7.3)",
                    actual=f"{ts} ({_FORBIDDEN.get(ts)})", response=response)
        if part.transfer_syntax is not None:
            expect.equal(part.transfer_syntax, ts, req="WADO-028", response=response,
                         what=f"transfer-syntax parameter of the Content-Type of {name} (File Meta: {ts})")
        if not any_syntax:
            allowed = {EXPLICIT_VR_LE} | ({inst["TransferSyntaxUID"]} if inst["lossy"] else set())
            expect.that(ts in allowed, req="WADO-004", what=f"Transfer Syntax of {name} without transfer-syntax",
                        expected=" or ".join(sorted(allowed)), actual=ts, response=response,
                        note="8.7.3.4: the default is Explicit VR Little Endian unless only a lossy form exists")
        problem = instance_pixel_problem(ds, inst, truth)
        expect.that(problem is None, req="WADO-023" if any_syntax else "WADO-024", response=response,
                    what=f"pixel data of {name} returned in {ts}", expected="the stored pixel values", actual=problem)


@pytest.mark.requirement("WADO-001", "WADO-005", "WADO-006", "WADO-023", "WADO-028")
@pytest.mark.parametrize("fixture_study", _STUDIES, ids=_study_id)
def test_study_retrieval_returns_every_instance_as_stored(client, truth, expect, fixture_study):
    study = truth.study(truth.uid(fixture_study))
    response = client.get(study_path(study), headers={"Accept": DICOM_ANY})
    expect.status(response, 200, req=["WADO-001", "WADO-006"])
    _check_instances(expect, truth, response, truth.instances_in_study(study["StudyInstanceUID"]),
                     any_syntax=True, req_set="WADO-001")


@pytest.mark.requirement("WADO-002", "WADO-004", "WADO-005", "WADO-024", "WADO-028")
@pytest.mark.parametrize("series_key", _SERIES_KEYS)
def test_series_retrieval_defaults_to_explicit_vr_little_endian(client, truth, expect, series_key):
    series = truth.series_by_key(series_key)
    response = client.get(series_path(series), headers={"Accept": DICOM_DEFAULT})
    expect.status(response, 200, req="WADO-002")
    _check_instances(expect, truth, response, truth.instances_in_series(series["SeriesInstanceUID"]),
                     any_syntax=False, req_set="WADO-002")


@pytest.mark.requirement("WADO-003", "WADO-004", "WADO-005", "WADO-024", "WADO-028")
@pytest.mark.parametrize("file", _INSTANCE_FILES)
def test_instance_retrieval_returns_that_instance(client, truth, expect, file):
    inst = truth.instance_by_file(file)
    response = client.get(instance_path(inst), headers={"Accept": DICOM_DEFAULT})
    expect.status(response, 200, req="WADO-003")
    _check_instances(expect, truth, response, [inst], any_syntax=False, req_set="WADO-003")


@pytest.mark.requirement("WADO-047")
def test_parts_name_their_transfer_syntax_with_the_wildcard(client, truth, expect):
    series = truth.series_by_key("doe-mr-t2")  # four Transfer Syntaxes in one series
    response = client.get(series_path(series), headers={"Accept": DICOM_ANY})
    expect.status(response, 200)
    mp = expect_multipart(response, root_type="application/dicom")
    for part, ds in _parts_as_datasets(expect, response, mp, "WADO-047"):
        expect.equal(part.transfer_syntax, str(ds.file_meta.TransferSyntaxUID), response=response,
                     what=f"transfer-syntax parameter of part {part.index} (File Meta: {ds.file_meta.TransferSyntaxUID})")


@pytest.mark.requirement("WADO-029", "WADO-024")
@pytest.mark.parametrize("file", ["doe-mr-t2-003.dcm", "doe-mr-t2-005.dcm", "doe-mr-t2-006.dcm",
                                  "jane-us-doppler-001.dcm", "vix-ct-localizer-001.dcm"])
def test_explicit_vr_little_endian_can_be_requested_explicitly(client, truth, expect, file):
    inst = truth.instance_by_file(file)
    response = client.get(instance_path(inst), headers={"Accept": f"{DICOM_DEFAULT}; transfer-syntax={EXPLICIT_VR_LE}"})
    expect.status(response, 200, req="WADO-029")
    mp = expect_multipart(response, req="WADO-029", root_type="application/dicom", part_types="application/dicom")
    part, ds = _single(expect, response, mp, "WADO-029")
    expect.equal(str(ds.file_meta.TransferSyntaxUID), EXPLICIT_VR_LE, req="WADO-029", response=response,
                 what=f"Transfer Syntax of {file} (stored in {inst['TransferSyntaxUID']})")
    problem = instance_pixel_problem(ds, inst, truth)
    expect.that(problem is None, req="WADO-024", what=f"pixel data of {file} in Explicit VR Little Endian",
                expected="the stored pixel values", actual=problem, response=response)


#: Lossless Transfer Syntaxes a server that claims transcoding may offer (table 8.7.3-2, optional ones).
_LOSSLESS_TARGETS = ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
                     "1.2.840.10008.1.2.4.70"]


@pytest.mark.requirement("WADO-007")
@pytest.mark.parametrize("syntax", _LOSSLESS_TARGETS)
def test_lossless_transcoding_keeps_pixel_values(client, truth, expect, syntax):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")  # stored in Explicit VR LE
    response = client.get(instance_path(inst), headers={"Accept": f"{DICOM_DEFAULT}; transfer-syntax={syntax}"})
    expect.status(response, (200, 406), req="WADO-007")
    if response.status_code == 406:  # an optional Transfer Syntax this server does not offer (8.7.8.1 step 5)
        return
    mp = expect_multipart(response, req="WADO-007", root_type="application/dicom", part_types="application/dicom")
    part, ds = _single(expect, response, mp, "WADO-007")
    expect.equal(str(ds.file_meta.TransferSyntaxUID), syntax, req="WADO-007", response=response,
                 what="Transfer Syntax of the 200 answer to transfer-syntax=" + syntax)
    problem = instance_pixel_problem(ds, inst, truth)
    expect.that(problem is None, req="WADO-007", what=f"pixel data transcoded to {syntax}",
                expected="the stored pixel values (lossless)", actual=problem, response=response)


@pytest.mark.requirement("WADO-007")
def test_a_server_claiming_transcoding_offers_a_lossless_compressed_syntax(client, truth, expect):
    inst = truth.instance_by_file("doe-mr-t2-002.dcm")
    statuses = {}
    for syntax in _LOSSLESS_TARGETS:
        response = client.get(instance_path(inst), headers={"Accept": f"{DICOM_DEFAULT}; transfer-syntax={syntax}"})
        statuses[syntax] = response.status_code
        if response.status_code == 200:
            return
    expect.fail(req="WADO-007", what="transfer-syntax of any lossless compressed syntax of table 8.7.3-2",
                expected="200 for at least one", actual=statuses)


@pytest.mark.requirement("WADO-025", "WADO-005")
@pytest.mark.parametrize("syntax", [IMPLICIT_VR_LE, EXPLICIT_VR_BE, "1.2.826.0.1.3680043.2.1143.999.42"],
                         ids=["implicit-vr-le", "explicit-vr-be", "unknown-uid"])
def test_unsupported_transfer_syntax_is_not_served(client, truth, expect, syntax):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    response = client.get(instance_path(inst), headers={"Accept": f"{DICOM_DEFAULT}; transfer-syntax={syntax}"})
    expect.status(response, (200, 406), req="WADO-025")
    if response.status_code == 200:  # 8.7.7 reading: the unsupported value was ignored -> the default syntax
        mp = expect_multipart(response, req="WADO-025", root_type="application/dicom")
        for part, ds in _parts_as_datasets(expect, response, mp, "WADO-025"):
            ts = str(ds.file_meta.TransferSyntaxUID)
            # a part in a syntax 8.7.3 forbids on the web also breaks WADO-005
            expect.equal(ts, EXPLICIT_VR_LE, req=["WADO-025", "WADO-005"] if ts in _FORBIDDEN else "WADO-025",
                         response=response, what=f"Transfer Syntax of part {part.index} when {syntax} was asked for")


@pytest.mark.requirement("WADO-026")
@pytest.mark.parametrize("syntax", [IMPLICIT_VR_LE, "1.2.826.0.1.3680043.2.1143.999.42"],
                         ids=["implicit-vr-le", "unknown-uid"])
def test_unsupported_transfer_syntax_is_answered_406(client, truth, expect, syntax):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    response = client.get(instance_path(inst), headers={"Accept": f"{DICOM_DEFAULT}; transfer-syntax={syntax}"})
    expect.status(response, 406)


def _unknown(truth, suffix: str) -> str:
    return f"{truth.uid_root}.999.{suffix}"


@pytest.mark.requirement("WADO-008")
@pytest.mark.parametrize("level", ["study", "series", "instance", "instance-in-other-series"])
def test_retrieving_a_resource_that_does_not_exist_is_404(client, truth, expect, level):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    other = truth.series_by_key("doe-sc-palette")  # same study, another series
    path = {"study": f"studies/{_unknown(truth, '1')}",
            "series": f"{study_path(inst)}/series/{_unknown(truth, '2')}",
            "instance": f"{series_path(inst)}/instances/{_unknown(truth, '3')}",
            "instance-in-other-series": f"{series_path(other)}/instances/{inst['SOPInstanceUID']}"}[level]
    response = client.get(path, headers={"Accept": DICOM_DEFAULT})
    expect.status(response, 404)


@pytest.mark.requirement("HTTP-007", "HTTP-008", "WADO-001")
@pytest.mark.parametrize("resource", ["series", "instance"])
def test_retrieve_response_has_the_multipart_syntax_of_8_6_1_2(client, truth, expect, resource):
    inst = truth.instance_by_file("jane-us-cine-001.dcm")
    path = series_path(inst) if resource == "series" else instance_path(inst)
    response = client.get(path, headers={"Accept": DICOM_ANY})
    expect.status(response, 200, req="WADO-001")
    expect.content_type(response, 'multipart/related; type="application/dicom"', req="HTTP-008")
    expect_multipart(response, req="HTTP-007", strict=True, root_type="application/dicom",
                     part_types="application/dicom")


@pytest.mark.requirement("HTTP-009")
@pytest.mark.parametrize("resource", ["series", "instance"])
def test_retrieve_parts_carry_content_location(client, truth, expect, resource):
    """8.6.1.2: "Other header fields may be included, such as Content-Location, and either the
    Content-Length or Content-Encoding header field"; the part grammar of 8.6.1.2.1 lists it (SHOULD,
    as WADO-027 for Content-Length, which rests on the same sentence)."""
    inst = truth.instance_by_file("jane-us-cine-001.dcm")
    path = series_path(inst) if resource == "series" else instance_path(inst)
    response = client.get(path, headers={"Accept": DICOM_ANY})
    if response.status_code != 200:
        blocked("WADO-001", f"the retrieval answered {response.status_code}, not 200")
    expect_multipart(response, req="HTTP-009", require_location=True)


_LENGTH_CASES = {"retrieve-as-stored": ("", DICOM_ANY), "retrieve-transcoded": ("", DICOM_DEFAULT),
                 "metadata-xml": ("/metadata", 'multipart/related; type="application/dicom+xml"'),
                 "frames": ("/frames/1", 'multipart/related; type="application/octet-stream"')}


@pytest.mark.requirement("WADO-027")
@pytest.mark.parametrize("case", list(_LENGTH_CASES))
def test_multipart_parts_carry_content_length(client, truth, expect, case):
    inst = truth.instance_by_file("doe-mr-t2-003.dcm")  # JPEG-LS: the default syntax needs decompression
    suffix, accept = _LENGTH_CASES[case]
    response = client.get(instance_path(inst) + suffix, headers={"Accept": accept})
    expect.status(response, 200)
    expect_multipart(response, require_length=True)
