"""Multipart retrievals whose files go out with ``os.sendfile`` under gunicorn (mock_server.sendfile).

The body must put exactly the bytes of the ordinary stream on the wire, in order: checked
on a socket pair the way gunicorn writes (each yielded chunk before the next), and end to
end against ``python -m dicomweb_mock`` (gunicorn, the default server).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from pathlib import Path

import pytest
import requests

from dicomweb_conformance.checks.multipart import parse_multipart
from dicomweb_mock.dicomweb.multipart import Part, iter_parts
from dicomweb_mock.sendfile import MIN_SENDFILE, with_sendfile

from dicomweb_conformance.http import multipart_related
from tests.helpers.part10 import data_set_bytes
from tests.helpers.robustness import MockProcess, fixed_uid, make_instance

BOUNDARY = "test-boundary-1234"
AS_STORED_SERIES = 'multipart/related; type="application/dicom"'


def _parts(tmp_path: Path, sizes: list[int]) -> list[Part]:
    parts = []
    for number, size in enumerate(sizes):
        path = tmp_path / f"{number}.bin"
        path.write_bytes(bytes([number % 251]) * size)
        parts.append(Part("application/dicom", lambda p=path: open(p, "rb"), content_location=f"/i/{number}",
                          length=size))
    return parts


def _app(parts_factory, headers=None):
    def app(environ, start_response):
        start_response("200 OK", headers if headers is not None else [("Content-Length", "1")])
        return iter_parts(parts_factory(), BOUNDARY)
    return app


def _write_like_gunicorn(body, sock: socket.socket) -> None:
    try:
        for chunk in body:
            sock.sendall(chunk)
    finally:
        body.close()
        sock.shutdown(socket.SHUT_WR)


def _receive(sock: socket.socket, out: bytearray) -> None:
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return
        out += data


def test_the_wire_holds_the_same_bytes_as_the_stream(tmp_path):
    sizes = [MIN_SENDFILE * 3 + 17, 10, MIN_SENDFILE, 0, 2_000_000]
    expected = b"".join(iter_parts(_parts(tmp_path, sizes), BOUNDARY))
    server, client = socket.socketpair()
    received = bytearray()
    reader = threading.Thread(target=_receive, args=(client, received))
    reader.start()
    app = with_sendfile(_app(lambda: _parts(tmp_path, sizes)))
    body = app({"REQUEST_METHOD": "GET", "gunicorn.socket": server}, lambda *a: None)
    assert type(body).__name__ == "_SendfileBody"
    yielded = []
    _write_like_gunicorn((yielded.append(len(c)) or c for c in body), server)
    reader.join(10)
    server.close(), client.close()
    assert bytes(received) == expected
    assert sum(yielded) < len(expected) - 2_000_000  # the large files did not pass through Python
    payload = parse_multipart(f'multipart/related; type="application/dicom"; boundary={BOUNDARY}', bytes(received))
    assert [len(p.body) for p in payload] == sizes


def test_a_file_shorter_than_announced_is_an_error(tmp_path):
    parts = _parts(tmp_path, [MIN_SENDFILE * 2])
    (tmp_path / "0.bin").write_bytes(b"x" * MIN_SENDFILE)  # truncated after the length was taken
    server, client = socket.socketpair()
    body = with_sendfile(_app(lambda: parts))({"REQUEST_METHOD": "GET", "gunicorn.socket": server},
                                              lambda *a: None)
    with pytest.raises(ValueError, match="declared length"):
        for chunk in body:
            server.sendall(chunk)
    server.close(), client.close()


@pytest.mark.parametrize("case", ["no gunicorn socket", "HEAD", "no Content-Length", "TLS"])
def test_other_responses_are_left_as_they_are(tmp_path, case):
    server, client = socket.socketpair()
    environ = {"REQUEST_METHOD": "GET", "gunicorn.socket": server}
    headers = [("Content-Length", "1")]
    if case == "no gunicorn socket":
        del environ["gunicorn.socket"]
    elif case == "HEAD":
        environ["REQUEST_METHOD"] = "HEAD"
    elif case == "no Content-Length":
        headers = []
    else:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        environ["gunicorn.socket"] = tls.wrap_socket(socket.socket(), server_side=True, do_handshake_on_connect=False)
    body = with_sendfile(_app(lambda: _parts(tmp_path, [MIN_SENDFILE * 2]), headers))(environ, lambda *a: None)
    assert type(body).__name__ == "MultipartStream"
    body.close()
    if case == "TLS":
        environ["gunicorn.socket"].close()
    server.close(), client.close()


@pytest.mark.parametrize("accept", [AS_STORED_SERIES, AS_STORED_SERIES + "; transfer-syntax=*"])
def test_series_retrieve_from_the_default_server(tmp_path, accept):
    study, series = fixed_uid(), fixed_uid()
    instances = [make_instance("SENDFILE", study, series, n, rows=256, columns=256) for n in range(1, 5)]
    with MockProcess(tmp_path / "store") as mock:
        body, content_type = multipart_related([i.data for i in instances])
        stored = requests.post(mock.dicomweb_url + "studies", data=body, timeout=30,
                               headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        assert stored.status_code == 200, stored.text[:300]
        for _ in range(2):  # twice on one keep-alive connection: the framing stays right
            with requests.Session() as session:
                response = session.get(f"{mock.dicomweb_url}studies/{study}/series/{series}",
                                       headers={"Accept": accept}, timeout=30)
                assert response.status_code == 200
                assert int(response.headers["Content-Length"]) == len(response.content)
                payload = parse_multipart(response.headers["Content-Type"], response.content, strict=True,
                                          require_location=True, require_length=True)
                again = session.get(f"{mock.dicomweb_url}studies/{study}/series/{series}/metadata", timeout=30)
                assert again.status_code == 200
        # the data sets as sent, behind the store's own File Meta Information (compared by digest: a
        # byte diff of four instances would take pytest minutes to print)
        got = sorted(hashlib.sha256(data_set_bytes(p.body)).hexdigest() for p in payload)
        assert got == sorted(hashlib.sha256(data_set_bytes(i.data)).hexdigest() for i in instances)
