"""WADO-RS Retrieve Rendered and Thumbnail resources (PS3.18-2019a 10.4.1.1.3-4, 8.3.5, 8.7.4).

Images are decoded with Pillow; sizes come from the manifest (Rows x Columns) and
the viewport rule of 8.3.5.1.3; windowing is checked against the linear VOI LUT
function: a window entirely above (below) every pixel value renders black (white).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.qido import warning_texts
from dicomweb_conformance.checks.wado import instance_path, series_path, study_path

_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}
_EIGHT_BIT_MODES = {"1", "L", "P", "RGB", "RGBA", "LA", "PA", "YCbCr", "CMYK"}
#: Single frame instances covering every Photometric Interpretation of the fixtures.
_SINGLE_FRAME = ["doe-mr-t2-001.dcm", "vix-ct-localizer-001.dcm", "vix-sc-rgb-001.dcm", "doe-sc-palette-001.dcm",
                 "yamada-cr-001.dcm", "wang-ct-001.dcm", "doe-mr-t2-006.dcm"]


def _decode(expect, response, media_type: str, *, req=None, body: bytes | None = None, what: str = "payload"):
    """The Pillow image of a rendered payload in ``media_type``; checks the format and 8 bits per channel."""
    data = response.content if body is None else body
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises several types for undecodable data
        expect.fail(req=req, what=f"{what} decoded as {media_type}", expected="an image Pillow decodes",
                    actual=f"{type(exc).__name__}: {exc}", response=response)
    expect.equal(image.format, _PIL_FORMAT[media_type], req=req, what=f"image format of the {what}",
                 response=response)
    context = expect.current()
    bits_req = "WADO-016" if context is None or "WADO-016" in context.req_ids else req
    expect.that(image.mode in _EIGHT_BIT_MODES, req=bits_req,
                what=f"pixel mode of the {what}", expected="at most 8 bits per channel (8.7.4)",
                actual=image.mode, response=response)
    return image


def _get_image(client, expect, path: str, media_type: str = "image/jpeg", params=None, req=None):
    response = client.get(path, params=params, headers={"Accept": media_type})
    expect.status(response, 200, req=req)
    expect.content_type(response, media_type, req=req)
    return response, _decode(expect, response, media_type, req=req)


@pytest.mark.requirement("WADO-015", "WADO-016", "WADO-017")
@pytest.mark.parametrize("file", _SINGLE_FRAME)
def test_rendered_instance_is_a_jpeg_of_the_source_size(client, truth, expect, file):
    inst = truth.instance_by_file(file)
    response, image = _get_image(client, expect, f"{instance_path(inst)}/rendered", req="WADO-015")
    expect.equal(image.size, (inst["Columns"], inst["Rows"]), req="WADO-017", response=response,
                 what="(width, height) of the rendered image without viewport (Columns, Rows)")


@pytest.mark.requirement("WADO-036", "WADO-016", "WADO-017")
@pytest.mark.parametrize("media_type", ["image/png", "image/gif"])
@pytest.mark.parametrize("file", ["doe-mr-t2-001.dcm", "vix-sc-rgb-001.dcm"])
def test_single_frame_renders_as_png_and_gif(client, truth, expect, media_type, file):
    inst = truth.instance_by_file(file)
    response, image = _get_image(client, expect, f"{instance_path(inst)}/rendered", media_type, req="WADO-036")
    expect.equal(image.size, (inst["Columns"], inst["Rows"]), req="WADO-017", response=response,
                 what=f"(width, height) of the {media_type} rendering (Columns, Rows)")


def _sof_marker(data: bytes) -> int | None:
    """The first Start Of Frame marker of a JPEG stream (ISO/IEC 10918-1 B.1.1.3), or None."""
    i = 2 if data[:2] == b"\xff\xd8" else None
    while i is not None and i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker == 0xDA:
            return None
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


@pytest.mark.requirement("WADO-037")
@pytest.mark.parametrize("file", ["doe-mr-t2-001.dcm", "vix-sc-rgb-001.dcm", "jane-us-cine-001.dcm"])
def test_rendered_jpeg_uses_the_baseline_process(client, truth, expect, file):
    inst = truth.instance_by_file(file)
    path = f"{instance_path(inst)}/rendered" if inst["NumberOfFrames"] == 1 else f"{instance_path(inst)}/frames/1/rendered"
    response = client.get(path, headers={"Accept": "image/jpeg"})
    expect.status(response, 200)
    marker = _sof_marker(response.content)
    expect.equal(f"FF{marker:02X}" if marker is not None else None, "FFC0", response=response,
                 what="Start Of Frame marker of the image/jpeg", note="FFC0 = baseline DCT, Huffman (SOF0)")


def _fits(size: tuple[int, int], source: tuple[int, int], viewport: tuple[int, int]) -> bool:
    """8.3.5.1.3: scaled keeping the aspect ratio until the width or the height reaches the viewport's (±1 px)."""
    scale = min(viewport[0] / source[0], viewport[1] / source[1])
    want = (source[0] * scale, source[1] * scale)
    return all(abs(got - w) <= 1 for got, w in zip(size, want)) and size[0] <= viewport[0] and size[1] <= viewport[1]


@pytest.mark.requirement("WADO-018")
@pytest.mark.parametrize("file, viewport", [("doe-mr-t2-001.dcm", (64, 128)), ("doe-mr-t2-001.dcm", (300, 512)),
                                            ("jane-us-doppler-001.dcm", (80, 80)),
                                            ("vix-sc-rgb-001.dcm", (100, 50))])
def test_viewport_scales_keeping_the_aspect_ratio(client, truth, expect, file, viewport):
    inst = truth.instance_by_file(file)
    path = f"{instance_path(inst)}/rendered" if inst["NumberOfFrames"] == 1 else f"{instance_path(inst)}/frames/1/rendered"
    response, image = _get_image(client, expect, path, params={"viewport": list(viewport)})
    source = (inst["Columns"], inst["Rows"])
    expect.that(_fits(image.size, source, viewport), what=f"size of a {source} image rendered with viewport={viewport}",
                expected="as large as possible within the viewport, same aspect ratio", actual=image.size,
                response=response)


@pytest.mark.requirement("WADO-042")
def test_viewport_crops_the_source_region(client, truth, expect):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")  # 256 x 256
    response, image = _get_image(client, expect, f"{instance_path(inst)}/rendered",
                                 params={"viewport": "100,100,0,0,256,128"})
    expect.that(_fits(image.size, (256, 128), (100, 100)), what="size of the region 256x128 scaled into 100x100",
                expected=(100, 50), actual=image.size, response=response)


@pytest.mark.requirement("WADO-045")
@pytest.mark.parametrize("viewport", ["64", "0,0", "a,b", "64,-1"])
def test_ill_formed_viewport_is_400(client, truth, expect, viewport):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    response = client.get(f"{instance_path(inst)}/rendered", params={"viewport": viewport},
                          headers={"Accept": "image/jpeg"})
    expect.status(response, 400)


@pytest.mark.requirement("WADO-019")
@pytest.mark.parametrize("quality", ["0", "101", "x", "50.5", ""])
def test_quality_outside_1_to_100_is_400(client, truth, expect, quality):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    response = client.get(f"{instance_path(inst)}/rendered", params={"quality": quality},
                          headers={"Accept": "image/jpeg"})
    expect.status(response, 400)


@pytest.mark.requirement("WADO-039")
def test_lower_quality_gives_a_smaller_jpeg(client, truth, expect):
    inst = truth.instance_by_file("vix-sc-rgb-001.dcm")
    sizes = {}
    for quality in (5, 95):
        response, _ = _get_image(client, expect, f"{instance_path(inst)}/rendered", params={"quality": quality})
        sizes[quality] = len(response.content)
    expect.that(sizes[5] < sizes[95], what="bytes of image/jpeg at quality 5 and 95", expected="5 < 95",
                actual=sizes)


def _rendered_mr_jpeg(client, truth, params):
    """GET the rendered first MR slice as image/jpeg with ``params``."""
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    return client.get(f"{instance_path(inst)}/rendered", params=params, headers={"Accept": "image/jpeg"})


@pytest.mark.requirement("WADO-020")
@pytest.mark.parametrize("window", ["40", "40,400", "a,400,linear", "40,400,cubic", ""])
def test_ill_formed_window_is_400(client, truth, expect, window):
    expect.status(_rendered_mr_jpeg(client, truth, {"window": window}), 400)


@pytest.mark.requirement("WADO-038")
@pytest.mark.parametrize("file", ["doe-mr-t2-001.dcm", "vix-ct-localizer-001.dcm"])
@pytest.mark.parametrize("side", ["above", "below"])
def test_window_applies_the_linear_voi_lut(client, truth, expect, file, side):
    inst = truth.instance_by_file(file)
    center = 1_000_000 if side == "above" else -1_000_000
    response, image = _get_image(client, expect, f"{instance_path(inst)}/rendered",
                                 params={"window": f"{center},10,linear"})
    pixels = np.asarray(image.convert("L"), dtype=np.int32)
    black = side == "above"
    worst = int(pixels.max()) if black else int(pixels.min())
    expect.that(worst <= 8 if black else worst >= 247, response=response,
                what=f"pixels of {file} rendered with window={center},10,linear",
                expected="all black (0)" if black else "all white (255)",
                actual=f"{'max' if black else 'min'} {worst}, mean {pixels.mean():.1f}")


@pytest.mark.requirement("WADO-041")
@pytest.mark.parametrize("file, frames", [("sato-mr-cine-001.dcm", (1, 9)), ("jane-us-doppler-001.dcm", (2, 8)),
                                          ("jane-us-cine-001.dcm", (1, 12))])
def test_rendered_frame_is_that_frame(client, truth, expect, file, frames):
    inst = truth.instance_by_file(file)
    arrays = []
    for frame in frames:
        response, image = _get_image(client, expect, f"{instance_path(inst)}/frames/{frame}/rendered")
        expect.equal(image.size, (inst["Columns"], inst["Rows"]), response=response,
                     what=f"(width, height) of rendered frame {frame} (Columns, Rows)")
        arrays.append(np.asarray(image.convert("RGB"), dtype=np.int32))
    expect.that(np.abs(arrays[0] - arrays[1]).mean() > 1.0, what=f"renderings of frames {frames}",
                expected="different images (the stored frames differ)", actual="the same image")


@pytest.mark.requirement("WADO-040", "WADO-016")
@pytest.mark.parametrize("level", ["study", "series"])
def test_rendered_study_and_series_hold_rendered_images(client, truth, expect, level):
    # A study of one uncompressed instance: which instance a server renders for a study or
    # series is its choice, and decoding compressed syntaxes is tested by WADO-015.
    inst = truth.instance_by_file("vix-sc-rgb-001.dcm")
    path = f"{study_path(inst) if level == 'study' else series_path(inst)}/rendered"
    response = client.get(path, headers={"Accept": "image/jpeg"})
    expect.status(response, 200, req="WADO-040")
    if response.headers.get("Content-Type", "").lower().startswith("multipart/"):
        mp = expect_multipart(response, req="WADO-040", root_type="image/jpeg", part_types="image/jpeg")
        expect.that(len(mp.parts) >= 1, req="WADO-040", what="number of rendered images", expected=">= 1",
                    actual=0, response=response)
        for part in mp.parts:
            _decode(expect, response, "image/jpeg", req="WADO-040", body=part.body, what=f"part {part.index}")
    else:
        expect.content_type(response, "image/jpeg", req="WADO-040")
        _decode(expect, response, "image/jpeg", req="WADO-040")


_THUMBNAIL_LEVELS = ["study", "series", "instance", "frame"]


def _thumbnail_path(truth, level: str) -> str:
    inst = truth.instance_by_file("sato-mr-cine-001.dcm")
    return {"study": study_path(inst), "series": series_path(inst), "instance": instance_path(inst),
            "frame": f"{instance_path(inst)}/frames/3"}[level] + "/thumbnail"


@pytest.mark.requirement("WADO-021", "WADO-022")
@pytest.mark.parametrize("level", _THUMBNAIL_LEVELS)
def test_thumbnail_is_a_single_rendered_image(client, truth, expect, level):
    response = client.get(_thumbnail_path(truth, level), headers={"Accept": "image/jpeg"})
    expect.status(response, 200, req="WADO-022")
    expect.content_type(response, "image/jpeg", req="WADO-021")
    _decode(expect, response, "image/jpeg", req="WADO-021", what="thumbnail")


@pytest.mark.requirement("WADO-044")
@pytest.mark.parametrize("level", ["instance", "series"])
def test_thumbnail_viewport_bounds_the_image(client, truth, expect, level):
    response = client.get(_thumbnail_path(truth, level), params={"viewport": "64,48"}, headers={"Accept": "image/jpeg"})
    expect.status(response, 200)
    image = _decode(expect, response, "image/jpeg", req="WADO-044", what="thumbnail")
    width, height = image.size
    expect.that(width <= 64 and height <= 48 and (width >= 63 or height >= 47), response=response,
                what="size of a thumbnail with viewport=64,48", expected="within 64x48, filling one side",
                actual=image.size)


@pytest.mark.requirement("WADO-043")
def test_thumbnail_viewport_with_a_region_is_400(client, truth, expect):
    response = client.get(_thumbnail_path(truth, "instance"), params={"viewport": "64,64,0,0,32,32"},
                          headers={"Accept": "image/jpeg"})
    expect.status(response, 400)


@pytest.mark.requirement("WADO-008")
@pytest.mark.parametrize("resource", ["rendered", "thumbnail", "frames/1/rendered"])
def test_rendering_an_instance_that_does_not_exist_is_404(client, truth, expect, resource):
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    inst["SOPInstanceUID"] = f"{truth.uid_root}.999.21"
    response = client.get(f"{instance_path(inst)}/{resource}", headers={"Accept": "image/jpeg"})
    expect.status(response, 404)


# -- annotation (8.3.5.1.1) ----------------------------------------------------------------------------------
_ANNOTATION_WARNING = "The following annotation values are not supported:"


@pytest.mark.requirement("WADO-048")
@pytest.mark.parametrize("value", ["", "patient,", "pat ient", "2patient"],
                         ids=["no-value", "empty-member", "space", "leading-digit"])
def test_annotation_without_keywords_is_400(client, truth, expect, value):
    """8.3.5.1.1: "If any of the parameter values are not keywords, or there are no parameter values, the origin
    server shall return a 400 (Bad Request)"."""
    expect.status(_rendered_mr_jpeg(client, truth, {"annotation": value}), 400)


@pytest.mark.requirement("WADO-049")
@pytest.mark.parametrize("values", ["xconformanceunknown", "patient,technique"])
def test_unsupported_annotation_values_are_ignored_and_named(client, truth, expect, values):
    """8.3.5.1.1: unsupported values are ignored (the image is rendered) and a Warning: 299 names them; the
    standard's own keywords (patient, technique) may be supported (then burned in) or named likewise."""
    inst = truth.instance_by_file("doe-mr-t2-001.dcm")
    response = client.get(f"{instance_path(inst)}/rendered", params={"annotation": values},
                          headers={"Accept": "image/jpeg"})
    expect.status(response, 200)
    _decode(expect, response, "image/jpeg")
    warned = " ".join(t for t in warning_texts(response) if _ANNOTATION_WARNING in t)
    named = {v.strip() for v in warned.split(_ANNOTATION_WARNING, 1)[-1].split(",")} if warned else set()
    for value in values.split(","):
        if value in ("patient", "technique"):
            continue  # may be supported: nothing the suite can observe in the burned-in image
        expect.that(value in named, what="Warning header field", response=response,
                    expected=f'299 <service>: "{_ANNOTATION_WARNING} {value}"',
                    actual=response.headers.get("Warning", "(absent)"))
