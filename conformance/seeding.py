"""Seeding: store the fixture instances on the target with STOW-RS, under the run's own UIDs.

Each file is re-written with pydicom in its own Transfer Syntax: every UI
value under the fixture UID root (in the dataset, in nested sequences and in
the File Meta Information) moves to the run's root and the top-level
PatientID (0010,0020) gets the run's suffix.  Only those elements are decoded;
every other element, Pixel Data included (compressed fragments too), is
written back byte for byte.  The files then go to ``POST {root}studies`` as
``multipart/related; type="application/dicom"`` (PS3.18 10.5), a few
instances per request.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .http import RecordingClient, TransportError, body_excerpt
from .truth import RunIds

__all__ = ["SeedError", "SeedReport", "rewrite_file", "rewrite_bytes", "plan_batches", "seed"]

_FAILED_SOP_SEQUENCE = "00081198"
_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILURE_REASON = "00081197"
_REFERENCED_SOP_INSTANCE_UID = "00081155"


class SeedError(RuntimeError):
    """The fixtures could not be stored on the target; the run cannot go on."""


@dataclass(frozen=True)
class SeedReport:
    """What seeding did: how many instances, requests, bytes and seconds."""

    instances: int
    requests: int
    bytes: int
    seconds: float


def _vr(dataset: Any, tag: Any) -> str | None:
    from pydicom.datadict import dictionary_VR
    from pydicom.tag import Tag

    raw = dataset.get_item(tag)
    vr = getattr(raw, "VR", None)
    if vr is None or (vr == "UN" and not Tag(tag).is_private):
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = None
    return vr


def _rewrite_uids(dataset: Any, ids: RunIds) -> None:
    """Move every UI value under the fixture root, recursing into sequences (raw elements stay raw)."""
    for tag in list(dataset.keys()):
        vr = _vr(dataset, tag)
        if vr == "UI":
            element = dataset[tag]
            if element.value is None or element.value == "":
                continue
            multiple = element.VM > 1
            values = [str(v) for v in (element.value if multiple else [element.value])]
            new = [ids.uid(v) for v in values]
            if new != values:
                element.value = new if multiple else new[0]
        elif vr == "SQ":
            for item in dataset[tag].value or []:
                _rewrite_uids(item, ids)


def rewrite_bytes(data: bytes, ids: RunIds) -> bytes:
    """Part 10 bytes with the run's UIDs and PatientID, same Transfer Syntax, pixel data untouched."""
    import pydicom

    if not ids.rewrites:
        return data
    dataset = pydicom.dcmread(io.BytesIO(data))
    _rewrite_uids(dataset.file_meta, ids)
    _rewrite_uids(dataset, ids)
    if "PatientID" in dataset and dataset.PatientID is not None:
        dataset.PatientID = ids.patient_id(str(dataset.PatientID))
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


def rewrite_file(path: Path, ids: RunIds) -> bytes:
    """:func:`rewrite_bytes` of a file."""
    return rewrite_bytes(Path(path).read_bytes(), ids)


def plan_batches(sizes: list[int], max_instances: int, max_bytes: int) -> list[list[int]]:
    """Group item indexes into requests of at most ``max_instances`` items and ``max_bytes`` bytes.

    0 means no limit; an item larger than ``max_bytes`` goes alone in its request.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        full = (max_instances and len(current) >= max_instances) or (max_bytes and total + size > max_bytes)
        if current and full:
            batches.append(current)
            current, total = [], 0
        current.append(index)
        total += size
    if current:
        batches.append(current)
    return batches


def _failures(response: Any) -> list[str]:
    """'<uid>: reason 0xNNNN' for each FailedSOPSequence item of a DICOM JSON STOW response."""
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return []
    datasets = data if isinstance(data, list) else [data]
    out = []
    for ds in datasets:
        if not isinstance(ds, dict):
            continue
        for item in (ds.get(_FAILED_SOP_SEQUENCE) or {}).get("Value") or []:
            uid = ((item.get(_REFERENCED_SOP_INSTANCE_UID) or {}).get("Value") or ["?"])[0]
            reason = ((item.get(_FAILURE_REASON) or {}).get("Value") or [None])[0]
            out.append(f"{uid}: failure reason {f'0x{reason:04X}' if isinstance(reason, int) else reason}")
    return out


def _referenced(response: Any) -> set[str] | None:
    """SOP Instance UIDs of the ReferencedSOPSequence (PS3.18 I.2), or None when the body is no
    DICOM JSON Store Instances Response."""
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    datasets = data if isinstance(data, list) else [data]
    if not datasets or not all(isinstance(ds, dict) for ds in datasets):
        return None
    uids: set[str] = set()
    for ds in datasets:
        sequence = ds.get(_REFERENCED_SOP_SEQUENCE)
        items = sequence.get("Value") if isinstance(sequence, dict) else None
        for item in items if isinstance(items, list) else []:
            value = (item.get(_REFERENCED_SOP_INSTANCE_UID) or {}).get("Value") if isinstance(item, dict) else None
            if isinstance(value, list) and value and isinstance(value[0], str):
                uids.add(value[0])
    return uids


def _sop_uid(payload: bytes) -> str:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(payload), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    return str(ds.SOPInstanceUID)


def _rewrite_all(paths: list[Path], ids: RunIds, progress: Callable[[str], None]) -> list[bytes]:
    payloads = []
    for number, path in enumerate(paths, 1):
        progress(f"preparing the fixtures under the run's UIDs: {number}/{len(paths)} files")
        payloads.append(rewrite_file(path, ids))
    return payloads


def seed(client: RecordingClient, ids: RunIds, files: Iterable[Path], *, max_instances: int = 10,
         max_size_mb: int = 10, progress: Callable[[str], None] | None = None) -> SeedReport:
    """Rewrite and STOW every file; raise :class:`SeedError` with one clear message on any failure.

    ``progress`` receives one status line per file rewritten and per request sent."""
    import time

    start = time.monotonic()
    paths = sorted(Path(f) for f in files)
    if not paths:
        raise SeedError("no fixture file to store (fixtures.instance_files() returned nothing)")
    progress = progress or (lambda text: None)
    try:
        payloads = _rewrite_all(paths, ids, progress)
    except Exception as exc:  # a fixture file pydicom cannot re-write: a bug of the data set, not the target
        raise SeedError(f"cannot rewrite the fixture files with the run's UIDs: {type(exc).__name__}: {exc}") from exc
    batches = plan_batches([len(p) for p in payloads], max_instances, max_size_mb * 1024 * 1024)
    sent = done = 0
    total = sum(len(p) for p in payloads)
    for number, batch in enumerate(batches, 1):
        size = sum(len(payloads[i]) for i in batch)
        progress(f"storing the fixtures on the target: {done}/{len(paths)} instances, "
                 f"{sent / 1e6:.1f}/{total / 1e6:.1f} MB (STOW-RS request {number}/{len(batches)})")
        what = (f"STOW-RS request {number}/{len(batches)} ({len(batch)} instances, {size / 1e6:.1f} MB, "
                f"{paths[batch[0]].name}...)")
        try:
            response = client.stow([payloads[i] for i in batch])
        except TransportError as exc:
            raise SeedError(f"{what} to {client.url('studies')} failed: {exc.exchange.error}") from None
        if response.status_code not in (200, 202):
            raise SeedError(f"{what} to {client.url('studies')} was refused: {response.status_code} "
                            f"{response.reason}: {body_excerpt(response.content, 300)}")
        failed = _failures(response)
        if failed:
            shown = "; ".join(failed[:3]) + (f" (+{len(failed) - 3} more)" if len(failed) > 3 else "")
            raise SeedError(f"{what} answered {response.status_code} but did not store: {shown}")
        # A 200 is only trusted with a Store Instances Response naming every instance sent.
        stored = _referenced(response)
        if stored is None:
            raise SeedError(f"{what} answered {response.status_code} without a DICOM JSON Store Instances "
                            f"Response (PS3.18 10.5.3): {body_excerpt(response.content, 200)}")
        missing = [uid for uid in (_sop_uid(payloads[i]) for i in batch) if uid not in stored]
        if missing:
            raise SeedError(f"{what} answered {response.status_code} but its ReferencedSOPSequence lacks "
                            f"{len(missing)} of the instances sent, e.g. {missing[0]}")
        sent += size
        done += len(batch)
    progress(f"stored {done} instances, {sent / 1e6:.1f} MB in {len(batches)} STOW-RS requests")
    return SeedReport(instances=len(paths), requests=len(batches), bytes=sent,
                      seconds=time.monotonic() - start)
