"""WADO-RS rendered and thumbnail resources over HTTP (PS3.18 2019a 10.4.1.1.3-4, 8.3.5, 8.7.4).

Images are decoded with Pillow; sizes and pixel values are derived from the
standard (viewport scaling 8.3.5.1.3, the linear VOI function of PS3.3
C.11.2.1.2, MONOCHROME1 inversion) applied to pixels read from the fixture
files with pydicom, never from the server's own output.
"""

from __future__ import annotations

import email.message
import io
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomweb_fixtures as fixtures
from tests.helpers.http import MockClient
ROOT = "/dicom-web/"
INST = {i["file"].removesuffix(".dcm"): i for i in fixtures.load_manifest()["instances"]}
DOE_STUDY = INST["doe-mr-t2-001"]["StudyInstanceUID"]
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}


def path_of(name: str, suffix: str = "") -> str:
    i = INST[name]
    return f"{ROOT}studies/{i['StudyInstanceUID']}/series/{i['SeriesInstanceUID']}/instances/{i['SOPInstanceUID']}{suffix}"


def decode(data: bytes, media_type: str) -> Image.Image:
    """The body really is ``media_type``, with at most 8 bits per channel (8.7.4)."""
    image = Image.open(io.BytesIO(data))
    assert image.format == FORMATS[media_type]
    assert image.mode in ("L", "RGB", "P")
    return image


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(decode(data, "image/png"), dtype=np.int32)


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart/related body (RFC 2046), header names lower-cased."""
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    assert msg.get_content_type() == "multipart/related"
    boundary = msg.get_param("boundary").encode()
    segments = (b"\r\n" + body).split(b"\r\n--" + boundary)
    assert segments[0] == b"" and segments[-1].startswith(b"--")
    parts = []
    for seg in segments[1:-1]:
        head, sep, content = seg[2:].partition(b"\r\n\r\n")
        assert seg.startswith(b"\r\n") and sep
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head.decode("latin-1").split("\r\n"))}
        parts.append((headers, content))
    return parts


@pytest.fixture(scope="module")
def stored() -> dict[str, pydicom.Dataset]:
    """Fixture files used as the pixel oracle."""
    wanted = {"vix-ct-axial-001", "yamada-cr-001", "jane-us-cine-001", "doe-mr-t2-001"}
    return {p.name.removesuffix(".dcm"): pydicom.dcmread(p) for p in fixtures.instance_files()
            if p.name.removesuffix(".dcm") in wanted}


def linear_voi(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, output range 0..255."""
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    y = np.where(x <= center - 0.5 - (width - 1) / 2, 0.0, y)
    y = np.where(x > center - 0.5 + (width - 1) / 2, 255.0, y)
    return y


# ----------------------------------------------------------------------------- media types and sizes
@pytest.mark.parametrize("name", ["vix-ct-axial-001", "jane-us-doppler-001", "doe-sc-palette-001", "yamada-cr-001",
                                  "sato-mr-cine-001", "vix-sc-rgb-001", "doe-mr-t2-006"])
@pytest.mark.parametrize("accept,media", [(None, "image/jpeg"), ("*/*", "image/jpeg"), ("image/*", "image/jpeg"),
                                          ("image/png", "image/png"), ("image/gif", "image/gif"),
                                          ("image/png; q=0.5, image/gif; q=0.9", "image/gif")])
def test_rendered_instance_type_and_size(client: MockClient, name: str, accept: str | None, media: str) -> None:
    """Without a viewport the image has the source's Rows x Columns (8.3.5.1.3)."""
    r = client.get(path_of(name, "/rendered"), headers={"Accept": accept} if accept else {})
    assert r.status_code == 200, r.data
    assert r.headers["Content-Type"] == media
    assert decode(r.data, media).size == (INST[name]["Columns"], INST[name]["Rows"])


@pytest.mark.parametrize("query,accept,media", [("?accept=image/png", "*/*", "image/png"),
                                                ("?accept=image/gif", None, "image/gif")])
def test_accept_query_parameter(client: MockClient, query: str, accept: str | None, media: str) -> None:
    """8.3.3.1: the accept Query Parameter is prioritized before the Accept header."""
    r = client.get(path_of("wang-ct-001", "/rendered" + query), headers={"Accept": accept} if accept else {})
    assert r.status_code == 200 and r.headers["Content-Type"] == media
    decode(r.data, media)


@pytest.mark.parametrize("accept,status", [("image/jp2x", 406), ("text/html", 406),
                                           ('multipart/related; type="application/dicom"', 406),
                                           ("application/dicom, image/jpeg", 400),  # 8.7.5: mixed categories
                                           ('multipart/related; type="application/octet-stream", image/png', 400)])
@pytest.mark.parametrize("resource", ["/rendered", "/thumbnail", "/frames/1/rendered"])
def test_rendered_refusals(client: MockClient, accept: str, status: int, resource: str) -> None:
    r = client.get(path_of("jane-us-cine-001", resource), headers={"Accept": accept})
    assert r.status_code == status, r.data
    assert not r.headers["Content-Type"].startswith("image/")


@pytest.mark.parametrize("viewport,size", [("128,128", (128, 96)), ("80,200", (80, 60)), ("320,320", (320, 240)),
                                           ("160,120", (160, 120)), ("64,64,0,0,32,32", (64, 64)),
                                           ("100,100,80,60,,", None), ("100,100,,,80,60", (100, 75))])
def test_viewport_scaling(client: MockClient, viewport: str, size: tuple[int, int] | None) -> None:
    """8.3.5.1.3: scale the (cropped) region to fit vw x vh, keeping its aspect ratio (160x120 source)."""
    r = client.get(path_of("jane-us-doppler-001", f"/rendered?viewport={viewport}"), headers={"Accept": "image/png"})
    if size is None:  # trailing elided values must drop their commas
        assert r.status_code == 400
        return
    assert r.status_code == 200, r.data
    assert decode(r.data, "image/png").size == size


@pytest.mark.parametrize("viewport,window", [("40,30,0,0,40,30", np.s_[0:30, 0:40]),
                                             ("50,40,10,20,50,40", np.s_[20:60, 10:60]),
                                             ("60,40,100,0,60,40", np.s_[0:40, 100:160])])
def test_viewport_crop_matches_full_image(client: MockClient, viewport: str, window: Any) -> None:
    """An unscaled crop of a colour image (no VOI) equals the same region of the full rendering."""
    full = pixels(client.get(path_of("jane-us-doppler-001", "/rendered"), headers={"Accept": "image/png"}).data)
    crop = client.get(path_of("jane-us-doppler-001", f"/rendered?viewport={viewport}"), headers={"Accept": "image/png"})
    assert np.array_equal(pixels(crop.data), full[window])


def test_viewport_negative_sizes_flip(client: MockClient) -> None:
    """8.3.5.1.3: a negative sw flips horizontally, a negative sh vertically."""
    full = pixels(client.get(path_of("jane-us-doppler-001", "/rendered"), headers={"Accept": "image/png"}).data)
    region = full[0:30, 0:40]
    for viewport, expected in (("40,30,0,0,-40,30", region[:, ::-1]), ("40,30,0,0,40,-30", region[::-1]),
                               ("40,30,0,0,-40,-30", region[::-1, ::-1])):
        r = client.get(path_of("jane-us-doppler-001", f"/rendered?viewport={viewport}"), headers={"Accept": "image/png"})
        assert np.array_equal(pixels(r.data), expected), viewport


# ----------------------------------------------------------------------------- window and quality
@pytest.mark.parametrize("name,center,width", [("vix-ct-axial-001", 40, 400), ("vix-ct-axial-001", -600, 1500),
                                               ("doe-mr-t2-001", 300, 700), ("yamada-cr-001", 1000, 1500)])
def test_window_follows_the_linear_voi_function(client: MockClient, stored, name: str, center: int, width: int) -> None:
    """8.3.5.1.4 window=c,w,linear after the Modality LUT; MONOCHROME1 is inverted (PS3.3 C.7.6.3.1.2)."""
    ds = stored[name]
    values = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    expected = linear_voi(values, center, width)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        expected = 255.0 - expected
    r = client.get(path_of(name, f"/rendered?window={center},{width},linear"), headers={"Accept": "image/png"})
    assert r.status_code == 200
    got = pixels(r.data)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1.0


def test_two_windows_give_different_pixels(client: MockClient) -> None:
    images = [pixels(client.get(path_of("wang-ct-001", f"/rendered?window={w}"), headers={"Accept": "image/png"}).data)
              for w in ("40,400,linear", "300,1500,linear")]
    assert (images[0] != images[1]).mean() > 0.1


@pytest.mark.parametrize("frames", ["2", "7", "12"])
def test_rendered_frame_is_that_frame(client: MockClient, stored, frames: str) -> None:
    """Rendered Frames: window 128,256 is the identity on 8-bit data, so the image is the decoded frame."""
    n = int(frames)
    r = client.get(path_of("jane-us-cine-001", f"/frames/{frames}/rendered?window=128,256,linear"),
                   headers={"Accept": "image/png"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    decoded = stored["jane-us-cine-001"].pixel_array[n - 1].astype(np.int32)
    got = pixels(r.data)
    assert np.abs(got - decoded).max() <= 2  # lossy JPEG: decoders differ by about 1
    other = stored["jane-us-cine-001"].pixel_array[n % 12].astype(np.int32)
    assert np.abs(got - other).mean() > np.abs(got - decoded).mean()


def test_quality_changes_jpeg_size(client: MockClient) -> None:
    """8.3.5.1.2: 100 is the best quality; a low quality gives a smaller JPEG."""
    sizes = []
    for quality in (5, 95):
        r = client.get(path_of("vix-ct-axial-001", f"/rendered?quality={quality}"), headers={"Accept": "image/jpeg"})
        assert r.status_code == 200
        decode(r.data, "image/jpeg")
        sizes.append(len(r.data))
    assert sizes[0] * 2 < sizes[1]


@pytest.mark.parametrize("query", ["quality=0", "quality=101", "quality=abc", "quality=", "quality=50&quality=60",
                                   "viewport=0,10", "viewport=10", "viewport=a,b", "viewport=10,10,0,0,0,5",
                                   "viewport=10,10,1,2,3,4,5", "window=1,2", "window=1,2,cubic",
                                   "window=a,2,linear", "window=40,0,linear", "window=,400,linear"])
def test_bad_rendering_parameters_are_400(client: MockClient, query: str) -> None:
    """8.3.5.1.2-4: missing, ill-formed or unsupported values give 400."""
    r = client.get(path_of("wang-ct-001", f"/rendered?{query}"))
    assert r.status_code == 400, query


# ----------------------------------------------------------------------------- frames, series, study
@pytest.mark.parametrize("frames,status", [("13", 404), ("0", 400), ("1,x", 400)])
def test_rendered_frame_errors(client: MockClient, frames: str, status: int) -> None:
    assert client.get(path_of("jane-us-cine-001", f"/frames/{frames}/rendered")).status_code == status


def test_rendered_frame_list_is_multipart(client: MockClient) -> None:
    r = client.get(path_of("jane-us-cine-001", "/frames/1,3/rendered"),
                   headers={"Accept": 'multipart/related; type="image/png"'})
    assert r.status_code == 200
    parts = split_multipart(r.headers["Content-Type"], r.data)
    assert [h["content-location"] for h, _ in parts] == [
        "http://localhost" + path_of("jane-us-cine-001", f"/frames/{n}/rendered") for n in (1, 3)]
    assert all(decode(b, "image/png").size == (256, 256) for _, b in parts)


@pytest.mark.parametrize("level", ["study", "series"])
def test_rendered_study_and_series(client: MockClient, level: str) -> None:
    """10.4.1.1.3: one rendered representation per instance, each part located (8.6.1.2)."""
    inst = INST["doe-mr-t2-001"]
    path = f"{ROOT}studies/{DOE_STUDY}" + (f"/series/{inst['SeriesInstanceUID']}" if level == "series" else "")
    key = "StudyInstanceUID" if level == "study" else "SeriesInstanceUID"
    members = [n for n, i in INST.items() if i[key] == inst[key]]
    r = client.get(path + "/rendered", headers={"Accept": 'multipart/related; type="image/png"'})
    assert r.status_code == 200
    parts = split_multipart(r.headers["Content-Type"], r.data)
    expected = {"http://localhost" + path_of(n, "/rendered"): n for n in members}
    assert sorted(h["content-location"] for h, _ in parts) == sorted(expected)
    for headers, body in parts:
        assert headers["content-type"] == "image/png"
        name = expected[headers["content-location"]]
        assert decode(body, "image/png").size == (INST[name]["Columns"], INST[name]["Rows"])


def test_rendered_unknown_resources_are_404(client: MockClient) -> None:
    inst = INST["doe-mr-t2-001"]
    assert client.get(f"{ROOT}studies/1.2.3/rendered").status_code == 404
    assert client.get(f"{ROOT}studies/{DOE_STUDY}/series/1.2.3/rendered").status_code == 404
    assert client.get(f"{ROOT}studies/{DOE_STUDY}/series/{inst['SeriesInstanceUID']}/instances/1.2/rendered"
                      ).status_code == 404


# ----------------------------------------------------------------------------- thumbnails
@pytest.mark.parametrize("suffix", ["study", "series", "instance", "frame"])
@pytest.mark.parametrize("accept,media", [(None, "image/jpeg"), ("image/png", "image/png"), ("image/gif", "image/gif")])
def test_thumbnail_is_one_image(client: MockClient, suffix: str, accept: str | None, media: str) -> None:
    """10.4.1.1.4: a single image in a Rendered Media Type, for every thumbnail resource."""
    inst = INST["jane-us-doppler-001"]
    path = {"study": f"{ROOT}studies/{inst['StudyInstanceUID']}",
            "series": f"{ROOT}studies/{inst['StudyInstanceUID']}/series/{inst['SeriesInstanceUID']}",
            "instance": path_of("jane-us-doppler-001"), "frame": path_of("jane-us-doppler-001", "/frames/4")}[suffix]
    r = client.get(path + "/thumbnail", headers={"Accept": accept} if accept else {})
    assert r.status_code == 200 and r.headers["Content-Type"] == media
    decode(r.data, media)


@pytest.mark.parametrize("name,viewport,size", [("jane-us-doppler-001", "64,64", (64, 48)),
                                                ("vix-ct-axial-001", "100,50", (50, 50)),
                                                ("wang-ct-001", "32,32", (32, 32))])
def test_thumbnail_viewport(client: MockClient, name: str, viewport: str, size: tuple[int, int]) -> None:
    r = client.get(path_of(name, f"/thumbnail?viewport={viewport}"), headers={"Accept": "image/png"})
    assert r.status_code == 200
    assert decode(r.data, "image/png").size == size


@pytest.mark.parametrize("query", ["viewport=64,64,0,0,10,10", "viewport=64", "viewport=0,64"])
def test_thumbnail_viewport_is_size_only(client: MockClient, query: str) -> None:
    """8.3.5.1.3: for a Thumbnail anything other than vw and vh gives 400."""
    assert client.get(path_of("wang-ct-001", f"/thumbnail?{query}")).status_code == 400
