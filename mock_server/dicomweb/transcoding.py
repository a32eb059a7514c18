"""Transfer syntax conversion of instances and frames (PS3.18 2019a 8.7.3).

PS3.18 8.7.3.4 requires an origin server to be able to return any instance
in Explicit VR Little Endian, and 8.7.3.5.2 lets a user agent ask for a
specific Transfer Syntax.  This module holds the pure codec side of that:
which conversions are possible (:func:`can_transcode`), the conversion of a
whole dataset (:func:`transcode`), the encoding of one decoded frame
(:func:`encode_frame`) and the writing of DICOM Part 10 files
(:func:`write_part10`, :func:`write_part10_to`).

Decisions:

* Explicit VR Big Endian is retired and PS3.18 8.7.3 forbids it: it is never a
  target.  Implicit VR Little Endian is also forbidden on the web (8.7.3) but
  is accepted here as a target because the store and tests need it; the HTTP
  layer must check :data:`WEB_FORBIDDEN_SYNTAXES` before offering it.
* Compressed targets: RLE Lossless, JPEG-LS Lossless and JPEG 2000 Lossless
  (pydicom encoders, within the PS3.5 encoding profiles pydicom enforces;
  the openjpeg encoder needs Rows and Columns >= 32) and JPEG Baseline for
  8-bit unsigned data (Pillow, quality :data:`JPEG_QUALITY`, colour as
  YBR_FULL_422).  JPEG Baseline is lossy: Lossy Image Compression is set to
  "01" and a ratio and the method "ISO_10918_1" are appended (PS3.3
  C.7.6.1.1.5).  The SOP Instance UID is kept.
* Decoded colour frames keep their colour space (no YBR to RGB conversion)
  except where the codec defines it: YBR_RCT / YBR_ICT decode to RGB and
  upsampled YBR_FULL_422 becomes YBR_FULL.  Decoded data is colour-by-pixel
  (Planar Configuration 0).
* A dataset without Pixel Data can be written in any supported syntax: a
  compressed Transfer Syntax only changes how Pixel Data is encoded.
"""

from __future__ import annotations

import copy
import io
from typing import Any, BinaryIO, Iterator, Mapping

import numpy as np
from PIL import Image
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import get_encoder
from pydicom.pixels.utils import pack_bits
from pydicom.pixels.encoders.base import ENCODING_PROFILES
from pydicom.uid import UID

from ..errors import HttpError
from .uids import (DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, JPEG_2000_LOSSLESS,
                   JPEG_BASELINE, JPEG_LS_LOSSLESS, RLE_LOSSLESS)

__all__ = [
    "TranscodeError", "EXPLICIT_VR_LE", "IMPLICIT_VR_LE", "DEFLATED_EXPLICIT_VR_LE",
    "EXPLICIT_VR_BE", "RLE_LOSSLESS", "JPEG_BASELINE", "JPEG_LS_LOSSLESS",
    "JPEG_2000_LOSSLESS", "NATIVE_SYNTAXES", "NATIVE_TARGETS", "COMPRESSED_TARGETS",
    "SUPPORTED_TARGETS", "WEB_FORBIDDEN_SYNTAXES", "JPEG_QUALITY",
    "transfer_syntax_of", "has_pixel_data", "can_transcode",
    "transcode_refusal", "encode_frame", "frame_bytes", "decode_frames", "transcode",
    "write_part10", "write_part10_to",
]


#: Transfer Syntaxes whose Pixel Data is not encapsulated (PS3.5 A.1-A.3, A.5).
NATIVE_SYNTAXES = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE})
NATIVE_TARGETS = frozenset({EXPLICIT_VR_LE, IMPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE})
COMPRESSED_TARGETS = frozenset({RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, JPEG_BASELINE})
SUPPORTED_TARGETS: frozenset[str] = NATIVE_TARGETS | COMPRESSED_TARGETS
#: PS3.18 8.7.3: "shall not be used with Web Services".
WEB_FORBIDDEN_SYNTAXES = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_BE})
#: Pillow quality used when transcoding to JPEG Baseline.
JPEG_QUALITY = 90

_PIXEL_DATA = 0x7FE00010
_OFFSET_TABLES = (0x7FE00001, 0x7FE00002)  # Extended Offset Table (Lengths)
_J2K_MIN_SIZE = 32  # openjpeg's default 6 resolution levels need 2**5 pixels
_BIG_ENDIAN_REFUSED = "Explicit VR Big Endian is retired and shall not be used (PS3.18 8.7.3)"


class TranscodeError(HttpError):
    """The instance cannot be produced in the requested Transfer Syntax.

    ``status`` is 406 (Not Acceptable, PS3.18 8.7.3.5.2) unless the stored
    data itself is unusable (500).
    """

    def __init__(self, reason: str, status: int = 406) -> None:
        super().__init__(status, reason)


class UndecodablePixelData(TranscodeError):
    """The stored Pixel Data cannot be decoded, so nothing needing its pixels can be produced (406)."""


def needs_decoding(source_ts: str, target_ts: str) -> bool:
    """Whether Pixel Data stored in ``source_ts`` is decoded to be sent in ``target_ts``."""
    return source_ts != target_ts and not (source_ts in NATIVE_TARGETS and target_ts in NATIVE_TARGETS)


def _name(uid: str) -> str:
    name = UID(uid).name
    return f"{name} ({uid})" if name != uid else uid


def _get(meta: Any, keyword: str, default: Any = None) -> Any:
    value = meta.get(keyword, default)
    if isinstance(value, DataElement):
        value = value.value
    return default if value is None or value == "" else value


def has_pixel_data(meta: Any) -> bool:
    """True if a Dataset holds Pixel Data, or a plain mapping describes an image."""
    if isinstance(meta, Dataset):
        return "PixelData" in meta
    return _get(meta, "BitsAllocated") is not None


def transfer_syntax_of(ds: Dataset) -> str:
    """The Transfer Syntax UID the dataset's Pixel Data is encoded in.

    Taken from the File Meta Information, else from the encoding the dataset
    was read with; a dataset built in memory defaults to Explicit VR Little
    Endian unless its Pixel Data is encapsulated (then the syntax is unknown).
    """
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return str(ts)
    implicit, little = ds.original_encoding
    if implicit is not None:
        return IMPLICIT_VR_LE if implicit else (EXPLICIT_VR_LE if little else EXPLICIT_VR_BE)
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        raise TranscodeError("encapsulated Pixel Data without a Transfer Syntax UID", status=500)
    return EXPLICIT_VR_LE


def _decoded_photometric(pi: str) -> str:
    """Photometric Interpretation of decoded, colour-by-pixel data."""
    pi = pi.strip().upper()
    if pi in ("YBR_RCT", "YBR_ICT"):
        return "RGB"
    if pi == "YBR_FULL_422":
        return "YBR_FULL"
    return pi


def _decoder(ts: str) -> Any:
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise TranscodeError(f"no decoder for the stored Transfer Syntax {_name(ts)}") from None
    if not decoder.is_available:
        raise TranscodeError(f"the decoder for {_name(ts)} is not installed")
    return decoder


def _jpeg_baseline_refusal(pi: str, spp: int, ba: int, bs: int, pr: int) -> str | None:
    if (ba, bs, pr) != (8, 8, 0):
        return "JPEG Baseline needs 8-bit unsigned pixels (PS3.5 8.2.1)"
    if (spp, pi) in ((1, "MONOCHROME1"), (1, "MONOCHROME2"), (3, "RGB"), (3, "YBR_FULL")):
        return None
    return f"JPEG Baseline cannot encode {spp} sample(s) of {pi}"


def transcode_refusal(source_ts: str, target_ts: str, ds_meta: Any) -> str | None:
    """Why ``source_ts`` cannot be converted to ``target_ts``, or None if it can.

    ``ds_meta`` is a Dataset or a mapping of pixel attribute keywords
    (Rows, Columns, SamplesPerPixel, BitsAllocated, BitsStored,
    PixelRepresentation, PhotometricInterpretation).
    """
    if target_ts == EXPLICIT_VR_BE:
        return _BIG_ENDIAN_REFUSED
    if target_ts == source_ts:
        return None
    if target_ts not in SUPPORTED_TARGETS:
        return f"transcoding to {_name(target_ts)} is not supported"
    if not has_pixel_data(ds_meta):
        return None
    if source_ts not in NATIVE_SYNTAXES:
        try:
            _decoder(source_ts)
        except TranscodeError as exc:
            return exc.reason
    if target_ts in NATIVE_TARGETS:
        return None
    try:
        spp = int(_get(ds_meta, "SamplesPerPixel", 1))
        ba, bs = int(_get(ds_meta, "BitsAllocated")), int(_get(ds_meta, "BitsStored"))
        pr = int(_get(ds_meta, "PixelRepresentation", 0))
        rows, cols = int(_get(ds_meta, "Rows")), int(_get(ds_meta, "Columns"))
        pi = _decoded_photometric(str(_get(ds_meta, "PhotometricInterpretation")))
    except (TypeError, ValueError):
        return "the Image Pixel attributes are missing or invalid"
    if target_ts == JPEG_BASELINE:
        return _jpeg_baseline_refusal(pi, spp, ba, bs, pr)
    if not get_encoder(target_ts).is_available:
        return f"the encoder for {_name(target_ts)} is not installed"
    if target_ts == JPEG_2000_LOSSLESS and min(rows, cols) < _J2K_MIN_SIZE:
        return f"the JPEG 2000 encoder needs Rows and Columns >= {_J2K_MIN_SIZE}"
    for p_pi, p_spp, p_pr, p_ba, p_bs in ENCODING_PROFILES[UID(target_ts)]:
        if (pi, spp) == (p_pi, p_spp) and pr in p_pr and ba in p_ba and bs in p_bs:
            return None
    return (f"{_name(target_ts)} cannot encode {spp} sample(s) of {pi} with "
            f"Bits Allocated {ba}, Bits Stored {bs}, Pixel Representation {pr}")


def can_transcode(source_ts: str, target_ts: str, ds_meta: Any) -> bool:
    """True if :func:`transcode` can convert such an instance (PS3.18 8.7.3.5.2)."""
    return transcode_refusal(source_ts, target_ts, ds_meta) is None


def frame_bytes(arr: np.ndarray, bits_allocated: int, pixel_representation: int) -> bytes:
    """Decoded pixels as little-endian native bytes (PS3.18 8.7.3.3.1, PS3.5 8.1.1)."""
    if bits_allocated == 1:
        return pack_bits(arr, pad=False)
    kind = "i" if pixel_representation else "u"
    return np.ascontiguousarray(arr, dtype=np.dtype(f"<{kind}{bits_allocated // 8}")).tobytes()


def decode_frames(ds: Dataset, indices: list[int] | None = None) -> Iterator[tuple[np.ndarray, str]]:
    """Yield ``(array, photometric)`` for each frame (0-based ``indices``), no colour conversion.

    Arrays are (rows, cols) or (rows, cols, samples); ``photometric`` is the
    Photometric Interpretation of the decoded array.
    """
    decoder = _decoder(transfer_syntax_of(ds))
    try:
        for arr, info in decoder.iter_array(ds, indices=indices, as_rgb=False):
            yield arr, _decoded_photometric(str(info["photometric_interpretation"]))
    except TranscodeError:
        raise
    except Exception as exc:  # pydicom raises many types for corrupt data
        raise UndecodablePixelData(f"the stored Pixel Data cannot be decoded: {exc}") from exc
    except BaseException as exc:  # pyo3 decoders (pylibjpeg-rle) panic with PanicException, a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise UndecodablePixelData(f"the stored Pixel Data cannot be decoded: {exc}") from exc


def _pillow_jpeg(arr: np.ndarray, pi: str, quality: int) -> bytes:
    if arr.ndim == 2:
        image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
        options: dict[str, Any] = {}
    else:
        data = np.ascontiguousarray(arr, dtype=np.uint8)
        mode = "YCbCr" if pi == "YBR_FULL" else "RGB"
        image = Image.frombytes(mode, (data.shape[1], data.shape[0]), data.tobytes())
        options = {"subsampling": 1}  # 4:2:2, i.e. YBR_FULL_422 (PS3.5 8.2.1)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, **options)
    return out.getvalue()


def encode_frame(arr: np.ndarray, pixel_attrs: Mapping[str, Any], target_ts: str,
                 *, quality: int = JPEG_QUALITY) -> bytes:
    """Encode one decoded frame in ``target_ts``; ``pixel_attrs`` uses DICOM keywords.

    The returned bytes are one frame of compressed data without fragment
    delimiters (PS3.18 8.7.3.3.2).  The Photometric Interpretation must be
    that of ``arr`` (see :func:`decode_frames`).
    """
    if target_ts not in COMPRESSED_TARGETS:
        raise TranscodeError(f"{_name(target_ts)} is not a supported compressed Transfer Syntax")
    pi = _decoded_photometric(str(_get(pixel_attrs, "PhotometricInterpretation", "")))
    spp = int(_get(pixel_attrs, "SamplesPerPixel", 1))
    try:
        if target_ts == JPEG_BASELINE:
            reason = _jpeg_baseline_refusal(
                pi, spp, int(_get(pixel_attrs, "BitsAllocated")), int(_get(pixel_attrs, "BitsStored")),
                int(_get(pixel_attrs, "PixelRepresentation", 0)))
            if reason:
                raise TranscodeError(reason)
            return _pillow_jpeg(arr, pi, quality)
        return get_encoder(target_ts).encode(
            np.ascontiguousarray(arr),
            rows=arr.shape[0], columns=arr.shape[1], samples_per_pixel=spp,
            bits_allocated=int(_get(pixel_attrs, "BitsAllocated")),
            bits_stored=int(_get(pixel_attrs, "BitsStored")),
            pixel_representation=int(_get(pixel_attrs, "PixelRepresentation", 0)),
            photometric_interpretation=pi, number_of_frames=1, planar_configuration=0,
        )
    except TranscodeError:
        raise
    except Exception as exc:  # encoder validation errors: ValueError, RuntimeError, ...
        raise TranscodeError(f"cannot encode the frame as {_name(target_ts)}: {exc}") from exc


def _copy_element(elem: DataElement | RawDataElement) -> DataElement | RawDataElement:
    """Raw elements are immutable tuples and can be shared; others are deep-copied."""
    return elem if isinstance(elem, RawDataElement) else copy.deepcopy(elem)


def _copy_without_pixel_data(ds: Dataset) -> Dataset:
    """A new dataset sharing nothing mutable with ``ds``, minus Pixel Data.

    Elements not yet decoded (raw) are carried over as they are, so the writer
    can reproduce their bytes exactly; the original encoding and character
    set are kept for that purpose.
    """
    new = Dataset()
    implicit, little = ds.original_encoding
    new.set_original_encoding(implicit, little, ds.original_character_set)
    for tag in list(ds.keys()):
        if tag == _PIXEL_DATA:
            continue
        elem = ds.get_item(tag)
        new[tag] = _copy_element(elem)
    meta = getattr(ds, "file_meta", None)
    new.file_meta = copy.deepcopy(meta) if meta is not None else FileMetaDataset()
    for meta_kw, kw in (("MediaStorageSOPClassUID", "SOPClassUID"),
                        ("MediaStorageSOPInstanceUID", "SOPInstanceUID")):
        if meta_kw not in new.file_meta and kw in ds:
            setattr(new.file_meta, meta_kw, ds[kw].value)
    return new


def _set_native_pixels(new: Dataset, frames: list[bytes], bits_allocated: int) -> None:
    data = b"".join(frames)
    if len(data) % 2:
        data += b"\x00"
    new.add_new(_PIXEL_DATA, "OB" if bits_allocated <= 8 else "OW", data)


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _mark_lossy(new: Dataset, original: int, compressed: int) -> None:
    """PS3.3 C.7.6.1.1.5: record the lossy step, keeping earlier ratios and methods."""
    ratios = _values(new, "LossyImageCompressionRatio")
    methods = _values(new, "LossyImageCompressionMethod")
    new.LossyImageCompression = "01"
    new.LossyImageCompressionRatio = [*ratios, f"{original / max(compressed, 1):.2f}"]
    new.LossyImageCompressionMethod = [*methods, "ISO_10918_1"]


def transcode(ds: Dataset, target_ts: str) -> Dataset:
    """Return a new dataset in ``target_ts``; ``ds`` is not modified.

    Every element other than Pixel Data (and the Extended Offset Table, which
    describes the old encapsulation) is preserved, including private tags and
    Specific Character Set.  Raises :class:`TranscodeError` if not possible.
    """
    source_ts = transfer_syntax_of(ds)
    reason = transcode_refusal(source_ts, target_ts, ds)
    if reason:
        raise TranscodeError(reason)
    new = _copy_without_pixel_data(ds)
    new.file_meta.TransferSyntaxUID = UID(target_ts)
    if "PixelData" not in ds:
        return new
    pixel_elem = ds.get_item(_PIXEL_DATA)
    if source_ts == target_ts or (source_ts in NATIVE_TARGETS and target_ts in NATIVE_TARGETS):
        new[_PIXEL_DATA] = _copy_element(pixel_elem)
        return new
    for tag in _OFFSET_TABLES:
        if tag in new:
            del new[tag]
    try:
        ba, bs = int(_get(ds, "BitsAllocated")), int(_get(ds, "BitsStored", _get(ds, "BitsAllocated")))
        pr, spp = int(_get(ds, "PixelRepresentation", 0)), int(_get(ds, "SamplesPerPixel", 1))
    except (TypeError, ValueError):
        raise TranscodeError("the stored Image Pixel attributes are missing or invalid", status=500) from None
    photometric = str(_get(ds, "PhotometricInterpretation", ""))
    if target_ts in NATIVE_TARGETS:
        decoded = list(decode_frames(ds))
        photometric = decoded[-1][1]
        if ba == 1:  # bit-packed frames need not be byte aligned (PS3.5 8.1.1)
            frames = [frame_bytes(np.stack([arr for arr, _ in decoded]), 1, 0)]
        else:
            frames = [frame_bytes(arr, ba, pr) for arr, _ in decoded]
        _set_native_pixels(new, frames, ba)
    else:
        attrs = {"SamplesPerPixel": spp, "BitsAllocated": ba, "BitsStored": bs, "PixelRepresentation": pr}
        encoded, original = [], 0
        for arr, photometric in decode_frames(ds):
            original += arr.nbytes
            encoded.append(encode_frame(arr, {**attrs, "PhotometricInterpretation": photometric}, target_ts))
        new.add_new(_PIXEL_DATA, "OB", encapsulate(encoded, has_bot=True))
        new[_PIXEL_DATA].is_undefined_length = True
        if target_ts == JPEG_BASELINE:
            if spp == 3:
                photometric = "YBR_FULL_422"
            _mark_lossy(new, original, sum(len(e) for e in encoded))
    new.PhotometricInterpretation = photometric
    if spp > 1:
        new.PlanarConfiguration = 0
    return new


def write_part10_to(fileobj: BinaryIO, ds: Dataset, ts: str | None = None) -> None:
    """Write ``ds`` as a DICOM Part 10 file (PS3.10 7.1) to ``fileobj``.

    ``ts`` None keeps the stored Transfer Syntax; otherwise the dataset is
    transcoded first.  File Meta Information is completed from the SOP
    Common attributes when missing.
    """
    if ts is None or (ts == transfer_syntax_of(ds) and ts != EXPLICIT_VR_BE):
        out = _copy_without_pixel_data(ds)
        out.file_meta.TransferSyntaxUID = UID(transfer_syntax_of(ds))
        if "PixelData" in ds:
            out[_PIXEL_DATA] = _copy_element(ds.get_item(_PIXEL_DATA))
    else:
        out = transcode(ds, ts)
    missing = [kw for kw in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID")
               if kw not in out.file_meta]
    if missing:
        raise TranscodeError(f"cannot write a Part 10 file without {', '.join(missing)}", status=500)
    try:
        dcmwrite(fileobj, out, enforce_file_format=True)
    except (ValueError, TypeError, AttributeError, NotImplementedError) as exc:
        raise TranscodeError(f"cannot encode the dataset: {exc}", status=500) from exc


def write_part10(ds: Dataset, target_ts: str | None = None) -> bytes:
    """The DICOM Part 10 bytes of ``ds`` in ``target_ts`` (None: as stored)."""
    out = io.BytesIO()
    write_part10_to(out, ds, target_ts)
    return out.getvalue()
