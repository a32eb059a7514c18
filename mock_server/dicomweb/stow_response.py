"""The outcome of a STOW-RS request: the Store Instances Response Module (PS3.18 Annex I) and
its status (PS3.18 10.5.3, table 10.5.3-1).

* 200 when every instance was stored;
* 202 when some were stored and others failed;
* 409 when none was stored because of conflicts (a study-UID mismatch with the target
  study, a SOP Instance UID already stored in another series);
* 400 when none was stored because the parts were not valid DICOM.

The module has a Failure Reason code but no text, so the reason each part was refused is
kept in :attr:`StowOutcome.reasons` (the handler sends them as ``Warning: 299`` headers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .dicom_xml import json_to_xml

__all__ = ["StowOutcome", "encode_module"]

_RETRIEVE_URL, _FAILED, _REFERENCED, _OTHER_FAILURES = "00081190", "00081198", "00081199", "0008119A"
_SOP_CLASS, _SOP_INSTANCE, _FAILURE_REASON = "00081150", "00081155", "00081197"
#: PS3.18 table I.2-1 "Cannot understand": a part that is no DICOM instance.
CANNOT_UNDERSTAND = 0xC000


def _us(value: int) -> dict[str, Any]:
    return {"vr": "US", "Value": [value]}


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _ur(value: str | None) -> dict[str, Any]:
    return {"vr": "UR", "Value": [value]} if value else {"vr": "UR"}


@dataclass
class StowOutcome:
    """What one STOW-RS request stored, refused and ignored, in the order of its parts."""

    referenced: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    other_failures: list[dict[str, Any]] = field(default_factory=list)
    #: Why each part was refused or ignored, one line each.
    reasons: list[str] = field(default_factory=list)
    conflicts: int = 0
    #: RetrieveURL of the study of each stored instance.
    study_urls: list[str] = field(default_factory=list)

    def stored(self, sop_class: str, sop_instance: str, instance_url: str, study_url: str) -> None:
        self.referenced.append({_SOP_CLASS: _ui(sop_class), _SOP_INSTANCE: _ui(sop_instance),
                                _RETRIEVE_URL: _ur(instance_url)})
        self.study_urls.append(study_url)

    def refused(self, sop_class: str, sop_instance: str, failure_code: int, reason: str, *,
                conflict: bool) -> None:
        self.conflicts += conflict
        self.reasons.append(f"instance {sop_instance or '(unreadable SOP Instance UID)'} refused "
                            f"(0x{failure_code:04X}): {reason}")
        self.failed.append({_SOP_CLASS: _ui(sop_class), _SOP_INSTANCE: _ui(sop_instance),
                            _FAILURE_REASON: _us(failure_code)})

    def other_failure(self, reason: str) -> None:
        """A part that holds no instance (another media type, a body broken after it)."""
        self.other_failures.append({_FAILURE_REASON: _us(CANNOT_UNDERSTAND)})
        self.reasons.append(reason)

    @property
    def empty(self) -> bool:
        return not (self.referenced or self.failed or self.other_failures)

    def status(self) -> int:
        if self.referenced:
            return 202 if self.failed or self.other_failures else 200
        if self.conflicts and self.conflicts == len(self.failed) and not self.other_failures:
            return 409
        return 400

    def module(self, target_study_url: str | None) -> dict[str, Any]:
        """The Store Instances Response Module; its RetrieveURL is the target study's
        (``target_study_url``), else the one study every stored instance belongs to."""
        studies = set(self.study_urls)
        module: dict[str, Any] = {
            _RETRIEVE_URL: _ur(target_study_url or (studies.pop() if len(studies) == 1 else None))}
        for tag, items in ((_FAILED, self.failed), (_REFERENCED, self.referenced),
                           (_OTHER_FAILURES, self.other_failures)):
            if items:
                module[tag] = {"vr": "SQ", "Value": items}
        return module


def encode_module(module: dict[str, Any], media_type: str) -> bytes:
    """The module as DICOM JSON (``application/dicom+json``) or DICOM XML (PS3.19)."""
    if media_type == "application/dicom+json":
        return json.dumps(module, ensure_ascii=False).encode("utf-8")
    return json_to_xml(module)
