"""QIDO-RS search over the SQLite index (PS3.18 10.6.2, PS3.4 C.2.2.2).

UID keys are pushed down to SQL (indexed columns); every other key is
matched on the stored DICOM JSON of the candidate rows with the pure
matching functions, so no file is ever opened.  Computed attributes
(ModalitiesInStudy, Number of Study/Series Related ...) come from
correlated sub-queries on indexed columns.
"""

from __future__ import annotations

from typing import Any, Iterable

from .base import SearchResult, SearchScope
from .search_common import computed_series, computed_study, match_page, merged_row, uid_values
from .search_keys import pushdown
from .sqlite_index import SqliteIndex

__all__ = ["search"]

_STUDY_UID, _SERIES_UID, _SOP_UID = 0x0020000D, 0x0020000E, 0x00080018
_SQL_INT_MAX = 2 ** 63 - 1
_UID_COLUMNS = {
    "study": {_STUDY_UID: "st.uid"},
    "series": {_STUDY_UID: "st.uid", _SERIES_UID: "se.uid"},
    "instance": {_STUDY_UID: "st.uid", _SERIES_UID: "se.uid", _SOP_UID: "i.uid"},
}
_MODALITIES_SQL = "(SELECT group_concat(DISTINCT m.modality) FROM series m WHERE m.study_uid = st.uid)"
_N_STUDY_SERIES_SQL = "(SELECT COUNT(*) FROM series c WHERE c.study_uid = st.uid)"
_N_STUDY_INSTANCES_SQL = "(SELECT COUNT(*) FROM instances c WHERE c.study_uid = st.uid)"
# Further Additional Query/Retrieve Attributes of the study level (PS3.4 C.3.4 / C.6.1.1.5):
# SOP Classes in Study, Number of Patient Related Studies / Series / Instances.
_EXTRA_STUDY_SQL = (
    "(SELECT group_concat(DISTINCT c.sop_class_uid) FROM instances c WHERE c.study_uid = st.uid), "
    "(SELECT COUNT(*) FROM studies c WHERE c.patient_id = st.patient_id), "
    "(SELECT COUNT(*) FROM series c JOIN studies d ON d.uid = c.study_uid WHERE d.patient_id = st.patient_id), "
    "(SELECT COUNT(*) FROM instances c WHERE c.patient_id = st.patient_id)"
)


class _Computed:
    """Computed attributes per study and per series, each looked up once per search."""

    def __init__(self, index: SqliteIndex):
        self._index = index
        self._studies: dict[str, dict[str, Any]] = {}
        self._series: dict[str, int] = {}

    def study(self, uid: str) -> dict[str, Any]:
        if uid not in self._studies:
            row = next(iter(self._index.query(
                f"SELECT {_MODALITIES_SQL}, {_N_STUDY_SERIES_SQL}, {_N_STUDY_INSTANCES_SQL}, {_EXTRA_STUDY_SQL} "
                "FROM studies st WHERE st.uid = ?", [uid])))
            self._studies[uid] = computed_study((row[0] or "").split(","), row[1], row[2],
                                                (row[3] or "").split(","), row[4], row[5], row[6])
        return self._studies[uid]

    def series(self, uid: str) -> dict[str, Any]:
        if uid not in self._series:
            self._series[uid] = next(iter(self._index.query(
                "SELECT COUNT(*) FROM instances WHERE series_uid = ?", [uid])))[0]
        return computed_series(self._series[uid])


def _with_computed(merged: dict[str, Any], row: tuple[Any, ...], computed: _Computed) -> dict[str, Any]:
    """Add the computed study (and series) attributes of ``row`` to its merged JSON."""
    merged.update(computed.study(row[0]))
    if row[1] is not None:
        merged.update(computed.series(row[1]))
    return merged


def search(index: SqliteIndex, scope: SearchScope, filters: Iterable[Any], *, limit: int | None, offset: int,
           case_sensitive_pn: bool = False, fuzzy: bool = False) -> SearchResult:
    """Run a QIDO-RS search; returns merged DICOM JSON of every matching row.

    The objects hold the attributes of the searched level and of its parent
    levels (study attributes with patient ones); the caller projects them on
    the attributes to return (PS3.18 10.6.3.3).  UID keys, Patient's Name
    prefixes and Study Date ranges narrow the candidates in SQL through
    indexes (:mod:`.search_keys`); the matcher then decides on each candidate,
    and computed attributes are looked up only for the rows returned (or
    for the candidates, when a key matches on one of them).
    """
    filters = list(filters)
    clauses: list[str] = []
    params: list[Any] = []
    py_filters = []
    # UID keys of the tables this level's query joins go to SQL.
    columns = _UID_COLUMNS[scope.level]
    for filt in filters:
        uids = uid_values(filt)
        column = columns.get(filt.path[0]) if uids is not None else None
        if column is not None and uids is not None:
            clauses.append(f"{column} IN ({','.join('?' * len(uids))})")
            params.extend(uids)
            continue
        narrowing = pushdown(filt, fuzzy=fuzzy)
        if narrowing is not None:
            clauses.append(narrowing[0])
            params.extend(narrowing[1])
        py_filters.append(filt)
    if scope.study_uid is not None:
        clauses.append("st.uid = ?")
        params.append(scope.study_uid)
    if scope.series_uid is not None:
        clauses.append("se.uid = ?")
        params.append(scope.series_uid)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    if scope.level == "study":
        select, body, order = "st.uid, NULL, st.json, NULL, NULL", f"studies st {where}", "st.rowid"
    elif scope.level == "series":
        select = "st.uid, se.uid, st.json, se.json, NULL"
        body = f"series se JOIN studies st ON st.uid = se.study_uid {where}"
        order = "st.rowid, se.rowid"
    else:
        select = "st.uid, se.uid, st.json, se.json, i.json"
        body = ("instances i JOIN series se ON se.uid = i.series_uid JOIN studies st ON st.uid = i.study_uid "
                f"{where}")
        order = "st.rowid, se.rowid, i.instance_number, i.uid"
    sql = f"SELECT {select} FROM {body} ORDER BY {order}"
    computed = _Computed(index)
    result = SearchResult()
    if not py_filters:  # SQL decides alone: page in SQL, count the rest without reading rows
        # SQLite takes 64-bit LIMIT and OFFSET values; a larger offset skips every row as surely.
        page = index.query(f"{sql} LIMIT ? OFFSET ?",
                           params + [-1 if limit is None else min(limit, _SQL_INT_MAX), min(offset, _SQL_INT_MAX)])
        result.matches = [_with_computed(merged_row(row), row, computed) for row in page]
        if limit is not None:
            total = next(iter(index.query(f"SELECT COUNT(*) FROM {body}", params)))[0]
            result.remaining = max(0, total - offset - len(result.matches))
        return result
    return match_page(index.query(sql, params), py_filters, merged=merged_row,
                      with_computed=lambda candidate, row: _with_computed(candidate, row, computed),
                      limit=limit, offset=offset, case_sensitive_pn=case_sensitive_pn, fuzzy=fuzzy)
