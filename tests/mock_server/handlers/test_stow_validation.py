"""What STOW-RS keeps and what it refuses (PS3.18 10.5, Annex I).

A data set holding command or reserved-group elements cannot be written back as a PS3.10
file: refused with failure reason 0xC000 and a reason text, nothing stored.  Pixel Data the
mock's decoders cannot decode is valid DICOM all the same: it is stored and served as stored
(``transfer-syntax=*``); what would need it decoded is refused before the response starts,
with the same answer on every route (406 and the reason).  ``CheckPixelData`` refuses it at
STOW instead.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.encaps import encapsulate, generate_fragmented_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.dicomweb.multipart import get_boundary, iter_multipart
from tests.helpers.part10 import assert_kept
from tests.helpers.http import MockClient

BOUNDARY = "validation-boundary-41"
CT = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
FAILED_SEQ, FAILURE_REASON = "00081198", "00081197"
ACCEPT_RENDERED = {"Accept": "image/png"}

# pydicom guesses the VR encoding from the first element, which is group 0000 in one test
pytestmark = pytest.mark.filterwarnings("ignore:Expected implicit VR:UserWarning")


def _bytes(ds: pydicom.Dataset) -> bytes:
    """A PS3.10 file of ``ds``, written element by element (dcmwrite refuses command elements)."""
    out = DicomBytesIO(b"\0" * 128 + b"DICM")
    out.seek(0, io.SEEK_END)
    write_file_meta_info(out, ds.file_meta, enforce_standard=True)
    out.is_little_endian, out.is_implicit_VR = True, False
    write_dataset(out, ds)
    return out.getvalue()


def _stow(client: MockClient, *parts: bytes, part_type: str = "application/dicom"):
    body = b"".join(f"--{BOUNDARY}\r\nContent-Type: {part_type}\r\n\r\n".encode() + data + b"\r\n"
                    for data in parts) + f"--{BOUNDARY}--\r\n".encode()
    return client.post("/dicom-web/studies", data=body, headers={"Content-Type": CT})


def _failure(response) -> tuple[int, str]:
    """Failure Reason of the one refused instance, and the Warning header that explains it."""
    items = json.loads(response.get_data())[FAILED_SEQ]["Value"]
    assert len(items) == 1
    warnings = response.headers.getlist("Warning")
    assert len(warnings) == 1 and warnings[0].startswith("299 ")
    return items[0][FAILURE_REASON]["Value"][0], warnings[0]


def corrupt_pixel_data(path: Path) -> bytes:
    """The instance at ``path`` (encapsulated) with each frame's codestream zeroed after 20 bytes."""
    ds = pydicom.dcmread(path)
    count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    frames = [b"".join(f) for f in generate_fragmented_frames(ds.PixelData, number_of_frames=count)]
    ds.PixelData = encapsulate([f[:20] + bytes(len(f) - 20) for f in frames])
    return _bytes(ds)


@pytest.mark.parametrize("tag", [0x00000900, 0x00010010, 0x00071000, 0x00030011])
def test_command_and_reserved_group_elements_are_refused(empty_app, files, tag):
    ds = pydicom.dcmread(files["wang-ct-001.dcm"])
    ds.add(DataElement(tag, "US" if tag == 0x00000900 else "LO", 0 if tag == 0x00000900 else "x"))
    r = _stow(MockClient(empty_app), _bytes(ds))
    assert r.status_code == 400
    reason, text = _failure(r)
    assert reason == 0xC000
    assert f"({tag >> 16:04X},{tag & 0xFFFF:04X})" in text
    assert empty_app.store.counts()["instances"] == 0


@pytest.mark.parametrize("name", ["doe-mr-t2-003.dcm", "doe-mr-t2-005.dcm", "doe-mr-t2-006.dcm",
                                  "jane-us-cine-001.dcm"])
def test_undecodable_pixel_data_is_refused_when_check_pixel_data_is_on(files, name):
    app = create_app(parse_config({"CheckPixelData": True}), fixtures=False)
    try:
        r = _stow(MockClient(app), corrupt_pixel_data(files[name]))
        assert r.status_code == 400
        reason, text = _failure(r)
        assert reason == 0xC000
        assert "cannot be decoded" in text and "\n" not in text
        assert app.store.counts()["instances"] == 0
    finally:
        app.store.close()


def _pydicom_test_file(name: str) -> bytes:
    return (Path(pydicom.__file__).parent / "data" / "test_files" / name).read_bytes()


def _instance_url(data: bytes) -> tuple[str, pydicom.Dataset]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}"), ds


AS_STORED = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}


def _as_stored(client: MockClient, url: str) -> bytes:
    r = client.get(url, headers=AS_STORED)
    assert r.status_code == 200, r.get_data()[:300]
    parts = list(iter_multipart(io.BytesIO(r.get_data()), get_boundary(r.headers["Content-Type"])))
    assert len(parts) == 1
    return parts[0].read()


def _decoding_requests(url: str, ds: pydicom.Dataset) -> list[tuple[str, dict[str, str]]]:
    """Requests that need the Pixel Data of the instance at ``url`` decoded, on every route."""
    series = url.rsplit("/instances/", 1)[0]
    wado = (f"/wado?requestType=WADO&studyUID={ds.StudyInstanceUID}&seriesUID={ds.SeriesInstanceUID}"
            f"&objectUID={ds.SOPInstanceUID}")
    native = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'
    return [
        (f"{url}/frames/1", {"Accept": native}),
        (f"{url}/bulk/7FE00010", {"Accept": native}),
        (url, {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'}),
        (series, {"Accept": 'multipart/related; type="application/dicom"'}),
        (f"{wado}&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.1", {}),
        (f"{wado}&contentType=image/jpeg", {}),
        (f"{url}/rendered", ACCEPT_RENDERED),
        (f"{url}/thumbnail", {"Accept": "image/jpeg"}),
    ]


# JPEG extended 12-bit that libjpeg refuses ("misplaced marker"), JPEG 2000 with an embedded
# sequence delimiter, and a codestream zeroed after its header: valid DICOM the decoders reject.
UNDECODABLE = {
    "JPEG-lossy.dcm": lambda files: _pydicom_test_file("JPEG-lossy.dcm"),
    "JPEG2000-embedded-sequence-delimiter.dcm":
        lambda files: _pydicom_test_file("JPEG2000-embedded-sequence-delimiter.dcm"),
    "corrupted-after-header": lambda files: corrupt_pixel_data(files["doe-mr-t2-005.dcm"]),
}


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_undecodable_pixel_data_is_kept_and_decoding_refused_the_same_way_on_every_route(empty_app, files, name):
    data = UNDECODABLE[name](files)
    c = MockClient(empty_app)
    assert _stow(c, data).status_code == 200
    url, ds = _instance_url(data)
    assert_kept(data, _as_stored(c, url))
    answers = set()
    for request_url, headers in _decoding_requests(url, ds):
        r = c.get(request_url, headers=headers)
        assert r.headers["Content-Type"].startswith("text/plain"), request_url
        answers.add((r.status_code, r.get_data(as_text=True)))
    assert len(answers) == 1, answers
    ((status, reason),) = answers
    assert status == 406
    assert reason.count("\n") == 1 and "cannot be decoded" in reason and ds.SOPInstanceUID in reason


def test_deflated_instance_is_indexed_and_served(empty_app):
    """Deflated Explicit VR Little Endian (PS3.5 A.5): inflated to be indexed, kept deflated,
    served as stored with ``*`` and inflated for Explicit VR Little Endian."""
    data = _pydicom_test_file("image_dfl.dcm")
    c = MockClient(empty_app)
    assert _stow(c, data).status_code == 200
    url, ds = _instance_url(data)
    kept = _as_stored(c, url)
    assert_kept(data, kept)
    assert pydicom.dcmread(io.BytesIO(kept)).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    metadata = c.get(f"{url}/metadata", headers={"Accept": "application/dicom+json"}).get_json()
    assert metadata[0]["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": str(ds.PatientName)}]}
    r = c.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                      'transfer-syntax=1.2.840.10008.1.2.1'})
    assert r.status_code == 200
    parts = list(iter_multipart(io.BytesIO(r.get_data()), get_boundary(r.headers["Content-Type"])))
    explicit = pydicom.dcmread(io.BytesIO(parts[0].read()))
    assert explicit.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert explicit.PixelData == pydicom.dcmread(io.BytesIO(data)).PixelData


def test_a_syntax_without_a_decoder_is_stored_as_is(empty_app, files):
    """Pixel Data in a syntax no installed decoder reads (here MPEG2 Main Profile) cannot be
    checked; it is stored and served as stored (PS3.18 8.7.3: transfer-syntax=*)."""
    ds = pydicom.dcmread(files["doe-mr-t2-003.dcm"])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    data = _bytes(ds)
    c = MockClient(empty_app)
    assert _stow(c, data).status_code == 200
    url = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    assert_kept(data, _as_stored(c, url))


def test_intact_compressed_instances_are_accepted(empty_app, files):
    c = MockClient(empty_app)
    for name in ("doe-mr-t2-003.dcm", "doe-mr-t2-005.dcm", "doe-mr-t2-006.dcm", "jane-us-cine-001.dcm"):
        assert _stow(c, files[name].read_bytes()).status_code == 200, name
    assert empty_app.store.counts()["instances"] == 4


def test_each_refused_part_gets_a_warning_up_to_a_limit(empty_app):
    r = _stow(MockClient(empty_app), *[b"not DICOM %d" % n for n in range(12)])
    assert r.status_code == 400
    warnings = r.headers.getlist("Warning")
    assert len(warnings) == 11  # ten reasons and a count of the rest
    assert all(w.startswith("299 ") and w.count('"') == 2 for w in warnings)
    assert "2 more part(s) refused" in warnings[-1]


def test_a_part_of_another_type_is_explained(empty_app):
    r = _stow(MockClient(empty_app), b"hello", part_type="text/plain")
    assert r.status_code == 400
    assert "text/plain" in r.headers["Warning"]
