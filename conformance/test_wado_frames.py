"""WADO-RS Retrieve Frames (PS3.18-2019a 10.4.1.1.1, 8.7.3.3; {frames} of chapter 10).

Uncompressed frames (application/octet-stream) must equal the manifest's
``native_frames_sha256``; frames in the compressed media type of their stored
Transfer Syntax (table 8.7.3-5) must be the stored frames (``frames_sha256``).
"""

from __future__ import annotations

import pytest

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.wado import (frame_matches_stored, instance_path, lossy_only_refusal, native_problem,
                                              sha256)

OCTETS = 'multipart/related; type="application/octet-stream"'


def _frames_path(inst: dict, frames: str) -> str:
    return f"{instance_path(inst)}/frames/{frames}"


@pytest.mark.requirement("WADO-012", "WADO-013")
@pytest.mark.parametrize("file, frame", [("doe-mr-t2-001.dcm", 1), ("vix-ct-localizer-002.dcm", 1),
                                         ("sato-mr-cine-001.dcm", 7), ("sato-mr-cine-001.dcm", 16),
                                         ("doe-mr-t2-004.dcm", 1), ("yamada-cr-001.dcm", 1),
                                         ("jane-us-doppler-001.dcm", 10), ("jane-us-cine-001.dcm", 12),
                                         ("vix-sc-rgb-001.dcm", 1)])
def test_one_frame_as_octet_stream_is_the_native_pixel_bytes(client, truth, expect, file, frame):
    inst = truth.instance_by_file(file)
    response = client.get(_frames_path(inst, str(frame)), headers={"Accept": OCTETS})
    if lossy_only_refusal(response, inst):
        return  # 8.7.3.3: a server with only the lossy pixel data may refuse octet-stream (406)
    expect.status(response, 200, req="WADO-012")
    mp = expect_multipart(response, req="WADO-012", root_type="application/octet-stream",
                          part_types="application/octet-stream")
    expect.equal(len(mp.parts), 1, req="WADO-012", what="number of parts for one frame", response=response)
    problem = native_problem([mp.parts[0].body], inst, truth, [frame])
    expect.that(problem is None, req="WADO-013", what=f"frame {frame} of {file} (stored in {inst['TransferSyntaxUID']})",
                expected="the native little-endian pixel bytes of the stored frame", actual=problem, response=response)


@pytest.mark.requirement("WADO-012", "WADO-013")
@pytest.mark.parametrize("file, frames", [("sato-mr-cine-001.dcm", [1, 3, 5]), ("jane-us-doppler-001.dcm", [2, 4, 9]),
                                          ("jane-us-cine-001.dcm", [1, 3, 5]),
                                          ("sato-mr-cine-001.dcm", list(range(1, 17)))],
                         ids=["native-1,3,5", "rle-rgb-2,4,9", "jpeg-lossy-1,3,5", "native-all-16"])
def test_frame_list_returns_each_frame_in_the_listed_order(client, truth, expect, file, frames):
    inst = truth.instance_by_file(file)
    response = client.get(_frames_path(inst, ",".join(map(str, frames))), headers={"Accept": OCTETS})
    if lossy_only_refusal(response, inst):
        return  # 8.7.3.3: a server with only the lossy pixel data may refuse octet-stream (406)
    expect.status(response, 200, req="WADO-012")
    mp = expect_multipart(response, req="WADO-012", root_type="application/octet-stream",
                          part_types="application/octet-stream")
    expect.equal(len(mp.parts), len(frames), req="WADO-012", what="number of parts (one per listed frame)",
                 response=response)
    problem = native_problem([p.body for p in mp.parts], inst, truth, frames)
    expect.that(problem is None, req="WADO-013", what=f"frames {frames} of {file}, part by part",
                expected="the native bytes of each listed frame, in the listed order", actual=problem,
                response=response)


@pytest.mark.requirement("WADO-033")
@pytest.mark.parametrize("frames", ["{last_plus_1}", "0", "1,{last_plus_1}", "x", "-1"],
                         ids=["after-last", "zero", "list-with-one-beyond", "not-a-number", "negative"])
def test_frame_number_outside_the_instance_is_an_error(client, truth, expect, frames):
    inst = truth.instance_by_file("sato-mr-cine-001.dcm")
    spec = frames.format(last_plus_1=inst["NumberOfFrames"] + 1)
    response = client.get(_frames_path(inst, spec), headers={"Accept": OCTETS})
    expect.status(response, (400, 404))


@pytest.mark.requirement("WADO-008")
def test_frames_of_an_instance_that_does_not_exist_is_404(client, truth, expect):
    inst = truth.instance_by_file("sato-mr-cine-001.dcm")
    inst["SOPInstanceUID"] = f"{truth.uid_root}.999.11"
    response = client.get(_frames_path(inst, "1"), headers={"Accept": OCTETS})
    expect.status(response, 404)


#: (file, frames, media type with the Transfer Syntax the instance is stored in; table 8.7.3-5)
_COMPRESSED = [
    ("doe-mr-t2-003.dcm", [1], 'multipart/related; type="image/jls"'),
    ("wang-ct-001.dcm", [1], 'multipart/related; type="image/jls"'),
    ("doe-mr-t2-005.dcm", [1], 'multipart/related; type="image/jp2"'),
    ("yamada-cr-001.dcm", [1], 'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.90'),
    ("doe-mr-t2-006.dcm", [1], 'multipart/related; type="image/dicom-rle"'),
    ("jane-us-doppler-001.dcm", [1, 6, 10], 'multipart/related; type="image/dicom-rle"'),
    ("jane-us-cine-001.dcm", [2, 7], 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50'),
]


@pytest.mark.requirement("WADO-034")
@pytest.mark.parametrize("file, frames, accept", _COMPRESSED,
                         ids=[f"{f}-{a.split('type=')[1].split(';')[0].strip(chr(34))}" for f, _, a in _COMPRESSED])
def test_frames_in_their_stored_compressed_media_type_are_the_stored_frames(client, truth, expect, file, frames,
                                                                            accept):
    inst = truth.instance_by_file(file)
    part_type = accept.split('type="')[1].split('"')[0]
    response = client.get(_frames_path(inst, ",".join(map(str, frames))), headers={"Accept": accept})
    expect.status(response, 200)
    mp = expect_multipart(response, root_type=part_type, part_types=part_type)
    expect.equal(len(mp.parts), len(frames), what="number of parts (one compressed frame per part, 8.7.3.3.2 note 4)",
                 response=response)
    for part, number in zip(mp.parts, frames):
        if part.transfer_syntax is not None:
            expect.equal(part.transfer_syntax, inst["TransferSyntaxUID"], response=response,
                         what=f"transfer-syntax of part {part.index}")
        expect.that(frame_matches_stored(part.body, inst["frames_sha256"][number - 1]), response=response,
                    what=f"part {part.index}: frame {number} of {file} ({len(part.body)} bytes)",
                    expected=f"the stored frame (SHA-256 {inst['frames_sha256'][number - 1][:16]}...)",
                    actual=f"other bytes (SHA-256 {sha256(part.body)[:16]}...)")


def _jpeg_pixels(data: bytes) -> bytes | None:
    """The samples of a JPEG stream (baseline or lossless, decoded by libjpeg), or None if it does not decode."""
    from libjpeg import decode

    try:
        return decode(data).tobytes()
    except Exception:  # libjpeg raises RuntimeError/ValueError for streams it cannot decode
        return None


@pytest.mark.requirement("WADO-035")
@pytest.mark.parametrize("accept", ["multipart/related; type=image/dicom+jpeg",
                                    'multipart/related; type="image/dicom+jpeg"'], ids=["seed-form", "quoted"])
def test_dicom_2014a_jpeg_frame_media_type(client, truth, expect, accept):
    inst = truth.instance_by_file("jane-us-cine-001.dcm")  # JPEG Baseline, stored lossy
    response = client.get(_frames_path(inst, "1,4"), headers={"Accept": accept})
    expect.status(response, 200)
    mp = expect_multipart(response, part_types=["image/dicom+jpeg", "image/jpeg"])
    expect.equal(len(mp.parts), 2, what="number of parts (frames 1 and 4)", response=response)
    for part, number in zip(mp.parts, (1, 4)):
        if frame_matches_stored(part.body, inst["frames_sha256"][number - 1]):
            continue
        pixels = _jpeg_pixels(part.body)
        expect.that(pixels is not None, what=f"part {part.index} ({part.content_type})", expected="a JPEG stream",
                    actual=f"{len(part.body)} bytes libjpeg cannot decode, starting {part.body[:4].hex()}",
                    response=response)
        problem = native_problem([pixels], inst, truth, [number])
        expect.that(problem is None, what=f"part {part.index}: JPEG of frame {number} (not the stored bytes)",
                    expected="the stored frame, or a JPEG decoding to its pixel values", actual=problem,
                    response=response)


@pytest.mark.requirement("HTTP-007", "HTTP-008", "WADO-012")
def test_frames_response_has_the_multipart_syntax_of_8_6_1_2(client, truth, expect):
    inst = truth.instance_by_file("sato-mr-cine-001.dcm")
    response = client.get(_frames_path(inst, "2,3"), headers={"Accept": OCTETS})
    expect.status(response, 200, req="WADO-012")
    expect.content_type(response, OCTETS, req="HTTP-008")
    expect_multipart(response, req="HTTP-007", strict=True, root_type="application/octet-stream")
