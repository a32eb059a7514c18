"""The mock driven by a real DICOMweb client: ``dicomweb-client`` over a socket (PS3.18 10.4-10.6).

The server runs in a thread (``mock_server.threaded.serve_in_thread``); every
expectation comes from the fixture manifest.  The STOW-RS test sends more
than 1 MB, which dicomweb-client transmits with chunked transfer coding.
"""

from __future__ import annotations

import email.message
import hashlib
import io
from typing import Iterator

import numpy as np
import pydicom
import pytest
import requests
from PIL import Image

import dicomweb_fixtures as fixtures
from dicomweb_conformance.schemas import validate_json
from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.threaded import ServerThread, serve_in_thread
from tests.helpers.part10 import data_set_bytes

dicomweb_api = pytest.importorskip("dicomweb_client.api")

INST = {i["file"].removesuffix(".dcm"): i for i in fixtures.load_manifest()["instances"]}
STUDIES = fixtures.load_manifest()["studies"]
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def server(fixture_app) -> Iterator[ServerThread]:
    """The fixture store served on a free port, with ``DicomWeb.Host`` naming that port.

    dicomweb-client 0.61 sends ``Host: 127.0.0.1`` without the port (RFC 7230 5.4 wants
    it), so URLs built from the Host header would point at port 80; the seed's remedy is
    the ``Host`` option, set here once the port is known.
    """
    app = create_app(parse_config({}), store=fixture_app.store, fixtures=False)
    with serve_in_thread(app) as srv:
        app.settings.dicomweb.host = f"127.0.0.1:{srv.server.server_port}"
        yield srv


@pytest.fixture(scope="module")
def dw(server: ServerThread):
    return dicomweb_api.DICOMwebClient(url=server.dicomweb_url.rstrip("/"))


def uids(name: str) -> tuple[str, str, str]:
    i = INST[name]
    return i["StudyInstanceUID"], i["SeriesInstanceUID"], i["SOPInstanceUID"]


def value(obj: dict, tag: str):
    return obj[tag]["Value"][0]


# ----------------------------------------------------------------------------- QIDO-RS
def test_search_for_studies(dw) -> None:
    found = dw.search_for_studies()
    assert sorted(value(s, "0020000D") for s in found) == sorted(s["StudyInstanceUID"] for s in STUDIES)
    doe = dw.search_for_studies(search_filters={"PatientName": "DOE^J*"})  # PN matching is case-insensitive
    assert sorted(value(s, "00100020") for s in doe) == ["DOE-0002", "DOE-0003"]
    by_date = dw.search_for_studies(search_filters={"StudyDate": "20200101-20201231"})
    assert sorted(value(s, "00080020") for s in by_date) == ["20200102", "20200612"]


def test_search_fuzzy_matching(dw) -> None:
    """8.3.4.2: fuzzymatching=true widens PN matching (here: component prefixes)."""
    assert dw.search_for_studies(search_filters={"PatientName": "hana"}) == []
    fuzzy = dw.search_for_studies(fuzzymatching=True, search_filters={"PatientName": "hana"})
    assert [value(s, "00100020") for s in fuzzy] == ["JP-0005"]


def test_search_paging(dw) -> None:
    """10.6.1.2.2: limit and offset page through the same result set."""
    first = dw.search_for_studies(limit=3, offset=0)
    second = dw.search_for_studies(limit=3, offset=3)
    rest = dw.search_for_studies(limit=3, offset=6)
    pages = [value(s, "0020000D") for s in first + second + rest]
    assert (len(first), len(second), len(rest)) == (3, 3, 1)
    assert sorted(pages) == sorted(s["StudyInstanceUID"] for s in STUDIES)


def test_search_for_series_and_instances(dw) -> None:
    study, series, _ = uids("doe-mr-t2-001")
    found = dw.search_for_series(study)
    assert sorted(value(s, "00080060") for s in found) == ["MR", "OT"]
    instances = dw.search_for_instances(study, series)
    assert sorted(value(i, "00080018") for i in instances) == sorted(
        i["SOPInstanceUID"] for i in INST.values() if i["SeriesInstanceUID"] == series)
    ct = dw.search_for_series(search_filters={"Modality": "CT"})
    assert len(ct) == 3


# ----------------------------------------------------------------------------- WADO-RS
def native_hashes(ds: pydicom.Dataset) -> list[str]:
    arr = ds.pixel_array if int(ds.get("NumberOfFrames") or 1) > 1 else ds.pixel_array[np.newaxis]
    dtype = np.dtype(f"<{'i' if ds.PixelRepresentation else 'u'}{ds.BitsAllocated // 8}")
    return [sha(np.ascontiguousarray(a, dtype=dtype).tobytes()) for a in arr]


def test_retrieve_study_series_instance(dw) -> None:
    study, series, sop = uids("doe-mr-t2-003")
    members = {i["SOPInstanceUID"]: n for n, i in INST.items() if i["StudyInstanceUID"] == study}
    datasets = dw.retrieve_study(study)
    assert sorted(ds.SOPInstanceUID for ds in datasets) == sorted(members)
    for ds in datasets:
        assert ds.file_meta.TransferSyntaxUID == EXPLICIT_LE  # 8.7.3.4 default
        assert native_hashes(ds) == INST[members[ds.SOPInstanceUID]]["native_frames_sha256"]
    assert len(dw.retrieve_series(study, series)) == sum(i["SeriesInstanceUID"] == series for i in INST.values())
    one = dw.retrieve_instance(study, series, sop, media_types=(("application/dicom", "1.2.840.10008.1.2.4.80"),))
    assert one.SOPInstanceUID == sop and one.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert native_hashes(one) == INST["doe-mr-t2-003"]["native_frames_sha256"]


def test_retrieve_metadata(dw) -> None:
    study, series, sop = uids("vix-ct-axial-007")
    meta = dw.retrieve_study_metadata(study)
    assert len(meta) == sum(i["StudyInstanceUID"] == study for i in INST.values())
    assert len(dw.retrieve_series_metadata(study, series)) == 40
    obj = dw.retrieve_instance_metadata(study, series, sop)  # one object, not a list
    validate_json(obj)
    assert value(obj, "00080018") == sop and value(obj, "00291010") == "SYNTHETIC PHANTOM"
    # dicomweb-client hands back bytearray; pydicom wants bytes for OB/OW values.
    ds = pydicom.Dataset.from_json(obj, bulk_data_uri_handler=lambda tag, vr, uri: bytes(dw.retrieve_bulkdata(uri)[0]))
    private = next(p for p in INST["vix-ct-axial-007"]["private"] if p["tag"] == "00291012")
    assert sha(ds[0x00291012].value) == private["sha256"]


def test_retrieve_bulkdata(dw) -> None:
    study, series, sop = uids("vix-sc-rgb-001")
    obj = dw.retrieve_instance_metadata(study, series, sop)  # one object, not a list
    icon_pixels = obj["00880200"]["Value"][0]["7FE00010"]["BulkDataURI"]
    [data] = dw.retrieve_bulkdata(icon_pixels)
    assert sha(data) == INST["vix-sc-rgb-001"]["bulk"][0]["sha256"]


@pytest.mark.parametrize("name,media,frames", [
    ("jane-us-cine-001", ("image/jpeg", "1.2.840.10008.1.2.4.50"), [1, 7, 12]),
    ("doe-mr-t2-003", ("image/jls", "1.2.840.10008.1.2.4.80"), [1]),
    ("jane-us-doppler-001", ("image/dicom-rle", "1.2.840.10008.1.2.5"), [2, 9]),
    ("yamada-cr-001", ("image/jp2", "1.2.840.10008.1.2.4.90"), [1]),
])
def test_retrieve_compressed_frames(dw, name: str, media: tuple[str, str], frames: list[int]) -> None:
    """8.7.3.3.2: the stored compressed frames, without item delimiters (a final 0x00 pad may go)."""
    got = dw.retrieve_instance_frames(*uids(name), frame_numbers=frames, media_types=(media,))
    assert len(got) == len(frames)
    for n, data in zip(frames, got):
        expected = INST[name]["frames_sha256"][n - 1]
        assert sha(data) == expected or (data.endswith(b"\xff\xd9") and sha(data + b"\x00") == expected)


@pytest.mark.parametrize("name,frames", [("sato-mr-cine-001", [16, 1, 8]), ("wang-ct-001", [1]),
                                         ("doe-sc-palette-001", [1])])
def test_retrieve_native_frames(dw, name: str, frames: list[int]) -> None:
    got = dw.retrieve_instance_frames(*uids(name), frame_numbers=frames, media_types=("application/octet-stream",))
    assert [sha(d) for d in got] == [INST[name]["native_frames_sha256"][n - 1] for n in frames]


def test_retrieve_rendered(dw) -> None:
    study, series, sop = uids("jane-us-doppler-001")
    png = dw.retrieve_instance_rendered(study, series, sop, media_types=("image/png",))
    assert Image.open(io.BytesIO(png)).format == "PNG" and Image.open(io.BytesIO(png)).size == (160, 120)
    jpeg = dw.retrieve_instance_rendered(study, series, sop, params={"viewport": "80,80"})
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG" and Image.open(io.BytesIO(jpeg)).size == (80, 60)


# ----------------------------------------------------------------------------- STOW-RS, chunked
def split_multipart(content_type: str, body: bytes) -> list[bytes]:
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    boundary = msg.get_param("boundary").encode()
    segments = (b"\r\n" + body).split(b"\r\n--" + boundary)
    assert segments[0] == b"" and segments[-1].startswith(b"--")
    return [seg[2:].partition(b"\r\n\r\n")[2] for seg in segments[1:-1]]


def test_store_large_body_chunked(empty_app) -> None:
    """A >1 MB STOW-RS body sent with Transfer-Encoding: chunked is stored completely and unchanged."""
    names = ["vix-ct-axial-011", "vix-ct-axial-012", "vix-ct-axial-013", "jane-us-cine-001", "doe-mr-t2-003"]
    files = {p.name.removesuffix(".dcm"): p for p in fixtures.instance_files()}
    datasets = [pydicom.dcmread(files[n]) for n in names]
    encoded = []
    for ds in datasets:  # what dicomweb-client sends: pydicom.dcmwrite of each dataset
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds)
        encoded.append(buffer.getvalue())
    chunk_size = 256 * 1024
    assert sum(map(len, encoded)) > 1_000_000 > chunk_size  # dicomweb-client chunks bodies above chunk_size
    with serve_in_thread(empty_app) as srv:
        client = dicomweb_api.DICOMwebClient(url=srv.dicomweb_url.rstrip("/"), chunk_size=chunk_size)
        sent = []
        client._session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request.headers))
        result = client.store_instances(datasets)
        assert any(h.get("Transfer-Encoding") == "chunked" for h in sent)
        referenced = sorted(item.ReferencedSOPInstanceUID for item in result.ReferencedSOPSequence)
        assert referenced == sorted(INST[n]["SOPInstanceUID"] for n in names)
        assert "FailedSOPSequence" not in result or not result.FailedSOPSequence
        for name, body in zip(names, encoded):
            study, series, sop = uids(name)
            r = requests.get(f"{srv.dicomweb_url}studies/{study}/series/{series}/instances/{sop}", timeout=30,
                             headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
            assert r.status_code == 200
            [part] = split_multipart(r.headers["Content-Type"], r.content)
            assert data_set_bytes(part) == data_set_bytes(body), name
        assert len(client.search_for_instances()) == len(names)
