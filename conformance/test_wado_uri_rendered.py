"""WADO-URI: Retrieve Rendered Instance (PS3.18 2019a 9.3, 9.5; rendered media types 8.7.4).

Images are decoded with Pillow and compared with the fixture pixels (decoded
with pydicom) by correlation, which does not depend on the window or the
rendering pipeline a server applies: a rendered frame or region must be
most similar to the source frame or region it claims to be.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

from dicomweb_conformance.test_wado_uri import CT, DICOM, LOSSY_CINE, uri_params

MR = "doe-mr-t2-001.dcm"    # 256x256 MONOCHROME2 12-bit, no padding value: linear under its window
RGB = "vix-sc-rgb-001.dcm"  # 256x256 RGB
CR = "yamada-cr-001.dcm"    # 256x256 MONOCHROME1, JPEG 2000
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}


def rendered(response: Any, expect: Any, media_type: str, *, req: Any) -> Image.Image:
    """Check the Content-Type and decode the single image of the payload (9.5.3.3)."""
    expect.content_type(response, media_type, req=req)
    try:
        image = Image.open(io.BytesIO(response.content))
        image.load()
    except Exception as exc:  # Pillow raises several types for undecodable data
        expect.fail(req=req, what=f"payload of the {media_type} response", expected=f"one {media_type} image",
                    actual=f"{type(exc).__name__}: {exc}", response=response)
    expect.equal(image.format, _FORMATS[media_type], req=req, what="format of the decoded image",
                 response=response)
    return image


def _source(truth: Any, name: str) -> np.ndarray:
    """The fixture's pixel data as float (frames first for multi-frame)."""
    ds = pydicom.dcmread(truth.file_path(truth.instance_by_file(name)["SOPInstanceUID"]))
    return ds.pixel_array.astype(float)


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=float)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _size(instance: dict[str, Any]) -> tuple[int, int]:
    """(width, height) of the instance's pixel matrix."""
    return instance["Columns"], instance["Rows"]


# -- default and media types (9.3, 8.7.4) ------------------------------------------------------------
@pytest.mark.requirement("URI-007", "URI-021")
@pytest.mark.parametrize("name", [CT, RGB, CR])
def test_default_is_a_jpeg_of_the_full_image(client, truth, expect, name):
    instance = truth.instance_by_file(name)
    response = client.uri_get(uri_params(instance), headers={"Accept": "*/*"})
    expect.status(response, 200, req="URI-007")
    image = rendered(response, expect, "image/jpeg", req="URI-007")
    expect.equal(image.size, _size(instance), req="URI-021", response=response,
                 what="(width, height) of the rendered image", note="one output pixel per source pixel")


@pytest.mark.requirement("URI-008", "URI-020")
@pytest.mark.parametrize("name", [CT, RGB])
def test_jpeg_is_baseline_8_bit(client, truth, expect, name):
    """8.7.4: image/jpeg is the baseline 8-bit Huffman process (SOF0 frame header), at most 8 bits."""
    instance = truth.instance_by_file(name)
    response = client.uri_get(uri_params(instance, contentType="image/jpeg"))
    expect.status(response, 200, req="URI-008")
    image = rendered(response, expect, "image/jpeg", req="URI-008")
    expect.that(image.mode in ("L", "RGB", "YCbCr"), req="URI-020", what="mode of the decoded JPEG",
                expected="8 bits per channel (L or RGB)", actual=image.mode, response=response)
    markers = _sof_markers(response.content)
    expect.equal(markers, [0xC0], req="URI-020", response=response, what="JPEG frame header markers (SOFn)",
                 note="0xC0 = baseline DCT, Huffman; 0xC1/0xC2 extended/progressive are not baseline")


def _sof_markers(data: bytes) -> list[int]:
    """The SOFn markers (0xC0-0xCF except DHT 0xC4, JPG 0xC8, DAC 0xCC) of a JPEG stream's header."""
    found, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the headers are over
            break
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            found.append(marker)
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return found


@pytest.mark.requirement("URI-018")
def test_png(client, truth, expect):
    instance = truth.instance_by_file(MR)
    response = client.uri_get(uri_params(instance, contentType="image/png"))
    expect.status(response, 200)
    image = rendered(response, expect, "image/png", req="URI-018")
    expect.equal(image.size, _size(instance), what="(width, height) of the PNG", response=response)
    expect.that(_correlation(_gray(image), _source(truth, MR)) > 0.9, what="correlation with the source pixels",
                expected="> 0.9", actual=round(_correlation(_gray(image), _source(truth, MR)), 3),
                response=response)


@pytest.mark.requirement("URI-019")
def test_gif(client, truth, expect):
    instance = truth.instance_by_file(MR)
    response = client.uri_get(uri_params(instance, contentType="image/gif"))
    expect.status(response, 200)
    image = rendered(response, expect, "image/gif", req="URI-019")
    expect.equal(image.size, _size(instance), what="(width, height) of the GIF", response=response)


# -- frameNumber (9.5.1.2.1, 9.5.2.1) ---------------------------------------------------------------
@pytest.mark.requirement("URI-012")
@pytest.mark.parametrize("frame", [1, 5, 12])
def test_frame_number_selects_that_frame(client, truth, expect, frame):
    instance = truth.instance_by_file(LOSSY_CINE)
    response = client.uri_get(uri_params(instance, frameNumber=frame, contentType="image/jpeg"))
    expect.status(response, 200)
    image = rendered(response, expect, "image/jpeg", req="URI-012")
    frames = _source(truth, LOSSY_CINE)
    scores = [_correlation(_gray(image), f) for f in frames]
    best = int(np.argmax(scores)) + 1
    expect.that(best == frame and scores[frame - 1] > 0.9, what="source frame most similar to the image",
                expected=f"frame {frame} (correlation > 0.9)",
                actual=f"frame {best}; correlations {[round(s, 2) for s in scores]}", response=response)


@pytest.mark.requirement("URI-012")
@pytest.mark.parametrize("name,value", [(LOSSY_CINE, "0"), (LOSSY_CINE, "13"), (LOSSY_CINE, "x"),
                                        (LOSSY_CINE, "1,2"), (CT, "1")])
def test_invalid_frame_number_is_400(client, truth, expect, name, value):
    """9.5.2.1: not multi-frame, not one value, or not a positive integer <= NumberOfFrames: 400."""
    response = client.uri_get(uri_params(truth.instance_by_file(name), frameNumber=value))
    expect.status(response, 400)


# -- rows / columns (9.5.1.2.4, 9.5.2.5) -------------------------------------------------------------
@pytest.mark.requirement("URI-011")
@pytest.mark.parametrize("rows,columns", [(100, 200), (200, 64)])
def test_rows_and_columns_bound_the_image_keeping_aspect_ratio(client, truth, expect, rows, columns):
    instance = truth.instance_by_file(CT)
    response = client.uri_get(uri_params(instance, rows=rows, columns=columns))
    expect.status(response, 200)
    width, height = rendered(response, expect, "image/jpeg", req="URI-011").size
    expect.that(width <= columns and height <= rows, what="(width, height) of the image",
                expected=f"at most ({columns}, {rows})", actual=(width, height), response=response)
    source_w, source_h = _size(instance)
    expect.that(abs(width * source_h - height * source_w) <= max(source_w, source_h),
                what="aspect ratio of the image", expected=f"{source_w}:{source_h} (within one pixel)",
                actual=f"{width}:{height}", response=response)


@pytest.mark.requirement("URI-028")
@pytest.mark.parametrize("given", ["rows", "columns"])
def test_one_viewport_dimension_keeps_aspect_ratio(client, truth, expect, given):
    """9.5.1.2.4 says both shall be present, 9.5.2.5 says how to size with one: 400 or the right size."""
    instance = truth.instance_by_file(CT)  # 512 x 512
    response = client.uri_get(uri_params(instance, **{given: 128}))
    expect.status(response, (200, 400))
    if response.status_code == 400:
        return
    size = rendered(response, expect, "image/jpeg", req="URI-028").size
    expect.equal(size, (128, 128), what=f"(width, height) with only {given}=128 for a 512x512 image",
                 response=response)


# -- region (9.5.1.2.5, 9.5.2.4) ----------------------------------------------------------------------
@pytest.mark.requirement("URI-022")
def test_region_returns_that_part_of_the_image(client, truth, expect):
    """region=0.5,0,1,0.5 is the top-right quadrant (xmin,ymin,xmax,ymax): 128x128 of the 256x256 MR."""
    instance = truth.instance_by_file(MR)
    response = client.uri_get(uri_params(instance, region="0.5,0,1,0.5"))
    expect.status(response, 200)
    image = rendered(response, expect, "image/jpeg", req="URI-022")
    expect.equal(image.size, (128, 128), what="(width, height) of the region", response=response)
    source = _source(truth, MR)
    quadrants = {"top-left": source[:128, :128], "top-right": source[:128, 128:],
                 "bottom-left": source[128:, :128], "bottom-right": source[128:, 128:]}
    scores = {name: round(_correlation(_gray(image), q), 3) for name, q in quadrants.items()}
    expect.that(max(scores, key=scores.get) == "top-right" and scores["top-right"] > 0.9,
                what="source quadrant most similar to the image", expected="top-right (correlation > 0.9)",
                actual=scores, response=response)


@pytest.mark.requirement("URI-023")
@pytest.mark.parametrize("region", ["0.5,0,0.2,1", "0,0.6,1,0.6", "0,0,1.5,1", "-0.1,0,1,1", "0,0,1"])
def test_ill_defined_region_is_400(client, truth, expect, region):
    expect.status(client.uri_get(uri_params(truth.instance_by_file(MR), region=region)), 400)


# -- windowCenter / windowWidth (9.5.1.2.6, 9.5.2.2) -------------------------------------------------
@pytest.mark.requirement("URI-024")
@pytest.mark.parametrize("center,expected", [(-100000, 255), (100000, 0)])
def test_window_is_applied(client, truth, expect, center, expected):
    """A 2-wide window far below (above) every MR value renders every pixel white (black) (MONOCHROME2)."""
    instance = truth.instance_by_file(MR)
    response = client.uri_get(uri_params(instance, windowCenter=center, windowWidth=2))
    expect.status(response, 200)
    pixels = _gray(rendered(response, expect, "image/jpeg", req="URI-024"))
    expect.that(abs(pixels.mean() - expected) <= 3, what="mean grey level of the rendered image",
                expected=f"{expected} ({'white' if expected else 'black'})", actual=round(pixels.mean(), 1),
                response=response)


@pytest.mark.requirement("URI-009")
@pytest.mark.parametrize("given", ["windowCenter", "windowWidth"])
def test_only_one_window_parameter_is_400(client, truth, expect, given):
    expect.status(client.uri_get(uri_params(truth.instance_by_file(MR), **{given: 100})), 400)


@pytest.mark.requirement("URI-027")
@pytest.mark.parametrize("center,width", [("abc", "100"), ("100", "wide")])
def test_window_value_not_decimal_is_400(client, truth, expect, center, width):
    response = client.uri_get(uri_params(truth.instance_by_file(MR), windowCenter=center, windowWidth=width))
    expect.status(response, 400)


@pytest.mark.requirement("URI-010")
def test_window_with_application_dicom_is_400(client, truth, expect):
    params = uri_params(truth.instance_by_file(MR), contentType=DICOM, windowCenter=100, windowWidth=200)
    expect.status(client.uri_get(params), 400)
