"""Target profiles: what a DICOMweb server claims, and its known deviations.

A profile is a TOML file (``conformance/targets/NAME.toml`` or any path)::

    name = "orthanc"                      # defaults to the file name
    description = "Orthanc + DICOMweb plugin"
    claims = ["wado-thumbnail"]           # optional features claimed (absent: every optional feature)
    unsupported_features = ["qido-fuzzy"] # optional features not claimed (skipped)
    known_deviations = [
      { id = "QIDO-029", reason = "no Warning header on partial results", tests = "test_qido_paging*" },
    ]
    stow_max_instances = 10               # instances per seeding STOW request (0 = no limit)
    stow_max_size_mb = 10                 # body size per seeding STOW request (0 = no limit)
    auth = "none"                         # none | basic | bearer | client-cert
    dicomweb_url = "http://localhost:8042/dicom-web/"   # optional default target
    wado_uri_url = "http://localhost:8042/wado"          # optional

Every behaviour of PS3.18 is a *feature* of the requirement catalogue
(:mod:`conformance.features`).  Mandatory features are always claimed: one
listed in ``unsupported_features`` is still tested, and fails as a SHALL.  A
test of an optional feature the profile does not claim is skipped with the
reason.  A known deviation names its requirement and the tests it covers (the
``tests`` glob is required) and turns them into strict xfails, so a fixed
deviation fails the run until the profile is updated; a failure of another
requirement in the same test is still a failure.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .features import is_optional, requires
from .requirements import Catalogue

__all__ = ["TARGETS_DIR", "AUTH_MODES", "ProfileError", "Deviation", "Profile", "load_profile",
           "generic_profile", "available_profiles"]

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
AUTH_MODES = ("none", "basic", "bearer", "client-cert")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_KEYS = {"name", "description", "claims", "unsupported_features", "known_deviations", "stow_max_instances",
         "stow_max_size_mb", "auth", "dicomweb_url", "wado_uri_url"}


class ProfileError(ValueError):
    """A profile cannot be found or breaks a rule; the message names the file and the key."""


@dataclass(frozen=True)
class Deviation:
    """A requirement the target is known not to meet, in the tests matching the ``tests`` glob."""

    id: str
    reason: str
    tests: str | None = None

    def applies_to(self, name: str, nodeid: str) -> bool:
        """True if ``tests`` matches the test's name or node ID."""
        if not self.tests:
            return False
        return fnmatch.fnmatchcase(name, self.tests) or fnmatch.fnmatchcase(nodeid, self.tests)


@dataclass(frozen=True)
class Profile:
    """A parsed profile.  ``claims``: the optional features claimed; None means every optional feature
    not in ``unsupported_features``.  Mandatory features are always claimed."""

    name: str
    source: str
    description: str = ""
    claims: frozenset[str] | None = None
    unsupported_features: frozenset[str] = frozenset()
    known_deviations: tuple[Deviation, ...] = ()
    stow_max_instances: int = 10
    stow_max_size_mb: int = 10
    auth: str = "none"
    dicomweb_url: str | None = None
    wado_uri_url: str | None = None

    def claims_feature(self, feature: str) -> bool:
        """Whether tests of ``feature`` should run against this target (always, for a mandatory feature)."""
        if not is_optional(feature):
            return True
        parent = requires(feature)
        if parent is not None and not self.claims_feature(parent):
            return False
        if feature in self.unsupported_features:
            return False
        return self.claims is None or feature in self.claims

    @property
    def disclaimed_mandatory(self) -> list[str]:
        """Mandatory features the profile lists as unsupported (tested anyway: a SHALL cannot be disclaimed)."""
        return sorted(f for f in self.unsupported_features if not is_optional(f))

    def deviations_for(self, req_ids: list[str], name: str, nodeid: str) -> list[Deviation]:
        """The known deviations that apply to a test citing ``req_ids``."""
        return [d for d in self.known_deviations if d.id in req_ids and d.applies_to(name, nodeid)]

    def check_against(self, catalogue: Catalogue) -> None:
        """Reject features and requirement IDs that the catalogue does not know (typos)."""
        known = catalogue.features
        for key, features in (("claims", self.claims or ()), ("unsupported_features", self.unsupported_features)):
            unknown = sorted(set(features) - known)
            if unknown:
                raise ProfileError(f"{self.source}: {key} names unknown feature(s) {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(known))}")
        for dev in self.known_deviations:
            if dev.id not in catalogue:
                raise ProfileError(f"{self.source}: known_deviations names unknown requirement {dev.id}")


def generic_profile() -> Profile:
    """What PS3.18-2019a makes mandatory for an origin server, no known deviation: the profile used
    when a URL is given without a profile (optional features are not claimed)."""
    return Profile(name="generic", source="<built-in generic profile>", claims=frozenset(),
                   description="the features PS3.18-2019a makes mandatory for an origin server, no known deviation")


def available_profiles() -> list[str]:
    """Names of the profiles shipped in ``conformance/targets``."""
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def _strings(value: Any, key: str, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProfileError(f"{where}: {key} must be a list of non-empty strings")
    return frozenset(value)


def _count(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProfileError(f"{where}: {key} must be an integer >= 0, got {value!r}")
    return value


def _deviations(value: Any, where: str) -> tuple[Deviation, ...]:
    if not isinstance(value, list):
        raise ProfileError(f"{where}: known_deviations must be a list of tables {{id, reason, tests}}")
    out = []
    for index, item in enumerate(value):
        at = f"{where}: known_deviations[{index}]"
        if not isinstance(item, dict):
            raise ProfileError(f"{at} must be a table {{id = ..., reason = ...}}")
        extra = set(item) - {"id", "reason", "tests"}
        if extra:
            raise ProfileError(f"{at} has unknown key(s) {', '.join(sorted(extra))}")
        req_id, reason, tests = item.get("id"), item.get("reason"), item.get("tests")
        if not isinstance(req_id, str) or not req_id:
            raise ProfileError(f"{at}.id must be a requirement ID such as QIDO-012")
        if not isinstance(reason, str) or not reason.strip():
            raise ProfileError(f"{at}.reason must say why the target deviates")
        if not isinstance(tests, str) or not tests:
            raise ProfileError(f"{at}.tests must be a glob of the test names the deviation covers "
                               f"(a deviation without tests would hide every check of the tests citing {req_id})")
        out.append(Deviation(id=req_id, reason=reason.strip(), tests=tests))
    return tuple(out)


def parse_profile(data: dict[str, Any], *, name: str, source: str) -> Profile:
    """Validate the TOML table of a profile."""
    unknown = set(data) - _KEYS
    if unknown:
        raise ProfileError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}")
    auth = data.get("auth", "none")
    if auth not in AUTH_MODES:
        raise ProfileError(f"{source}: auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    for key in ("name", "description", "dicomweb_url", "wado_uri_url"):
        if key in data and not isinstance(data[key], str):
            raise ProfileError(f"{source}: {key} must be a string")
    return Profile(
        name=data.get("name", name),
        source=source,
        description=data.get("description", ""),
        claims=_strings(data["claims"], "claims", source) if "claims" in data else None,
        unsupported_features=_strings(data.get("unsupported_features", []), "unsupported_features", source),
        known_deviations=_deviations(data.get("known_deviations", []), source),
        stow_max_instances=_count(data.get("stow_max_instances", 10), "stow_max_instances", source),
        stow_max_size_mb=_count(data.get("stow_max_size_mb", 10), "stow_max_size_mb", source),
        auth=auth,
        dicomweb_url=data.get("dicomweb_url") or None,
        wado_uri_url=data.get("wado_uri_url") or None,
    )


def load_profile(name_or_file: str) -> Profile:
    """``generic``, a NAME of ``conformance/targets/NAME.toml``, or a path to a TOML file."""
    if name_or_file == "generic":
        return generic_profile()
    looks_like_name = _NAME.match(name_or_file) and not name_or_file.endswith(".toml")
    path = TARGETS_DIR / f"{name_or_file}.toml" if looks_like_name else Path(name_or_file)
    if not path.is_file():
        shipped = ", ".join(["generic", *available_profiles()])
        raise ProfileError(f"no target profile {name_or_file!r} (not a file, not one of: {shipped})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read target profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"target profile {path} is not valid TOML: {exc}") from None
    return parse_profile(data, name=path.stem, source=str(path))
