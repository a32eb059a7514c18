"""The request recorder (``RecordRequests: true`` / ``--record``), the spy the client-side tests rely on.

A multipart body (RFC 2046 5.1.1) is ``--b CRLF part (CRLF --b CRLF part)* CRLF --b--``:
the parts counted are the delimiters that are not the close delimiter, however
the application happens to read the body (read sizes, ``readline``,
iteration) and whatever the transfer coding (chunked, RFC 7230 4.1).
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from typing import Any, Callable, Iterable

import pytest
import requests

from dicomweb_mock.recorder import RequestRecorder
from tests.helpers.servers import PEER_PASSWORD, PEER_USER, Dataset, assert_no_secret, start_peer

BOUNDARY = "rec-boundary-42"


def multipart(bodies: list[bytes], boundary: str = BOUNDARY, preamble: bytes = b"", close: bool = True,
              part_type: str = "application/octet-stream") -> bytes:
    out = preamble
    for body in bodies:
        out += f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + body + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    else:
        out = out[:-2]
    return out


def reading_app(how: str, size: int = 0) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that consumes its input by ``read(size)``, ``readline()`` or iteration."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        if how == "read":
            while stream.read(size):
                pass
        elif how == "readline":
            while stream.readline():
                pass
        elif how == "iter":
            for _ in stream:
                pass
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"ok"]
    return app


def record(app: Callable[..., Iterable[bytes]], body: bytes, content_type: str | None = None,
           headers: dict[str, str] | None = None, path: str = "/dicom-web/studies",
           recorder: RequestRecorder | None = None) -> dict[str, Any]:
    recorder = recorder or RequestRecorder(app)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "a=1", "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body))}
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    statuses: list[str] = []
    b"".join(recorder(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    entries = recorder.snapshot()
    return entries[-1] if entries else {}


CT = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
# Bodies may hold a prefix of the delimiter, never the whole of it (RFC 2046 5.1.1).
BODIES = [b"first", b"", b"x" * 100, b"--rec-boundary-4 is not a delimiter", b"\r\n--rec-boundary-", b"\r\n-"]


@pytest.mark.parametrize("how, size", [("read", 1), ("read", 2), ("read", 3), ("read", 7), ("read", 16),
                                       ("read", 17), ("read", 18), ("read", 65536), ("read", -1),
                                       ("readline", 0), ("iter", 0)])
def test_parts_counted_across_read_boundaries(how: str, size: int) -> None:
    body = multipart(BODIES)
    entry = record(reading_app(how, size), body, CT)
    assert entry["Parts"] == len(BODIES)
    assert entry["BodyBytes"] == len(body)
    assert entry["Status"] == 201


@pytest.mark.parametrize("size", [1, 5, 4096])
def test_preamble_and_quoted_boundary(size: int) -> None:
    body = multipart([b"a", b"b"], preamble=b"This is a preamble.\r\n")
    ct = f'multipart/related; boundary="{BOUNDARY}"; type="application/dicom"'
    assert record(reading_app("read", size), body, ct)["Parts"] == 2


@pytest.mark.parametrize("size", [1, 4096])
def test_truncated_body_counts_the_parts_begun(size: int) -> None:
    body = multipart([b"a" * 50, b"b" * 50, b"c" * 50], close=False)[:-20]
    entry = record(reading_app("read", size), body, CT)
    assert entry["Parts"] == 3


@pytest.mark.parametrize("content_type", [f"multipart/related; boundary={BOUNDARY} ; type=application/dicom",
                                          f"Multipart/Related;Boundary=\"{BOUNDARY}\""])
def test_boundary_parameter_forms(content_type: str) -> None:
    assert record(reading_app("read", 3), multipart([b"a", b"b", b"c"]), content_type)["Parts"] == 3


def test_non_multipart_body_has_no_parts() -> None:
    entry = record(reading_app("read", 3), b'{"Uri": "/studies"}', "application/json")
    assert "Parts" not in entry and entry["BodyBytes"] == 19


def test_method_path_query_headers() -> None:
    entry = record(reading_app("read", 10), b"", None, headers={"X-Custom": "v", "Accept": "application/json"})
    assert (entry["Method"], entry["Path"], entry["Query"]) == ("POST", "/dicom-web/studies", "a=1")
    assert entry["Headers"]["X-Custom"] == "v" and entry["Headers"]["Accept"] == "application/json"


@pytest.mark.parametrize("value, shown", [
    ("Basic " + base64.b64encode(b"bob:" + PEER_PASSWORD.encode()).decode(), "Basic bob:***"),
    ("Basic " + base64.b64encode(b"bob").decode(), "Basic bob:***"),
    ("Basic %%%", "Basic ?:***"),
    ("Bearer " + PEER_PASSWORD, "Bearer ***"),
    ("Digest username=\"bob\", response=\"" + PEER_PASSWORD + "\"", "Digest ***")])
@pytest.mark.parametrize("header", ["Authorization", "Proxy-Authorization"])
def test_authorization_is_reduced(value: str, shown: str, header: str) -> None:
    entry = record(reading_app("read", 10), b"", headers={header: value})
    assert entry["Headers"][header] == shown
    assert_no_secret(json.dumps(entry))


def test_log_is_bounded_and_control_routes_are_not_recorded() -> None:
    app = reading_app("read", 10)
    recorder = RequestRecorder(app, limit=3)
    for n in range(5):
        record(app, b"", path=f"/p{n}", recorder=recorder)
    record(app, b"", path="/_mock/requests", recorder=recorder)
    assert [e["Path"] for e in recorder.snapshot()] == ["/p2", "/p3", "/p4"]
    recorder.clear()
    assert recorder.snapshot() == []


# -- through a real server ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(manifest) -> Dataset:
    return Dataset.load(manifest)


def test_chunked_stow_is_recorded(data: Dataset) -> None:
    peer = start_peer(fixtures=False)
    try:
        files = [data.path(i) for i in data.instances[:3]]
        body = multipart([f.read_bytes() for f in files], part_type="application/dicom")

        def chunks():  # a generator body: requests sends it with Transfer-Encoding: chunked
            for start in range(0, len(body), 70_001):
                yield body[start:start + 70_001]
        r = peer.dw("POST", "studies", data=chunks(), headers={"Content-Type": CT, "Accept": "application/dicom+json"})
        assert r.status_code == 200, r.text
        (entry,) = peer.dicomweb_requests()
        assert entry["Headers"]["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in entry["Headers"]
        assert entry["BodyBytes"] == len(body) and entry["Parts"] == 3
        assert entry["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"
        assert len(peer.sop_uids()) == 3
        assert peer.rest("DELETE", "/_mock/requests").json()["Requests"] == []
        assert peer.recorded() == []
    finally:
        peer.close()


def test_record_flag_of_the_command_line() -> None:
    """``python -m dicomweb_mock --record`` keeps the log at ``/_mock/requests``."""
    process = subprocess.Popen([sys.executable, "-m", "dicomweb_mock", "--port", "0", "--no-fixtures", "--record"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        root = None
        for _ in range(5):
            line = process.stdout.readline()
            if "DICOMweb root:" in line:
                root = line.split("DICOMweb root:")[1].strip()
                break
        assert root, process.stderr.read() if process.poll() is not None else "no start-up line"
        assert requests.get(root + "studies", timeout=10).status_code == 204
        log = requests.get(root.split("/dicom-web/")[0] + "/_mock/requests", timeout=10).json()
        assert log["Recording"] is True
        assert [(e["Method"], e["Path"], e["Status"]) for e in log["Requests"]] == [("GET", "/dicom-web/studies", 204)]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
