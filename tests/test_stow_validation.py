"""STOW-RS refuses instances that could be stored but not served (PS3.18 10.5, Annex I).

A data set holding command or reserved-group elements cannot be written back
as a PS3.10 file, and Pixel Data that cannot be decoded cannot be rendered,
transcoded or cut into frames.  Both used to be accepted and then fail
mid-response; now STOW-RS refuses them with failure reason 0xC000 and a
reason text, and stores nothing.
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
from werkzeug.test import Client

from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config

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


def _stow(client: Client, *parts: bytes, part_type: str = "application/dicom"):
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
    r = _stow(Client(empty_app), _bytes(ds))
    assert r.status_code == 400
    reason, text = _failure(r)
    assert reason == 0xC000
    assert f"({tag >> 16:04X},{tag & 0xFFFF:04X})" in text
    assert empty_app.store.counts()["instances"] == 0


@pytest.mark.parametrize("name", ["doe-mr-t2-003.dcm", "doe-mr-t2-005.dcm", "doe-mr-t2-006.dcm",
                                  "jane-us-cine-001.dcm"])
def test_undecodable_pixel_data_is_refused_with_a_reason(empty_app, files, name):
    r = _stow(Client(empty_app), corrupt_pixel_data(files[name]))
    assert r.status_code == 400
    reason, text = _failure(r)
    assert reason == 0xC000
    assert "cannot be decoded" in text and "\n" not in text
    assert empty_app.store.counts()["instances"] == 0


def test_a_syntax_without_a_decoder_is_stored_as_is(empty_app, files):
    """Pixel Data in a syntax no installed decoder reads (here MPEG2 Main Profile) cannot be
    checked; it is stored and served as stored (PS3.18 8.7.3: transfer-syntax=*)."""
    ds = pydicom.dcmread(files["doe-mr-t2-003.dcm"])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    data = _bytes(ds)
    c = Client(empty_app)
    assert _stow(c, data).status_code == 200
    url = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    r = c.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert r.status_code == 200 and data in r.get_data()


def test_intact_compressed_instances_are_accepted(empty_app, files):
    c = Client(empty_app)
    for name in ("doe-mr-t2-003.dcm", "doe-mr-t2-005.dcm", "doe-mr-t2-006.dcm", "jane-us-cine-001.dcm"):
        assert _stow(c, files[name].read_bytes()).status_code == 200, name
    assert empty_app.store.counts()["instances"] == 4


def test_with_the_check_off_corrupt_data_is_stored_and_answers_500_with_a_reason(files):
    app = create_app(parse_config({"CheckPixelData": False}), fixtures=False)
    try:
        c = Client(app)
        data = corrupt_pixel_data(files["doe-mr-t2-005.dcm"])
        assert _stow(c, data).status_code == 200
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        base = (f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}")
        as_stored = c.get(base, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                                   'transfer-syntax=*'})
        assert as_stored.status_code == 200 and data in as_stored.get_data()
        for url, headers in [(f"{base}/rendered", ACCEPT_RENDERED),
                             (base, {"Accept": 'multipart/related; type="application/dicom"; '
                                               'transfer-syntax=1.2.840.10008.1.2.1'}),
                             (f"{base}/frames/1", {"Accept": 'multipart/related; '
                                                             'type="application/octet-stream"; '
                                                             'transfer-syntax=1.2.840.10008.1.2.1'})]:
            r = c.get(url, headers=headers)
            assert r.status_code == 500, url
            assert r.headers["Content-Type"].startswith("text/plain")
            assert "cannot be decoded" in r.get_data(as_text=True), url
    finally:
        app.store.close()


def test_each_refused_part_gets_a_warning_up_to_a_limit(empty_app):
    r = _stow(Client(empty_app), *[b"not DICOM %d" % n for n in range(12)])
    assert r.status_code == 400
    warnings = r.headers.getlist("Warning")
    assert len(warnings) == 11  # ten reasons and a count of the rest
    assert all(w.startswith("299 ") and w.count('"') == 2 for w in warnings)
    assert "2 more part(s) refused" in warnings[-1]


def test_a_part_of_another_type_is_explained(empty_app):
    r = _stow(Client(empty_app), b"hello", part_type="text/plain")
    assert r.status_code == 400
    assert "text/plain" in r.headers["Warning"]
