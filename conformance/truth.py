"""Ground truth of a run: the fixture manifest with the run's UIDs and Patient IDs.

The suite is an independent oracle: expected results come only from
``fixtures/manifest.json`` (never from what the target answered), with every
UID under the fixture root moved to the run's root and every PatientID given
the run's suffix, exactly as :mod:`conformance.seeding` rewrote the files it
stored.  In ``--preloaded`` mode the original UIDs and IDs are kept.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["RunIds", "Truth"]

_UID_KEYS = ("0020000D", "0020000E", "00080018")  # Study, Series, SOP Instance UID in DICOM JSON
Entry = dict[str, Any]


@dataclass(frozen=True)
class RunIds:
    """How a run renames the fixtures: UID root (same length as the fixture root) and PatientID suffix."""

    fixture_root: str
    uid_root: str
    patient_suffix: str

    @classmethod
    def new(cls, fixture_root: str) -> "RunIds":
        """A fresh random ``2.25.<digits>`` root as long as the fixture root (so every UID stays <= 64).

        About 120 random bits: runs against a persistent server never collide.
        """
        digits = len(fixture_root) - len("2.25.")
        if digits < 30:
            raise ValueError(f"fixture UID root {fixture_root!r} is too short to be replaced safely")
        number = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(digits - 1))
        return cls(fixture_root=fixture_root, uid_root=f"2.25.{number}", patient_suffix=f"-R{number[-8:]}")

    @classmethod
    def preloaded(cls, fixture_root: str) -> "RunIds":
        """Identity mapping: the target already holds the fixtures as generated."""
        return cls(fixture_root=fixture_root, uid_root=fixture_root, patient_suffix="")

    @property
    def rewrites(self) -> bool:
        return self.uid_root != self.fixture_root or bool(self.patient_suffix)

    def uid(self, original: str) -> str:
        """The run's UID for a fixture UID; UIDs outside the fixture root are returned unchanged."""
        if original == self.fixture_root or original.startswith(self.fixture_root + "."):
            return self.uid_root + original[len(self.fixture_root):]
        return original

    def original_uid(self, uid: str) -> str:
        """Inverse of :meth:`uid`."""
        if uid == self.uid_root or uid.startswith(self.uid_root + "."):
            return self.fixture_root + uid[len(self.uid_root):]
        return uid

    def patient_id(self, original: str) -> str:
        return original + self.patient_suffix

    def owns(self, uid: str) -> bool:
        """Whether ``uid`` belongs to this run's data."""
        return uid == self.uid_root or uid.startswith(self.uid_root + ".")

    def to_json(self) -> dict[str, str]:
        return {"fixture_root": self.fixture_root, "uid_root": self.uid_root, "patient_suffix": self.patient_suffix}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> "RunIds":
        return cls(**data)


def _rewrite(value: Any, ids: RunIds, key: str | None = None, top: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, ids, k, top=False) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, ids, key) for v in value]
    if isinstance(value, str):
        if key == "PatientID" and top:
            return ids.patient_id(value)
        return ids.uid(value)
    return value


class Truth:
    """The run's patients, studies, series and instances (manifest entries, rewritten).

    Every accessor returns deep copies, so a test cannot alter what others see.
    Instance entries also get the ``PatientID`` of their study.
    """

    def __init__(self, manifest: dict[str, Any], ids: RunIds, *, preloaded: bool = False):
        self.ids = ids
        self.preloaded = preloaded
        self.manifest_version = manifest.get("version")
        level = {name: [self._entry(e, ids) for e in manifest[name]]
                 for name in ("patients", "studies", "series", "instances")}
        self._patients: list[Entry] = level["patients"]
        self._studies: list[Entry] = level["studies"]
        self._series: list[Entry] = level["series"]
        self._instances: list[Entry] = level["instances"]
        study_patient = {s["StudyInstanceUID"]: s["PatientID"] for s in self._studies}
        for inst in self._instances:
            inst.setdefault("PatientID", study_patient.get(inst["StudyInstanceUID"]))
        self._by_pid = {p["PatientID"]: p for p in self._patients}
        self._by_study = {s["StudyInstanceUID"]: s for s in self._studies}
        self._by_series = {s["SeriesInstanceUID"]: s for s in self._series}
        self._by_sop = {i["SOPInstanceUID"]: i for i in self._instances}

    @staticmethod
    def _entry(entry: Entry, ids: RunIds) -> Entry:
        out = {}
        for key, value in entry.items():
            out[key] = _rewrite(value, ids, key, top=True)
        return out

    # -- identity of the run -------------------------------------------------------------------------
    @property
    def uid_root(self) -> str:
        """Root of every UID of this run's data."""
        return self.ids.uid_root

    @property
    def patient_suffix(self) -> str:
        """Appended to every fixture PatientID in this run ('' with --preloaded)."""
        return self.ids.patient_suffix

    def uid(self, fixture_uid: str) -> str:
        """The run's UID for a UID as written in ``fixtures/manifest.json``."""
        return self.ids.uid(fixture_uid)

    def is_ours(self, uid: str) -> bool:
        """Whether ``uid`` belongs to this run's data (useful against a server holding other data)."""
        return self.ids.owns(uid)

    def owned(self, datasets: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The DICOM JSON datasets whose Study/Series/SOP Instance UID belongs to this run."""
        out = []
        for ds in datasets:
            for tag in _UID_KEYS:
                values = (ds.get(tag) or {}).get("Value") or []
                if any(isinstance(v, str) and self.is_ours(v) for v in values):
                    out.append(ds)
                    break
        return out

    # -- lists ---------------------------------------------------------------------------------------
    @property
    def patients(self) -> list[Entry]:
        return copy.deepcopy(self._patients)

    @property
    def studies(self) -> list[Entry]:
        return copy.deepcopy(self._studies)

    @property
    def series(self) -> list[Entry]:
        return copy.deepcopy(self._series)

    @property
    def instances(self) -> list[Entry]:
        return copy.deepcopy(self._instances)

    # -- lookups -------------------------------------------------------------------------------------
    @staticmethod
    def _one(table: dict[str, Entry], key: str, what: str) -> Entry:
        try:
            return copy.deepcopy(table[key])
        except KeyError:
            raise KeyError(f"no {what} {key!r} in the run's ground truth") from None

    def patient(self, patient_id: str) -> Entry:
        return self._one(self._by_pid, patient_id, "patient")

    def study(self, study_uid: str) -> Entry:
        return self._one(self._by_study, study_uid, "study")

    def series_by_uid(self, series_uid: str) -> Entry:
        return self._one(self._by_series, series_uid, "series")

    def instance(self, sop_instance_uid: str) -> Entry:
        return self._one(self._by_sop, sop_instance_uid, "instance")

    def series_by_key(self, key: str) -> Entry:
        """A series by its manifest ``key`` (e.g. ``"vix-ct-axial"``)."""
        found = [s for s in self._series if s.get("key") == key]
        if not found:
            raise KeyError(f"no series with key {key!r}; keys: {', '.join(s['key'] for s in self._series)}")
        return copy.deepcopy(found[0])

    def instance_by_file(self, name: str) -> Entry:
        """An instance by its fixture file name (e.g. ``"jane-us-cine-001.dcm"``)."""
        found = [i for i in self._instances if i.get("file") == name]
        if not found:
            raise KeyError(f"no instance from file {name!r}")
        return copy.deepcopy(found[0])

    # -- relations -----------------------------------------------------------------------------------
    def studies_of_patient(self, patient_id: str) -> list[Entry]:
        return self.studies_where(lambda s: s["PatientID"] == patient_id)

    def series_in_study(self, study_uid: str) -> list[Entry]:
        return self.series_where(lambda s: s["StudyInstanceUID"] == study_uid)

    def instances_in_study(self, study_uid: str) -> list[Entry]:
        return self.instances_where(lambda i: i["StudyInstanceUID"] == study_uid)

    def instances_in_series(self, series_uid: str) -> list[Entry]:
        return self.instances_where(lambda i: i["SeriesInstanceUID"] == series_uid)

    # -- filters -------------------------------------------------------------------------------------
    def studies_where(self, predicate: Callable[[Entry], bool]) -> list[Entry]:
        return [copy.deepcopy(e) for e in self._studies if predicate(e)]

    def series_where(self, predicate: Callable[[Entry], bool]) -> list[Entry]:
        return [copy.deepcopy(e) for e in self._series if predicate(e)]

    def instances_where(self, predicate: Callable[[Entry], bool]) -> list[Entry]:
        return [copy.deepcopy(e) for e in self._instances if predicate(e)]

    # -- the stored files ----------------------------------------------------------------------------
    def file_path(self, sop_instance_uid: str) -> Path:
        """The original fixture file (generated into the cache if needed): fixture UIDs inside."""
        import dicomweb_fixtures as fixtures
        name = self._by_sop[sop_instance_uid]["file"] if sop_instance_uid in self._by_sop else None
        if name is None:
            raise KeyError(f"no instance {sop_instance_uid!r} in the run's ground truth")
        return fixtures.ensure_dataset() / name

    def file_bytes(self, sop_instance_uid: str) -> bytes:
        """The Part 10 bytes as the suite stored them in this run (UIDs and PatientID rewritten)."""
        from .seeding import rewrite_file

        return rewrite_file(self.file_path(sop_instance_uid), self.ids)
