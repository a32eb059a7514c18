"""Resource paths below the DICOMweb root (PS3.18 10.4-10.6) and BulkDataURIs (PS3.18 8.6.1, F.2.6).

Every ``studies/{study}/series/{series}/instances/{instance}`` the mock writes, in a
RetrieveURL, a Content-Location or a BulkDataURI, is built here, and a BulkDataURI's path
is read back here.  Paths are relative to the DICOMweb root (they end up after a ``base``
that ends with ``/``).
"""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

__all__ = ["BASE_PLACEHOLDER", "resource_path", "instance_path", "bulk_path_segment", "element_at"]

#: Prefix of every BulkDataURI kept in the index; replaced by the absolute DICOMweb root URL
#: of the request that reads the metadata (PS3.18 8.6.1 / Annex F.2.6).
BASE_PLACEHOLDER = "{{DICOMWEB_BASE}}"


def resource_path(study: str, series: str | None = None, instance: str | None = None) -> str:
    """``studies/{study}[/series/{series}[/instances/{instance}]]``."""
    path = f"studies/{study}"
    if series is not None:
        path += f"/series/{series}"
        if instance is not None:
            path += f"/instances/{instance}"
    return path


def instance_path(study: str, series: str, instance: str) -> str:
    """``studies/{study}/series/{series}/instances/{instance}``."""
    return resource_path(study, series, instance)


def bulk_path_segment(path: tuple[int, ...]) -> str:
    """URL path below ``.../bulk/`` for a tag path ``(tag, item, tag, ...)``.

    Tags are 8 upper-case hex digits, item indices are 1-based, segments are
    separated by ``/``: ``0040A730/1/00420011``.
    """
    return "/".join(f"{p:08X}" if i % 2 == 0 else str(p + 1) for i, p in enumerate(path))


def element_at(ds: Dataset, bulk: str) -> DataElement | None:
    """The element a path written by :func:`bulk_path_segment` names in ``ds``, or None."""
    segments = [s for s in bulk.split("/") if s]
    if not segments or len(segments) % 2 == 0:
        return None
    current: Any = ds
    try:
        for i, seg in enumerate(segments):
            if i % 2 == 0:
                tag = int(seg, 16)
                if tag not in current:
                    return None
                element = current[tag]
                if i == len(segments) - 1:
                    return element  # type: ignore[no-any-return]
                current = element.value
            else:
                index = int(seg) - 1
                if index < 0 or index >= len(current):
                    return None
                current = current[index]
    except (ValueError, TypeError, IndexError):
        return None
    return None
