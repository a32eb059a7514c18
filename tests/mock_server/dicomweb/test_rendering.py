"""Rendered images and thumbnails (PS3.18 8.3.5, 8.7.4, 9.5; VOI LUT functions of PS3.3 C.11.2.1.2)."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import convert_color_space
from pydicom.sequence import Sequence

from dicomweb_mock.dicomweb.rendering import (
    RenderError, RenderParams, output_size, parse_rendered_query, parse_wado_uri_render_args,
    render, thumbnail,
)
from dicomweb_mock.dicomweb.transcoding import transcode
from tests.helpers.pixel_datasets import image_ds

EVRLE = "1.2.840.10008.1.2.1"
RLE = "1.2.840.10008.1.2.5"
JPEG = "1.2.840.10008.1.2.4.50"


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png(ds: Dataset, **params) -> np.ndarray:
    return np.asarray(decoded(render(ds, RenderParams(media_type="image/png", **params))))


@pytest.fixture
def ct() -> Dataset:
    """64 x 48 CT: stored = HU + 1024 (Rescale Intercept -1024), HU from -1000 to 1000 left to right."""
    hu = np.tile(np.linspace(-1000, 1000, 64), (48, 1)).round().astype(np.int16)
    return image_ds((hu + 1024)[None], bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024)


def halves(rows: int = 48, cols: int = 64) -> np.ndarray:
    """Left half 0, right half 200 (8-bit)."""
    arr = np.zeros((1, rows, cols), np.uint8)
    arr[..., cols // 2:] = 200
    return arr


# ---------------------------------------------------------------- query parsing (RS)

def test_parse_rendered_query_values():
    params = parse_rendered_query({"quality": "50", "viewport": "512,256", "window": "40,400,linear"})
    assert params.quality == 50 and params.media_type == "image/jpeg"
    assert params.viewport == (512, 256, None, None, None, None)
    assert params.window == (40.0, 400.0, "linear")
    elided = parse_rendered_query({"viewport": ["512,512,,,256,128"]}, "image/png")
    assert elided.viewport == (512, 512, None, None, 256.0, 128.0) and elided.media_type == "image/png"
    assert parse_rendered_query({"viewport": "10,20,1.5,-2"}).viewport == (10, 20, 1.5, -2.0, None, None)
    assert parse_rendered_query({"window": "-600.5,1500,sigmoid"}).window == (-600.5, 1500.0, "sigmoid")
    assert parse_rendered_query({"accept": "image/png", "annotation": "patient"}) == RenderParams()


@pytest.mark.parametrize("args", [
    {"quality": "0"}, {"quality": "101"}, {"quality": "abc"}, {"quality": ""}, {"quality": "50.5"},
    {"viewport": "512"}, {"viewport": "512,512,,"}, {"viewport": "0,10"}, {"viewport": "a,b"},
    {"viewport": "-5,10"}, {"viewport": "10,10,0,0,0,5"}, {"viewport": "10,10,1,2,3,4,5"},
    {"viewport": "100000,100"},
    {"window": "100,abc,linear"}, {"window": "100,0,linear-exact"}, {"window": "100,-5,sigmoid"},
    {"window": "100,0.5,linear"}, {"window": "100,50"}, {"window": "100,50,LINEAR"},
    {"window": "100,50,gamma"}, {"window": ",50,linear"}, {"window": "nan,50,linear"},
    {"quality": ["10", "20"]},
])
def test_parse_rendered_query_invalid_values_are_400(args):
    with pytest.raises(RenderError) as err:
        parse_rendered_query(args)
    assert err.value.status == 400


def test_unsupported_media_type_is_406_and_thumbnail_viewport_is_size_only():
    with pytest.raises(RenderError) as err:
        parse_rendered_query({}, "image/bmp")
    assert err.value.status == 406
    with pytest.raises(RenderError) as err:
        parse_rendered_query({"viewport": "64,64,0,0,10,10"}, viewport_size_only=True)
    assert err.value.status == 400


# ---------------------------------------------------------------- query parsing (WADO-URI)

def test_parse_wado_uri_values():
    params = parse_wado_uri_render_args({
        "rows": "24", "columns": "100", "region": "0.25,0,1,0.5", "windowCenter": "40",
        "windowWidth": "400", "imageQuality": "70", "frameNumber": "2"}, "image/gif")
    assert (params.rows, params.columns, params.quality, params.frame) == (24, 100, 70, 2)
    assert params.region == (0.25, 0.0, 1.0, 0.5)
    assert params.window == (40.0, 400.0, "linear")  # no function in the URI service (9.5.1.2.6)
    assert parse_wado_uri_render_args({}).frame == 1


@pytest.mark.parametrize("args", [
    {"rows": "10"}, {"columns": "10"}, {"rows": "0", "columns": "10"}, {"windowCenter": "40"},
    {"windowWidth": "40"}, {"windowCenter": "x", "windowWidth": "40"},
    {"region": "0.5,0.1,0.2,0.9"}, {"region": "0,0,1.5,1"}, {"region": "-0.1,0,1,1"},
    {"region": "0,0,1"}, {"region": "0,0.5,1,0.5"}, {"frameNumber": "0"}, {"frameNumber": "-1"},
    {"imageQuality": "101"}, {"presentationUID": "1.2.3"},
    {"presentationUID": "1.2.3", "presentationSeriesUID": "1.2", "windowCenter": "1", "windowWidth": "2"},
])
def test_parse_wado_uri_invalid_values_are_400(args):
    with pytest.raises(RenderError) as err:
        parse_wado_uri_render_args(args)
    assert err.value.status == 400


# ---------------------------------------------------------------- media types

@pytest.mark.parametrize("media_type,fmt", [("image/jpeg", "JPEG"), ("image/png", "PNG"), ("image/gif", "GIF")])
def test_rendered_media_types_keep_the_pixel_matrix(ct, media_type, fmt):
    image = decoded(render(ct, RenderParams(media_type=media_type)))
    assert image.format == fmt and image.size == (64, 48)  # no viewport: not scaled (8.3.5.1.3)
    assert image.mode in ("L", "P")


def test_jpeg_is_baseline_and_quality_changes_size():
    rng = np.random.default_rng(2)
    ds = image_ds(rng.integers(0, 255, size=(1, 64, 64), dtype=np.uint8))
    low = render(ds, RenderParams(quality=10))
    high = render(ds, RenderParams(quality=95))
    assert len(low) < len(high)
    assert b"\xff\xc0" in low[:1000] and b"\xff\xc2" not in low[:1000]  # SOF0 baseline, not progressive


def test_rgb_png_is_exact():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 255, size=(1, 20, 30, 3), dtype=np.uint8)
    out = decoded(render(image_ds(rgb, "RGB"), RenderParams(media_type="image/png")))
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), rgb[0])


def test_ybr_full_is_converted_to_rgb():
    rgb = np.zeros((1, 16, 16, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 220, 30, 90
    ybr = convert_color_space(rgb[0], "RGB", "YBR_FULL")[None]
    out = png(image_ds(ybr, "YBR_FULL"))
    assert np.abs(out.astype(int) - rgb[0]).max() <= 2


def test_palette_colour_uses_the_lut():
    indices = np.array([[[0, 1, 2, 3]]], np.uint8)
    ds = image_ds(indices, "PALETTE COLOR")
    red, green, blue = ([0] * 256 for _ in range(3))
    red[1], green[2], blue[3] = 0xFF00, 0x8000, 0x4000  # 16-bit entries
    for colour, lut in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", np.array(lut, "<u2").tobytes())
    out = png(ds)
    assert out.tolist() == [[[0, 0, 0], [255, 0, 0], [0, 128, 0], [0, 0, 64]]]


# ---------------------------------------------------------------- VOI LUT and Modality LUT

def test_window_maps_below_to_0_above_to_255_linear(ct):
    out = png(ct, window=(40.0, 400.0, "linear"))
    hu = np.linspace(-1000, 1000, 64).round()
    # PS3.3 C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 -> 0, x > c - 0.5 + (w-1)/2 -> 255
    assert (out[:, hu <= 40 - 0.5 - 399 / 2] == 0).all()
    assert (out[:, hu > 40 - 0.5 + 399 / 2] == 255).all()
    inside = (hu > -160) & (hu < 239)
    expected = ((hu[inside] - 39.5) / 399 + 0.5) * 255
    assert np.abs(out[0, inside] - expected).max() <= 0.5 + 1e-9


def test_modality_rescale_is_applied_before_window(ct):
    out = png(ct, window=(0.0, 1.0, "linear"))  # width 1: a threshold at HU 0 (after rescale)
    hu = np.linspace(-1000, 1000, 64).round()
    assert (out[0, hu <= -0.5] == 0).all() and (out[0, hu > -0.5] == 255).all()


def test_linear_exact_and_sigmoid():
    values = np.array([[[0, 50, 100, 150, 200]]], np.uint16)
    exact = png(image_ds(values), window=(100.0, 100.0, "linear-exact"))
    # PS3.3 C.11.2.1.3.2: x <= c - w/2 -> 0, x > c + w/2 -> 255, else ((x - c)/w + 0.5) * 255
    assert exact[0, 0] == 0 and exact[0, 1] == 0 and exact[0, 4] == 255
    assert exact[0, 2] in (127, 128) and exact[0, 3] == 255
    sigmoid = png(image_ds(values), window=(100.0, 20.0, "sigmoid"))
    # 255 / (1 + exp(-4 (x - c) / w))
    assert sigmoid[0, 0] == 0 and sigmoid[0, 4] == 255 and sigmoid[0, 2] in (127, 128)


def test_stored_window_is_used_without_parameter(ct):
    ct.WindowCenter, ct.WindowWidth = [40, 80], [400, 2000]  # the first pair applies
    assert np.array_equal(png(ct), png(ct, window=(40.0, 400.0, "linear")))
    ct.VOILUTFunction = "LINEAR_EXACT"
    assert np.array_equal(png(ct), png(ct, window=(40.0, 400.0, "linear-exact")))


def test_min_max_without_any_window_and_monochrome1_inversion():
    values = np.array([[[10, 20, 30]]], np.uint16)
    assert png(image_ds(values))[0].tolist() == [0, 128, 255]
    assert png(image_ds(values, "MONOCHROME1"))[0].tolist() == [255, 127, 0]
    assert png(image_ds(values, "MONOCHROME1"), window=(20.0, 1.0, "linear"))[0].tolist() == [255, 0, 0]


def test_functional_group_rescale_for_enhanced_multiframe():
    stored = np.full((2, 4, 4), 1000, np.uint16)
    stored[1] = 1100
    ds = image_ds(stored)
    transform = Dataset()
    transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = -1000, 1, "HU"
    shared = Dataset()
    shared.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    assert (png(ds, window=(50.0, 1.0, "linear"), frame=1) == 0).all()  # HU 0
    assert (png(ds, window=(50.0, 1.0, "linear"), frame=2) == 255).all()  # HU 100


# ---------------------------------------------------------------- geometry

def test_viewport_scaling_keeps_aspect_ratio(ct):
    assert decoded(render(ct, RenderParams(viewport=(32, 32, None, None, None, None)))).size == (32, 24)
    # as large as possible inside 200 x 100: the height fills, width 64 * 100 / 48 = 133.3
    size = decoded(render(ct, RenderParams(viewport=(200, 100, None, None, None, None)))).size
    assert size[1] == 100 and abs(size[0] - 64 * 100 / 48) <= 0.5
    assert output_size(64, 48, RenderParams(viewport=(200, 100, None, None, None, None))) == size


def test_viewport_source_region_and_flip():
    ds = image_ds(halves())
    left = png(ds, viewport=(64, 64, 0.0, 0.0, 32.0, 32.0), window=(100.0, 200.0, "linear-exact"))
    assert left.shape == (64, 64) and (left == 0).all()  # 32 x 32 of the dark half, scaled x2
    right = png(ds, viewport=(32, 48, 32.0, None, None, None), window=(100.0, 200.0, "linear-exact"))
    assert right.shape == (48, 32) and (right == 255).all()  # sw defaults to the right edge
    flipped = png(ds, viewport=(64, 48, 0.0, 0.0, -64.0, 48.0), window=(100.0, 200.0, "linear-exact"))
    assert flipped.shape == (48, 64) and (flipped[:, :32] == 255).all() and (flipped[:, 32:] == 0).all()
    with pytest.raises(RenderError) as err:
        render(ds, RenderParams(viewport=(10, 10, 64.0, 0.0, None, None)))
    assert err.value.status == 400


def test_wado_region_and_rows_columns():
    ds = image_ds(halves())
    window = (100.0, 200.0, "linear-exact")
    right = png(ds, region=(0.5, 0.0, 1.0, 1.0), window=window)
    assert right.shape == (48, 32) and (right == 255).all()
    assert png(ds, rows=24, columns=100).shape == (24, 32)  # 64x48 fitted in 100x24
    quarter = png(ds, region=(0.0, 0.0, 0.5, 0.5), rows=48, columns=64, window=window)
    assert quarter.shape == (48, 64) and (quarter == 0).all()


# ---------------------------------------------------------------- frames, sources, errors

def test_frame_selection_and_animation():
    stack = np.stack([np.full((8, 8), v, np.uint8) for v in (0, 100, 200)])
    ds = image_ds(stack, FrameTime=50)
    window = (100.0, 200.0, "linear-exact")
    assert (png(ds, frame=1, window=window) == 0).all()
    assert (png(ds, frame=3, window=window) == 255).all()
    with pytest.raises(RenderError) as err:
        render(ds, RenderParams(frame=4))
    assert err.value.status == 404
    gif = decoded(render(ds, RenderParams(media_type="image/gif", animate=True, window=window)))
    assert gif.n_frames == 3 and gif.size == (8, 8)
    assert RenderParams().with_frame(2).frame == 2


def test_compressed_source_renders_like_native(ct):
    rle = copy.deepcopy(ct)
    rle.compress(RLE, generate_instance_uid=False)
    assert np.array_equal(png(rle, window=(40.0, 400.0, "linear")), png(ct, window=(40.0, 400.0, "linear")))


def test_jpeg_baseline_colour_source_renders_as_rgb():
    smooth = np.zeros((1, 32, 40, 3), np.uint8)
    smooth[..., 0], smooth[..., 1], smooth[..., 2] = 30, np.linspace(0, 250, 40).astype(np.uint8), 180
    lossy = transcode(image_ds(smooth, "RGB"), JPEG)
    assert lossy.PhotometricInterpretation == "YBR_FULL_422"
    out = png(lossy)
    assert out.shape == (32, 40, 3) and np.abs(out.astype(int) - smooth[0]).max() <= 10


def test_non_image_is_406():
    sr = Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    with pytest.raises(RenderError) as err:
        render(sr, RenderParams())
    assert err.value.status == 406
    with pytest.raises(RenderError) as err:
        thumbnail(sr)
    assert err.value.status == 406


@pytest.mark.parametrize("kwargs", [{"quality": 0}, {"window": (1.0, 0.0, "sigmoid")}, {"frame": 0},
                                    {"rows": 10}, {"region": (0.5, 0.0, 0.5, 1.0)}])
def test_render_params_validate_on_construction(kwargs):
    with pytest.raises(RenderError) as err:
        RenderParams(**kwargs)
    assert err.value.status == 400


# ---------------------------------------------------------------- thumbnails

def test_thumbnail_sizes():
    big = image_ds(np.zeros((1, 200, 300), np.uint8))
    assert decoded(thumbnail(big)).size == (128, 85)  # 300x200 within 128x128: 128 x 85.3
    small = image_ds(np.zeros((1, 48, 64), np.uint8))
    assert decoded(thumbnail(small, "image/png")).size == (64, 48)  # not enlarged without viewport
    size = decoded(thumbnail(small, "image/gif", viewport=(50, 50))).size
    assert size[0] == 50 and abs(size[1] - 37.5) <= 0.5
    parsed = parse_rendered_query({"viewport": "50,50"}).viewport
    assert decoded(thumbnail(small, viewport=parsed)).size == size
    with pytest.raises(RenderError) as err:
        thumbnail(small, viewport=(50, 50, 0.0, 0.0, 10.0, 10.0))
    assert err.value.status == 400
