"""The store-independent half of a QIDO-RS search (PS3.18 10.6.2, PS3.4 C.2.2.2).

A store lists candidate rows in its order (study, then series, then instance
by Instance Number); the functions here decide on each candidate with the
pure matcher of :mod:`mock_server.dicomweb.matching`, apply ``offset`` and
``limit`` and count the matches left out (PS3.18 8.3.4.4.1), so every store
answers a search alike.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Sequence, TypeVar

from ..dicomweb.matching import dataset_matches
from .base import SearchResult

__all__ = ["COMPUTED_TAGS", "computed_study", "computed_series", "match_page", "merged_row", "uid_values"]

Row = TypeVar("Row")

#: Attributes a store computes from its hierarchy (PS3.4 C.3.4, C.6.1.1.5, C.6.1.1.6).
COMPUTED_TAGS = frozenset({0x00080061, 0x00080062, 0x00201200, 0x00201202, 0x00201204, 0x00201206,
                           0x00201208, 0x00201209})


def uid_values(filt: Any) -> list[str] | None:
    """UIDs of a single-value or UID-list filter on a top-level key, else None."""
    if len(filt.path) != 1 or filt.kind not in ("single", "uid_list"):
        return None
    raw = filt.raw.replace("\\", ",")
    return [v.strip() for v in raw.split(",") if v.strip()]


def computed_study(modalities: Iterable[str], n_series: int, n_instances: int,
                   sop_classes: Iterable[str] = (), n_patient_studies: int = 0, n_patient_series: int = 0,
                   n_patient_instances: int = 0) -> dict[str, Any]:
    """The computed study attributes as DICOM JSON: Modalities in Study, SOP Classes in Study,
    Number of Patient Related Studies / Series / Instances, Number of Study Related Series /
    Instances."""
    mods = sorted({m for m in modalities if m})
    classes = sorted({c for c in sop_classes if c})
    return {
        "00080061": {"vr": "CS", "Value": mods} if mods else {"vr": "CS"},
        "00080062": {"vr": "UI", "Value": classes} if classes else {"vr": "UI"},
        "00201200": {"vr": "IS", "Value": [n_patient_studies]},
        "00201202": {"vr": "IS", "Value": [n_patient_series]},
        "00201204": {"vr": "IS", "Value": [n_patient_instances]},
        "00201206": {"vr": "IS", "Value": [n_series]},
        "00201208": {"vr": "IS", "Value": [n_instances]},
    }


def computed_series(n_instances: int) -> dict[str, Any]:
    """Number of Series Related Instances as DICOM JSON."""
    return {"00201209": {"vr": "IS", "Value": [n_instances]}}


def merged_row(row: Sequence[Any]) -> dict[str, Any]:
    """The DICOM JSON of a candidate row ``(study UID, series UID or None, study JSON text,
    series JSON text or None, instance JSON text or None)`` without computed attributes."""
    merged: dict[str, Any] = json.loads(row[2])
    for text in row[3:5]:
        if text is not None:
            merged.update(json.loads(text))
    return merged


def match_page(rows: Iterable[Row], filters: Sequence[Any], *, merged: Callable[[Row], dict[str, Any]],
               with_computed: Callable[[dict[str, Any], Row], dict[str, Any]], limit: int | None, offset: int,
               case_sensitive_pn: bool, fuzzy: bool) -> SearchResult:
    """The matches of ``filters`` among ``rows``, paged.

    ``merged`` gives a row's stored DICOM JSON (its level and the levels above),
    ``with_computed`` adds the computed attributes to it; they are looked up
    before matching only when a filter is on one of them, else only for the
    rows returned.
    """
    matches_computed = any(f.path[0] in COMPUTED_TAGS for f in filters)
    result = SearchResult()
    skipped = 0
    for row in rows:
        candidate = merged(row)
        if matches_computed:
            with_computed(candidate, row)
        if not dataset_matches(filters, candidate, case_sensitive_pn=case_sensitive_pn, fuzzy=fuzzy):
            continue
        if skipped < offset:
            skipped += 1
            continue
        if limit is not None and len(result.matches) >= limit:
            result.remaining += 1  # counted for the Warning header (PS3.18 8.3.4.4.1)
            continue
        result.matches.append(candidate if matches_computed else with_computed(candidate, row))
    return result
