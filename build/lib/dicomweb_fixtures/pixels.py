"""Synthetic pixel content for the fixture images (vectorised numpy, portable noise).

Each image *kind* declares the Image Pixel module attributes (PS3.3 §C.7.6.3)
and a function that returns the frames as a numpy array of shape
``(frames, rows, columns[, samples])`` in the native pixel layout of
PS3.5 §8.1.1 (little endian, colour-by-pixel).  Content is phantom-like so
rendered images (PS3.18 §10.4.1.1.3 "rendered" resources) are meaningful.

Every stored value must be the same on every CPU and numpy version: the
arithmetic is float64 with only the operations IEEE 754 rounds correctly
(``+ - * /``, ``sqrt``, ``rint``, comparisons), never a transcendental
function (``sin``, ``arctan2``, ``hypot``, ``exp``, ``log``), whose SIMD kernels
differ in the last bits between CPUs (numpy's AVX-512 and AVX2 paths), and
the noise comes from :mod:`fixtures.noise`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import noise


@dataclass(frozen=True)
class ImageKind:
    """Image Pixel module description of one kind of synthetic image."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    make: Callable[[int, int], np.ndarray]  # (instance index, instance count) -> frames

    @property
    def dtype(self) -> np.dtype:
        """Little-endian numpy dtype of one stored sample."""
        kind = "i" if self.signed else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")


def _grid(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float64)
    return xx, yy


def _ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, a: float, b: float) -> np.ndarray:
    dx, dy = (xx - cx) * b, (yy - cy) * a
    return dx * dx + dy * dy <= (a * b) * (a * b)


def _radius(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return np.sqrt(dx * dx + dy * dy)  # not np.hypot: libm's hypot is not correctly rounded everywhere


def ct_hu_slice(t: float, size: int, seed: int) -> np.ndarray:
    """Hounsfield-unit phantom of an axial slice at relative height ``t`` in [0, 1].

    0 is the upper thorax (lungs, heart), 1 the lower abdomen (liver, kidneys).
    Coordinates are laid out for 512 pixels and scaled to ``size``.
    """
    s = size / 512.0
    xx, yy = _grid(size, size)
    xx /= s
    yy /= s
    hu = np.full((size, size), -1000.0)
    hu[_ellipse(xx, yy, 256, 270, 205, 150)] = -100.0  # subcutaneous fat
    hu[_ellipse(xx, yy, 256, 270, 190, 136)] = 40.0  # soft tissue
    if t < 0.55:
        w = 55.0 * math.sqrt(1.0 - t / 0.55) + 20.0
        hu[_ellipse(xx, yy, 170, 255, w, 100)] = -850.0
        hu[_ellipse(xx, yy, 342, 255, w, 100)] = -850.0
    if 0.1 < t < 0.45:
        hu[_ellipse(xx, yy, 280, 250, 62, 52)] = 45.0  # heart
    if t > 0.4:
        hu[_ellipse(xx, yy, 190, 255, 95, 75)] = 60.0  # liver
        hu[_ellipse(xx, yy, 330, 230, 40, 30)] = 30.0  # stomach
    if t > 0.7:
        hu[_ellipse(xx, yy, 185, 345, 28, 42)] = 150.0  # kidneys
        hu[_ellipse(xx, yy, 327, 345, 28, 42)] = 150.0
    hu[_ellipse(xx, yy, 262, 318, 13, 13)] = 250.0  # aorta with contrast
    hu[_ellipse(xx, yy, 256, 372, 26, 22)] = 900.0  # vertebral cortex
    hu[_ellipse(xx, yy, 256, 372, 20, 16)] = 300.0  # cancellous bone
    hu[_ellipse(xx, yy, 256, 402, 8, 7)] = 20.0  # spinal canal
    hu += noise.gaussian((1, seed), hu.shape, 8.0)
    return hu


def _ct_axial(index: int, count: int) -> np.ndarray:
    hu = ct_hu_slice(index / max(count - 1, 1), 512, index)
    stored = np.rint(hu + 1024.0)  # RescaleIntercept -1024, RescaleSlope 1
    xx, yy = _grid(512, 512)
    stored[~_ellipse(xx, yy, 255.5, 255.5, 256, 256)] = -2000  # outside the reconstruction circle
    return stored.astype("<i2")[None]


def _ct_small(index: int, count: int) -> np.ndarray:
    hu = ct_hu_slice(0.3, 256, 100 + index)
    return np.rint(hu).astype("<i2")[None]  # RescaleIntercept 0: stored values are HU (signed)


def _ct_localizer(index: int, count: int) -> np.ndarray:
    xx, yy = _grid(512, 512)
    img = np.full((512, 512), -1024.0)
    half = 150.0 if index == 0 else 105.0  # AP is wider than LAT
    body = np.abs(xx - 256) <= half * (0.8 + 0.2 * np.clip(yy / 120.0, 0, 1))
    img[body & (yy > 20)] = 200.0 + 0.4 * yy[body & (yy > 20)]
    if index == 0:
        img[_ellipse(xx, yy, 190, 170, 55, 110)] = -300.0
        img[_ellipse(xx, yy, 322, 170, 55, 110)] = -300.0
        img[(np.abs(xx - 256) < 14) & (yy > 40)] = 1100.0  # spine
    else:
        img[_ellipse(xx, yy, 250, 170, 70, 110)] = -300.0
        img[(np.abs(xx - 330) < 18) & (yy > 40)] = 1100.0
    img += noise.gaussian((2, index), img.shape, 6.0)
    return np.rint(img).astype("<i2")[None]


def _mr(index: int, count: int) -> np.ndarray:
    xx, yy = _grid(256, 256)
    img = np.zeros((256, 256))
    img[_ellipse(xx, yy, 128, 128, 100, 120)] = 900.0  # scalp
    img[_ellipse(xx, yy, 128, 128, 93, 113)] = 150.0  # skull
    img[_ellipse(xx, yy, 128, 128, 86, 106)] = 1100.0  # grey matter
    img[_ellipse(xx, yy, 128, 128, 76, 96)] = 750.0  # white matter
    v = 10.0 + 4.0 * index
    img[_ellipse(xx, yy, 112, 120, v, 30)] = 2400.0  # ventricles (T2 bright)
    img[_ellipse(xx, yy, 144, 120, v, 30)] = 2400.0
    noisy = _radius(img + noise.gaussian((3, index, 0), img.shape, 25.0), noise.gaussian((3, index, 1), img.shape, 25.0))
    return np.clip(np.rint(noisy), 0, 4095).astype("<u2")[None]


_TAN_0_7 = 0.8422883804630794  # tan(0.7 rad): the sector's half-angle, as a literal


def _sector(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    xx, yy = _grid(rows, columns)
    dx, dy = xx - columns / 2.0, yy + 10.0
    r = _radius(dx, dy)
    inside = (r > 20) & (r < rows - 4) & (np.abs(dx) < _TAN_0_7 * dy)  # |atan2(dx, dy)| < 0.7, dy > 0
    return inside, r


def _us_frames(rows: int, columns: int, frames: int, seed: int) -> np.ndarray:
    inside, r = _sector(rows, columns)
    xx, yy = _grid(rows, columns)
    out = np.zeros((frames, rows, columns), dtype=np.uint8)
    for f in range(frames):
        echo = np.full((rows, columns), 95.0)
        cx = columns * (0.35 + 0.3 * f / max(frames - 1, 1))
        echo[_ellipse(xx, yy, cx, rows * 0.55, rows * 0.12, rows * 0.09)] = 12.0  # vessel
        echo[np.abs(r - rows * 0.8) < 3] = 230.0  # diaphragm
        speckle = noise.rayleigh((4, seed, f), (rows, columns), 0.8)
        out[f] = np.clip(echo * speckle * inside, 0, 255).astype(np.uint8)
    return out


def _us_gray(index: int, count: int) -> np.ndarray:
    return _us_frames(256, 256, 12, index)


#: 10 + 4 sin(f pi / 5) for the 10 Doppler frames, to two decimals (literals, not libm).
_FLOW_HEIGHT = (10.0, 12.35, 13.8, 13.8, 12.35, 10.0, 7.65, 6.2, 6.2, 7.65)


def _us_rgb(index: int, count: int) -> np.ndarray:
    gray = _us_frames(120, 160, 10, 50 + index)
    rgb = np.repeat(gray[..., None], 3, axis=3)
    xx, yy = _grid(120, 160)
    for f in range(10):
        flow = _ellipse(xx, yy, 80, 60, 18, _FLOW_HEIGHT[f])
        rgb[f][flow] = (220, 30, 30) if f % 2 == 0 else (30, 60, 220)
    return rgb


def _sc_rgb(index: int, count: int) -> np.ndarray:
    img = np.zeros((256, 256, 3), dtype=np.uint8)
    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0],
                     [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]], dtype=np.uint8)
    img[:128] = bars[np.arange(256) // 32][None, :, :]
    ramp = np.arange(256, dtype=np.uint8)
    img[128:, :, 0] = ramp[None, :]
    img[128:, :, 1] = (np.arange(128, dtype=np.uint8) * 2)[:, None]
    img[128:, :, 2] = 128
    return img[None]


def icon_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """64x64 MONOCHROME2 icon (Icon Image Sequence, PS3.3 §C.7.6.1.1.6) of an RGB image."""
    small = rgb[::4, ::4].astype(np.int64)
    luma = (299 * small[..., 0] + 587 * small[..., 1] + 114 * small[..., 2] + 500) // 1000  # BT.601, rounded
    return luma.astype(np.uint8)


def _sc_palette(index: int, count: int) -> np.ndarray:
    yy, xx = np.mgrid[0:256, 0:256].astype(np.int64)
    x, y = xx - 128, yy - 128
    r2 = x * x + y * y
    # sin(6 theta) with theta = atan2(y, x) is Im((x + iy)^6) / r^6: exact integers, then one division
    im6 = 6 * x**5 * y - 20 * x**3 * y**3 + 6 * x * y**5
    r6 = np.maximum(r2, 1) ** 3  # int64 powers: exact (no libm pow)
    sin6 = np.where(r2 > 0, im6.astype(np.float64) / r6.astype(np.float64), 0.0)
    idx = np.floor(np.sqrt(r2.astype(np.float64)) * 2.0 + 24.0 * sin6).astype(np.int64) % 256
    return idx.astype(np.uint8)[None]


def hot_iron_lut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """256-entry 16-bit red, green and blue Palette Color LUTs (PS3.3 §C.7.6.3.1.6)."""
    i3 = 3 * np.arange(256, dtype=np.int64)  # 3x on a 0..255 scale: red ramps first, then green, then blue
    ramps = (np.clip(i3 - offset, 0, 255) for offset in (0, 255, 510))
    return tuple(((c * 65535 * 2 + 255) // 510).astype("<u2") for c in ramps)  # type: ignore[return-value]


def _cr(index: int, count: int) -> np.ndarray:
    xx, yy = _grid(256, 256)
    img = np.full((256, 256), 3800.0)  # direct exposure is bright (MONOCHROME1)
    img[_ellipse(xx, yy, 128, 150, 110, 130)] = 2200.0
    img[_ellipse(xx, yy, 85, 120, 40, 80)] = 3000.0  # lungs
    img[_ellipse(xx, yy, 171, 120, 40, 80)] = 3000.0
    img[np.abs(xx - 128) < 9] -= 900.0  # spine
    img += noise.gaussian((5, index), img.shape, 20.0)
    return np.clip(np.rint(img), 0, 4095).astype("<u2")[None]


#: 30 + 10 cos(2 pi f / 16) for the 16 cardiac phases, to two decimals (literals, not libm).
_POOL_RADIUS = (40.0, 39.24, 37.07, 33.83, 30.0, 26.17, 22.93, 20.76,
                20.0, 20.76, 22.93, 26.17, 30.0, 33.83, 37.07, 39.24)


def _mf_word(index: int, count: int) -> np.ndarray:
    xx, yy = _grid(128, 128)
    frames = np.zeros((16, 128, 128))
    for f in range(16):
        radius = _POOL_RADIUS[f]
        frames[f][_ellipse(xx, yy, 64, 64, 50, 50)] = 9000.0  # myocardium
        frames[f][_ellipse(xx, yy, 64, 64, radius, radius)] = 40000.0  # blood pool
        frames[f] += noise.gaussian((6, index, f), (128, 128), 300.0)
    return np.clip(np.rint(frames), 0, 65535).astype("<u2")


KINDS: dict[str, ImageKind] = {
    "ct_axial": ImageKind(512, 512, 1, 1, 16, 16, True, "MONOCHROME2", _ct_axial),
    "ct_localizer": ImageKind(512, 512, 1, 1, 16, 16, True, "MONOCHROME2", _ct_localizer),
    "ct_small": ImageKind(256, 256, 1, 1, 16, 16, True, "MONOCHROME2", _ct_small),
    "mr": ImageKind(256, 256, 1, 1, 16, 12, False, "MONOCHROME2", _mr),
    "us_gray": ImageKind(256, 256, 12, 1, 8, 8, False, "MONOCHROME2", _us_gray),
    "us_rgb": ImageKind(120, 160, 10, 3, 8, 8, False, "RGB", _us_rgb),
    "sc_rgb": ImageKind(256, 256, 1, 3, 8, 8, False, "RGB", _sc_rgb),
    "sc_palette": ImageKind(256, 256, 1, 1, 8, 8, False, "PALETTE COLOR", _sc_palette),
    "cr": ImageKind(256, 256, 1, 1, 16, 12, False, "MONOCHROME1", _cr),
    "mf_word": ImageKind(128, 128, 16, 1, 16, 16, False, "MONOCHROME2", _mf_word),
}
