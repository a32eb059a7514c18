"""WADO-RS Retrieve Bulkdata: the BulkDataURIs found in metadata (PS3.18-2019a 10.4.1.1.1, 8.7.3.3, F.2.6).

The URIs are discovered in the target's metadata; the expected bytes are the
manifest's (``bulk[].sha256``, ``native_frames_sha256``).  In 2019a the media
type multipart/related; type="application/octet-stream" is Required (table 10.4.4-1).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.wado import element_at, instance_path, lossy_only_refusal, native_problem, sha256

JSON = "application/dicom+json"
OCTETS = 'multipart/related; type="application/octet-stream"'
PIXEL_DATA = "7FE00010"
_MANIFEST = fixtures.load_manifest()
_BULK = [(i["file"], b["path"]) for i in _MANIFEST["instances"] for b in i["bulk"]
         if not i["file"].startswith("vix-ct-axial-") or i["file"] in ("vix-ct-axial-001.dcm", "vix-ct-axial-040.dcm")]
#: Pixel Data of native single- and multi-frame instances, and of compressed ones (decompressed, 8.7.3.3).
_PIXEL_FILES = ["doe-mr-t2-001.dcm", "sato-mr-cine-001.dcm", "vix-sc-rgb-001.dcm", "vix-ct-localizer-001.dcm",
                "doe-mr-t2-003.dcm", "yamada-cr-001.dcm", "doe-sc-palette-001.dcm", "jane-us-doppler-001.dcm",
                "jane-us-cine-001.dcm"]


def _bulk_uri(client, expect, inst: dict[str, Any], path: str, req: str) -> str | None:
    """The absolute BulkDataURI of the element at ``path`` in the instance's metadata (None if InlineBinary)."""
    response = client.get(f"{instance_path(inst)}/metadata", headers={"Accept": JSON})
    expect.status(response, 200, req=req)
    datasets = expect.json_body(response, req=req)
    expect.that(isinstance(datasets, list) and len(datasets) == 1, req=req, what="instance metadata",
                expected="an array of one dataset", actual=f"{type(datasets).__name__} of {len(datasets)}",
                response=response)
    element = element_at(datasets[0], path)
    expect.that(element is not None, req=req, what=f"element {path} in metadata", expected="present",
                actual="missing", response=response)
    uri = element.get("BulkDataURI")
    if uri is None:
        return None
    expect.that(isinstance(uri, str) and uri, req=req, what=f"BulkDataURI of {path}", expected="a URI string",
                actual=uri, response=response)
    return urljoin(response.url, uri)


@pytest.mark.requirement("WADO-014")
@pytest.mark.parametrize("file, path", _BULK, ids=[f"{f}:{p}" for f, p in _BULK])
def test_bulk_data_uri_returns_the_stored_value(client, truth, expect, file, path):
    inst = truth.instance_by_file(file)
    bulk = next(b for b in inst["bulk"] if b["path"] == path)
    uri = _bulk_uri(client, expect, inst, path, "WADO-014")
    if uri is None:
        pytest.skip(f"{path} is given as InlineBinary (checked by the metadata tests)")
    response = client.get(uri, headers={"Accept": OCTETS})
    expect.status(response, 200)
    mp = expect_multipart(response, root_type="application/octet-stream", part_types="application/octet-stream")
    expect.equal(len(mp.parts), 1, what="number of parts of one bulk data value", response=response)
    body = mp.parts[0].body
    expect.equal(len(body), bulk["length"], what=f"length of the {bulk['vr']} value {path}", response=response)
    expect.equal(sha256(body), bulk["sha256"], what=f"SHA-256 of the {bulk['vr']} value {path}", response=response)


@pytest.mark.requirement("WADO-046")
@pytest.mark.parametrize("file", _PIXEL_FILES)
def test_pixel_data_bulk_data_uri_returns_native_pixels(client, truth, expect, file):
    inst = truth.instance_by_file(file)
    uri = _bulk_uri(client, expect, inst, PIXEL_DATA, "WADO-046")
    expect.that(uri is not None, what="BulkDataURI of Pixel Data", expected="present (WADO-031)",
                actual="InlineBinary")
    response = client.get(uri, headers={"Accept": OCTETS})
    if lossy_only_refusal(response, inst):
        return  # 8.7.3.3: a server with only the lossy pixel data may refuse octet-stream (406)
    expect.status(response, 200)
    mp = expect_multipart(response, root_type="application/octet-stream", part_types="application/octet-stream")
    data = b"".join(part.body for part in mp.parts)
    size = inst["Rows"] * inst["Columns"] * inst["SamplesPerPixel"] * inst["BitsAllocated"] // 8
    frames = [data[i * size:(i + 1) * size] for i in range(len(data) // size)] if size else []
    expect.that(len(data) in (size * inst["NumberOfFrames"], size * inst["NumberOfFrames"] + 1),
                what="length of the native Pixel Data", expected=f"{size * inst['NumberOfFrames']} bytes "
                f"({inst['NumberOfFrames']} frame(s) of {size})", actual=f"{len(data)} bytes", response=response)
    problem = native_problem(frames, inst, truth)
    expect.that(problem is None, what=f"native pixel bytes of {file} (stored in {inst['TransferSyntaxUID']})",
                expected="the stored pixel values, little endian", actual=problem, response=response)


@pytest.mark.requirement("HTTP-007", "HTTP-008", "WADO-014")
def test_bulk_data_response_has_the_multipart_syntax_of_8_6_1_2(client, truth, expect):
    inst = truth.instance_by_file("doe-sc-palette-001.dcm")
    uri = _bulk_uri(client, expect, inst, inst["bulk"][0]["path"], "WADO-014")
    if uri is None:
        uri = _bulk_uri(client, expect, inst, PIXEL_DATA, "WADO-014")
    response = client.get(uri, headers={"Accept": OCTETS})
    expect.status(response, 200, req="WADO-014")
    expect.content_type(response, OCTETS, req="HTTP-008")
    expect_multipart(response, req="HTTP-007", strict=True, root_type="application/octet-stream")
