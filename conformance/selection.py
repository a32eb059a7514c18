"""Choosing the member of a profile family that fits the target: ``--target-profile orthanc``.

The members of a family (``orthanc-1.10.toml``, ``orthanc-1.12.toml``) each
declare with ``match`` the build they describe.  Before any test, the
controller asks the target for its versions (``GET {origin}/system`` for
``match.system``, ``GET {origin}/plugins/{name}`` for every other key, each
answering JSON with a ``Version``) and picks:

* the member whose every ``match`` version is a prefix of the reported one
  (``"1.12"`` matches 1.12.7, ``"1.12.7"`` only 1.12.7);
* else the nearest older member (versions compared component by component,
  ``system`` first), flagged in one line: its deviations were checked against
  another build;
* else (the target is older than every member) the oldest, flagged the same way.

The choice is shown in the run header.  A target that does not answer its
versions ends the run with one line before any test.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import requests

from .options import RunOptions
from .profiles import Profile, version_key

__all__ = ["Choice", "choose_member", "probe_versions", "select_profile"]

_CHOICE = pytest.StashKey["Choice"]()


@dataclass(frozen=True)
class Choice:
    """The member chosen for a target, and the line saying so."""

    profile: Profile
    exact: bool
    line: str


def _fits(wanted: str, reported: str) -> bool:
    want, got = version_key(wanted), version_key(reported)
    return bool(want) and got[:len(want)] == want


def _describe(versions: dict[str, str]) -> str:
    return ", ".join(f"{'server' if k == 'system' else k} {v}" for k, v in versions.items())


def choose_member(family: str, members: tuple[Profile, ...], versions: dict[str, str]) -> Choice:
    """The member of ``members`` (oldest first) for a target reporting ``versions`` (component -> version)."""
    about = _describe(versions)
    for member in members:
        if all(_fits(v, versions.get(k, "")) for k, v in member.match):
            return Choice(member, True, f"profile {member.name} chosen for {about} (family {family})")

    def key(profile: Profile) -> list[tuple[int, ...]]:
        return [version_key(v) for _, v in profile.match]

    target_key = [version_key(versions.get(k, "")) for k, _ in members[0].match]
    older = [m for m in members if key(m) <= target_key]
    chosen = older[-1] if older else members[0]
    how = "the nearest older one" if older else "the oldest one (the target is older than every profile)"
    return Choice(chosen, False, f"no profile of family {family} matches {about}: using {chosen.name}, {how}; "
                                 f"UNVERIFIED for this build")


def probe_versions(origin: str, components: list[str], get: Callable[[str], Any]) -> dict[str, str]:
    """``{component: Version}`` read from ``{origin}/system`` and ``{origin}/plugins/{component}``.

    ``get(url)`` returns a response; a missing or non-JSON answer leaves the component out.
    """
    versions: dict[str, str] = {}
    for component in components:
        url = f"{origin}/system" if component == "system" else f"{origin}/plugins/{component}"
        response = get(url)
        if response.status_code != 200:
            continue
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("Version"), str):
            versions[component] = data["Version"]
    return versions


def select_profile(config: pytest.Config, options: RunOptions) -> RunOptions:
    """Replace a family stand-in in ``options`` by the member that fits the target (no-op otherwise)."""
    profile = options.profile
    if not profile.family:
        return options
    if options.dicomweb_url is None:
        raise pytest.UsageError(f"--target-profile {profile.name}: a profile family needs --dicomweb-url "
                                f"(it is chosen by the versions the target reports)")
    from .target import Target, make_session, client_auth

    target = Target(options.dicomweb_url, options.wado_uri_url or "", embedded=False)
    session = make_session(options)
    auth, headers = client_auth(options)
    components = list(dict.fromkeys(k for m in profile.family for k, _ in m.match))

    def get(url: str) -> requests.Response:
        return session.get(url, auth=auth, headers={"Accept": "application/json", **headers},
                           timeout=options.timeout)

    try:
        versions = probe_versions(target.origin, components, get)
    except requests.RequestException as exc:
        raise pytest.UsageError(f"--target-profile {profile.name}: cannot ask {target.origin} for its versions "
                                f"to choose the profile ({_short(exc)})") from None
    if "system" not in versions:
        raise pytest.UsageError(f"--target-profile {profile.name}: {target.origin}/system reports no Version; "
                                f"name the profile file instead ({', '.join(m.name for m in profile.family)})")
    choice = choose_member(profile.name, profile.family, versions)
    config.stash[_CHOICE] = choice
    config.pluginmanager.register(_ChoiceReport(choice), "dicomweb-conformance-profile-choice")
    return dataclasses.replace(options, profile=choice.profile)


def _short(exc: requests.RequestException) -> str:
    """The innermost reason of a requests error (e.g. "[Errno 111] Connection refused")."""
    reason: BaseException = exc
    for _ in range(8):  # requests -> urllib3 -> socket errors, a few levels deep
        inner = getattr(reason, "reason", None)
        inner = inner if isinstance(inner, BaseException) else reason.__context__
        if inner is None:
            break
        reason = inner
    text = str(reason)
    return text.split(": ", 1)[-1] if "Errno" in text else text


class _ChoiceReport:
    """Says in the run header, and again at the end when flagged, which member was chosen."""

    def __init__(self, choice: Choice):
        self.choice = choice

    def pytest_report_header(self) -> list[str]:
        return [f"dicomweb conformance: {self.choice.line}"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.choice.exact:
            terminalreporter.write_line(f"dicomweb conformance: {self.choice.line}", yellow=True)
