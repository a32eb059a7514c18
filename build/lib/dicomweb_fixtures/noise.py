"""Portable pseudo-random numbers for the fixture data (the same bits on every CPU and numpy version).

numpy's ``Generator`` distributions may change between releases, and the
transcendental functions they call (``log``, ``exp``) come from libm or from
numpy's own SIMD kernels, whose last bits differ between CPUs.  The fixture
data must be bit-identical everywhere, so its noise comes from SplitMix64, a
counter-based integer hash (wrapping ``uint64`` arithmetic, exact on every
platform), and is shaped with operations that IEEE 754 rounds correctly
(``+ - * /`` and ``sqrt``): nothing whose result can differ in a last bit.
"""
from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SQRT3 = math.sqrt(3.0)  # correctly rounded


def _splitmix64(counter: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = counter * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _stream(key: tuple[int, ...], count: int) -> np.ndarray:
    """``count`` 64-bit words of the stream named by ``key`` (a tuple of small non-negative ints)."""
    seed = np.uint64(0)
    for part in (20190315, *key):
        seed = _splitmix64(np.array([seed ^ np.uint64(part)], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        return _splitmix64(np.arange(count, dtype=np.uint64) + seed)


def uniform(key: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Uniform float64 in [0, 1) on a grid of 2**-24 (exact binary fractions)."""
    words = _stream(key, int(np.prod(shape)))
    return ((words >> np.uint64(40)).astype(np.float64) / float(1 << 24)).reshape(shape)


def gaussian(key: tuple[int, ...], shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Approximately normal noise, mean 0 and standard deviation ``sigma`` (Irwin-Hall sum of 4 uniforms)."""
    u = uniform(key, (4, *shape))
    return (u[0] + u[1] + u[2] + u[3] - 2.0) * (_SQRT3 * sigma)


def rayleigh(key: tuple[int, ...], shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Rayleigh-distributed speckle: the magnitude of two independent gaussians of deviation ``scale``."""
    a = gaussian((*key, 0), shape, 1.0)
    b = gaussian((*key, 1), shape, 1.0)
    return np.sqrt(a * a + b * b) * scale


def random_bytes(key: tuple[int, ...], count: int) -> bytes:
    """``count`` pseudo-random bytes."""
    return (_stream(key, count) >> np.uint64(56)).astype(np.uint8).tobytes()
