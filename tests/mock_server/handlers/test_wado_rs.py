"""WADO-RS over HTTP (PS3.18 2019a 10.4): instances, metadata, frames and bulk data.

Every expected value comes from the standard or from the fixture manifest
(``fixtures/manifest.json``); pixel data is decoded with pydicom / Pillow and
compared with the manifest's hashes, never with the server's own output.
Multipart bodies are split by a strict local parser (RFC 2046), not by the
mock's multipart module.
"""

from __future__ import annotations

import email.message
import hashlib
import io
import json
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.encaps import generate_frames
from lxml import etree

import dicomweb_fixtures as fixtures
from dicomweb_conformance.schemas import validate_json, validate_xml
from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from tests.helpers.part10 import assert_kept
from tests.helpers.http import MockClient

ROOT = "/dicom-web/"
BASE = "http://localhost" + ROOT
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
RLE, JLS, J2K, JPEG_BASELINE = ("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80",
                                "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.50")
MANIFEST = fixtures.load_manifest()
INST = {i["file"].removesuffix(".dcm"): i for i in MANIFEST["instances"]}
STUDIES = {s["StudyInstanceUID"]: s for s in MANIFEST["studies"]}
SERIES = {s["SeriesInstanceUID"]: s for s in MANIFEST["series"]}
PATIENTS = {p["PatientID"]: p for p in MANIFEST["patients"]}
COMPRESSED = [n for n, i in INST.items() if "compressed" in i["features"]]


# ----------------------------------------------------------------------------- helpers
def media_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` and unquoted parameters of a Content-Type value (stdlib parser)."""
    msg = email.message.Message()
    msg["Content-Type"] = value
    return msg.get_content_type(), {k.lower(): v for k, v in msg.get_params()[1:]}


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a ``multipart/related`` body (RFC 2046 5.1.1), headers lower-cased."""
    mtype, params = media_params(content_type)
    assert mtype == "multipart/related", content_type
    boundary = params["boundary"].encode()
    segments = (b"\r\n" + body).split(b"\r\n--" + boundary)
    assert segments[0] == b"", "unexpected preamble"
    assert segments[-1].startswith(b"--"), "missing close delimiter"
    parts = []
    for seg in segments[1:-1]:
        head, sep, content = seg.lstrip(b" \t")[2:].partition(b"\r\n\r\n")
        assert seg.lstrip(b" \t").startswith(b"\r\n") and sep, "malformed part"
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head.decode("latin-1").split("\r\n"))}
        if "content-length" in headers:
            assert int(headers["content-length"]) == len(content)
        parts.append((headers, content))
    assert parts, "multipart body without parts"
    return parts


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


UID_KEY = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID", "instance": "SOPInstanceUID"}


def resource_path(level: str, inst: dict[str, Any]) -> str:
    """PS3.18 table 10.4.1-1 URI of the study, series or instance holding ``inst``."""
    segments = [f"{name}/{inst[key]}" for name, key in zip(("studies", "series", "instances"), UID_KEY.values())]
    return ROOT + "/".join(segments[:list(UID_KEY).index(level) + 1])


def path_of(inst: dict[str, Any], suffix: str = "") -> str:
    return resource_path("instance", inst) + suffix


def location_of(inst: dict[str, Any], base: str = BASE) -> str:
    return base + path_of(inst)[len(ROOT):]


def read_part10(data: bytes) -> pydicom.Dataset:
    assert data[128:132] == b"DICM", "not a DICOM Part 10 file (PS3.10 7.1)"
    return pydicom.dcmread(io.BytesIO(data))


def native_bytes(ds: pydicom.Dataset) -> list[bytes]:
    """Decoded frames as little-endian colour-by-pixel bytes (PS3.18 8.7.3.3.1)."""
    frames = int(ds.get("NumberOfFrames") or 1)
    arr = ds.pixel_array if frames > 1 else ds.pixel_array[np.newaxis]
    dtype = np.dtype(f"<{'i' if ds.PixelRepresentation else 'u'}{ds.BitsAllocated // 8}")
    return [np.ascontiguousarray(a, dtype=dtype).tobytes() for a in arr]


@pytest.fixture(scope="module")
def stored() -> dict[str, pydicom.Dataset]:
    """The fixture files themselves, by name."""
    return {p.name.removesuffix(".dcm"): pydicom.dcmread(p) for p in fixtures.instance_files()
            if p.name.removesuffix(".dcm") in ("jane-us-cine-001",)}


def assert_native_frames(name: str, frames: list[bytes], numbers: list[int] | None = None,
                         stored_ds: pydicom.Dataset | None = None) -> None:
    """``frames`` equal the manifest's native frames; a lossy instance within +-1 of Pillow's decode."""
    inst = INST[name]
    numbers = numbers or list(range(1, len(frames) + 1))
    assert len(frames) == len(numbers)
    for n, data in zip(numbers, frames):
        if not inst["lossy"]:
            assert sha(data) == inst["native_frames_sha256"][n - 1], f"{name} frame {n}"
            continue
        fragment = list(generate_frames(stored_ds.PixelData, number_of_frames=inst["NumberOfFrames"]))[n - 1]
        reference = np.asarray(Image.open(io.BytesIO(fragment)), dtype=np.uint8)
        assert sha(reference.tobytes()) == inst["native_frames_sha256"][n - 1]  # the oracle is the manifest's
        got = np.frombuffer(data, dtype=np.uint8).reshape(reference.shape)
        assert int(np.abs(got.astype(int) - reference).max()) <= 1, f"{name} frame {n}"


# ----------------------------------------------------------------------------- retrieve instances
@pytest.mark.parametrize("level,name", [("study", n) for n in ("vix-ct-localizer-001", "doe-mr-t2-001",
                                                                 "jane-us-cine-001", "sato-mr-cine-001")]
                         + [("series", "doe-mr-t2-001"), ("series", "vix-ct-localizer-001"),
                            ("instance", "wang-ct-001"), ("instance", "yamada-cr-001")])
def test_retrieve_default_is_explicit_le_and_complete(client: MockClient, stored, level: str, name: str) -> None:
    """PS3.18 10.4.1.1.1, 8.7.3.4: every instance of the resource, in Explicit VR Little Endian."""
    inst = INST[name]
    expected = {i["SOPInstanceUID"]: n for n, i in INST.items() if i[UID_KEY[level]] == inst[UID_KEY[level]]}
    r = client.get(resource_path(level, inst), headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert r.status_code == 200
    mtype, params = media_params(r.headers["Content-Type"])
    assert params["type"] == "application/dicom" and params["boundary"]
    parts = split_multipart(r.headers["Content-Type"], r.data)
    assert len(parts) == len(expected)
    seen = set()
    for headers, body in parts:
        ptype, pparams = media_params(headers["content-type"])
        assert (ptype, pparams.get("transfer-syntax")) == ("application/dicom", EXPLICIT_LE)
        ds = read_part10(body)
        assert ds.file_meta.TransferSyntaxUID == EXPLICIT_LE
        member = expected[ds.SOPInstanceUID]
        assert headers["content-location"] == location_of(INST[member])
        assert_native_frames(member, native_bytes(ds), stored_ds=stored.get(member))
        seen.add(ds.SOPInstanceUID)
    assert seen == set(expected)


def test_retrieve_with_wildcard_syntax_returns_files_as_stored(client: MockClient) -> None:
    """8.7.3.5.2: ``*`` lets the server send what it holds, except syntaxes forbidden on the web (8.7.3)."""
    files = {p.name.removesuffix(".dcm"): p.read_bytes() for p in fixtures.instance_files()}
    for study in ("2.25.19441755302629660279256523889367975571.1.1.1", "2.25.19441755302629660279256523889367975571.1.2.1",
                  "2.25.19441755302629660279256523889367975571.1.3.1"):
        members = {i["SOPInstanceUID"]: n for n, i in INST.items() if i["StudyInstanceUID"] == study}
        r = client.get(f"{ROOT}studies/{study}",
                       headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        assert r.status_code == 200
        parts = split_multipart(r.headers["Content-Type"], r.data)
        assert len(parts) == len(members)
        for headers, body in parts:
            ds = read_part10(body)
            name = members[ds.SOPInstanceUID]
            stored_ts = INST[name]["TransferSyntaxUID"]
            sent_ts = media_params(headers["content-type"])[1]["transfer-syntax"]
            assert sent_ts == ds.file_meta.TransferSyntaxUID
            if stored_ts == IMPLICIT_LE:  # "shall not be used with Web Services"
                assert sent_ts == EXPLICIT_LE
                assert_native_frames(name, native_bytes(ds))
                continue
            assert sent_ts == stored_ts
            assert_kept(files[name], body)
            if "compressed" in INST[name]["features"]:
                frames = generate_frames(ds.PixelData, number_of_frames=INST[name]["NumberOfFrames"])
                assert [sha(f) for f in frames] == INST[name]["frames_sha256"]


@pytest.mark.parametrize("ts", [RLE, JLS, J2K, "1.2.840.10008.1.2.1.99"])
@pytest.mark.parametrize("name", ["doe-mr-t2-001", "vix-sc-rgb-001", "sato-mr-cine-001", "wang-ct-001",
                                  "doe-sc-palette-001", "vix-ct-localizer-001"])
def test_retrieve_in_requested_lossless_syntax(client: MockClient, name: str, ts: str) -> None:
    """8.7.3.5.2: an explicit transfer-syntax is honoured; lossless, so pixels decode back unchanged."""
    inst = INST[name]
    r = client.get(path_of(inst), headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ts}'})
    assert r.status_code == 200, r.data
    [(headers, body)] = split_multipart(r.headers["Content-Type"], r.data)
    assert media_params(headers["content-type"])[1]["transfer-syntax"] == ts
    ds = read_part10(body)
    assert ds.file_meta.TransferSyntaxUID == ts
    assert ds.SOPInstanceUID == inst["SOPInstanceUID"]
    assert_native_frames(name, native_bytes(ds))


def test_retrieve_to_jpeg_baseline_marks_lossy(client: MockClient) -> None:
    """PS3.3 C.7.6.1.1.5: lossy compression sets Lossy Image Compression to 01."""
    inst = INST["jane-us-doppler-001"]
    r = client.get(path_of(inst), headers={
        "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_BASELINE}'})
    assert r.status_code == 200
    [(_, body)] = split_multipart(r.headers["Content-Type"], r.data)
    ds = read_part10(body)
    assert ds.file_meta.TransferSyntaxUID == JPEG_BASELINE and ds.LossyImageCompression == "01"
    assert ds.pixel_array.shape == (10, 120, 160, 3)


@pytest.mark.parametrize("accept,status", [
    (f'multipart/related; type="application/dicom"; transfer-syntax={IMPLICIT_LE}', 406),  # 8.7.3
    ('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.2', 406),  # retired BE
    ('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.51', 406),
    (f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_BASELINE}', 406),  # 16-bit CT
    ("image/jpeg", 406),
    ('multipart/related; type="application/dicom", image/jpeg', 400),  # 8.7.5 mixed categories
])
def test_retrieve_refusals(client: MockClient, accept: str, status: int) -> None:
    r = client.get(resource_path("series", INST["vix-ct-localizer-001"]), headers={"Accept": accept})
    assert r.status_code == status, r.data
    assert not r.headers["Content-Type"].startswith("multipart/")


@pytest.mark.parametrize("suffix", ["studies/1.2.3", "studies/{st}/series/1.2.3", "studies/{st}/series/{se}/instances/1.2.3",
                                    "studies/1.2.3/series/{se}/instances/{sop}", "studies/1.2.3/metadata",
                                    "studies/{st}/series/1.2.3/metadata", "studies/{st}/series/{se}/instances/1.2/frames/1"])
def test_unknown_resources_are_404(client: MockClient, suffix: str) -> None:
    inst = INST["wang-ct-001"]
    path = ROOT + suffix.format(st=inst["StudyInstanceUID"], se=inst["SeriesInstanceUID"], sop=inst["SOPInstanceUID"])
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("accept,query,expected_ts", [
    (None, "", EXPLICIT_LE),  # no Accept: the default media type and syntax (this server's choice)
    ("*/*", "", EXPLICIT_LE),  # 8.7.7: */* matches the default media type
    (f'multipart/related; type="application/dicom"; transfer-syntax={RLE}; q=0.5, '
     f'multipart/related; type="application/dicom"; transfer-syntax={JLS}; q=0.9', "", JLS),
    (f'multipart/related; type="application/dicom"; q=0, multipart/related; type="application/dicom"; '
     f'transfer-syntax={RLE}', "", RLE),
    ("*/*", f'?accept=multipart/related;type="application/dicom";transfer-syntax={RLE}', RLE),  # 8.3.3.1
])
def test_retrieve_negotiation(client: MockClient, accept: str | None, query: str, expected_ts: str) -> None:
    headers = {"Accept": accept} if accept else {}
    r = client.get(path_of(INST["doe-mr-t2-001"]) + query, headers=headers)
    assert r.status_code == 200
    [(part_headers, body)] = split_multipart(r.headers["Content-Type"], r.data)
    assert read_part10(body).file_meta.TransferSyntaxUID == expected_ts
    assert media_params(part_headers["content-type"])[1]["transfer-syntax"] == expected_ts


# ----------------------------------------------------------------------------- metadata
def expect_attribute(obj: dict[str, Any], keyword: str, value: Any, where: str) -> None:
    """The DICOM JSON attribute ``keyword`` carries the manifest ``value`` (PS3.18 F.2)."""
    tag = f"{tag_for_keyword(keyword):08X}"
    attr = obj.get(tag)
    if value is None or value == []:
        assert attr is None or not attr.get("Value"), f"{where}: {keyword} should be empty"
        return
    assert attr is not None, f"{where}: {keyword} ({tag}) missing"
    assert attr["vr"] == dictionary_VR(tag_for_keyword(keyword)), f"{where}: {keyword} VR"
    got = attr["Value"]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        assert len(got) == len(value), f"{where}: {keyword} items"
        for i, (item, expected_item) in enumerate(zip(got, value)):
            for kw, v in expected_item.items():
                expect_attribute(item, kw, v, f"{where}/{keyword}[{i}]")
    elif isinstance(value, list):
        assert got == [v if v != "" else None for v in value], f"{where}: {keyword}"
    elif isinstance(value, int):
        assert int(got[0]) == value and len(got) == 1, f"{where}: {keyword}"
    else:
        assert got == [value], f"{where}: {keyword}"


def check_metadata_object(obj: dict[str, Any], name: str, base: str = BASE) -> None:
    inst = INST[name]
    series = SERIES[inst["SeriesInstanceUID"]]
    study = STUDIES[inst["StudyInstanceUID"]]
    patient = PATIENTS[study["PatientID"]]
    skip = {"TransferSyntaxUID", "NumberOfFrames", "ModalitiesInStudy", "key"}
    for source in (inst, series, study, patient):
        for kw, value in source.items():
            if kw[0].isupper() and kw not in skip and not kw.startswith("NumberOf"):
                expect_attribute(obj, kw, value, name)
    if inst["NumberOfFrames"] > 1:
        expect_attribute(obj, "NumberOfFrames", inst["NumberOfFrames"], name)
    for entry in inst["private"]:
        attr = obj[entry["tag"]]
        assert attr["vr"] == entry["vr"]
        if "value" in entry:
            assert [int(v) if entry["vr"] == "US" else v for v in attr["Value"]] == entry["value"]
        else:
            assert "BulkDataURI" in attr and "Value" not in attr and "InlineBinary" not in attr
    pixel = obj["7FE00010"]
    assert set(pixel) == {"vr", "BulkDataURI"}, "Pixel Data must be referenced, not inlined"
    assert pixel["BulkDataURI"].startswith(base + "studies/")
    for entry in inst["bulk"]:
        assert bulk_attribute(obj, entry["path"])["BulkDataURI"].startswith(base)


def bulk_attribute(obj: dict[str, Any], path: str) -> dict[str, Any]:
    """The attribute at a manifest path ``tag/item/tag`` (0-based items)."""
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if i % 2 == 0:
            obj = obj[seg.upper()]
        else:
            obj = obj["Value"][int(seg)]
    return obj


@pytest.mark.parametrize("level", ["study", "series", "instance"])
@pytest.mark.parametrize("name", ["vix-ct-axial-001", "doe-mr-t2-003", "vix-sc-rgb-001", "jane-us-cine-001",
                                  "sato-mr-cine-001", "yamada-cr-001", "wang-ct-001"])
def test_metadata_json(client: MockClient, level: str, name: str) -> None:
    """10.4.1.1.2 and Annex F: one valid DICOM JSON object per instance, bulk data by URI."""
    inst = INST[name]
    r = client.get(resource_path(level, inst) + "/metadata", headers={"Accept": "application/dicom+json"})
    assert r.status_code == 200
    assert media_params(r.headers["Content-Type"])[0] == "application/dicom+json"
    assert r.headers["Content-Location"] == "http://localhost" + resource_path(level, inst) + "/metadata"
    body = json.loads(r.data.decode("utf-8"))
    validate_json(body)
    members = {i["SOPInstanceUID"]: n for n, i in INST.items() if i[UID_KEY[level]] == inst[UID_KEY[level]]}
    assert sorted(o["00080018"]["Value"][0] for o in body) == sorted(members)
    for obj in body:
        check_metadata_object(obj, members[obj["00080018"]["Value"][0]])


@pytest.mark.parametrize("accept,expected", [
    (None, "application/dicom+json"), ("*/*", "application/dicom+json"), ("application/*", "application/dicom+json"),
    ('multipart/related; type="application/dicom+xml"; q=0.9, application/dicom+json; q=0.5', "multipart/related"),
    ("application/dicom+xml", 406), ("image/jpeg", 406), ("application/dicom+json, image/png", 400)])
def test_metadata_negotiation(client: MockClient, accept: str | None, expected: str | int) -> None:
    """Table 10.4.4-1: JSON is the default, XML comes as multipart/related (8.7.8.1, 8.7.5)."""
    r = client.get(path_of(INST["wang-ct-001"], "/metadata"), headers={"Accept": accept} if accept else {})
    if isinstance(expected, int):
        assert r.status_code == expected
    else:
        assert r.status_code == 200 and media_params(r.headers["Content-Type"])[0] == expected


@pytest.mark.parametrize("name", [n for n, i in INST.items() if i["bulk"]][:1]
                         + ["vix-sc-rgb-001", "doe-sc-palette-001"])
@pytest.mark.parametrize("accept", [None, "application/octet-stream", 'multipart/related; type="application/octet-stream"'])
def test_bulk_data_uris_resolve(client: MockClient, name: str, accept: str | None) -> None:
    """10.4.1.1.1 Bulkdata: each BulkDataURI returns the element's value (uncompressed, 8.7.3.3.1)."""
    inst = INST[name]
    [obj] = json.loads(client.get(path_of(inst, "/metadata")).data)
    for entry in inst["bulk"]:
        uri = bulk_attribute(obj, entry["path"])["BulkDataURI"]
        r = client.get(urlsplit(uri).path, headers={"Accept": accept} if accept else {})
        assert r.status_code == 200, uri
        if media_params(r.headers["Content-Type"])[0] == "multipart/related":
            assert accept != "application/octet-stream"
            [(headers, data)] = split_multipart(r.headers["Content-Type"], r.data)
            assert media_params(headers["content-type"])[0] == "application/octet-stream"
        else:
            assert accept == "application/octet-stream"
            assert r.headers["Content-Type"] == "application/octet-stream"
            data = r.data
        assert (len(data), sha(data)) == (entry["length"], entry["sha256"]), entry["path"]


@pytest.mark.parametrize("name", ["vix-ct-localizer-001", "doe-mr-t2-005", "jane-us-doppler-001", "sato-mr-cine-001"])
def test_pixel_data_bulk_uri_is_native_frames(client: MockClient, name: str) -> None:
    """8.7.3.3: Pixel Data by its BulkDataURI defaults to uncompressed little-endian octets."""
    inst = INST[name]
    [obj] = json.loads(client.get(path_of(inst, "/metadata")).data)
    r = client.get(urlsplit(obj["7FE00010"]["BulkDataURI"]).path, headers={"Accept": "application/octet-stream"})
    assert r.status_code == 200
    size = len(r.data) // inst["NumberOfFrames"]
    assert_native_frames(name, [r.data[k * size:(k + 1) * size] for k in range(inst["NumberOfFrames"])])


@pytest.mark.parametrize("bulk", ["DEADBEEF", "00400275", "00291012/1", "00400275/1/00401001/1/00100010"])
def test_unknown_bulk_paths_are_404(client: MockClient, bulk: str) -> None:
    assert client.get(path_of(INST["vix-ct-axial-001"], "/bulk/" + bulk)).status_code == 404


@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_metadata_xml(client: MockClient, level: str) -> None:
    """10.4.4 / 8.7.3.2: multipart/related; type="application/dicom+xml", each part a Native DICOM Model."""
    inst = INST["doe-mr-t2-004"]
    r = client.get(resource_path(level, inst) + "/metadata",
                   headers={"Accept": 'multipart/related; type="application/dicom+xml"'})
    assert r.status_code == 200
    assert media_params(r.headers["Content-Type"])[1]["type"] == "application/dicom+xml"
    parts = split_multipart(r.headers["Content-Type"], r.data)
    assert len(parts) == sum(i[UID_KEY[level]] == inst[UID_KEY[level]] for i in INST.values())
    uids = set()
    for headers, body in parts:
        assert media_params(headers["content-type"])[0] == "application/dicom+xml"
        validate_xml(body)
        root = etree.fromstring(body)
        ns = {"d": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}  # PS3.19 A.1
        uid = root.findtext('d:DicomAttribute[@tag="00080018"]/d:Value', namespaces=ns)
        member = next(i for i in INST.values() if i["SOPInstanceUID"] == uid)
        assert headers["content-location"] == location_of(member) + "/metadata"  # 8.6.1.2 table 8.6.1-1
        uids.add(uid)
        bulk = root.find('d:DicomAttribute[@tag="7FE00010"]/d:BulkData', namespaces=ns)
        assert bulk is not None and bulk.get("uri", "").startswith(BASE)
    assert inst["SOPInstanceUID"] in uids and len(uids) == len(parts)


@pytest.fixture(scope="module")
def pinned_host_client(fixture_app) -> MockClient:
    """The same store behind a configuration with DicomWeb.Host and DicomWeb.Ssl."""
    settings = parse_config({"DicomWeb": {"Host": "pacs.example.org:9443", "Ssl": True}})
    return MockClient(create_app(settings, store=fixture_app.store, fixtures=False))


@pytest.mark.parametrize("headers,base", [
    ({"Host": "viewer.example.net:8080"}, "http://viewer.example.net:8080/dicom-web/"),
    ({"X-Forwarded-Host": "proxy.example.com", "X-Forwarded-Proto": "https"}, "https://proxy.example.com/dicom-web/"),
])
def test_urls_follow_the_request_host(client: MockClient, headers: dict[str, str], base: str) -> None:
    """8.6.1: BulkDataURI and Content-Location must be resolvable by the user agent."""
    inst = INST["vix-ct-axial-002"]
    [obj] = json.loads(client.get(path_of(inst, "/metadata"), headers=headers).data)
    check_metadata_object(obj, "vix-ct-axial-002", base)
    r = client.get(path_of(inst), headers=headers)
    [(part_headers, _)] = split_multipart(r.headers["Content-Type"], r.data)
    assert part_headers["content-location"] == location_of(inst, base)


def test_configured_host_wins(pinned_host_client: MockClient) -> None:
    """Seed ("Host", "Ssl"): the configured host and scheme override Host and X-Forwarded-*."""
    inst = INST["vix-ct-axial-003"]
    headers = {"Host": "other.example:1", "X-Forwarded-Host": "proxy.example", "X-Forwarded-Proto": "http"}
    [obj] = json.loads(pinned_host_client.get(path_of(inst, "/metadata"), headers=headers).data)
    check_metadata_object(obj, "vix-ct-axial-003", "https://pacs.example.org:9443/dicom-web/")


# ----------------------------------------------------------------------------- frames
@pytest.mark.parametrize("name,frames", [("jane-us-cine-001", "1"), ("jane-us-cine-001", "1,3,5"),
                                         ("jane-us-cine-001", "12,2"), ("sato-mr-cine-001", "16"),
                                         ("sato-mr-cine-001", "1,3,5,7,9,11,13,15"),
                                         ("jane-us-doppler-001", "1,10")] + [(n, "1") for n in COMPRESSED])
def test_frames_native(client: MockClient, stored, name: str, frames: str) -> None:
    """10.4.1.1.1 Frames, 8.7.3.3.1: octet-stream parts in request order, uncompressed little endian."""
    inst = INST[name]
    numbers = [int(n) for n in frames.split(",")]
    r = client.get(path_of(inst, f"/frames/{frames}"),
                   headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert r.status_code == 200
    parts = split_multipart(r.headers["Content-Type"], r.data)
    for n, (headers, _) in zip(numbers, parts):
        ptype, params = media_params(headers["content-type"])
        assert ptype == "application/octet-stream" and params.get("transfer-syntax", EXPLICIT_LE) == EXPLICIT_LE
        assert headers["content-location"] == location_of(inst) + f"/frames/{n}"
    assert_native_frames(name, [body for _, body in parts], numbers, stored.get(name))
    if len(numbers) == 1:
        single = client.get(path_of(inst, f"/frames/{frames}"), headers={"Accept": "application/octet-stream"})
        assert single.headers["Content-Type"] == "application/octet-stream"
        assert single.data == parts[0][1]


STORED_MEDIA = {JPEG_BASELINE: "image/jpeg", JLS: "image/jls", J2K: "image/jp2", RLE: "image/dicom-rle"}


def same_as_stored(got: bytes, stored_hash: str) -> bool:
    """Compressed Bulkdata is the fragment data without delimiters (8.7.3.3.2); a trailing 0x00 item pad may go."""
    return sha(got) == stored_hash or (got.endswith(b"\xff\xd9") and sha(got + b"\x00") == stored_hash)


@pytest.mark.parametrize("name", COMPRESSED)
def test_frames_in_stored_compressed_syntax(client: MockClient, name: str) -> None:
    inst = INST[name]
    count = inst["NumberOfFrames"]
    numbers = [1] if count == 1 else [1, count, 2]
    media = STORED_MEDIA[inst["TransferSyntaxUID"]]
    r = client.get(path_of(inst, "/frames/" + ",".join(map(str, numbers))),
                   headers={"Accept": f'multipart/related; type="{media}"'})
    assert r.status_code == 200, r.data
    parts = split_multipart(r.headers["Content-Type"], r.data)
    assert len(parts) == len(numbers)
    for n, (headers, body) in zip(numbers, parts):
        ptype, params = media_params(headers["content-type"])
        assert ptype == media and params.get("transfer-syntax", inst["TransferSyntaxUID"]) == inst["TransferSyntaxUID"]
        assert same_as_stored(body, inst["frames_sha256"][n - 1]), f"frame {n}"


@pytest.mark.parametrize("accept", ["multipart/related; type=image/dicom+jpeg",  # the seed's 2014a form
                                    f'multipart/related; type="image/jpeg"; transfer-syntax={JPEG_BASELINE}',
                                    'multipart/related; type="application/octet-stream"; q=0.1, '
                                    'multipart/related; type="image/jpeg"'])
def test_frames_jpeg_baseline_forms(client: MockClient, accept: str) -> None:
    inst = INST["jane-us-cine-001"]
    r = client.get(path_of(inst, "/frames/4"), headers={"Accept": accept})
    assert r.status_code == 200
    [(headers, body)] = split_multipart(r.headers["Content-Type"], r.data)
    assert media_params(headers["content-type"])[0] == "image/jpeg"
    assert same_as_stored(body, inst["frames_sha256"][3])


@pytest.mark.parametrize("frames,status", [("13", 404), ("1,13", 404), ("0", 400), ("1,0", 400), ("x", 400),
                                           ("1,,2", 400), ("-1", 400), ("1.5", 400)])
def test_frame_list_errors(client: MockClient, frames: str, status: int) -> None:
    assert client.get(path_of(INST["jane-us-cine-001"], f"/frames/{frames}")).status_code == status


def test_frames_refusals(client: MockClient) -> None:
    path = path_of(INST["doe-mr-t2-001"], "/frames/1")
    assert client.get(path, headers={"Accept": "image/png"}).status_code == 406
    implicit = path_of(INST["vix-ct-localizer-002"], "/frames/1")
    forbidden = f'multipart/related; type="application/octet-stream"; transfer-syntax={IMPLICIT_LE}'
    assert client.get(implicit, headers={"Accept": forbidden}).status_code == 406  # 8.7.3


@pytest.mark.parametrize("accept", ["application/dicom+json", 'multipart/related; type="application/dicom+xml"'])
def test_large_metadata_is_streamed_with_the_same_content(client: MockClient, monkeypatch, accept: str) -> None:
    """Above the threshold the answer is streamed (no Content-Length) but says exactly the same."""
    from dicomweb_mock.handlers import wado_rs

    inst = INST["vix-ct-axial-001"]
    path = resource_path("study", inst) + "/metadata"
    whole = client.get(path, headers={"Accept": accept})
    monkeypatch.setattr(wado_rs, "STREAMED_METADATA_ABOVE", 2)
    streamed = client.get(path, headers={"Accept": accept})
    assert whole.status_code == streamed.status_code == 200
    assert "Content-Length" in whole.headers and "Content-Length" not in streamed.headers
    if accept == "application/dicom+json":
        assert json.loads(streamed.data) == json.loads(whole.data)
        assert len(json.loads(whole.data)) > 2
    else:
        bodies = [b for _, b in split_multipart(streamed.headers["Content-Type"], streamed.data)]
        assert bodies == [b for _, b in split_multipart(whole.headers["Content-Type"], whole.data)]
        assert len(bodies) > 2
