"""Frame encoding for the fixture transfer syntaxes (PS3.5 §8.2 and Annex A.4).

Lossless encoders come from pydicom's encoder plugins, pinned to one plugin per
syntax so the bytes do not depend on which optional codec packages happen to
be installed.  JPEG Baseline (Process 1) frames are encoded with Pillow, as
pydicom has no lossy JPEG encoder.  JPEG 2000 codestreams have their COM
marker segments removed: OpenJPEG writes its own version into one, which
would make the fixture bytes depend on the library version.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.pixels import get_encoder

from .pixels import ImageKind
from .spec import (
    J2K_LOSSLESS,
    JPEG_BASELINE,
    JPEG_LS_LOSSLESS,
    NATIVE_SYNTAXES,
    RLE_LOSSLESS,
)

_PLUGINS = {RLE_LOSSLESS: "pydicom", JPEG_LS_LOSSLESS: "pyjpegls", J2K_LOSSLESS: "pylibjpeg"}
JPEG_QUALITY = 90


class FixtureEncodingError(RuntimeError):
    """A frame could not be encoded in the requested transfer syntax."""


def strip_j2k_comments(codestream: bytes) -> bytes:
    """Remove COM (FF64) segments from a JPEG 2000 main header (ISO/IEC 15444-1 A.9.2)."""
    if codestream[:2] != b"\xff\x4f":
        raise FixtureEncodingError("JPEG 2000 codestream does not start with SOC (FF4F)")
    out = bytearray(codestream[:2])
    pos = 2
    while pos + 4 <= len(codestream):
        marker = codestream[pos:pos + 2]
        if marker == b"\xff\x90":  # SOT: end of the main header
            break
        length = int.from_bytes(codestream[pos + 2:pos + 4], "big")
        if marker != b"\xff\x64":
            out += codestream[pos:pos + 2 + length]
        pos += 2 + length
    else:
        raise FixtureEncodingError("JPEG 2000 main header has no SOT marker")
    out += codestream[pos:]
    return bytes(out)


def _encode_jpeg_baseline(frame: np.ndarray, kind: ImageKind) -> bytes:
    if kind.bits_allocated != 8 or kind.samples != 1:
        raise FixtureEncodingError("JPEG Baseline fixtures are 8-bit MONOCHROME2 only")
    buf = io.BytesIO()
    Image.fromarray(frame, mode="L").save(buf, format="JPEG", quality=JPEG_QUALITY,
                                          optimize=False, progressive=False)
    return buf.getvalue()


def decode_jpeg_baseline(codestream: bytes) -> np.ndarray:
    """Decode one 8-bit grayscale JPEG Baseline frame with Pillow (libjpeg 'islow' IDCT)."""
    with Image.open(io.BytesIO(codestream)) as img:
        return np.asarray(img, dtype=np.uint8)


def encode_frames(frames: np.ndarray, kind: ImageKind, syntax: str) -> list[bytes]:
    """Return the bytes of each frame as stored in ``syntax``.

    Native syntaxes give the raw little-endian frame bytes (PS3.5 §8.1.1,
    colour-by-pixel); compressed ones give one codestream per frame, to be
    encapsulated one fragment per frame (PS3.5 §A.4).
    """
    if syntax in NATIVE_SYNTAXES:
        return [np.ascontiguousarray(f, dtype=kind.dtype).tobytes() for f in frames]
    if syntax == JPEG_BASELINE:
        return [_encode_jpeg_baseline(f, kind) for f in frames]
    plugin = _PLUGINS.get(syntax)
    if plugin is None:
        raise FixtureEncodingError(f"no encoder configured for transfer syntax {syntax}")
    encoder = get_encoder(syntax)
    options = dict(
        rows=kind.rows, columns=kind.columns, number_of_frames=1,
        samples_per_pixel=kind.samples, bits_allocated=kind.bits_allocated,
        bits_stored=kind.bits_stored, pixel_representation=int(kind.signed),
        photometric_interpretation=kind.photometric, planar_configuration=0,
    )
    encoded = []
    for frame in frames:
        data = encoder.encode(np.ascontiguousarray(frame), encoding_plugin=plugin, **options)
        if syntax == J2K_LOSSLESS:
            data = strip_j2k_comments(data)
        encoded.append(data)
    return encoded


def check_lossless(encoded: list[bytes], frames: np.ndarray, kind: ImageKind, syntax: str, name: str) -> None:
    """Decode each newly encoded lossless frame and require the exact source pixels back."""
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder

    decoder = get_decoder(syntax)
    for number, (data, frame) in enumerate(zip(encoded, frames), 1):
        array, _ = decoder.as_array(
            encapsulate([data]), rows=kind.rows, columns=kind.columns, number_of_frames=1, samples_per_pixel=kind.samples,
            bits_allocated=kind.bits_allocated, bits_stored=kind.bits_stored,
            pixel_representation=int(kind.signed), photometric_interpretation=kind.photometric,
            planar_configuration=0, pixel_keyword="PixelData", as_rgb=False)
        if not np.array_equal(array.reshape(frame.shape), frame):
            raise FixtureEncodingError(f"{name} frame {number}: the {syntax} stream does not decode to its pixels")
