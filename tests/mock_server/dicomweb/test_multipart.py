"""Tests for mock_server.dicomweb.multipart (PS3.18 8.6.1.2, RFC 2046 5.1, RFC 2387)."""

from __future__ import annotations

import io
import os
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dicomweb_mock.dicomweb.multipart import (
    CHUNK_SIZE,
    DEFAULT_PART_CONTENT_TYPE,
    MultipartError,
    Part,
    content_type_header,
    get_boundary,
    iter_multipart,
    iter_parts,
    multipart_length,
    new_boundary,
    parse_content_type,
    validate_boundary,
)

BOUNDARY = "++++"  # the boundary used in the PS3.18 8.6.1.2.1 example


class RecordingStream(io.RawIOBase):
    """Binary stream that records read sizes and returns at most ``max_chunk`` bytes per call."""

    def __init__(self, data: bytes, max_chunk: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self.max_chunk = max_chunk
        self.sizes: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        self.sizes.append(size)
        if size is None or size < 0:
            raise AssertionError("reader asked for the whole stream")
        if self.max_chunk is not None:
            size = min(size, self.max_chunk)
        return self._data.read(size)

    def tell(self) -> int:
        return self._data.tell()


class GeneratedStream(io.RawIOBase):
    """A multipart body produced on the fly so that it never sits in memory."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        assert size is not None and size > 0
        while len(self._pending) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._pending += nxt
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


def parse_all(data: bytes, boundary: str = BOUNDARY, **kw) -> list[tuple[str, bytes]]:
    return [(p.content_type, p.read()) for p in iter_multipart(io.BytesIO(data), boundary, **kw)]


# ------------------------------------------------------------------ writer
def test_writer_follows_ps318_multipart_payload_syntax() -> None:
    # 8.6.1.2.1: --b CRLF headers CRLF payload CRLF ... --b-- (CRLF before a
    # delimiter belongs to the delimiter, RFC 2046 5.1.1).
    parts = [
        Part("application/dicom", b"AB", content_location="/studies/1"),
        Part("application/octet-stream", b"", content_location="/bulk/2"),
    ]
    expected = (
        b"--++++\r\n"
        b"Content-Type: application/dicom\r\n"
        b"Content-Location: /studies/1\r\n"
        b"Content-Length: 2\r\n"
        b"\r\n"
        b"AB\r\n"
        b"--++++\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Location: /bulk/2\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
        b"\r\n"
        b"--++++--"
    )
    assert b"".join(iter_parts(parts, BOUNDARY)) == expected
    assert multipart_length(parts, BOUNDARY) == len(expected)


def test_content_type_header_quotes_type_parameter() -> None:
    # 8.7.1: the type parameter contains "/" and thus requires quote marks.
    value = content_type_header("application/dicom", "abc", "1.2.840.10008.1.2.1")
    assert value == 'multipart/related; type="application/dicom"; boundary=abc; transfer-syntax=1.2.840.10008.1.2.1'
    mime, params = parse_content_type(value)
    assert mime == "multipart/related"
    assert params == {"type": "application/dicom", "boundary": "abc", "transfer-syntax": "1.2.840.10008.1.2.1"}


def test_content_type_header_quotes_boundary_with_special_chars() -> None:
    # A boundary may contain SP, ":" "=" "?" ... which are not token characters.
    value = content_type_header("application/dicom+xml", "a b:c=d?")
    assert 'boundary="a b:c=d?"' in value
    assert get_boundary(value) == "a b:c=d?"


def test_new_boundary_is_valid_and_random() -> None:
    b1, b2 = new_boundary(), new_boundary()
    assert b1 != b2
    assert validate_boundary(b1) == b1
    assert 1 <= len(b1) <= 70


def test_length_unknown_for_iterable_body_without_length() -> None:
    parts = [Part("application/dicom", iter([b"a", b"b"]))]
    assert multipart_length(parts, BOUNDARY) is None
    data = b"".join(iter_parts(parts, BOUNDARY))
    assert b"Content-Length" not in data
    assert parse_all(data) == [("application/dicom", b"ab")]


def test_file_opener_is_streamed_in_chunks_and_closed(tmp_path) -> None:
    payload = os.urandom(3 * CHUNK_SIZE + 1000)
    path = tmp_path / "obj.dcm"
    path.write_bytes(payload)
    opened: list[io.BufferedReader] = []

    def opener():
        fh = open(path, "rb")
        opened.append(fh)
        return fh

    parts = [Part("application/dicom", opener, length=len(payload))]
    chunks = list(iter_parts(parts, BOUNDARY))
    assert opened and opened[0].closed
    assert max(len(c) for c in chunks) <= CHUNK_SIZE < len(payload)  # never the whole file at once
    data = b"".join(chunks)
    assert len(data) == multipart_length(parts, BOUNDARY)
    assert parse_all(data) == [("application/dicom", payload)]


def test_file_closed_when_response_iteration_is_abandoned(tmp_path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 300_000)
    opened: list[io.BufferedReader] = []
    gen = iter_parts([Part("application/octet-stream", lambda: opened.append(open(path, "rb")) or opened[-1])], BOUNDARY)
    next(gen)  # head
    next(gen)  # first chunk: file is open
    assert not opened[0].closed
    gen.close()  # type: ignore[attr-defined]
    assert opened[0].closed


def test_declared_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        Part("application/dicom", b"abc", length=4)
    gen = iter_parts([Part("application/dicom", iter([b"abc"]), length=5)], BOUNDARY)
    with pytest.raises(ValueError):
        b"".join(gen)


def test_empty_part_list_and_header_injection_rejected() -> None:
    with pytest.raises(ValueError):
        iter_parts([], BOUNDARY)
    with pytest.raises(ValueError):
        b"".join(iter_parts([Part("application/dicom", b"", content_location="/a\r\nX: y")], BOUNDARY))
    with pytest.raises(MultipartError):
        iter_parts([Part("application/dicom", b"")], "bad boundary ")


# ------------------------------------------------------------- round trip
TRICKY = [
    b"",
    b"\r\n",
    b"\r",
    b"\n",
    b"--",
    b"--+++",  # a line starting with a prefix of the boundary
    b"x--++++",  # the boundary, but not at the start of a line: ordinary data
    b"x\r\n--+++",  # a prefix of the delimiter
    b"\r\n--++",
    b"data ending with CRLF\r\n",
    b"\r\n\r\n--\r\n--+\r\n",
    bytes(range(256)) * 3,
]


@pytest.mark.parametrize("read_size", [1, 2, 3, 4, 5, 6, 7, 64, 65536])
def test_round_trip_tricky_binary_with_tiny_reads(read_size: int) -> None:
    parts = [Part(f"application/x-test{i}", body, content_location=f"/p/{i}") for i, body in enumerate(TRICKY)]
    data = b"".join(iter_parts(parts, BOUNDARY))
    stream = RecordingStream(data)
    got = list(iter_multipart(stream, BOUNDARY, read_size=read_size))
    assert [p.read() for p in got] == TRICKY
    assert [p.content_type for p in got] == [f"application/x-test{i}" for i in range(len(TRICKY))]
    assert [p.content_location for p in got] == [f"/p/{i}" for i in range(len(TRICKY))]
    assert [p.size for p in got] == [len(b) for b in TRICKY]
    assert set(stream.sizes) == {read_size}


@settings(max_examples=150, deadline=None)
@given(
    bodies=st.lists(
        st.lists(st.sampled_from([b"\r", b"\n", b"-", b"+", b" ", b"a", b"\x00"]), max_size=40).map(b"".join),
        min_size=1,
        max_size=4,
    ),
    read_size=st.integers(min_value=1, max_value=9),
    threshold=st.sampled_from([0, 8, 1 << 20]),
)
def test_round_trip_property(bodies: list[bytes], read_size: int, threshold: int) -> None:
    # RFC 2046 5.1.1: no line of a body part may start with the dash-boundary.
    assume(all(b"\r\n--++++" not in b"\r\n" + body for body in bodies))
    data = b"".join(iter_parts([Part("application/octet-stream", b) for b in bodies], BOUNDARY))
    parts = list(iter_multipart(io.BytesIO(data), BOUNDARY, read_size=read_size, spool_threshold=threshold))
    assert [p.read() for p in parts] == bodies
    for p in parts:
        p.close()


@pytest.mark.parametrize("max_chunk", [1, 3, 7])
def test_short_reads_from_stream(max_chunk: int) -> None:
    data = b"".join(iter_parts([Part("application/dicom", b"\r\n--++++-\r\n" * 5)], BOUNDARY))
    stream = RecordingStream(data, max_chunk=max_chunk)
    assert parse_all_stream(stream) == [b"\r\n--++++-\r\n" * 5]


def parse_all_stream(stream) -> list[bytes]:
    return [p.read() for p in iter_multipart(stream, BOUNDARY, read_size=16)]


def test_headers_are_case_insensitive_and_folded_lines_joined() -> None:
    data = (
        b"--++++\r\n"
        b"content-type: application/dicom\r\n"
        b"CONTENT-LOCATION: /a\r\n"
        b"X-Long: one\r\n two\r\n"
        b"\r\n"
        b"body\r\n--++++--"
    )
    (part,) = iter_multipart(io.BytesIO(data), BOUNDARY)
    assert part.headers["Content-Type"] == "application/dicom"
    assert part.content_location == "/a"
    assert part.headers["x-long"] == "one two"
    assert part.media_type == "application/dicom"


def test_preamble_epilogue_and_transport_padding() -> None:
    # RFC 2046 5.1.1: preamble and epilogue are ignored; LWSP may follow the boundary.
    data = (
        b"This is the preamble.\r\n--++++ \t\r\n"
        b"Content-Type: text/plain\r\n\r\none\r\n"
        b"--++++  \r\n"
        b"Content-Type: text/plain\r\n\r\ntwo\r\n"
        b"--++++--\r\nThis is the epilogue, --++++ ignored.\r\n"
    )
    assert parse_all(data) == [("text/plain", b"one"), ("text/plain", b"two")]


def test_part_without_headers_defaults_to_text_plain() -> None:
    # RFC 2046 5.1.1: no Content-Type means "text/plain; charset=US-ASCII".
    data = b"--++++\r\n\r\nhello\r\n--++++--"
    (part,) = iter_multipart(io.BytesIO(data), BOUNDARY)
    assert part.read() == b"hello"
    assert part.content_type == DEFAULT_PART_CONTENT_TYPE == "text/plain; charset=US-ASCII"
    assert part.media_type == "text/plain"
    assert "Content-Type" not in part.headers


@pytest.mark.parametrize("read_size", [1, 2, 3, 7, 4096])
def test_body_part_without_octets(read_size: int) -> None:
    # RFC 2046 5.1.1: body-part := MIME-part-headers [CRLF *OCTET]; the CRLF
    # before "--boundary" belongs to the delimiter, so both parts are empty.
    data = (
        b"--++++\r\nContent-Type: a/b\r\n\r\n--++++ \r\n"
        b"\r\n--++++\r\n"
        b"Content-Type: c/d\r\n\r\nxyz\r\n--++++--"
    )
    got = list(iter_multipart(io.BytesIO(data), BOUNDARY, read_size=read_size))
    assert [(p.media_type, p.read()) for p in got] == [("a/b", b""), ("text/plain", b""), ("c/d", b"xyz")]


def test_quoted_boundary_with_space_round_trip() -> None:
    header = 'multipart/related; type="application/dicom"; boundary="my boundary"'
    boundary = get_boundary(header)
    assert boundary == "my boundary"
    assert parse_content_type(header)[1]["type"] == "application/dicom"
    data = b"".join(iter_parts([Part("application/dicom", b"X\r\n--my bound")], boundary))
    assert parse_all(data, boundary) == [("application/dicom", b"X\r\n--my bound")]


def test_unquoted_type_parameter_with_slash_is_kept_whole() -> None:
    mime, params = parse_content_type("Multipart/Related; Type=application/dicom; boundary=abc")
    assert mime == "multipart/related"
    assert params["type"] == "application/dicom"
    assert get_boundary("multipart/related; type=application/dicom; boundary=abc") == "abc"


# ----------------------------------------------------------- spill / memory
def test_big_part_spills_to_disk_and_close_deletes_it() -> None:
    big = os.urandom(300_000) + b"\r\n--++++ not a delimiter"
    small = b"small"
    data = b"".join(iter_parts([Part("application/dicom", big), Part("application/dicom", small)], BOUNDARY))
    stream = RecordingStream(data)
    p1, p2 = iter_multipart(stream, BOUNDARY, spool_threshold=64 * 1024, read_size=4096)
    assert max(stream.sizes) <= 4096
    assert not p1.in_memory and p2.in_memory
    path = p1.spool_path
    assert path is not None and os.path.getsize(path) == len(big)
    with p1.open() as fh:
        assert fh.read() == big
    p1.close()
    assert not os.path.exists(path)
    assert p2.read() == small
    p2.close()


def test_memory_stays_bounded_for_large_body() -> None:
    boundary = new_boundary()
    size = 6 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB

    def body() -> Iterator[bytes]:
        yield from iter_parts([Part("application/octet-stream", (block for _ in range(size // len(block))), length=size)], boundary)

    tracemalloc.start()
    try:
        (part,) = iter_multipart(GeneratedStream(body()), boundary, spool_threshold=256 * 1024, read_size=32 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert part.size == size and not part.in_memory
        assert peak < 1024 * 1024, f"peak {peak} bytes while parsing a {size} byte body"
    finally:
        part.close()


def test_reader_yields_first_part_before_consuming_whole_stream() -> None:
    parts = [Part("application/dicom", b"a" * 1000), Part("application/dicom", b"b" * 100_000)]
    data = b"".join(iter_parts(parts, BOUNDARY))
    stream = RecordingStream(data)
    it = iter_multipart(stream, BOUNDARY, read_size=512)
    first = next(it)
    assert first.read() == b"a" * 1000
    assert stream.tell() < len(data) // 2
    assert next(it).size == 100_000


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/related; type=\"application/dicom\"",  # no boundary
        "multipart/related; boundary=\"\"",  # empty boundary
        "application/dicom; boundary=abc",  # not multipart
        "multipart/related; boundary=\"unterminated",  # broken quoting
        "multipart/related; boundary=" + "a" * 201,  # longer than even the lenient 200 chars
        "multipart/related; boundary=\"abc \"",  # may not end with a space
        "multipart/related; boundary=\"a@b\"",  # '@' is not a bchar
        "multipart/related; boundary=a; boundary=b",  # repeated parameter
    ],
)
def test_bad_content_type_boundary(content_type: str) -> None:
    with pytest.raises(MultipartError) as exc:
        get_boundary(content_type)
    assert "\n" not in exc.value.reason


def test_reader_accepts_orthancs_73_character_boundary_but_writer_does_not() -> None:
    # Orthanc's DICOMweb client sends two UUIDs joined by "-" (73 characters, over RFC 2046's 70).
    boundary = "e2056eb2-2452-464d-9c32-786b9dcf29cb-e2056eb2-2452-464d-9c32-786b9dcf29cb"
    assert get_boundary(f"multipart/related; boundary={boundary}") == boundary
    body = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\nDATA\r\n--{boundary}--".encode()
    parts = list(iter_multipart(io.BytesIO(body), boundary))
    assert [p.read() for p in parts] == [b"DATA"]
    with pytest.raises(MultipartError):
        content_type_header("application/dicom", boundary)


def test_missing_boundary_reason() -> None:
    with pytest.raises(MultipartError, match="missing boundary"):
        get_boundary('multipart/related; type="application/dicom"')
    with pytest.raises(MultipartError, match="missing boundary"):
        list(iter_multipart(io.BytesIO(b""), ""))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no opening"),
        (b"no delimiter at all\r\n--+++\r\n", "no opening"),
        # "--++++X" is not a delimiter line, so only the close delimiter is seen
        (b"--++++X\r\nContent-Type: a/b\r\n\r\nx\r\n--++++--", "no parts"),
        (b"--++++--", "no parts"),
        (b"--++++\r\nContent-Type: a/b\r\n\r\ndata", "missing close delimiter"),
        (b"--++++\r\nContent-Type: a/b\r\n\r\ndata\r\n--++++\r\n", "truncated"),
        (b"--++++\r\nContent-Type: a/b\r\n\r\ndata\r\n--++++", "truncated"),
        (b"--++++\r\nContent-Type: a/b", "truncated"),
        (b"--++++\r\nContent-Type a/b\r\n\r\ndata\r\n--++++--", "malformed part header"),
        (b"--++++\r\n: empty-name\r\n\r\ndata\r\n--++++--", "malformed part header"),
        (b"--++++\r\n folded-first\r\n\r\ndata\r\n--++++--", "malformed part headers"),
        (b"--++++\r\nContent-Type: a/b\nX: y\r\n\r\ndata\r\n--++++--", "malformed part headers"),
        (b"--++++\r\nContent-Type: a/b\r\n--++++--\r\n\r\n", "malformed part headers"),
        (b"--++++\r\nContent-Type: not-a-media-type\r\n\r\ndata\r\n--++++--", "malformed Content-Type"),
    ],
)
@pytest.mark.parametrize("read_size", [1, 5, 4096])
def test_malformed_bodies(data: bytes, reason: str, read_size: int) -> None:
    with pytest.raises(MultipartError) as exc:
        parse_all(data, read_size=read_size)
    assert reason in exc.value.reason
    assert "\n" not in exc.value.reason
    assert isinstance(exc.value, ValueError)


def test_part_over_max_size() -> None:
    data = b"".join(iter_parts([Part("a/b", b"12345"), Part("a/b", b"x" * 11)], BOUNDARY))
    assert [b for _, b in parse_all(data, max_part_size=11)] == [b"12345", b"x" * 11]
    with pytest.raises(MultipartError, match="part 2: larger than"):
        parse_all(data, max_part_size=10, read_size=3)


def test_header_block_size_limit() -> None:
    data = b"--++++\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\nbody\r\n--++++--"
    with pytest.raises(MultipartError, match="header block exceeds"):
        parse_all(data, max_header_size=1024)
    assert parse_all(data)[0][1] == b"body"


def test_blank_content_type() -> None:
    assert parse_content_type("") == ("", {})
    assert parse_content_type(None) == ("", {})
    with pytest.raises(MultipartError, match="missing Content-Type"):
        get_boundary("")
