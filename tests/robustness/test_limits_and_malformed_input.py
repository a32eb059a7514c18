"""Size limits and malformed input the HTTP surface must survive, one deterministic test each.

* ``MaximumBodySize``: a body above it is answered 413 with a reason and stores nothing,
  whether its length is announced (Content-Length) or not (``Transfer-Encoding: chunked``,
  RFC 7230 4.1); the server keeps answering.
* A STOW-RS body cut before its Content-Length lists what it stored (PS3.18 10.5.3, Annex I).
* Broken chunked framing is a 400 with a reason; a stalled client holds its own thread only.
* Instances the store cannot index are refused by STOW-RS with a reason; Pixel Data a decoder
  panics on is stored, and what needs it decoded is answered 406 with the reason (PS3.18 8.5),
  never with an exception escaping the application.
* A host name with a label over 63 characters (RFC 1035 2.3.4) in ``Host`` or
  ``X-Forwarded-Host`` is not a 5xx.
* A QIDO-RS ``offset`` or ``limit`` beyond any integer a database column holds (PS3.18
  8.3.4.4) searches the disk store as a merely large one does.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import shutil
from pathlib import Path
from typing import Iterator

import pydicom
import pytest
from pydicom.encaps import encapsulate

import dicomweb_fixtures as fixtures
from tests.helpers.fuzz_strategies import exchange, http_ping
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers.http import MockClient

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning")]

ROOT = "/dicom-web/"
LIMIT = 200_000
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=b'
FAILED_SEQ, REFERENCED_SEQ, FAILURE_REASON, SOP_INSTANCE = "00081198", "00081199", "00081197", "00081155"


@pytest.fixture
def limited_app() -> Iterator[MockApp]:
    """An empty store that refuses bodies above 200,000 bytes (MaximumBodySize)."""
    app = create_app(parse_config({"MaximumBodySize": LIMIT}), fixtures=False)
    yield app
    app.store.close()


def fixture_bytes(name: str) -> bytes:
    return next(p for p in fixtures.instance_files() if p.name == name).read_bytes()


def small_files(count: int) -> list[bytes]:
    return [p.read_bytes() for p in fixtures.instance_files() if p.stat().st_size < 70_000][:count]


def stow_body(files: list[bytes]) -> bytes:
    """``--b CRLF headers CRLF CRLF file CRLF ... --b--`` (RFC 2046 5.1.1)."""
    return b"".join(b"--b\r\nContent-Type: application/dicom\r\n\r\n" + f + b"\r\n" for f in files) + b"--b--\r\n"


def post_instance(client: MockClient, data: bytes):
    """STOW-RS of one instance, answered in JSON."""
    return client.post(ROOT + "studies", data=stow_body([data]),
                       headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})


def chunked(body: bytes, size: int = 8192) -> bytes:
    """RFC 7230 4.1 chunked coding of ``body``."""
    out = b"".join(b"%x\r\n" % len(body[i:i + size]) + body[i:i + size] + b"\r\n" for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


def post(path: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of a POST request."""
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", "Accept": "*/*", **headers}.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return int(lines[0].split()[1]), {k.lower(): v.strip() for k, v in headers.items()}, body


def assert_one_line_error(status: int, content_type: str | None, body: bytes, expected: int | None = None) -> bytes:
    """A 4xx/5xx with a text/plain Content-Type and one non-empty line of reason."""
    assert status >= 400 if expected is None else status == expected, (status, body[:300])
    assert (content_type or "").startswith("text/plain"), content_type
    assert body.strip() and b"\n" not in body.strip(), body[:300]
    return body


# ------------------------------------------------------------------------------------------ size limits

@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("path", [ROOT + "studies", "/instances"])
def test_body_above_maximum_body_size_is_413_and_stores_nothing(limited_app: MockApp, framing: str,
                                                                 path: str) -> None:
    """The size limit: 413 with a reason, whether the length is announced or not (chunked).

    Regression: a chunked STOW-RS body stored its first parts before the limit was reached
    (fixed in mock_server/handlers/stow.py: such a body is spooled before it is parsed).
    """
    files = small_files(4)
    body = stow_body(files) if path.endswith("studies") else b"".join(files)
    assert len(body) > LIMIT and len(stow_body(files[:3])) < LIMIT  # the limit is crossed in the 4th part
    ctype = STOW_TYPE if path.endswith("studies") else "application/dicom"
    framed = {"Transfer-Encoding": "chunked"} if framing == "chunked" else {"Content-Length": str(len(body))}
    with serve_in_thread(limited_app) as server:
        port = server.server.server_port
        answer = exchange(port, post(path, {"Content-Type": ctype, **framed},
                                     chunked(body) if framing == "chunked" else body))
        status, headers, reason = parse_answer(answer)
        assert_one_line_error(status, headers.get("content-type"), reason, 413)
        assert b"MaximumBodySize" in reason
        assert limited_app.store.counts()["instances"] == 0
        assert http_ping(port) == 204  # still answering (the store is empty: no match)


def test_stow_body_cut_before_its_content_length_lists_what_it_stored(limited_app: MockApp) -> None:
    """A body shorter than its Content-Length: the parts before the cut are reported (202, Annex I).

    Regression: werkzeug's ClientDisconnected escaped the handler as a bare 400 although the
    first instance had been stored.
    """
    body = stow_body(small_files(1))[:-len(b"--b--\r\n")] + b"--b\r\nContent-Type: application/dicom\r\n\r\nDICM"
    request = post(ROOT + "studies", {"Content-Type": STOW_TYPE, "Content-Length": str(len(body) + 5000),
                                      "Accept": "application/dicom+json"}, body)
    with serve_in_thread(limited_app) as server:
        status, _, answer = parse_answer(exchange(server.server.server_port, request))
    assert status == 202
    referenced = [item[SOP_INSTANCE]["Value"][0] for item in json.loads(answer)[REFERENCED_SEQ]["Value"]]
    stored = [r.sop_instance_uid for r in limited_app.store.index.instances()]
    assert referenced == stored and len(stored) == 1


def test_broken_chunked_framing_is_400_with_a_reason(limited_app: MockApp) -> None:
    """Broken chunked framing (RFC 7230 4.1) is a 400 naming the cause; nothing is stored."""
    with serve_in_thread(limited_app) as server:
        port = server.server.server_port
        for path in (ROOT + "studies", "/instances"):
            for bad in (b"zz\r\nabc", b"-5\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXX0\r\n\r\n", b"5\r\nab"):
                request = post(path, {"Content-Type": STOW_TYPE, "Transfer-Encoding": "chunked"}, bad)
                status, headers, reason = parse_answer(exchange(port, request))
                assert b"ended early" in assert_one_line_error(status, headers.get("content-type"), reason, 400)
        assert limited_app.store.counts()["instances"] == 0


def test_a_stalled_client_does_not_block_the_others(limited_app: MockApp) -> None:
    """A request whose body never arrives (Content-Length larger than sent) holds its own thread only."""
    with serve_in_thread(limited_app) as server:
        port = server.server.server_port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as stalled:
            stalled.sendall(post(ROOT + "studies", {"Content-Type": STOW_TYPE, "Content-Length": "100000"}, b"--b"))
            assert http_ping(port) == 204
        assert http_ping(port) == 204


# ------------------------------------------------------------------------------------- malformed instances

def test_an_instance_pydicom_cannot_index_is_refused_with_a_reason(limited_app: MockApp) -> None:
    """StudyDate with the VR "AA" (a flipped byte): failure 0xC000 (PS3.18 I.2.2), not a 500.

    pydicom converts values lazily, so the store's checks read every value the index needs
    before the instance is kept.
    """
    data = fixture_bytes("wang-ct-001.dcm")
    broken = data.replace(b"\x08\x00\x20\x00DA", b"\x08\x00\x20\x00AA", 1)
    assert broken != data
    client = MockClient(limited_app)
    r = post_instance(client, broken)
    assert r.status_code == 400, r.get_data()[:300]
    assert json.loads(r.get_data())[FAILED_SEQ]["Value"][0][FAILURE_REASON]["Value"] == [0xC000]
    r = client.post("/instances", data=broken)
    assert_one_line_error(r.status_code, r.headers.get("Content-Type"), r.get_data(), 400)
    assert limited_app.store.counts()["instances"] == 0


def rle_overrun() -> bytes:
    """doe-mr-t2-006 (RLE Lossless) with segments that hold more runs than the frame has pixels."""
    ds = pydicom.dcmread(io.BytesIO(fixture_bytes("doe-mr-t2-006.dcm")))
    segments = ds.BitsAllocated // 8 * ds.SamplesPerPixel
    segment = b"\x81\x00" * (ds.Rows * ds.Columns // 128 + 8)  # 128-byte replicate runs (PS3.5 G.3.1)
    offsets = [64 + i * len(segment) for i in range(segments)]
    header = struct.pack("<16L", segments, *offsets, *([0] * (15 - segments)))
    ds.PixelData = encapsulate([header + segment * segments])
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_pixel_data_a_decoder_panics_on_is_stored_and_decoding_it_refused(limited_app: MockApp) -> None:
    """pylibjpeg-rle panics (pyo3 PanicException, a BaseException) on an overrunning RLE segment.

    STOW-RS decodes the Pixel Data once and keeps the instance with the reason; frames,
    rendered and thumbnail then answer 406 with that reason before decoding anything, and
    the panic never escapes the application.
    """
    data = rle_overrun()
    client = MockClient(limited_app)
    r = post_instance(client, data)
    assert r.status_code == 200, r.get_data()[:300]
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    url = (f"{ROOT}studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
           f"/instances/{ds.SOPInstanceUID}")
    for tail, accept in (("/frames/1", 'multipart/related; type="application/octet-stream"'),
                         ("/rendered", "image/png"), ("/thumbnail", "image/jpeg")):
        try:
            r = client.get(url + tail, headers={"Accept": accept})
        except BaseException as exc:  # noqa: B036 - the panic is what this test is about
            pytest.fail(f"GET {tail}: {type(exc).__name__} escaped the application: {exc}")
        body = assert_one_line_error(r.status_code, r.headers.get("Content-Type"), r.get_data(), 406)
        assert b"cannot be decoded" in body


@pytest.mark.parametrize("header", ["Host", "X-Forwarded-Host"])
@pytest.mark.parametrize("value", ["a" * 64, "a" * 100_000, "a." * 200], ids=["label64", "100kB", "400chars"])
def test_overlong_host_names_are_not_5xx(fixture_app: MockApp, manifest, header: str, value: str) -> None:
    """A host label over 63 characters (RFC 1035 2.3.4) is refused (4xx) or ignored, never a 5xx.

    Both reach URL building: ``Host`` through werkzeug's routing (BadHost), ``X-Forwarded-Host``
    through the IDNA encoding of Content-Location.
    """
    i = manifest["instances"][0]
    path = f"{ROOT}studies/{i['StudyInstanceUID']}/series/{i['SeriesInstanceUID']}/instances/{i['SOPInstanceUID']}"
    try:
        r = MockClient(fixture_app).get(path + "/metadata", headers={header: value})
    except Exception as exc:
        pytest.fail(f"{header}: {type(exc).__name__} escaped the application: {str(exc)[:200]}")
    assert r.status_code < 500, r.get_data()[:200]
    if r.status_code >= 400:
        assert_one_line_error(r.status_code, r.headers.get("Content-Type"), r.get_data())


def test_an_instance_stored_by_stow_can_be_retrieved_again(limited_app: MockApp) -> None:
    """A File Meta element moved into the data set (a flipped group byte): refused, or retrievable.

    doe-mr-t2-003 with (0002,0012) turned into (0012,0012): pydicom ends the File Meta
    Information there and reads (0002,0013) into the data set.  Were it stored, a WADO-RS
    retrieve needing a transcode could not write it back.  Group 0002 belongs to the File Meta
    Information only (PS3.10 7.1), so the store refuses it (0xC000).
    """
    data = fixture_bytes("doe-mr-t2-003.dcm")
    at = data.find(b"\x02\x00\x12\x00UI")
    broken = data[:at] + b"\x12" + data[at + 1:]
    client = MockClient(limited_app)
    r = post_instance(client, broken)
    if r.status_code == 400:  # refused: nothing stored
        assert json.loads(r.get_data())[FAILED_SEQ]["Value"][0][FAILURE_REASON]["Value"] == [0xC000]
        assert limited_app.store.counts()["instances"] == 0
        return
    assert r.status_code == 200, r.get_data()[:300]
    ds = pydicom.dcmread(io.BytesIO(broken), stop_before_pixels=True)
    for path in (f"{ROOT}studies/{ds.StudyInstanceUID}",
                 f"{ROOT}studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"):
        r = client.get(path, headers={"Accept": 'multipart/related; type="application/dicom"'})
        assert r.status_code == 200, r.get_data()[:300]
        assert r.get_data().rstrip().endswith(b"--")  # the close delimiter: the body is complete


# ---------------------------------------------------------------------------------------- huge paging

@pytest.mark.parametrize("param", ["offset", "limit"])
def test_paging_values_past_64_bits_search_like_large_ones(fixture_store_dir: Path, tmp_path: Path,
                                                          param: str) -> None:
    """``offset`` skips that many matches and ``limit`` caps them (PS3.18 8.3.4.4): 2**64 and
    10**6 are both past the fixtures' studies, so the answers are the same, never a 5xx."""
    shutil.copytree(fixture_store_dir, tmp_path / "store")
    app = create_app(parse_config({}), DiskStore(tmp_path / "store"), fixtures=False)
    try:
        client = MockClient(app)
        answers = [client.get(f"{ROOT}studies", query_string={param: str(value)})
                   for value in (10 ** 6, 2 ** 64, 2 ** 64 + 10 ** 6)]
        assert all(r.status_code < 500 for r in answers), [r.get_data()[:200] for r in answers]
        assert len({(r.status_code, r.get_data()) for r in answers}) == 1
        found = json.loads(answers[0].get_data() or b"[]")
        assert len(found) == (0 if param == "offset" else app.store.counts()["studies"])
    finally:
        app.store.close()
