"""The requirement catalogue (``conformance/requirements.csv``): loading and validation.

Each row is one testable statement of PS3.18 2019a (chapters 8-10, Annexes F
and I), PS3.19 Annex A, PS3.4 Annex C or of the Orthanc DICOMweb plugin
documentation (sections ``seed: ...``).  IDs are stable: a row is never
renumbered; a withdrawn row keeps its ID with a ``not_tested_reason``.

Columns: ``id, section, level, feature, statement, not_tested_reason``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

__all__ = [
    "CATALOGUE_PATH", "LEVELS", "SERVICES", "CatalogueError", "Requirement", "Catalogue",
    "load_catalogue", "strongest_level", "section_url",
]

CATALOGUE_PATH = Path(__file__).resolve().parent / "requirements.csv"
COLUMNS = ("id", "section", "level", "feature", "statement", "not_tested_reason")
LEVELS = ("SHALL", "SHOULD", "MAY")
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}

#: ID prefix -> service (the Allure epic).
SERVICES = {
    "QIDO": "QIDO-RS",
    "WADO": "WADO-RS",
    "URI": "WADO-URI",
    "STOW": "STOW-RS",
    "HTTP": "HTTP",
    "NEG": "HTTP",
    "AUTH": "HTTP",
    "MODEL": "DICOM JSON/XML",
    "SRV": "Servers",
}

_ID = re.compile(r"^([A-Z]+)-(\d{3})$")
_FEATURE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_PART_SECTION = re.compile(r"^PS3\.(\d+)-(\d{4}[a-z]?) ([A-Z]|\d+)((?:\.\d+)*)$")
_BASE_URL = "https://dicom.nema.org/medical/dicom/{edition}/output/html/part{part:02d}.html"


class CatalogueError(ValueError):
    """The catalogue file breaks a rule (duplicate ID, unknown level, empty statement...)."""


@dataclass(frozen=True)
class Requirement:
    """One row of the catalogue."""

    id: str
    section: str
    level: str
    feature: str
    statement: str
    not_tested_reason: str = ""

    @property
    def prefix(self) -> str:
        """``QIDO`` for ``QIDO-001``."""
        return self.id.split("-", 1)[0]

    @property
    def service(self) -> str:
        """The DICOMweb service the row belongs to (QIDO-RS, WADO-RS, WADO-URI, STOW-RS, HTTP...)."""
        return SERVICES.get(self.prefix, "HTTP")

    @property
    def url(self) -> str | None:
        """Link to the section in the DICOM standard's HTML edition, or None for seed sections."""
        return section_url(self.section)


def section_url(section: str) -> str | None:
    """``PS3.18-2019a 10.6.3.3`` -> ``https://dicom.nema.org/.../part18.html#sect_10.6.3.3``.

    A bare chapter (``PS3.18-2019a 8``) links to ``#chapter_8``; an Annex
    (``PS3.18-2019a F``) to ``#chapter_F``.  Sections that do not name a part
    of the standard (``seed: /servers``) have no link.
    """
    match = _PART_SECTION.match(section.strip())
    if not match:
        return None
    part, edition, head, rest = match.groups()
    anchor = f"chapter_{head}" if not rest else f"sect_{head}{rest}"
    return _BASE_URL.format(edition=edition, part=int(part)) + "#" + anchor


def strongest_level(levels: Iterable[str]) -> str:
    """The strongest of the given levels (SHALL > SHOULD > MAY)."""
    ordered = sorted(levels, key=lambda level: _LEVEL_RANK[level])
    if not ordered:
        raise ValueError("no level given")
    return ordered[0]


class Catalogue:
    """The validated rows, in file order, with lookup by ID."""

    def __init__(self, rows: Iterable[Requirement], source: str = "<memory>"):
        self.source = source
        self._rows: dict[str, Requirement] = {}
        for row in rows:
            self._rows[row.id] = row

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, req_id: object) -> bool:
        return req_id in self._rows

    def __getitem__(self, req_id: str) -> Requirement:
        try:
            return self._rows[req_id]
        except KeyError:
            raise KeyError(f"unknown requirement ID {req_id!r} (not in {self.source})") from None

    def get(self, req_id: str) -> Requirement | None:
        return self._rows.get(req_id)

    @property
    def features(self) -> set[str]:
        """Every feature named by at least one row."""
        return {row.feature for row in self._rows.values()}

    def level_of(self, req_ids: Iterable[str]) -> str:
        """Strongest level among the given IDs."""
        return strongest_level(self[r].level for r in req_ids)

    def features_of(self, req_ids: Iterable[str]) -> list[str]:
        """Features of the given IDs, without duplicates, in first-seen order."""
        seen: dict[str, None] = {}
        for r in req_ids:
            seen.setdefault(self[r].feature, None)
        return list(seen)


def _validate(line: int, raw: dict[str, str], seen: dict[str, int], where: str) -> Requirement:
    values = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    req_id = values["id"]
    problem = None
    if not _ID.match(req_id):
        problem = f"id {req_id!r} is not of the form PREFIX-NNN (e.g. QIDO-001)"
    elif req_id in seen:
        problem = f"duplicate id {req_id} (first on line {seen[req_id]})"
    elif values["level"] not in LEVELS:
        problem = f"{req_id}: level {values['level']!r} is not one of {', '.join(LEVELS)}"
    elif not values["section"]:
        problem = f"{req_id}: empty section"
    elif not _FEATURE.match(values["feature"]):
        problem = f"{req_id}: feature {values['feature']!r} is not a lower-case slug (e.g. qido-fuzzy)"
    elif not values["statement"]:
        problem = f"{req_id}: empty statement"
    elif "\n" in values["statement"]:
        problem = f"{req_id}: the statement must be one line"
    if problem:
        raise CatalogueError(f"{where}:{line}: {problem}")
    seen[req_id] = line
    return Requirement(**values)


def load_catalogue(path: Path | str = CATALOGUE_PATH) -> Catalogue:
    """Read and validate the catalogue; raise :class:`CatalogueError` naming the first bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read the requirement catalogue {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        raise CatalogueError(f"{path}:1: header must be {','.join(COLUMNS)}, got {','.join(header)}")
    seen: dict[str, int] = {}
    rows = []
    for raw in reader:
        if None in raw:  # more cells than columns: an unquoted comma
            raise CatalogueError(f"{path}:{reader.line_num}: too many cells (quote statements that hold a comma)")
        rows.append(_validate(reader.line_num, raw, seen, str(path)))
    if not rows:
        raise CatalogueError(f"{path}: the catalogue has no requirement")
    return Catalogue(rows, source=str(path))
