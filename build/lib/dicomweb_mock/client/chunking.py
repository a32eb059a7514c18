"""Split the instances of a ``/servers/{name}/stow`` call into STOW-RS requests.

The seed: one call "will possibly result in several HTTP requests", none
holding more than ``DicomWeb.StowMaxInstances`` instances nor a body larger
than ``DicomWeb.StowMaxSize`` MB; 0 means no limit for either.  An instance
larger than the size limit on its own travels alone (it cannot be split).
"""

from __future__ import annotations

from typing import Sequence, TypeVar

__all__ = ["plan_chunks", "MB"]

T = TypeVar("T")
MB = 1024 * 1024


def plan_chunks(sizes: Sequence[int], max_instances: int, max_size_mb: int, overhead: int = 0) -> list[list[int]]:
    """Group item indices, in order, into chunks within both limits.

    ``sizes`` are the bytes each item adds to a request body (part headers
    included); ``overhead`` the fixed bytes of one body (closing delimiter).
    """
    if max_instances < 0 or max_size_mb < 0:
        raise ValueError("limits must be >= 0")
    limit_bytes = max_size_mb * MB
    chunks: list[list[int]] = []
    current: list[int] = []
    current_size = overhead
    for index, size in enumerate(sizes):
        too_many = max_instances and len(current) >= max_instances
        too_big = limit_bytes and current and current_size + size > limit_bytes
        if too_many or too_big:
            chunks.append(current)
            current, current_size = [], overhead
        current.append(index)
        current_size += size
    if current:
        chunks.append(current)
    return chunks
