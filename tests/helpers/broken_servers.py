"""Raw-socket HTTP servers that misbehave at the transport level (RFC 9112 message framing).

Each :class:`BrokenServer` listens on a free loopback port and treats every request with
one :data:`BEHAVIOURS` entry.  ``healthy`` names requests answered properly instead:
``"system"`` (``GET /system`` answers an Orthanc-like identity, so a conformance run reaches
the target) and ``"stow"`` (a POST answers 200 with a Store Instances Response that lists
every instance of the body, PS3.18 10.5.3, so the run's seeding succeeds); the tests then
meet the misbehaviour.
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
import struct
import threading
from typing import Callable, Collection

import pydicom

__all__ = ["BEHAVIOURS", "BrokenServer", "read_request"]

_HEAD_LIMIT = 64 * 1024


def read_request(conn: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes, bytes] | None:
    """One request from ``conn``: (head, body, bytes read past it); None when the client closed.

    The body is framed by Content-Length or chunked coding (RFC 9112 6.3).
    """
    data = bytearray(buffered)
    while b"\r\n\r\n" not in data:
        if len(data) > _HEAD_LIMIT:
            return None
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    rest = bytearray(rest)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while not (rest.endswith(b"0\r\n\r\n") and (rest == b"0\r\n\r\n" or b"\r\n0\r\n\r\n" in rest)):
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return head, bytes(rest), b""
    length = int(headers.get(b"content-length", b"0") or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head, bytes(rest[:length]), bytes(rest[length:])


class BrokenServer:
    """A loopback server answering every connection with ``behaviour`` (see :data:`BEHAVIOURS`)."""

    def __init__(self, behaviour: str, *, healthy: Collection[str] = ()):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; one of {sorted(BEHAVIOURS)}")
        if set(healthy) - {"system", "stow"}:
            raise ValueError(f"healthy takes 'system' and 'stow', got {sorted(healthy)}")
        self.behaviour = behaviour
        self.healthy = set(healthy)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/dicom-web/"
        self.stopping = threading.Event()
        self.connections: list[socket.socket] = []
        self.misbehaved = 0
        self.answered = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            leftover = b""
            while not self.stopping.is_set():
                request = read_request(conn, leftover)
                if request is None:
                    return
                head, body, leftover = request
                if self._answer_healthy(conn, head, body):
                    continue
                with self._lock:
                    self.misbehaved += 1
                if not BEHAVIOURS[self.behaviour](self, conn, head):
                    return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _answer_healthy(self, conn: socket.socket, head: bytes, body: bytes) -> bool:
        """Answer ``head`` properly if it is one of the ``healthy`` requests; whether it was."""
        method, _, rest = head.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?")[0]
        if "system" in self.healthy and method == b"GET" and path == b"/system":
            body = json.dumps({"Name": "BrokenServer", "Version": self.behaviour}).encode()
            ctype = b"application/json"
        elif "stow" in self.healthy and method == b"POST":
            body, ctype = _store_response(head, body), b"application/dicom+json"
        else:
            return False
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        with self._lock:
            self.answered += 1
        return True

    def _wait(self, seconds: float) -> bool:
        """Sleep; False once the server is stopping."""
        return not self.stopping.wait(seconds)

    def close(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self.connections:
                try:
                    conn.close()
                except OSError:
                    pass
        self.sock.close()

    def __enter__(self) -> "BrokenServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- behaviours: (server, connection, request head) -> keep serving this connection? ------------
def _store_response(head: bytes, body: bytes) -> bytes:
    """A Store Instances Response (PS3.18 I.2) naming each instance of a multipart/related body."""
    found = re.search(rb"boundary=\"?([^\";\r\n]+)", head, flags=re.I)
    items = []
    for chunk in body.split(b"--" + found.group(1))[1:] if found else []:
        if b"\r\n\r\n" not in chunk:
            continue
        payload = chunk.split(b"\r\n\r\n", 1)[1][:-2]
        try:
            ds = pydicom.dcmread(io.BytesIO(payload), stop_before_pixels=True,
                                 specific_tags=["SOPClassUID", "SOPInstanceUID"])
        except Exception:  # not DICOM (the closing delimiter, junk): nothing to list
            continue
        items.append({"00081150": {"vr": "UI", "Value": [str(ds.SOPClassUID)]},
                      "00081155": {"vr": "UI", "Value": [str(ds.SOPInstanceUID)]}})
    return json.dumps({"00081199": {"vr": "SQ", "Value": items}}).encode()


def _hang(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Read the request, never answer."""
    while server._wait(0.2):
        pass
    return False


def _reset(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Read the request, then abort the connection with RST (SO_LINGER with a zero timeout)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def _garbage(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Answer bytes that are not an HTTP message, then close."""
    rng = random.Random(len(head))
    junk = bytes(rng.randrange(256) for _ in range(4096))
    conn.sendall(b"\x16\x03\x01\x00\xa5" + junk)  # starts like a TLS record, never like 'HTTP/'
    return False


def _long_length(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Content-Length larger than the body, then close."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nContent-Length: 5000\r\n\r\n"
                 b'[{"0020000D": {"vr": "UI", "Value": ["1.2')
    return False


def _short_length(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Content-Length smaller than the body, junk after it; the connection stays open."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nContent-Length: 4\r\n\r\n"
                 b'[{"0020000D": {"vr": "UI"}}]\r\nJUNK AFTER THE BODY \x00\xff\xfe\r\n\r\n')
    return True


def _stall_body(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Headers and the start of the body, then silence."""
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: multipart/related; type="application/dicom"; boundary=b0\r\n'
                 b"Content-Length: 100000\r\n\r\n--b0\r\nContent-Type: application/dicom\r\n\r\n" + b"\0" * 200)
    return _hang(server, conn, head)


def _trickle_body(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """Headers, then one body byte every 0.2 s (each read succeeds, the body never ends)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nContent-Length: 100000\r\n\r\n")
    while server._wait(0.2):
        conn.sendall(b" ")
    return False


def _trickle_headers(server: BrokenServer, conn: socket.socket, head: bytes) -> bool:
    """A status line, then one header byte every 0.2 s (the header block never ends)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while server._wait(0.2):
        conn.sendall(b"X")
    return False


BEHAVIOURS: dict[str, Callable[[BrokenServer, socket.socket, bytes], bool]] = {
    "hang": _hang,
    "reset": _reset,
    "garbage": _garbage,
    "long-length": _long_length,
    "short-length": _short_length,
    "stall-body": _stall_body,
    "trickle-body": _trickle_body,
    "trickle-headers": _trickle_headers,
}
