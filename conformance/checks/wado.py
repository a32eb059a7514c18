"""Helpers for WADO-RS checks: resource paths, Part 10 parts, pixel frames and their ground truth.

Expected pixel values come from ``fixtures/manifest.json`` (``frames_sha256``:
each frame as stored; ``native_frames_sha256``: each frame decoded to native
little-endian colour-by-pixel bytes, PS3.18-2019a 8.7.3.3.1) and, for the lossy
JPEG Baseline instance, from Pillow's decoding of the stored frames (the
manifest's reference decoder; fixtures/README.md), compared with a tolerance.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Iterable

import numpy as np

__all__ = ["EXPLICIT_VR_LE", "IMPLICIT_VR_LE", "EXPLICIT_VR_BE", "LOSSLESS_SYNTAXES", "LOSSY_SYNTAXES",
           "STORED_MEDIA_TYPES", "study_path", "series_path", "instance_path", "sha256", "read_part10",
           "pixel_frames", "frame_matches_stored", "native_problem", "decoded_native_frames", "instance_pixel_problem",
           "LOSSY_MAX_ABS_DIFF", "LOSSY_MAX_MEAN_DIFF", "element_at", "lossy_only_refusal"]

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
NATIVE_SYNTAXES = {EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, "1.2.840.10008.1.2.1.99"}
LOSSLESS_SYNTAXES = {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
                     "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.92"}
LOSSY_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
                  "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93"}
#: Table 8.7.3-5 (PS3.18-2019a): the compressed Bulkdata media type of each stored syntax of the fixtures.
STORED_MEDIA_TYPES = {"1.2.840.10008.1.2.5": "image/dicom-rle", "1.2.840.10008.1.2.4.80": "image/jls",
                      "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.50": "image/jpeg"}
#: Largest per-sample difference accepted between two JPEG Baseline decoders (IDCT rounding).
LOSSY_MAX_ABS_DIFF = 4
#: Largest mean absolute difference accepted for the same comparison.
LOSSY_MAX_MEAN_DIFF = 0.5


def lossy_only_refusal(response: Any, instance: dict[str, Any]) -> bool:
    """A 406 for native (octet-stream) pixels of an instance stored lossy: conformant (PS3.18-2019a 8.7.3.3:
    the default media type is returned "unless the origin server has only access to the pixel data in lossy
    compressed form"; 8.7.3.2 the same for the default Transfer Syntax)."""
    return response.status_code == 406 and bool(instance.get("lossy"))


def study_path(entry: dict[str, Any]) -> str:
    """``studies/{study}`` for a truth study, series or instance entry."""
    return f"studies/{entry['StudyInstanceUID']}"


def series_path(entry: dict[str, Any]) -> str:
    """``studies/{study}/series/{series}`` (PS3.18-2019a table 10.4.1-1)."""
    return f"{study_path(entry)}/series/{entry['SeriesInstanceUID']}"


def instance_path(entry: dict[str, Any]) -> str:
    """``studies/{study}/series/{series}/instances/{instance}``."""
    return f"{series_path(entry)}/instances/{entry['SOPInstanceUID']}"


def element_at(dataset: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The element at a manifest bulk ``path`` (``tag/item/tag...``, 0-based items) of a DICOM JSON data set."""
    node: Any = dataset
    for i, step in enumerate(path.split("/")):
        if i % 2 == 0:
            node = (node or {}).get(step)
        else:
            items = (node or {}).get("Value") or []
            node = items[int(step)] if int(step) < len(items) else None
    return node


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_part10(data: bytes) -> Any:
    """Parse a DICOM File (PS3.10) with pydicom; raises ValueError naming the problem."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))  # no force: the 128-byte preamble and DICM are required
    except InvalidDicomError as exc:
        raise ValueError(f"not a DICOM File (PS3.10 7.1: preamble + 'DICM' + File Meta Information): {exc}") from None
    except Exception as exc:  # truncated or corrupt element encoding
        raise ValueError(f"unreadable DICOM File: {type(exc).__name__}: {exc}") from None
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        raise ValueError("the File Meta Information has no Transfer Syntax UID (0002,0010)")
    try:
        ds.SOPInstanceUID  # noqa: B018 - forces parsing up to the SOP Instance UID
    except Exception as exc:
        raise ValueError(f"cannot read SOP Instance UID: {exc}") from None
    return ds


def _frame_length(ds: Any) -> int:
    samples = int(getattr(ds, "SamplesPerPixel", 1))
    return int(ds.Rows) * int(ds.Columns) * samples * (int(ds.BitsAllocated) // 8)


def pixel_frames(ds: Any) -> list[bytes]:
    """The frames of the top-level Pixel Data as encoded: native slices or encapsulated frames.

    Raises ValueError when the Pixel Data is missing or too short for NumberOfFrames.
    """
    from pydicom.encaps import generate_frames

    if "PixelData" not in ds:
        raise ValueError("no Pixel Data (7FE0,0010)")
    count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    data = ds.PixelData
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts in NATIVE_SYNTAXES:
        size = _frame_length(ds)
        if len(data) < size * count:
            raise ValueError(f"Pixel Data holds {len(data)} bytes, {count} frame(s) need {size * count}")
        frames = [bytes(data[i * size:(i + 1) * size]) for i in range(count)]
        if ts == EXPLICIT_VR_BE and int(ds.BitsAllocated) == 16:
            frames = [np.frombuffer(f, ">u2").astype("<u2").tobytes() for f in frames]
        return frames
    try:
        return [bytes(f) for f in generate_frames(data, number_of_frames=count)]
    except Exception as exc:
        raise ValueError(f"encapsulated Pixel Data cannot be split into {count} frame(s): {exc}") from None


def frame_matches_stored(frame: bytes, expected_sha: str) -> bool:
    """Whether an encapsulated frame equals the stored one (``frames_sha256``).

    A JPEG frame may have lost (or gained) the single 0x00 byte that pads the
    stored fragment to an even length after the EOI marker FFD9.
    """
    if sha256(frame) == expected_sha:
        return True
    if frame.endswith(b"\xff\xd9") and sha256(frame + b"\x00") == expected_sha:
        return True
    return frame.endswith(b"\xff\xd9\x00") and sha256(frame[:-1]) == expected_sha


def _to_by_pixel(frame: bytes, ds: Any) -> bytes:
    """Colour-by-plane native bytes (PlanarConfiguration 1) as colour-by-pixel."""
    if int(getattr(ds, "SamplesPerPixel", 1)) != 3 or int(getattr(ds, "PlanarConfiguration", 0) or 0) != 1:
        return frame
    dtype = np.uint8 if int(ds.BitsAllocated) == 8 else np.dtype("<u2")
    planes = np.frombuffer(frame, dtype).reshape(3, int(ds.Rows), int(ds.Columns))
    return np.ascontiguousarray(planes.transpose(1, 2, 0)).tobytes()


def decoded_native_frames(ds: Any) -> list[bytes]:
    """Every frame as native little-endian colour-by-pixel bytes, decoding compressed syntaxes with pydicom.

    Raises ValueError when the frames cannot be decoded.
    """
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts in NATIVE_SYNTAXES:
        return [_to_by_pixel(f, ds) for f in pixel_frames(ds)]
    try:
        from pydicom.pixels import iter_pixels

        dtype = np.dtype(f"<{'i' if int(ds.PixelRepresentation) else 'u'}{int(ds.BitsAllocated) // 8}")
        return [np.ascontiguousarray(arr).astype(dtype).tobytes()
                for arr in iter_pixels(ds, raw=True)]
    except Exception as exc:
        raise ValueError(f"cannot decode the {ts} Pixel Data: {type(exc).__name__}: {exc}") from None


_REFERENCE_CACHE: dict[str, list[np.ndarray]] = {}


def _lossy_reference(truth: Any, instance: dict[str, Any]) -> list[np.ndarray]:
    """Pillow's decoding of the stored JPEG frames (the manifest's reference, checked against its hashes)."""
    from PIL import Image

    sop = instance["SOPInstanceUID"]
    if sop not in _REFERENCE_CACHE:
        stored = read_part10(truth.file_bytes(sop))
        arrays = []
        for index, frame in enumerate(pixel_frames(stored)):
            arr = np.asarray(Image.open(io.BytesIO(frame)))
            if sha256(arr.tobytes()) != instance["native_frames_sha256"][index]:
                raise RuntimeError(f"suite error: Pillow's decoding of frame {index + 1} of {instance['file']} does "
                                   "not match native_frames_sha256 of the manifest")
            arrays.append(arr.reshape(-1))
        _REFERENCE_CACHE[sop] = arrays
    return _REFERENCE_CACHE[sop]


def native_problem(frames: list[bytes], instance: dict[str, Any], truth: Any,
                   numbers: Iterable[int] | None = None) -> str | None:
    """Compare native frames with the manifest; None if they match, else what differs.

    ``numbers`` are the 1-based frame numbers ``frames`` hold (default: all, in order).
    Lossless instances must match ``native_frames_sha256`` exactly; the lossy one
    (manifest ``lossy``) within :data:`LOSSY_MAX_ABS_DIFF` per sample and
    :data:`LOSSY_MAX_MEAN_DIFF` on average of the reference decoding.
    """
    wanted = list(numbers) if numbers is not None else list(range(1, len(instance["native_frames_sha256"]) + 1))
    if len(frames) != len(wanted):
        return f"{len(frames)} frame(s) where {len(wanted)} were expected"
    size = instance["Rows"] * instance["Columns"] * instance["SamplesPerPixel"] * instance["BitsAllocated"] // 8
    for frame, number in zip(frames, wanted):
        if len(frame) != size:
            return f"frame {number} has {len(frame)} bytes; Rows x Columns x SamplesPerPixel x BitsAllocated/8 = {size}"
        if sha256(frame) == instance["native_frames_sha256"][number - 1]:
            continue
        if not instance.get("lossy"):
            return f"frame {number}: pixel bytes differ from the stored instance's (SHA-256 {sha256(frame)[:16]}...)"
        reference = _lossy_reference(truth, instance)[number - 1].astype(np.int32)
        got = np.frombuffer(frame, np.uint8).astype(np.int32)
        diff = np.abs(got - reference)
        if diff.max() > LOSSY_MAX_ABS_DIFF or diff.mean() > LOSSY_MAX_MEAN_DIFF:
            return (f"frame {number}: decoded pixels differ from the reference decoding by up to {int(diff.max())} "
                    f"(mean {diff.mean():.3f}); tolerance {LOSSY_MAX_ABS_DIFF} / {LOSSY_MAX_MEAN_DIFF}")
    return None


def instance_pixel_problem(ds: Any, instance: dict[str, Any], truth: Any) -> str | None:
    """Whether a returned instance carries the stored pixel data faithfully; None if so, else why not.

    Accepted: the stored encapsulated frames unchanged (``frames_sha256``, JPEG pad
    tolerance); or any native / lossless encoding whose decoded frames equal the
    stored pixel values (``native_frames_sha256``; the lossy instance within the
    decoder tolerance).  A lossy syntax other than the stored one is refused
    (PS3.18-2019a 8.7.3.4: only pixel data received lossy may be returned lossy).
    """
    ts = str(ds.file_meta.TransferSyntaxUID)
    stored_ts = instance["TransferSyntaxUID"]
    try:
        frames = pixel_frames(ds)
    except ValueError as exc:
        return str(exc)
    if len(frames) != instance["NumberOfFrames"]:
        return f"{len(frames)} frame(s); the stored instance has {instance['NumberOfFrames']}"
    if ts == stored_ts and ts not in NATIVE_SYNTAXES:
        if all(frame_matches_stored(f, h) for f, h in zip(frames, instance["frames_sha256"])):
            return None
        if ts in LOSSY_SYNTAXES:
            return f"the {ts} frames differ from the stored ones: re-compressed lossy"
    if ts in LOSSY_SYNTAXES and ts != stored_ts:
        return f"returned in lossy {ts}; the instance was stored in {stored_ts}"
    try:
        native = decoded_native_frames(ds)
    except ValueError as exc:
        return str(exc)
    return native_problem(native, instance, truth)
