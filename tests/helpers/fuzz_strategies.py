"""Hypothesis strategies for fuzzing the mock's HTTP surface (used by ``test_fuzz_http``).

Everything here produces hostile input on purpose: QIDO-RS query strings
(PS3.18 8.3.4) with bad percent-escapes, Accept and Content-Type values that
bend the media-type grammar (8.7, RFC 7231 5.3.2), multipart/related STOW-RS
bodies framed wrongly (8.6.1.2, RFC 2046 5.1.1) or holding truncated DICOM
(PS3.10 7.1), UIDs that try to leave the store (path traversal) on every
WADO-RS / WADO-URI / Orthanc route, and raw HTTP/1.1 request bytes
(RFC 7230 3) for the socket-level tests, with the helpers that send them and
judge the answer (:func:`exchange`, :func:`check_raw`, :func:`http_ping`).
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# ------------------------------------------------------------------------------------------ building blocks

class Blob(bytes):
    """Bytes whose repr stays short in hypothesis' falsifying examples."""

    def __repr__(self) -> str:
        return f"Blob({len(self)} bytes: {bytes(self[:80])!r}...)" if len(self) > 80 else f"Blob({bytes(self)!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


#: Characters a header value may hold on the wire (RFC 7230 3.2: latin-1 octets), minus CR/LF.
LATIN1_NO_CRLF = st.characters(min_codepoint=0, max_codepoint=0xFF, blacklist_characters="\r\n")
#: Percent-escapes that are not UTF-8 or not escapes at all (RFC 3986 2.1).
BAD_ESCAPES = ["%FF", "%C3%28", "%", "%0", "%zz", "%00", "%E2%82", "%ED%A0%80", "%C0%AF", "%%", "%2", "%G1",
               "%F0%9F%98", "%80", "+", "%2B", "%3D", "%26", "&", "="]
#: UIDs that try to escape a path segment or the store directory.
TRAVERSALS = ["..", ".", "../", "..%2f", "%2e%2e%2f", "%2e%2e", "..%5c", "..%5C..%5Cwindows", "%2e%2e%5c",
              "..%2f..%2f..%2fetc%2fpasswd", "%2fetc%2fpasswd", "%252e%252e%252f", "....%2f%2f", "%c0%ae%c0%ae",
              "C:%5cWindows%5cwin.ini", "%5c%5cserver%5cshare", "a%00b", "%00", "1.2.3%00.dcm", "~", "*", "%2a",
              "1.2.3%0d%0aX-Injected:%201", "%ef%bc%8e%ef%bc%8e", "..;", "%20", "1.2.3%20", "1..2", ".1.2", "1.2.",
              "01.2", "%7b%7d", "$(id)", "'", "%22", "%3C%3E"]
#: Long enough to exceed every limit a UID has (64 characters, PS3.5 9.1).
LONG_UIDS = ["1." * 40 + "1", "9" * 65, "1.2." + "3" * 10000, "2.25." + "1234567890" * 500]


def percent_encode(text: str, safe: str = "") -> str:
    """``text`` as UTF-8 percent-encoded ASCII, keeping ``safe`` characters."""
    return quote(text, safe=safe, encoding="utf-8", errors="surrogatepass")


@st.composite
def wire_text(draw: st.DrawFn, max_size: int = 40) -> str:
    """Arbitrary text, percent-encoded, with bad escapes spliced in."""
    safe = draw(st.sampled_from(["", "/", ".,", "*?"]))
    pieces = draw(st.lists(st.one_of(st.text(max_size=max_size).map(lambda t: percent_encode(t, safe)),
                                     st.sampled_from(BAD_ESCAPES)), max_size=4))
    return "".join(pieces)


@st.composite
def hostile_uid(draw: st.DrawFn, valid: list[str] | None = None) -> str:
    """A path segment that is not a UID of the store (traversal, NUL, too long, garbage)."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.sampled_from(TRAVERSALS))
    if choice == 1:
        return draw(st.sampled_from(LONG_UIDS))
    if choice == 2 and valid:
        return draw(st.sampled_from(valid)) + draw(st.sampled_from(TRAVERSALS + ["0", ".0", "%00"]))
    if choice == 3:
        return "".join(draw(st.lists(st.sampled_from(TRAVERSALS + ["1.2.3", "/", "%2F"]), min_size=2, max_size=6)))
    return draw(wire_text(max_size=30)) or "%00"


# ------------------------------------------------------------------------------------------ QIDO-RS

QIDO_PATHS = ["studies", "series", "instances"]
KEYWORDS = ["PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
            "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality", "SeriesNumber", "InstanceNumber",
            "ReferringPhysicianName", "StudyDescription", "PatientBirthDate", "SOPClassUID", "TimezoneOffsetFromUTC",
            "SpecificCharacterSet", "NumberOfFrames", "PixelData", "Rows", "PatientAge", "OtherPatientIDsSequence",
            "RequestAttributesSequence", "RequestAttributesSequence.ScheduledProcedureStepID",
            "OtherPatientIDsSequence.PatientID", "00400275.00400009", "00081111.00081150", "ScheduledStationAETitle",
            "SelectorATValue", "ContentDate", "patientname", "Patient Name", "PatientName.", ".PatientName"]
TAGS = ["00100010", "0010,0010", "(0010,0010)", "0010001", "001000100", "0x00100010", "ZZZZZZZZ", "7FE00010",
        "00020010", "00000000", "FFFEE000", "FFFFFFFF", "00090010", "00091010", "00091001", "00290010",
        "00291010", "00291010.00100010", "00090010.00091010", "00110010", "0011ABCD", "00080020", "00200010",
        "0020000D", "0020000d", "00081030", "00080201", "00080005", "00540016.00181072"]
CONTROL = ["limit", "offset", "includefield", "fuzzymatching", "Limit", "OFFSET", "IncludeField", "FuzzyMatching",
           "limit ", "accept", "charset", "callback", ""]
VALUES = ["", "*", "?", "**", "a*b", "DOE*", "doe^*", "*^John", "=", "a=b=c=d", "\\", "a\\b", "1.2.3\\4.5",
          "1.2.3,4.5", "20190101", "20190101-", "-20190101", "20190101-20191231", "2019-2020", "20191301",
          "20190230", "-", "--", "20190101--20190102", "1015", "101530.123456", "101530.1234567", "25:00",
          "20190315101530&+0100", "&+0100", "-0500", "+1400", "+9999", "0", "-1", "1", "3", "18446744073709551616",
          "99999999999999999999", "1e5", "NaN", "true", "false", "TRUE", "yes", "all", "all,PatientName",
          "PatientName,,StudyDate", "00100010,00100020", "00091010", "CT", "CT\\MR", "ACME", "ACME CORP", " ",
          "\t", "x" * 300, "\u00e9\u00e8", "\u5c71\u7530", "\U0001f600", "\x00", "%"]


@st.composite
def qido_query(draw: st.DrawFn) -> str:
    """A raw query string: keys and values from the lists above or garbage, escaped or not."""
    pairs = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.one_of(st.sampled_from(KEYWORDS), st.sampled_from(TAGS), st.sampled_from(CONTROL),
                              wire_text(max_size=12)))
        value = draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=20), wire_text(max_size=20)))
        if draw(st.booleans()):
            name, value = percent_encode(name, safe=","), percent_encode(value, safe="*?,\\=")
        sep = draw(st.sampled_from(["=", "=", "==", "", "=%"]))
        pairs.append(name + sep + value)
    if pairs and draw(st.integers(0, 4)) == 0:
        pairs.append(pairs[0])  # a repeated key
    glue = draw(st.sampled_from(["&", "&", "&&", ";", "&amp;"]))
    tail = draw(st.sampled_from(["", "", "&", "#frag", draw(st.sampled_from(BAD_ESCAPES))]))
    return glue.join(pairs) + tail


# ------------------------------------------------------------------------------------------ media types

MEDIA_RANGES = ["*/*", "application/dicom", "application/dicom+json", "application/dicom+xml", "application/json",
                "multipart/related", "multipart/*", "image/jpeg", "image/png", "image/gif", "image/*", "text/html",
                "application/octet-stream", "image/jls", "image/dicom+jpeg", "image/x-dicom-rle", "*/json", "*",
                "", "/", "a/b/c", "application/", "/dicom", "APPLICATION/DICOM", "application/dicom ",
                "\u00e9/\u00e8", "multipart/form-data", "text/plain", "video/mpeg"]
PARAM_NAMES = ["q", "Q", "type", "transfer-syntax", "charset", "boundary", "start", "level", "", " q", "q ", "q=",
               "transfer-syntax ", "\u00e9"]
PARAM_VALUES = ["1", "0", "0.5", "0.001", "0.0001", "1.000", "1.0001", "2", "NaN", "nan", "inf", "-inf", "1e999",
                "1e-999", "-1", "-0", ".5", "", '"', '""', '"a\\"b"', '"unterminated', '"\\', "\\", "*", "**",
                "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5",
                "1.2.840.10008.1.2.4.80", "1.2.3.999", "garbage", "utf-8", "ISO_IR 192", "x" * 10_000,
                '"multipart/related; type=\\"application/dicom\\""', '"application/dicom"', "application/dicom",
                "application/dicom+xml", "image/jpeg", '"application/dicom; transfer-syntax=*"', "a;b", "a,b"]


@st.composite
def media_range(draw: st.DrawFn) -> str:
    """One media range with 0-4 parameters, some malformed, some repeated."""
    text = draw(st.one_of(st.sampled_from(MEDIA_RANGES), st.text(LATIN1_NO_CRLF, max_size=12)))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(PARAM_NAMES))
        value = draw(st.one_of(st.sampled_from(PARAM_VALUES), st.text(LATIN1_NO_CRLF, max_size=10)))
        sep = draw(st.sampled_from([";", ";", "; ", " ; ", ";;", ""]))
        text += f"{sep}{name}{draw(st.sampled_from(['=', '=', ' = ', '']))}{value}"
    return text


@st.composite
def accept_header(draw: st.DrawFn) -> str:
    """A hostile Accept value: a list of media ranges with odd separators, or plain garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(LATIN1_NO_CRLF, max_size=200))
    ranges = draw(st.lists(media_range(), min_size=1, max_size=5))
    glue = draw(st.sampled_from([",", ", ", ",,", " , ", ";", ",\t"]))
    return glue.join(ranges)


BOUNDARIES = ["b", "stow-boundary-1", "a" * 70, "a" * 71, "a" * 200, "a" * 201, "b" * 5000, "", " ", "b ", "b\t",
              "\u00e9\u00e8", "b;c", 'b"c', "(b)", "=?+_,-./:", "--", "-", "\x00", "b\x7f"]


@st.composite
def stow_content_type(draw: st.DrawFn, boundary: str) -> str:
    """A Content-Type for STOW-RS: right, or wrong in one or more ways (8.6.1.2, 10.5.1.1)."""
    mime = draw(st.sampled_from(["multipart/related"] * 6 + ["Multipart/Related", "multipart/form-data",
                                                              "application/dicom", "multipart/mixed", "", "multipart/",
                                                              "multipart/related/x", "text/plain"]))
    params: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        params.append("type=" + draw(st.sampled_from(['"application/dicom"', "application/dicom", '"application/dicom',
                                                       '"application/dicom+json"', '"application/dicom+xml"', '""',
                                                       "image/jpeg", '"multipart/related"'])))
    mode = draw(st.integers(0, 5))
    if mode < 3:
        params.append(f"boundary={boundary}" if mode else f'boundary="{boundary}"')
    elif mode == 3:
        params.append("boundary=" + draw(st.sampled_from(BOUNDARIES)))
    elif mode == 4:
        params += [f"boundary={boundary}", "boundary=other"]  # duplicated
    if draw(st.booleans()):
        params.append(draw(st.sampled_from(["charset=garbage", "charset=", "transfer-syntax=garbage",
                                            "transfer-syntax=1.2.840.10008.1.2", "start=<x>", "start-info=",
                                            "x" * 10_000 + "=1", "a", "=b", ';;;'])))
    params = draw(st.permutations(params))
    sep = draw(st.sampled_from(["; ", ";", " ;"]))
    return sep.join([mime, *params])


# ------------------------------------------------------------------------------------------ DICOM and multipart

@dataclass(frozen=True)
class DicomSample:
    """A real Part 10 file and where its File Meta Information ends (PS3.10 7.1)."""

    name: str
    data: bytes

    @property
    def meta_end(self) -> int:
        """Offset after the File Meta group: 132 + element header (12) + (0002,0000) value."""
        if self.data[128:132] != b"DICM" or self.data[132:136] != b"\x02\x00\x00\x00":
            return 132
        return 144 + struct.unpack("<I", self.data[140:144])[0]


@st.composite
def dicom_payload(draw: st.DrawFn, samples: list[DicomSample]) -> Blob:
    """A real file: whole, truncated at a random offset, or with bytes flipped in its head."""
    sample = draw(st.sampled_from(samples))
    data = sample.data
    kind = draw(st.sampled_from(["whole", "truncate", "truncate", "flip-preamble", "flip-meta", "flip-meta",
                                 "flip-any", "prefix-garbage"]))
    if kind == "truncate":
        cut = draw(st.one_of(st.integers(0, sample.meta_end + 64), st.integers(0, len(data) - 1)))
        return Blob(data[:cut])
    if kind == "prefix-garbage":
        return Blob(draw(st.binary(max_size=64)) + data)
    if kind == "whole":
        return Blob(data)
    low, high = {"flip-preamble": (0, 132), "flip-meta": (128, sample.meta_end + 200),
                 "flip-any": (0, len(data))}[kind]
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(low, min(high, len(buf)) - 1))
        buf[pos] = draw(st.integers(0, 255))
    return Blob(buf)


PART_HEADERS = [b"Content-Type: application/dicom", b"content-type:application/DICOM", b"Content-Type: text/plain",
                b"Content-Type: application/dicom; transfer-syntax=garbage", b"Content-Type: application/dicom+json",
                b"Content-Type: \"unterminated", b"Content-Type: ", b"Content-Type application/dicom", b"NoColonHere",
                b" folded: continuation", b"\x00: x", b"Content-Length: -5", b"Content-Length: 99999999999999",
                b"Content-Location: ../../etc/passwd", b"Content-Type: application/dicom\r\n continued",
                b"X-" + b"h" * 70_000 + b": 1", b"Content-Type:\xff\xfe"]


@st.composite
def multipart_body(draw: st.DrawFn, boundary: str, samples: list[DicomSample]) -> tuple[bytes, list[bytes]]:
    """A STOW-RS body for ``boundary``, well formed or mis-framed (RFC 2046 5.1.1), and its part payloads."""
    nl = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r"]))
    used = boundary if draw(st.integers(0, 7)) else draw(st.sampled_from(BOUNDARIES))
    b = used.encode("utf-8", "surrogatepass")
    out = bytearray(draw(st.sampled_from([b"", b"", b"preamble text\r\n", nl, b"--" + b + b"-"])))
    payloads: list[bytes] = []
    for _ in range(draw(st.integers(0, 3))):
        out += b"--" + b + draw(st.sampled_from([b"", b"", b" \t", b"   " * 400, b"x"])) + nl
        headers = draw(st.lists(st.sampled_from(PART_HEADERS[:4] * 3 + PART_HEADERS), max_size=2))
        out += b"".join(h + nl for h in headers) + nl
        payload = draw(st.one_of(dicom_payload(samples), dicom_payload(samples), st.binary(max_size=300),
                                 st.just(b"--" + b), st.just(b"")))
        payloads.append(payload)
        out += payload + nl
    out += draw(st.sampled_from([b"--" + b + b"--", b"--" + b + b"--", b"--" + b + b"--" + nl + b"epilogue",
                                 b"--" + b, b"", b"--" + b + b"-", b"--" + b + b"--" + b"\x00" * 3]))
    if draw(st.integers(0, 5)) == 0:
        del out[draw(st.integers(0, len(out))):]  # truncated anywhere
    return Blob(out), [Blob(p) for p in payloads]


# ------------------------------------------------------------------------------------------ raw HTTP requests

METHODS = [b"GET", b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT", b"get",
           b"G ET", b"", b"\x00", b"GET\x00", b"\xff\xfe", b"X" * 300, b"BREW"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b"HTTP/11", b"http/1.1", b"HTTP/",
            b"", b"HTTP/1.1 extra", b"HTTP/0.9", b"HTTP/1.", b"HTTP/a.b", b"HTTP/1.1\x00", b"HTTP/9999999999.1"]


@dataclass(frozen=True, repr=False)
class RawRequest:
    """Bytes to send, with what the request line lets the server answer."""

    data: bytes

    def __repr__(self) -> str:
        return f"RawRequest({Blob(self.data)!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    @property
    def _words(self) -> list[str]:
        """The request line split as http.server splits it (latin-1, any whitespace)."""
        return self.data.split(b"\n", 1)[0].decode("latin-1").split()

    @property
    def allows_505(self) -> bool:
        """RFC 7231 6.6.6: a server answers 505 to a major version it does not support."""
        words = self._words
        if len(words) < 3 or not words[-1].startswith("HTTP/"):
            return False
        major = words[-1][5:].split(".")[0]
        return major.isdigit() and int(major) >= 2

    @property
    def bare_answer(self) -> bool:
        """http.server answers without status line (HTTP/0.9 form) when the request line has
        fewer than 3 words, says HTTP/0.9, or has a version it cannot parse or support."""
        words = self._words
        if len(words) < 3 or words[-1] == "HTTP/0.9":
            return True
        version = re.fullmatch(r"HTTP/([0-9]{1,10})\.([0-9]{1,10})", words[-1])
        return version is None or int(version.group(1)) >= 2


@st.composite
def raw_request(draw: st.DrawFn, targets: list[str]) -> RawRequest:
    """One HTTP/1.x request with broken framing (RFC 7230 3.1-3.3)."""
    nl = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    sane = draw(st.booleans())  # half of the requests have a valid request line and reach the app
    method = draw(st.sampled_from([b"GET", b"POST", b"POST", b"PUT", b"DELETE", b"HEAD"] if sane else METHODS))
    target = draw(st.one_of(st.sampled_from(targets), st.sampled_from(targets).map(lambda t: t + "?" + "a=%FF&%"),
                            st.sampled_from(["*", "http://example.com/dicom-web/studies", "/" + "a" * 70_000,
                                             "/dicom-web/studies/../../etc/passwd", "/dicom-web/ studies", "",
                                             "/dicom-web/studies\x00", "/\xe9"])))
    version = draw(st.sampled_from(VERSIONS[:3] if sane else VERSIONS))
    line = b" ".join(x for x in (method, target.encode("latin-1", "replace"), version) if x or draw(st.booleans()))
    if sane:
        line = b" ".join((method, draw(st.sampled_from(targets)).encode("latin-1"), version))
    body = draw(st.one_of(st.binary(max_size=200), st.just(b""),
                          st.just(b'--b\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b--')))
    headers: list[bytes] = [b"Host: 127.0.0.1"] if draw(st.integers(0, 4)) else []
    if sane:
        headers += [b"Accept: */*", b'Content-Type: multipart/related; type="application/dicom"; boundary=b']
    chunked = draw(st.integers(0, 3)) == 0
    for _ in range(draw(st.integers(0, 5))):
        headers.append(draw(st.sampled_from([
            b"Accept: */*", b"Accept: " + b"x" * 70_000, b"NoColonHeader", b" obs-fold continuation",
            b"\tfolded", b"Content-Length: " + str(len(body)).encode(), b"Content-Length: 0",
            b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: abc", b"Content-Length: 1e3",
            b"Content-Length: 99999999999999999999999", b"Content-Length: " + str(len(body) + 50).encode(),
            b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: identity",
            b"Content-Type: multipart/related; type=\"application/dicom\"; boundary=b", b"Content-Encoding: gzip",
            b"Host: ", b"Host: a b", b"Expect: 100-continue", b"Connection: close", b"Connection: keep-alive",
            b": empty-name", b"Bad Name: x", b"X-Latin: \xe9\xff", b"X-Nul: a\x00b"])))
    if draw(st.integers(0, 20)) == 0:
        headers += [b"X-Many: 1"] * 120  # more than http.client's 100-header limit
    if chunked:
        headers.append(b"Transfer-Encoding: chunked")
        body = draw(st.sampled_from([
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n", b"zz\r\n" + body, b"-5\r\nabc\r\n0\r\n\r\n",
            b"5\r\nab", b"ffffffffffffffff\r\nabc", b"5;ext=1\r\nabcde\r\n0\r\n\r\n", b"3\r\nabcXX0\r\n\r\n",
            b"0\r\n\r\n", b"", body]))
    return RawRequest(line + nl + b"".join(h + nl for h in headers) + nl + body)


# ------------------------------------------------------------------------------------------ raw sockets

def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` (from a thread), half-close, read until the server closes; b"" if it closed at once.

    Reading while sending lets an early answer (413 before the body is read) arrive even when
    the server then closes and the rest of the body is refused.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        def send() -> None:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server closed first: its answer, if any, is still readable
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, socket.timeout):
            pass
        sender.join(timeout)
        return b"".join(chunks)


def check_raw(request: RawRequest, answer: bytes) -> list[int]:
    """Statuses of the answers in ``answer``; fails on a 5xx or a response that is not HTTP.

    Python's http.server answers a request line it cannot parse in the HTTP/0.9 form (an
    HTML error page without status line); its "Error code: NNN" is checked instead.
    """
    where = f"raw request {request.data[:300]!r}"
    assert b"internal error of the mock server" not in answer, f"{where}: {answer[:300]!r}"
    if not answer:
        return []  # closed without an answer
    if not answer.startswith(b"HTTP/1."):
        found = re.search(rb"Error code: (\d{3})", answer[:2000])
        if answer.startswith(b"<!DOCTYPE HTML") and found:
            status = int(found.group(1))
            assert status < 500 or (status == 505 and request.allows_505), f"{where}: bare error {status}"
            return [status]
        assert request.bare_answer, f"{where}: not an HTTP answer: {answer[:200]!r}"
        return []  # an HTTP/0.9 bare body
    statuses = []
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and line[8:9] == b" " and line[9:12].isdigit():
            status = int(line[9:12])
            assert status < 500 or (status == 505 and request.allows_505), f"{where}: {line!r}"
            statuses.append(status)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    if statuses and 400 <= statuses[0] < 500:
        assert b"\r\ncontent-type:" in head, f"{where}: {statuses[0]} without Content-Type"
    return statuses


def http_ping(port: int) -> int:
    """Status of a plain ``GET /dicom-web/studies`` on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/dicom-web/studies", headers={"Accept": "application/dicom+json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------ /servers bodies

def json_garbage() -> st.SearchStrategy[Any]:
    """JSON values for the /servers routes; text never holds ':' so no URL is ever valid."""
    text = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), max_size=12)
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text,
                     st.sampled_from(["ftp://x/", "http//x", "http://", "https://u:p@h/", "http:// x/"]))
    return st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                     st.dictionaries(st.sampled_from(
                                                         ["Url", "Username", "Password", "Uri", "Resources",
                                                          "Timeout", "HttpHeaders", "Pkcs11", "x"]), kids,
                                                         max_size=3)), max_leaves=6)
