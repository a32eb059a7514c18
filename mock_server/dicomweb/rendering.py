"""Rendered images and thumbnails (PS3.18 2019a 8.3.5, 8.7.4, 9.5).

Query parameters: RS ``quality``, ``viewport`` and ``window`` (8.3.5.1.2-4),
thumbnail ``viewport`` (8.3.5.2) and the WADO-URI ``frameNumber``,
``imageQuality``, ``rows``, ``columns``, ``region``, ``windowCenter`` and
``windowWidth`` (9.5.1.2).  Invalid values raise :class:`RenderError` with
status 400; an unsupported media type or an instance that is not an image
raises it with status 406; a frame beyond Number of Frames with 404.

Pipeline of :func:`render`, in the order of the grayscale pipeline of PS3.3
C.11: select the frame; grayscale: Modality LUT (Rescale Slope/Intercept,
also from the Pixel Value Transformation functional group, or a Modality LUT
Sequence), VOI window (the ``window`` parameter, else the first Window
Center/Width of the instance or its Frame VOI LUT functional group, else the
frame's minimum..maximum mapped linearly), MONOCHROME1 inversion; colour:
PALETTE COLOR through its LUT, YBR_FULL converted to RGB, samples above 8
bits shifted down (windowing is not applied to colour).  The result has 8
bits per channel (8.7.4): mode ``L`` for grayscale, ``RGB`` for colour.

Output size, with ``W x H`` the frame's Columns x Rows:

1. ``region`` (WADO-URI) crops to ``[floor(xmin*W), ceil(xmax*W)) x
   [floor(ymin*H), ceil(ymax*H))``.
2. ``viewport`` ``sx, sy, sw, sh`` crop to ``[floor(|sx|), min(W,
   ceil(|sx|+|sw|)))`` and likewise vertically (defaults: 0 and the image
   edge); a negative ``sw`` / ``sh`` flips horizontally / vertically.
3. Scaling to ``vw x vh`` (viewport) or ``columns x rows`` (WADO-URI, only
   without viewport): the ``cw x ch`` crop becomes ``(floor(cw*s+0.5),
   floor(ch*s+0.5))`` (each at least 1) with ``s = min(vw/cw, vh/ch)``, so one
   side equals the viewport and the aspect ratio is kept (8.3.5.1.3);
   images are enlarged as well as reduced.  Without these parameters the
   size is unchanged.

Encoding: JPEG baseline (quality = parameter, default 90), PNG, or GIF (with
``animate``, a multi-frame instance becomes an animated GIF, Frame Time apart).
``quality`` is validated for every media type but only JPEG uses it
(8.3.5.1.2: "only supported for media types that allow lossy compression").
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, convert_color_space

from ..errors import HttpError
from .frames import FrameError, decode_frame, number_of_frames
from .transcoding import TranscodeError

__all__ = [
    "RenderError", "RenderParams", "MEDIA_TYPES", "WINDOW_FUNCTIONS", "DEFAULT_JPEG_QUALITY",
    "THUMBNAIL_SIZE", "MAX_DIMENSION", "parse_rendered_query", "parse_wado_uri_render_args",
    "output_size", "apply_window", "render", "thumbnail",
]

MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif")
#: PS3.18 8.3.5.1.4 keywords, and the VOI LUT Function (0028,1056) terms they stand for.
WINDOW_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}
DEFAULT_JPEG_QUALITY = 90
THUMBNAIL_SIZE = 128
#: Largest rendered width/height served; bigger viewports are "not supported" (400).
MAX_DIMENSION = 16384

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UINT = re.compile(r"[0-9]+")

Viewport = tuple[int, int, "float | None", "float | None", "float | None", "float | None"]


class RenderError(HttpError):
    """A rendering request cannot be served; ``status`` is the HTTP status to return."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(status, reason)


@dataclass(frozen=True)
class RenderParams:
    """Validated rendering parameters; construction raises :class:`RenderError`.

    ``window`` is ``(center, width, function)`` with a function of
    :data:`WINDOW_FUNCTIONS`; ``viewport`` is ``(vw, vh, sx, sy, sw, sh)``
    with None for elided values; ``region`` is normalized ``(xmin, ymin,
    xmax, ymax)``; ``frame`` is 1-based; ``animate`` renders every frame of
    a multi-frame instance into one animated ``image/gif`` (other media types
    ignore it and use ``frame``).
    """

    media_type: str = "image/jpeg"
    quality: int | None = None
    window: tuple[float, float, str] | None = None
    viewport: Viewport | None = None
    rows: int | None = None
    columns: int | None = None
    region: tuple[float, float, float, float] | None = None
    frame: int = 1
    animate: bool = False

    def with_frame(self, frame: int) -> "RenderParams":
        """A copy selecting another frame."""
        return replace(self, frame=frame)

    def __post_init__(self) -> None:
        if self.media_type not in MEDIA_TYPES:
            raise RenderError(f"rendered media type {self.media_type!r} is not supported", 406)
        if self.quality is not None and (not isinstance(self.quality, int) or not 1 <= self.quality <= 100):
            raise RenderError("quality must be an integer between 1 and 100 (PS3.18 8.3.5.1.2)")
        if self.window is not None:
            _check_window(*self.window)
        if self.viewport is not None:
            vw, vh, _, _, sw, sh = self.viewport
            _check_size(vw, vh, "viewport")
            if sw == 0 or sh == 0:
                raise RenderError("viewport sw and sh must not be 0")
        if (self.rows is None) != (self.columns is None):
            raise RenderError("rows and columns shall both be present (PS3.18 9.5.1.2.4)")
        if self.rows is not None:
            _check_size(self.columns, self.rows, "rows/columns")
        if self.region is not None:
            xmin, ymin, xmax, ymax = self.region
            if not (0.0 <= xmin < xmax <= 1.0 and 0.0 <= ymin < ymax <= 1.0):
                raise RenderError("region needs 0.0 <= xmin < xmax <= 1.0 and 0.0 <= ymin < ymax <= 1.0 "
                                  "(PS3.18 9.5.1.2.5)")
        if not isinstance(self.frame, int) or isinstance(self.frame, bool) or self.frame < 1:
            raise RenderError("frame numbers are integers starting at 1")


def _check_size(width: Any, height: Any, name: str) -> None:
    for value in (width, height):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RenderError(f"{name} width and height must be positive integers")
        if value > MAX_DIMENSION:
            raise RenderError(f"{name} larger than {MAX_DIMENSION} pixels is not supported")


def _check_window(center: float, width: float, function: str) -> None:
    if function not in WINDOW_FUNCTIONS:
        raise RenderError(f"window function {function!r} is not one of "
                          f"{', '.join(WINDOW_FUNCTIONS)} (PS3.18 8.3.5.1.4)")
    if not (math.isfinite(center) and math.isfinite(width)):
        raise RenderError("window center and width must be finite numbers")
    if function == "linear" and width < 1:
        raise RenderError("window width must be >= 1 for the linear function (PS3.3 C.11.2.1.2.1)")
    if width <= 0:
        raise RenderError("window width must be greater than 0 (PS3.3 C.11.2.1.3)")


# --------------------------------------------------------------------------- parsing

def _single(args: Mapping[str, Any], key: str) -> str | None:
    """The one value of ``key``; a repeated key is ambiguous and answered with 400."""
    if hasattr(args, "getlist"):
        values = list(args.getlist(key))
    else:
        raw = args.get(key)
        values = [] if raw is None else list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if not values:
        return None
    if len(values) > 1:
        raise RenderError(f"the {key!r} parameter is given more than once")
    return str(values[0])


def _decimal(text: str, name: str) -> float:
    if not _DECIMAL.fullmatch(text.strip()):
        raise RenderError(f"{name} {text!r} is not a decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise RenderError(f"{name} {text!r} is out of range")
    return value


def _positive_int(text: str, name: str) -> int:
    if not _UINT.fullmatch(text.strip()):
        raise RenderError(f"{name} {text!r} is not a positive integer")
    value = int(text)
    if value < 1:
        raise RenderError(f"{name} must be at least 1")
    return value


def _quality(text: str | None) -> int | None:
    if text is None:
        return None
    if not _UINT.fullmatch(text.strip()) or not 1 <= int(text) <= 100:
        raise RenderError(f"quality {text!r} is not an integer between 1 and 100 (PS3.18 8.3.5.1.2)")
    return int(text)


def _parse_viewport(text: str, size_only: bool) -> Viewport:
    items = text.split(",")
    if not 2 <= len(items) <= 6:
        raise RenderError(f"viewport {text!r} needs vw,vh[,sx,sy,sw,sh] (PS3.18 8.3.5.1.3)")
    if size_only and len(items) != 2:
        raise RenderError("only vw and vh are allowed in this viewport (PS3.18 8.3.5.1.3)")
    if items[-1].strip() == "":
        raise RenderError(f"viewport {text!r} has elided trailing values with their commas")
    vw = _positive_int(items[0], "viewport vw")
    vh = _positive_int(items[1], "viewport vh")
    rest: list[float | None] = [None if not item.strip() else _decimal(item, "viewport value")
                                for item in items[2:]]
    rest += [None] * (4 - len(rest))
    return (vw, vh, rest[0], rest[1], rest[2], rest[3])


def _parse_window(text: str) -> tuple[float, float, str]:
    items = text.split(",")
    if len(items) != 3 or any(not item.strip() for item in items):
        raise RenderError(f"window {text!r} needs center,width,function (PS3.18 8.3.5.1.4)")
    return (_decimal(items[0], "window center"), _decimal(items[1], "window width"), items[2].strip())


def parse_rendered_query(args: Mapping[str, Any], media_type: str = "image/jpeg", *,
                         frame: int = 1, viewport_size_only: bool = False) -> RenderParams:
    """RenderParams from RS query parameters ``quality``, ``viewport``, ``window`` (PS3.18 8.3.5.1).

    ``media_type`` is the rendered media type the HTTP layer selected and
    ``frame`` the frame from the URL path.  ``viewport_size_only`` enforces
    the "vw,vh" form required for thumbnails and presentation states.
    Other keys (accept, charset, annotation, ...) are left to the caller.
    """
    viewport = _single(args, "viewport")
    window = _single(args, "window")
    return RenderParams(
        media_type=media_type,
        quality=_quality(_single(args, "quality")),
        viewport=None if viewport is None else _parse_viewport(viewport, viewport_size_only),
        window=None if window is None else _parse_window(window),
        frame=frame,
    )


def parse_wado_uri_render_args(args: Mapping[str, Any], media_type: str = "image/jpeg") -> RenderParams:
    """RenderParams from WADO-URI parameters (PS3.18 9.5.1.2).

    ``frameNumber``, ``imageQuality``, ``rows``, ``columns``, ``region``,
    ``windowCenter``, ``windowWidth`` (always the linear function, 9.5.1.2.6).
    Also enforces: rows/columns both or neither, windowCenter/windowWidth
    both or neither, presentationUID/presentationSeriesUID both or neither
    and never together with windowing (9.5.1.2.6, 9.5.1.2.7).
    """
    get = {key: _single(args, key) for key in (
        "frameNumber", "imageQuality", "rows", "columns", "region", "windowCenter",
        "windowWidth", "presentationUID", "presentationSeriesUID")}
    if (get["windowCenter"] is None) != (get["windowWidth"] is None):
        raise RenderError("windowCenter and windowWidth shall both be present (PS3.18 9.5.1.2.6)")
    if (get["presentationUID"] is None) != (get["presentationSeriesUID"] is None):
        raise RenderError("presentationUID and presentationSeriesUID shall both be present (9.5.1.2.7)")
    if get["windowCenter"] is not None and get["presentationUID"] is not None:
        raise RenderError("windowing and presentation state parameters cannot be combined (9.5.1.2.6)")
    if (get["rows"] is None) != (get["columns"] is None):
        raise RenderError("rows and columns shall both be present (PS3.18 9.5.1.2.4)")
    region = None
    if get["region"] is not None:
        items = get["region"].split(",")
        if len(items) != 4:
            raise RenderError("region needs xmin,ymin,xmax,ymax (PS3.18 9.5.1.2.5)")
        xmin, ymin, xmax, ymax = (_decimal(item, "region value") for item in items)
        region = (xmin, ymin, xmax, ymax)
    window = None
    if get["windowCenter"] is not None:
        window = (_decimal(get["windowCenter"], "windowCenter"),
                  _decimal(get["windowWidth"] or "", "windowWidth"), "linear")
    return RenderParams(
        media_type=media_type,
        quality=_quality(get["imageQuality"]),
        rows=None if get["rows"] is None else _positive_int(get["rows"], "rows"),
        columns=None if get["columns"] is None else _positive_int(get["columns"], "columns"),
        region=region,
        window=window,
        frame=1 if get["frameNumber"] is None else _positive_int(get["frameNumber"], "frameNumber"),
    )


# --------------------------------------------------------------------------- geometry

def _crop_box(width: int, height: int, params: RenderParams) -> tuple[int, int, int, int]:
    left, top, right, bottom = 0, 0, width, height
    if params.region is not None:
        xmin, ymin, xmax, ymax = params.region
        left, top = math.floor(xmin * width), math.floor(ymin * height)
        right, bottom = min(width, math.ceil(xmax * width)), min(height, math.ceil(ymax * height))
    if params.viewport is not None:
        _, _, sx, sy, sw, sh = params.viewport
        w, h = right - left, bottom - top
        x0, y0 = math.floor(abs(sx or 0.0)), math.floor(abs(sy or 0.0))
        if x0 >= w or y0 >= h:
            raise RenderError(f"the viewport region starts outside the {w}x{h} image")
        x1 = w if sw is None else min(w, math.ceil(abs(sx or 0.0) + abs(sw)))
        y1 = h if sh is None else min(h, math.ceil(abs(sy or 0.0) + abs(sh)))
        left, top, right, bottom = left + x0, top + y0, left + x1, top + y1
    return left, top, right, bottom


def _target(params: RenderParams) -> tuple[int, int] | None:
    if params.viewport is not None:
        return params.viewport[0], params.viewport[1]
    if params.columns is not None and params.rows is not None:
        return params.columns, params.rows
    return None


def _fit(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / width, box[1] / height)
    return max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5))


def output_size(columns: int, rows: int, params: RenderParams) -> tuple[int, int]:
    """``(width, height)`` of the image :func:`render` makes from a ``columns x rows`` frame."""
    left, top, right, bottom = _crop_box(columns, rows, params)
    target = _target(params)
    size = (right - left, bottom - top)
    return size if target is None else _fit(*size, target)


# --------------------------------------------------------------------------- pixels

def _functional(ds: Dataset, n: int, sequence: str, attribute: str) -> Any:
    """``attribute`` from the per-frame, then shared, functional group ``sequence`` (PS3.3 C.7.6.16)."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", n - 1), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(groups)
        if items and len(items) > index:
            inner = items[index].get(sequence)
            if inner and attribute in inner[0]:
                return inner[0].get(attribute)
    return None


def _first(value: Any) -> float | None:
    """First value of a possibly multi-valued DS/IS/FD element, None if absent or unusable."""
    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _modality(arr: np.ndarray, ds: Dataset, n: int) -> np.ndarray:
    """Modality LUT (PS3.3 C.11.1): Modality LUT Sequence or Rescale Slope/Intercept."""
    if "ModalityLUTSequence" in ds:
        return apply_modality_lut(arr, ds).astype(np.float64)
    slope, intercept = _first(ds.get("RescaleSlope")), _first(ds.get("RescaleIntercept"))
    if slope is None and intercept is None:
        slope = _first(_functional(ds, n, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = _first(_functional(ds, n, "PixelValueTransformationSequence", "RescaleIntercept"))
    values = arr.astype(np.float64)
    return values * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)


def _stored_window(ds: Dataset, n: int) -> tuple[float, float, str] | None:
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    function = ds.get("VOILUTFunction")
    if center is None or width is None:
        center = _first(_functional(ds, n, "FrameVOILUTSequence", "WindowCenter"))
        width = _first(_functional(ds, n, "FrameVOILUTSequence", "WindowWidth"))
        function = _functional(ds, n, "FrameVOILUTSequence", "VOILUTFunction")
    if center is None or width is None:
        return None
    keyword = {v: k for k, v in WINDOW_FUNCTIONS.items()}.get(str(function or "LINEAR").upper(), "linear")
    try:
        _check_window(center, width, keyword)
    except RenderError:
        return None  # an unusable stored window falls back to min/max
    return center, width, keyword


def apply_window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """VOI LUT functions LINEAR, LINEAR_EXACT, SIGMOID (PS3.3 C.11.2.1.2-3), output 0..255 (float)."""
    if function == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "linear-exact":
        lower, upper, offset, span = center - width / 2, center + width / 2, center, width
    else:
        lower = center - 0.5 - (width - 1) / 2
        upper = center - 0.5 + (width - 1) / 2
        offset, span = center - 0.5, max(width - 1, 1e-12)
    ramp = ((values - offset) / span + 0.5) * 255.0
    return np.where(values <= lower, 0.0, np.where(values > upper, 255.0, ramp))


def _grayscale(arr: np.ndarray, ds: Dataset, n: int, photometric: str, params: RenderParams) -> np.ndarray:
    values = _modality(arr, ds, n)
    window = params.window or _stored_window(ds, n)
    if window is not None:
        out = apply_window(values, *window)
    else:
        low, high = float(values.min()), float(values.max())
        out = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    gray = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return 255 - gray if photometric == "MONOCHROME1" else gray  # PS3.3 C.7.6.3.1.2


def _to_8_bits(arr: np.ndarray, bits: int) -> np.ndarray:
    if bits > 8:
        arr = arr.astype(np.uint32) >> (bits - 8)
    clipped: np.ndarray = np.clip(arr, 0, 255).astype(np.uint8)
    return clipped


def _frame_image(ds: Dataset, n: int, params: RenderParams) -> Image.Image:
    try:
        arr, photometric = decode_frame(ds, n)
    except (FrameError, TranscodeError) as exc:
        raise RenderError(exc.reason, exc.status) from exc
    samples = arr.shape[2] if arr.ndim == 3 else 1
    if samples == 1 and photometric in ("MONOCHROME1", "MONOCHROME2"):
        image = Image.fromarray(_grayscale(arr, ds, n, photometric, params))
    elif samples == 1 and photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, ds)[..., :3]
        except (ValueError, KeyError, AttributeError, IndexError) as exc:
            raise RenderError(f"the palette colour lookup table is unusable: {exc}", 500) from exc
        image = Image.fromarray(_to_8_bits(rgb, 16 if rgb.dtype.itemsize > 1 else 8))
    elif samples == 3 and photometric in ("RGB", "YBR_FULL"):
        rgb = _to_8_bits(arr, int(ds.get("BitsStored") or 8))
        if photometric == "YBR_FULL":
            rgb = convert_color_space(rgb, "YBR_FULL", "RGB")
        image = Image.fromarray(np.ascontiguousarray(rgb))
    else:
        raise RenderError(f"cannot render {samples} sample(s) of {photometric}", 406)
    left, top, right, bottom = _crop_box(image.width, image.height, params)
    if (left, top, right, bottom) != (0, 0, image.width, image.height):
        image = image.crop((left, top, right, bottom))
    if params.viewport is not None:
        if params.viewport[4] is not None and params.viewport[4] < 0:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if params.viewport[5] is not None and params.viewport[5] < 0:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    target = _target(params)
    if target is not None:
        size = _fit(image.width, image.height, target)
        if size != image.size:
            image = image.resize(size, Image.Resampling.BILINEAR)
    return image


def _encode(images: list[Image.Image], params: RenderParams, frame_time_ms: float) -> bytes:
    out = io.BytesIO()
    if params.media_type == "image/jpeg":
        quality = params.quality if params.quality is not None else DEFAULT_JPEG_QUALITY
        images[0].save(out, format="JPEG", quality=quality)  # baseline Huffman (PS3.18 8.7.4)
    elif params.media_type == "image/png":
        images[0].save(out, format="PNG")
    else:
        frames = [im if im.mode == "L" else im.convert("P", palette=Image.Palette.ADAPTIVE) for im in images]
        extra: dict[str, Any] = {}
        if len(frames) > 1:
            extra = {"save_all": True, "append_images": frames[1:], "loop": 0,
                     "duration": max(int(frame_time_ms), 20)}
        frames[0].save(out, format="GIF", **extra)
    return out.getvalue()


def render(ds: Dataset, params: RenderParams) -> bytes:
    """The frame(s) of ``ds`` rendered per ``params`` (see the module docstring for sizes)."""
    count = number_of_frames(ds)
    if count == 0:
        raise RenderError("the instance has no Pixel Data to render as an image", 406)
    if params.frame > count:
        raise RenderError(f"frame {params.frame} does not exist: the instance has {count} frame(s)", 404)
    if params.animate and params.media_type == "image/gif":
        frames = list(range(1, count + 1))
    else:
        frames = [params.frame]
    images = [_frame_image(ds, n, params) for n in frames]
    frame_time = _first(ds.get("FrameTime")) or 100.0
    return _encode(images, params, frame_time)


def thumbnail(ds: Dataset, media_type: str = "image/jpeg",
              viewport: tuple[Any, ...] | None = None, *, frame: int = 1) -> bytes:
    """A small rendering of frame ``frame`` (PS3.18 8.3.5.2).

    ``viewport`` is ``(vw, vh)``, or a parsed 6-tuple whose crop values are
    all None (thumbnails take only vw and vh: otherwise 400); the frame is
    scaled to fit it (8.3.5.1.3).  Without a viewport it is reduced to fit
    :data:`THUMBNAIL_SIZE` x :data:`THUMBNAIL_SIZE` but never enlarged.
    """
    if viewport is None:
        columns, rows = int(ds.get("Columns") or 1), int(ds.get("Rows") or 1)
        box = (THUMBNAIL_SIZE, THUMBNAIL_SIZE) if max(columns, rows) > THUMBNAIL_SIZE else (columns, rows)
    else:
        if len(viewport) not in (2, 6) or any(v is not None for v in viewport[2:]):
            raise RenderError("a thumbnail viewport takes only vw and vh (PS3.18 8.3.5.1.3)")
        box = (viewport[0], viewport[1])
    params = RenderParams(media_type=media_type, viewport=(box[0], box[1], None, None, None, None),
                          frame=frame)
    return render(ds, params)


_ANNOTATION_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def parse_annotations(raw_values: list[str], present: bool) -> list[str]:
    """The ``annotation`` values of a rendered request (PS3.18 8.3.5.1.1), all unsupported: the
    mock burns in no annotation.  Present with no value, or a value that is no keyword: 400."""
    if not present:
        return []
    values = [v.strip() for raw in raw_values for v in raw.split(",")]
    bad = [v for v in values if not _ANNOTATION_KEYWORD.match(v)]
    if not values or bad:
        raise RenderError(f"annotation values must be keywords (patient, technique): {bad or 'no value'}")
    return list(dict.fromkeys(values))
