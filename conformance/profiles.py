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
    extends = "orthanc-common"            # optional: start from that profile (see below)
    match = { system = "1.12.7", dicom-web = "1.20" }    # optional: the build this profile describes

``extends`` names a profile (or a file relative to this one) whose settings
are inherited: the child's unsupported features and known deviations are
added to the parent's, its other keys replace the parent's.  Profiles that
have ``match`` form a *family* named by the part of their file name before
the last ``-`` (``orthanc-1.10.toml``, ``orthanc-1.12.toml``: family
``orthanc``): ``--target-profile orthanc`` picks the member matching the
versions the target reports (``GET {origin}/system`` Version, and
``GET {origin}/plugins/{plugin}`` Version for every other key of ``match``),
see :mod:`conformance.selection`.

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

import dataclasses
import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from .features import is_optional, requires
from .requirements import Catalogue

__all__ = ["TARGETS_DIR", "AUTH_MODES", "ProfileError", "Deviation", "Profile", "load_profile",
           "generic_profile", "available_profiles", "family_members"]

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
AUTH_MODES = ("none", "basic", "bearer", "client-cert")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_KEYS = {"name", "description", "claims", "unsupported_features", "known_deviations", "stow_max_instances",
         "stow_max_size_mb", "auth", "dicomweb_url", "wado_uri_url", "extends", "match"}
_VERSION = re.compile(r"^\d+(\.\d+)*$")


class ProfileError(ValueError):
    """A profile cannot be found or breaks a rule; the message names the file and the key."""


@dataclass(frozen=True)
class Deviation:
    """A requirement the target is known not to meet, in the tests matching the ``tests`` glob."""

    id: str
    reason: str
    tests: str | None = None
    source: str = field(default="", compare=False)   # the file that declares it (profiles may extend others)

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
    match: tuple[tuple[str, str], ...] = ()   # (component, version): "system" or a plugin name
    family: tuple["Profile", ...] = ()         # set on a family's stand-in: its members, oldest first

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
    """Names of the profiles shipped in ``conformance/targets``, and of their families."""
    stems = {p.stem for p in TARGETS_DIR.glob("*.toml")}
    families = {stem.rsplit("-", 1)[0] for stem in stems if "-" in stem}
    return sorted(stems | {f for f in families if f not in stems and family_members(f)})


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
        out.append(Deviation(id=req_id, reason=reason.strip(), tests=tests, source=where))
    return tuple(out)


def _match(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or "system" not in value:
        raise ProfileError(f"{where}: match must be a table such as {{ system = \"1.12.7\", dicom-web = \"1.20\" }}")
    for key, version in value.items():
        if not isinstance(version, str) or not _VERSION.match(version):
            raise ProfileError(f"{where}: match.{key} must be a version such as \"1.12\" or \"1.12.7\"")
    return tuple(sorted(value.items(), key=lambda kv: (kv[0] != "system", kv[0])))


def parse_profile(data: dict[str, Any], *, name: str, source: str, parent: Profile | None = None) -> Profile:
    """Validate the TOML table of a profile (``parent``: the profile it extends, already loaded)."""
    unknown = set(data) - _KEYS
    if unknown:
        raise ProfileError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}")
    auth = data.get("auth", "none")
    if "extends" in data and not isinstance(data["extends"], str):
        raise ProfileError(f"{source}: extends must name a profile or a file")
    if auth not in AUTH_MODES:
        raise ProfileError(f"{source}: auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    for key in ("name", "description", "dicomweb_url", "wado_uri_url"):
        if key in data and not isinstance(data[key], str):
            raise ProfileError(f"{source}: {key} must be a string")
    base = parent or Profile(name=name, source=source)
    return Profile(
        name=data.get("name", name),
        source=source,
        description=data.get("description", base.description),
        claims=_strings(data["claims"], "claims", source) if "claims" in data else base.claims,
        unsupported_features=base.unsupported_features
        | _strings(data.get("unsupported_features", []), "unsupported_features", source),
        known_deviations=base.known_deviations + _deviations(data.get("known_deviations", []), source),
        stow_max_instances=_count(data.get("stow_max_instances", base.stow_max_instances), "stow_max_instances",
                                  source),
        stow_max_size_mb=_count(data.get("stow_max_size_mb", base.stow_max_size_mb), "stow_max_size_mb", source),
        auth=auth if "auth" in data else base.auth,
        dicomweb_url=data.get("dicomweb_url") or base.dicomweb_url,
        wado_uri_url=data.get("wado_uri_url") or base.wado_uri_url,
        match=_match(data["match"], source) if "match" in data else (),
    )


def _path_of(name_or_file: str, relative_to: Path | None = None) -> Path:
    looks_like_name = _NAME.match(name_or_file) and not name_or_file.endswith(".toml")
    if looks_like_name:
        return TARGETS_DIR / f"{name_or_file}.toml"
    path = Path(name_or_file)
    if relative_to is not None and not path.is_absolute():
        path = relative_to.parent / path
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read target profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"target profile {path} is not valid TOML: {exc}") from None


def _load_file(path: Path, chain: tuple[Path, ...] = ()) -> Profile:
    if path.resolve() in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path.resolve()))
        raise ProfileError(f"target profile {path}: extends forms a cycle ({cycle})")
    data = _read(path)
    parent = None
    if isinstance(data.get("extends"), str):
        parent_path = _path_of(data["extends"], relative_to=path)
        if not parent_path.is_file():
            raise ProfileError(f"{path}: extends {data['extends']!r}, which is not a profile or a file")
        parent = _load_file(parent_path, (*chain, path.resolve()))
    return parse_profile(data, name=path.stem, source=str(path), parent=parent)


def family_members(family: str) -> list[Profile]:
    """The shipped profiles ``FAMILY-*.toml`` that have ``match``, oldest build first."""
    members = []
    for path in sorted(TARGETS_DIR.glob(f"{family}-*.toml")):
        profile = _load_file(path)
        if profile.match:
            members.append(profile)
    return sorted(members, key=lambda p: [version_key(v) for _, v in p.match])


def version_key(version: str) -> tuple[int, ...]:
    """``"1.12.7"`` -> ``(1, 12, 7)`` (non-numeric parts end the key)."""
    key = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        key.append(int(digits.group()))
    return tuple(key)


def load_profile(name_or_file: str) -> Profile:
    """``generic``, a NAME of ``conformance/targets/NAME.toml``, a family name, or a path to a TOML file.

    A family name returns a stand-in: the newest member's settings, with ``family`` set; the member
    that fits the target is chosen once the target's versions are known (:mod:`conformance.selection`).
    """
    if name_or_file == "generic":
        return generic_profile()
    path = _path_of(name_or_file)
    if not path.is_file():
        members = family_members(name_or_file) if _NAME.match(name_or_file) else []
        if members:
            newest = members[-1]
            return dataclasses.replace(newest, name=name_or_file, family=tuple(members),
                                       description=f"family {name_or_file}: "
                                                   + ", ".join(m.name for m in members))
        shipped = ", ".join(["generic", *available_profiles()])
        raise ProfileError(f"no target profile {name_or_file!r} (not a file, not one of: {shipped})")
    return _load_file(path)
