"""STOW-RS: the Store transaction (PS3.18 2019a 10.5) and its response module (Annex I).

Every test stores instances under brand-new UIDs (``fresh_truth()``), so
nothing collides with the run's data or another run's.  Expected values come
from the fixture manifest: what was sent is known exactly.

Status codes (table 10.5.3-1): 200 all stored; 202 some stored, others
failed; 400 none stored because of bad syntax; 409 none stored because of a
conflict such as a Study Instance UID mismatch on ``POST /studies/{study}``;
415 unsupported request Content-Type.
"""

from __future__ import annotations

import io

import pydicom
import pytest
from lxml import etree
from PIL import Image

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.stow import (FAILED_SOP_SEQUENCE, JSON, OTHER_FAILURES_SEQUENCE,
                                              REFERENCED_SOP_INSTANCE, REFERENCED_SOP_SEQUENCE, RETRIEVE_URL,
                                              check_failure_reasons, check_partly_stored, check_referenced,
                                              failed_uids, items, not_stored, store_module, stored_nothing, values)
from dicomweb_conformance.preconditions import blocked
from dicomweb_conformance.schemas import NATIVE_DICOM_NS

XML = "application/dicom+xml"
SMALL = "wang-ct-001.dcm"  # 50 kB, JPEG-LS, GB18030
OTHER = "yamada-cr-001.dcm"  # 62 kB, another study
NOT_DICOM = b"This is not a DICOM Part 10 file: no preamble, no DICM prefix.\r\n" * 4


# -- success ------------------------------------------------------------------------------------------
@pytest.mark.requirement("STOW-001", "STOW-002", "STOW-003")
def test_store_one_instance(client, fresh_truth, expect):
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    response = client.stow([fresh.file_bytes(instance["SOPInstanceUID"])])
    expect.status(response, 200, req="STOW-001")
    module = store_module(response, expect, req="STOW-002")
    expect.that(RETRIEVE_URL in module, req="STOW-002", what="RetrieveURL (0008,1190) of the module",
                expected="present (Type 2)", actual="absent", response=response)
    check_referenced(module, [instance], expect, response, "STOW-003")
    expect.equal(failed_uids(module), [], req="STOW-001", what="FailedSOPSequence items", response=response)
    urls = values(items(module, REFERENCED_SOP_SEQUENCE)[0], RETRIEVE_URL)
    if not urls:
        return  # Type 2 and empty: nothing to follow
    retrieved = client.get(urls[0], headers={"Accept": 'multipart/related; type="application/dicom"'})
    expect.status(retrieved, 200, req="STOW-003")
    mp = expect_multipart(retrieved, req="STOW-003", root_type="application/dicom")
    ds = pydicom.dcmread(io.BytesIO(mp.parts[0].body))
    expect.equal(str(ds.SOPInstanceUID), instance["SOPInstanceUID"], req="STOW-003", response=retrieved,
                 what="SOP Instance UID retrieved from the RetrieveURL of the ReferencedSOPSequence item")


@pytest.mark.requirement("STOW-001", "STOW-003")
def test_store_several_instances_in_one_request(client, fresh_truth, expect):
    """Six MR instances in four Transfer Syntaxes and a palette-colour image, one part each (10.5.1.4)."""
    fresh = fresh_truth()
    sent = fresh.instances_where(lambda i: i["file"].startswith(("doe-mr-t2-", "doe-sc-palette-")))
    response = client.stow([fresh.file_bytes(i["SOPInstanceUID"]) for i in sent])
    expect.status(response, 200, req="STOW-001")
    check_referenced(store_module(response, expect, req="STOW-003"), sent, expect, response, "STOW-003")


@pytest.mark.requirement("STOW-001", "STOW-011")
def test_store_to_the_study_resource(client, fresh_truth, expect):
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    study = instance["StudyInstanceUID"]
    response = client.stow([fresh.file_bytes(instance["SOPInstanceUID"])], study=study)
    expect.status(response, 200, req="STOW-001")
    module = store_module(response, expect, req="STOW-011")
    # Annex I: Retrieve URL (0008,1190) is Type 2: present; when it has a value, the study's URL
    expect.that(RETRIEVE_URL in module, req="STOW-011", what="RetrieveURL (0008,1190) of the module",
                expected="present (Type 2, Annex I)", actual="absent", response=response)
    url = values(module, RETRIEVE_URL)
    expect.that(not url or (len(url) == 1 and str(url[0]).rstrip("/").endswith(f"studies/{study}")),
                req="STOW-011", what="RetrieveURL (0008,1190) of the module",
                expected=f"empty (Type 2) or .../studies/{study}", actual=url, response=response)


@pytest.mark.requirement("STOW-009")
def test_stored_instance_is_found_by_qido(client, fresh_truth, expect):
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    expect.status(client.stow([fresh.file_bytes(instance["SOPInstanceUID"])]), 200)
    response = client.get("instances", params={"SOPInstanceUID": instance["SOPInstanceUID"],
                                               "includefield": "PatientID"}, headers={"Accept": JSON})
    expect.status(response, 200)
    found = expect.json_body(response)  # the JSON Model itself is MODEL-001..003's, tested on QIDO-RS results
    expect.that(isinstance(found, list) and all(isinstance(ds, dict) for ds in found), response=response,
                what="QIDO-RS payload", expected="a JSON array of datasets", actual=type(found).__name__)
    expect.equal(len(found), 1, what="QIDO-RS results for the stored SOP Instance UID", response=response)
    for keyword, tag in (("StudyInstanceUID", "0020000D"), ("SeriesInstanceUID", "0020000E"),
                         ("SOPClassUID", "00080016"), ("PatientID", "00100020")):
        expect.equal(values(found[0], tag), [instance[keyword]], what=f"{keyword} of the stored instance",
                     response=response)


@pytest.mark.requirement("STOW-002", "STOW-003", "STOW-012")
def test_xml_response(client, fresh_truth, expect):
    """The module as a Native DICOM Model document (application/dicom+xml, or one multipart part)."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    response = client.stow([fresh.file_bytes(instance["SOPInstanceUID"])],
                           accept=f'{XML}, multipart/related; type="{XML}"')
    expect.status(response, 200, req="STOW-002")
    ctype = expect.parse_media_type(response.headers.get("Content-Type", ""))[0]
    if ctype == "multipart/related":
        document = expect_multipart(response, req="STOW-012", root_type=XML, part_types=XML).parts[0].body
    else:
        expect.content_type(response, XML, req="STOW-012")
        document = response.content
    expect.dicom_xml(document, req="STOW-012", response=response)
    root = etree.fromstring(document)
    ns = {"d": NATIVE_DICOM_NS}
    uids = root.xpath(f'd:DicomAttribute[@tag="{REFERENCED_SOP_SEQUENCE}"]/d:Item/'
                      f'd:DicomAttribute[@tag="{REFERENCED_SOP_INSTANCE}"]/d:Value/text()', namespaces=ns)
    expect.equal([u.strip() for u in uids], [instance["SOPInstanceUID"]], req="STOW-003", response=response,
                 what="ReferencedSOPInstanceUID values in the XML ReferencedSOPSequence")


# -- failures -------------------------------------------------------------------------------------------
@pytest.mark.requirement("STOW-005", "STOW-004")
def test_study_uid_mismatch_is_409(client, fresh_truth, expect):
    """10.5.3.1: a Study Instance UID mismatch with nothing stored is 409 Conflict."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    other_study = fresh.instance_by_file(OTHER)["StudyInstanceUID"]
    response = client.stow([fresh.file_bytes(instance["SOPInstanceUID"])], study=other_study)
    expect.status(response, 409, req="STOW-005")
    if expect.parse_media_type(response.headers.get("Content-Type", ""))[0] == JSON:
        module = store_module(response, expect, req="STOW-004")  # a failure payload is optional (10.5.3.3)
        expect.equal(failed_uids(module), [instance["SOPInstanceUID"]], req="STOW-004", response=response,
                     what="ReferencedSOPInstanceUID of the FailedSOPSequence (0008,1198) items")
        check_failure_reasons(module, expect, response, "STOW-004")
    not_stored(client, expect, instance["SOPInstanceUID"], "STOW-005")


@pytest.mark.requirement("STOW-005", "STOW-008", "STOW-003", "STOW-004")
def test_study_uid_mismatch_among_good_instances_is_202(client, fresh_truth, expect):
    fresh = fresh_truth()
    good, bad = fresh.instance_by_file(SMALL), fresh.instance_by_file(OTHER)
    response = client.stow([fresh.file_bytes(good["SOPInstanceUID"]), fresh.file_bytes(bad["SOPInstanceUID"])],
                           study=good["StudyInstanceUID"])
    # Table 10.5.3-1: 409 when the origin server "was unable to store any instances": a transactional
    # server that stored nothing is conformant; one that stored the good instance owed 202
    check_partly_stored(client, expect, response, good, bad, "STOW-005", nothing_stored=(409,))


@pytest.mark.requirement("STOW-008", "STOW-003", "STOW-004")
def test_good_instance_with_a_part_that_is_not_dicom_is_202(client, fresh_truth, expect):
    """The failed part has no SOP Instance UID: its item may be in FailedSOPSequence or Other Failures Sequence."""
    fresh = fresh_truth()
    good = fresh.instance_by_file(SMALL)
    response = client.stow([fresh.file_bytes(good["SOPInstanceUID"]), NOT_DICOM])
    if response.status_code in (400, 409):
        # Table 10.5.3-1: 400 "unable to store any instances due to bad syntax", 409 "for a mixture of
        # reasons": conformant when nothing was stored
        stored_nothing(client, expect, good, None, response)
        return
    expect.status(response, 202, req="STOW-008")
    module = store_module(response, expect, req="STOW-004")
    check_referenced(module, [good], expect, response, "STOW-003")
    check_failure_reasons(module, expect, response, "STOW-004", tags=(FAILED_SOP_SEQUENCE, OTHER_FAILURES_SEQUENCE))


@pytest.mark.requirement("STOW-007")
def test_only_parts_that_are_not_dicom_is_400(client, expect):
    expect.status(client.stow([NOT_DICOM, NOT_DICOM[::-1]]), 400)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), 128).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.requirement("STOW-006")
@pytest.mark.parametrize("kind", ["application/json", "text/plain", "multipart-image/png"])
def test_unsupported_request_content_type_is_415(client, expect, kind):
    """A body the Store transaction does not define (10.5.1.4): JSON, text, multipart of PNG images."""
    if kind == "multipart-image/png":
        response = client.stow([_png()], part_type="image/png")
    else:
        body = b'{"00100010": {"vr": "PN"}}' if kind == "application/json" else b"hello"
        response = client.post("studies", data=body, headers={"Content-Type": kind, "Accept": JSON})
    expect.status(response, 415)


# -- response header fields (10.5.3.2) -----------------------------------------------------------------
@pytest.mark.requirement("STOW-014")
def test_response_names_the_created_resource(client, fresh_truth, expect):
    """Table 10.5.3-2: Location and Content-Location "Shall be present if a new resource was created"; a new
    study was created here, so each names a URL under it (the study or one of its instances)."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    response = client.stow([fresh.file_bytes(instance["SOPInstanceUID"])])
    if response.status_code != 200:
        blocked("STOW-001", f"storing one instance answered {response.status_code}, not 200")
    for name in ("Location", "Content-Location"):
        url = expect.header(response, name)
        expect.that(f"studies/{instance['StudyInstanceUID']}" in url, response=response,
                    what=f"{name} header", expected=f"a URL of the created study .../studies/"
                    f"{instance['StudyInstanceUID']}[/...]", actual=url)


@pytest.mark.requirement("STOW-015")
def test_response_has_content_type_and_length(client, fresh_truth, expect):
    """Table 10.5.3-2: Content-Type (M) of the payload; Content-Length "Shall be present if the response payload
    does not have a content encoding" (a chunked response cannot, RFC 7230 3.3.2, and is accepted)."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file(SMALL)
    response = client.stow([fresh.file_bytes(instance["SOPInstanceUID"])])
    body = response.content
    if body:
        media = expect.parse_media_type(expect.header(response, "Content-Type"))[0]
        expect.that("/" in media, what="Content-Type of the payload", expected="type/subtype", actual=media,
                    response=response)
    coding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if coding == "identity" and not response.headers.get("Transfer-Encoding"):
        length = expect.header(response, "Content-Length")
        expect.equal(length.strip(), str(len(body)), what="Content-Length against the payload size",
                     response=response)
