"""STOW-RS of Metadata accompanied by Bulkdata (PS3.18 2019a 10.5.1.4): one Part 10 instance per
DICOM JSON / Native DICOM Model object, its bulk data taken from the other parts of the request.

* ``application/dicom+json``: one part holding an array of DICOM JSON Model objects (Annex F);
  ``application/dicom+xml``: one Native DICOM Model document per part (PS3.19 A.1).
* A ``BulkDataURI`` (JSON) or ``BulkData uri`` (XML) names the part whose Content-Location is that
  URI (both resolved against the request URL); a ``BulkData uuid`` names the part whose
  Content-Location is ``urn:uuid:<uuid>`` or whose Content-ID is ``<uuid>``.
* Bulk data and uncompressed pixel data are ``application/octet-stream`` parts, Little Endian: the
  instance is stored in Explicit VR Little Endian.
* Compressed Pixel Data comes in a part of a compressed Bulkdata media type (Table 8.7.3-5); its
  ``transfer-syntax`` parameter, else the table's default for the media type, names the Transfer
  Syntax it is encapsulated in unchanged (10.5.2, Table 10.5.2-1 "Unchanged"): one frame per part,
  or the whole stream of a video media type.  Pixel Data as ``application/octet-stream`` with the
  ``transfer-syntax`` of a compressed syntax is read as that syntax's media type.  When the metadata
  omits the Image Pixel Description Macro, it is derived from a JPEG 2000 or JPEG stream
  (:mod:`.codestream_info`).
* ``image/png`` and ``image/gif`` have no DICOM Transfer Syntax (Table 10.5.2-1 "Transform"): they are
  decoded into native Pixel Data, the Image Pixel Description Macro derived from the image.

A metadata part that cannot be read raises :class:`MetadataError` (a failure of the request's
syntax); an object that cannot become an instance raises :class:`InstanceError` (a failure of that
instance alone).
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urljoin

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from .codestream_info import CodestreamError, PixelDescription, describe_j2k, describe_jpeg, jp2_codestream
from .dicom_json import DicomJsonError, json_to_dataset
from .dicom_xml import DicomXmlError, xml_to_json
from .media_types import (APPLICATION_DICOM_JSON, APPLICATION_DICOM_XML, APPLICATION_OCTET_STREAM,
                          BULKDATA_TRANSFER_SYNTAXES, IMAGE_GIF, IMAGE_JLS, IMAGE_JP2, IMAGE_JPEG, IMAGE_JPX,
                          IMAGE_PNG, TRANSFER_SYNTAX_BULKDATA_MEDIA_TYPE, VIDEO_MP4, VIDEO_MPEG2,
                          canonical_media_type)
from .stow_response import CANNOT_UNDERSTAND
from .uids import EXPLICIT_VR_LE

__all__ = ["METADATA_MEDIA_TYPES", "BulkSource", "MetadataError", "InstanceError", "part_keys",
           "metadata_objects", "sop_uids", "build_instance"]

#: The media types of metadata parts (Table 8.7.3-3).
METADATA_MEDIA_TYPES = frozenset({APPLICATION_DICOM_JSON, APPLICATION_DICOM_XML})
_PIXEL_DATA = "7FE00010"
_NUMBER_OF_FRAMES = "00280008"
_VIDEO = frozenset({VIDEO_MPEG2, VIDEO_MP4})
_TRANSFORMED = frozenset({IMAGE_PNG, IMAGE_GIF})
#: Media types whose Image Pixel Description Macro the mock derives when the metadata omits it.
_DESCRIBED: dict[str, Callable[[bytes], PixelDescription]] = {
    IMAGE_JP2: describe_j2k, IMAGE_JPX: describe_j2k, IMAGE_JPEG: describe_jpeg, IMAGE_JLS: describe_jpeg}


class MetadataError(ValueError):
    """A metadata part that is not valid DICOM JSON / Native DICOM Model (bad syntax)."""


class InstanceError(ValueError):
    """One metadata object that cannot be stored; ``failure_code`` for the Failed SOP Sequence."""

    def __init__(self, reason: str, sop_class: str, sop_instance: str, failure_code: int = CANNOT_UNDERSTAND):
        super().__init__(reason)
        self.reason, self.failure_code = reason, failure_code
        self.sop_class, self.sop_instance = sop_class, sop_instance


class BulkSource(Protocol):
    """A received bulk data part: its media type (lower case), parameters and bytes."""

    media_type: str
    params: dict[str, str]

    def read(self) -> bytes: ...


def part_keys(content_location: str | None, content_id: str | None, base: str) -> list[str]:
    """The references that name a part: its Content-Location resolved against ``base`` (the request
    URL), and ``urn:uuid:<id>`` for a Content-ID ``<id>`` (the target of an XML ``BulkData uuid``)."""
    keys = []
    if content_location and content_location.strip():
        keys.append(urljoin(base, content_location.strip()))
    if content_id and content_id.strip():
        keys.append("urn:uuid:" + content_id.strip().strip("<>"))
    return keys


def metadata_objects(media_type: str, body: bytes) -> list[dict[str, Any]]:
    """The DICOM JSON Model objects of one metadata part: a JSON array (or one object), or one
    Native DICOM Model document."""
    if media_type == APPLICATION_DICOM_XML:
        try:
            return [xml_to_json(body, numeric_strings=True)]
        except DicomXmlError as exc:
            raise MetadataError(f"application/dicom+xml part: {exc}") from None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MetadataError(f"application/dicom+json part is not JSON: {exc}") from None
    objects = data if isinstance(data, list) else [data]
    if not objects or not all(isinstance(o, dict) for o in objects):
        raise MetadataError("application/dicom+json part is not an array of DICOM JSON Model objects")
    return objects


def _first(obj: dict[str, Any], key: str) -> str:
    attr = obj.get(key)
    values = attr.get("Value") if isinstance(attr, dict) else None
    return str(values[0]) if isinstance(values, list) and values and isinstance(values[0], str) else ""


def sop_uids(obj: dict[str, Any]) -> tuple[str, str]:
    """SOP Class and SOP Instance UID of a metadata object ('' when absent)."""
    return _first(obj, "00080016"), _first(obj, "00080018")


def _frames(obj: dict[str, Any]) -> int:
    attr = obj.get(_NUMBER_OF_FRAMES)
    values = attr.get("Value") if isinstance(attr, dict) else None
    try:
        return int(values[0]) if isinstance(values, list) and values else 1
    except (TypeError, ValueError):
        return 1


def build_instance(obj: dict[str, Any], bulk: Mapping[str, BulkSource], base: str) -> bytes:
    """The Part 10 bytes of the instance ``obj`` describes, bulk data read from ``bulk`` (keyed by
    :func:`part_keys`); raises :class:`InstanceError`."""
    sop_class, sop_instance = sop_uids(obj)

    def fail(reason: str) -> InstanceError:
        return InstanceError(reason, sop_class, sop_instance)

    if not sop_class or not sop_instance:
        raise fail("the metadata has no SOP Class UID (0008,0016) or no SOP Instance UID (0008,0018)")

    def source(uri: str) -> BulkSource:
        found = bulk.get(urljoin(base, uri.strip()))
        if found is None:
            raise fail(f"BulkDataURI {uri!r} names no part of the request (no such Content-Location)")
        return found

    def octets(uri: str) -> bytes:
        part = source(uri)
        if _compressed(part):
            raise fail(f"the bulk data part {uri!r} is {part.media_type} {part.params}: uncompressed bulk "
                       "data is application/octet-stream, Explicit VR Little Endian (PS3.18 10.5.1.4)")
        return part.read()

    obj = copy.copy(obj)
    pixel = obj.get(_PIXEL_DATA)
    uri = pixel.get("BulkDataURI") if isinstance(pixel, dict) else None
    compressed = None
    if isinstance(uri, str) and _compressed(source(uri)):
        compressed = source(uri)
        del obj[_PIXEL_DATA]
    try:
        ds = json_to_dataset(obj, bulk_data_loader=octets)
    except DicomJsonError as exc:
        raise fail(f"metadata: {exc}") from None
    syntax = EXPLICIT_VR_LE
    if compressed is not None:
        syntax = _add_pixel_data(ds, compressed, _frames(obj), fail)
    return _part10(ds, syntax)


def _compressed(part: BulkSource) -> bool:
    """Whether a part holds other than uncompressed Little Endian octets (octet-stream, no other syntax)."""
    return (canonical_media_type(part.media_type) != APPLICATION_OCTET_STREAM
            or part.params.get("transfer-syntax", EXPLICIT_VR_LE) != EXPLICIT_VR_LE)


def _add_pixel_data(ds: Dataset, part: BulkSource, frames: int, fail: Callable[[str], InstanceError]) -> str:
    """Put a compressed pixel data part into ``ds``; the Transfer Syntax of the instance."""
    media_type = canonical_media_type(part.media_type)
    if media_type in _TRANSFORMED:
        _decode_image(ds, part.read(), fail)
        return EXPLICIT_VR_LE
    syntax = part.params.get("transfer-syntax", "")
    if media_type == APPLICATION_OCTET_STREAM:  # octets of a compressed syntax: that syntax's media type
        media_type = TRANSFER_SYNTAX_BULKDATA_MEDIA_TYPE.get(syntax, media_type)
    syntaxes = BULKDATA_TRANSFER_SYNTAXES.get(media_type)
    if not syntaxes or media_type == APPLICATION_OCTET_STREAM:
        raise fail(f"pixel data of media type {part.media_type} {part.params} is not supported (Tables "
                   "8.7.3-4, 8.7.3-5)")
    syntax = syntax or syntaxes[0]
    if syntax not in syntaxes:
        raise fail(f"transfer-syntax={syntax} is not one of {media_type} (Table 8.7.3-5)")
    if frames > 1 and media_type not in _VIDEO:
        raise fail(f"{frames} frames in one {media_type} part: a single-frame media type holds one frame")
    data = part.read()
    try:
        if media_type in (IMAGE_JP2, IMAGE_JPX):
            data = jp2_codestream(data)
        if "Rows" not in ds and media_type in _DESCRIBED:
            _set_description(ds, _DESCRIBED[media_type](data))
    except CodestreamError as exc:
        raise fail(f"the {media_type} pixel data: {exc}") from None
    ds.add_new(0x7FE00010, "OB", encapsulate([data]))
    return syntax


def _set_description(ds: Dataset, pixels: PixelDescription) -> None:
    """The Image Pixel Description Macro the request omitted, derived from the octet stream (10.5.2)."""
    ds.SamplesPerPixel = pixels.samples
    ds.PhotometricInterpretation = pixels.photometric
    ds.Rows, ds.Columns = pixels.rows, pixels.columns
    ds.BitsAllocated, ds.BitsStored = pixels.bits_allocated, pixels.bits_stored
    ds.HighBit = pixels.bits_stored - 1
    ds.PixelRepresentation = int(pixels.signed)
    if pixels.samples > 1:
        ds.PlanarConfiguration = 0


def _decode_image(ds: Dataset, data: bytes, fail: Callable[[str], InstanceError]) -> None:
    """Table 10.5.2-1 "Transform": image/png or image/gif into native Pixel Data and its macro."""
    try:
        image = Image.open(io.BytesIO(data))
        frames = [f.copy() for f in ImageSequence.Iterator(image)]
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise fail(f"the image/png or image/gif pixel data cannot be decoded: {exc}") from None
    grey16 = image.mode in ("I;16", "I;16B", "I")
    grey = grey16 or image.mode in ("L", "1", "LA")
    mode = "I;16" if grey16 else "L" if grey else "RGB"
    pixels = b"".join(_frame_bytes(f, mode) for f in frames)
    ds.Rows, ds.Columns = image.height, image.width
    ds.SamplesPerPixel = 1 if grey else 3
    ds.PhotometricInterpretation = "MONOCHROME2" if grey else "RGB"
    ds.BitsAllocated = ds.BitsStored = 16 if grey16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if not grey:
        ds.PlanarConfiguration = 0
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.add_new(0x7FE00010, "OW" if grey16 else "OB", pixels + b"\0" * (len(pixels) % 2))


def _frame_bytes(frame: Image.Image, mode: str) -> bytes:
    if mode == "I;16":
        return bytes(np.asarray(frame).astype("<u2").tobytes())
    return frame.convert(mode).tobytes()


def _part10(ds: Dataset, syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(syntax)
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    ds.file_meta = meta
    out = io.BytesIO()
    try:
        ds.save_as(out, enforce_file_format=True)
    except Exception as exc:  # pydicom raises several types for values it cannot encode
        raise InstanceError(f"the instance cannot be encoded: {type(exc).__name__}: {exc}",
                            str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))) from None
    return out.getvalue()
