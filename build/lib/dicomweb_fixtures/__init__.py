"""Deterministic DICOM fixture data set and its manifest (the conformance suite's ground truth).

The manifest describes every patient, study, series and instance that the
DICOMweb services of PS3.18 (QIDO-RS §10.6, WADO-RS §10.4, WADO-URI §9,
STOW-RS §10.5) are tested against.  The DICOM files themselves are never
committed: :func:`ensure_dataset` generates them on demand into the user's cache.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .spec import DATASET_VERSION, UID_ROOT

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.json"

__all__ = [
    "DATASET_VERSION",
    "MANIFEST_PATH",
    "UID_ROOT",
    "FixtureError",
    "ManifestMismatchError",
    "ensure_dataset",
    "instance_files",
    "load_manifest",
]


def load_manifest() -> dict[str, Any]:
    """Return the committed ``fixtures/manifest.json`` as a fresh dict."""
    from .cache import FixtureError

    try:
        return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FixtureError(f"{MANIFEST_PATH} is missing: the installation is incomplete") from None


def ensure_dataset(cache_dir: Path | None = None) -> Path:
    """Generate the data set if missing or stale; return the directory holding the ``.dcm`` files."""
    from .cache import ensure_dataset as _ensure

    return _ensure(cache_dir)


def instance_files(cache_dir: Path | None = None) -> list[Path]:
    """Ensure the data set, then return its ``.dcm`` files sorted by name."""
    from .cache import instance_files as _files

    return _files(cache_dir)


def __getattr__(name: str) -> Any:
    """Lazily expose the exception classes without importing pydicom at package import."""
    if name in ("FixtureError", "ManifestMismatchError"):
        from . import cache

        return getattr(cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
