"""Command-line options of the suite, their environment variables, and their validation.

Every option's flag is the suite's own (none shadows one of pytest's, such as
``--strict``) and can also come from an environment variable (the command line
wins) and the target URLs from the target profile (the environment wins over
the profile).  A bad value stops the run before any test with one line naming
the option (:class:`pytest.UsageError`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

from .profiles import Profile, ProfileError, load_profile

__all__ = ["LEVELS", "OPTIONS", "RunOptions", "add_options", "resolve_options", "options_from_json", "suite_paths"]

#: Requirement levels (PS3.18 uses SHALL, SHOULD and MAY), strongest first.
LEVELS = ("SHALL", "SHOULD", "MAY")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class _Opt:
    flag: str
    dest: str
    env: str
    help: str
    kind: str = "str"   # str | flag | float
    metavar: str | None = None


OPTIONS: tuple[_Opt, ...] = (
    _Opt("--dicomweb-url", "dicomweb_url", "DICOMWEB_URL",
         "DICOMweb root of the target (e.g. http://host:8042/dicom-web/); default: start the embedded mock",
         metavar="URL"),
    _Opt("--wado-uri-url", "wado_uri_url", "DICOMWEB_WADO_URI_URL",
         "WADO-URI endpoint of the target; default: /wado on the origin of --dicomweb-url", metavar="URL"),
    _Opt("--basic-auth", "basic_auth", "DICOMWEB_BASIC_AUTH", "HTTP Basic credentials", metavar="USER:PASSWORD"),
    _Opt("--bearer-token", "bearer_token", "DICOMWEB_BEARER_TOKEN", "send Authorization: Bearer TOKEN",
         metavar="TOKEN"),
    _Opt("--client-cert", "client_cert", "DICOMWEB_CLIENT_CERT", "TLS client certificate (PEM)", metavar="PEM"),
    _Opt("--client-key", "client_key", "DICOMWEB_CLIENT_KEY", "private key of --client-cert (PEM)", metavar="PEM"),
    _Opt("--ca-bundle", "ca_bundle", "DICOMWEB_CA_BUNDLE", "CA certificates to verify the target (PEM)",
         metavar="PEM"),
    _Opt("--insecure", "insecure", "DICOMWEB_INSECURE", "do not verify the target's TLS certificate", "flag"),
    _Opt("--target-profile", "target_profile", "DICOMWEB_TARGET_PROFILE",
         "NAME (conformance/targets/NAME.toml) or FILE; default: mock without a URL, else generic",
         metavar="NAME|FILE"),
    _Opt("--level", "level", "DICOMWEB_LEVEL",
         "lowest requirement level checked: shall (default), should (SHALL and SHOULD) or may (every check)",
         metavar="shall|should|may"),
    _Opt("--fixtures-dir", "fixtures_dir", "DICOMWEB_FIXTURES_DIR",
         "where the generated fixture data set is kept (default: $XDG_CACHE_HOME or ~/.cache, "
         "under dicomweb-conformance/)", metavar="DIR"),
    _Opt("--request-timeout", "request_timeout", "DICOMWEB_TIMEOUT",
         "seconds allowed for each HTTP exchange (default 30); also --timeout unless pytest-timeout owns it",
         "float", metavar="SECONDS"),
    _Opt("--preloaded", "preloaded", "DICOMWEB_PRELOADED",
         "the target already holds the fixtures with their original UIDs: no seeding, no write test", "flag"),
    _Opt("--reports-dir", "reports_dir", "DICOMWEB_REPORTS_DIR",
         "where the matrix, JUnit XML and Allure results go (default: reports/)", metavar="DIR"),
    _Opt("--cleanup", "cleanup", "DICOMWEB_CLEANUP",
         "at the end, delete what the run stored on the target (Orthanc REST DELETE, which the mock offers "
         "too); other servers keep it", "flag"),
    _Opt("--peer", "peer", "DICOMWEB_PEER",
         "servers tests: use the remote the target already knows as NAME, reachable by the suite at URL "
         "(user:password@ in URL: the suite's own credentials for it); default: start the suite's own peer "
         "and register it with PUT {root}servers/{name}", metavar="NAME=URL"),
    _Opt("--stow-max-instances", "stow_max_instances", "DICOMWEB_STOW_MAX_INSTANCES",
         "the target's DicomWeb.StowMaxInstances, checked by the servers STOW tests (0 = no limit; "
         "default: stow_max_instances of the profile)", metavar="N"),
    _Opt("--stow-max-size-mb", "stow_max_size_mb", "DICOMWEB_STOW_MAX_SIZE_MB",
         "the target's DicomWeb.StowMaxSize in MB, checked by the servers STOW tests (0 = no limit; "
         "default: stow_max_size_mb of the profile)", metavar="N"),
)


def add_options(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the options (``--timeout`` only when no other plugin, e.g. pytest-timeout, owns it)."""
    group = parser.getgroup("dicomweb", "DICOMweb conformance suite")
    for opt in OPTIONS:
        flags = [opt.flag]
        if opt.dest == "request_timeout" and not pluginmanager.hasplugin("timeout"):
            flags.append("--timeout")
        if opt.kind == "flag":
            group.addoption(*flags, dest=opt.dest, action="store_true", default=None,
                            help=f"{opt.help} [env {opt.env}]")
        else:
            group.addoption(*flags, dest=opt.dest, default=None, metavar=opt.metavar,
                            help=f"{opt.help} [env {opt.env}]")
    group.addoption("--list-features", action="store_true", default=False, dest="list_features",
                    help="print the features (mandatory and optional, the section that makes each so, what each "
                         "covers, its requirement IDs) and exit; needs no target")
    parser.addini("conformance_paths", "directories whose tests are conformance tests "
                  "(default: the conformance package)", type="paths", default=[])


def suite_paths(config: pytest.Config) -> list[Path]:
    """Directories holding conformance tests: ini ``conformance_paths`` or the package directory."""
    configured = config.getini("conformance_paths")
    if configured:
        return [Path(p).resolve() for p in configured]
    return [Path(__file__).resolve().parent]


@dataclass(frozen=True)
class RunOptions:
    """The validated options of one run."""

    dicomweb_url: str | None          # DICOMweb root ending in "/", or None: start the embedded mock
    wado_uri_url: str | None          # None: derive from the DICOMweb origin
    basic_auth: tuple[str, str] | None
    bearer_token: str | None
    client_cert: str | None
    client_key: str | None
    ca_bundle: str | None
    insecure: bool
    profile: Profile
    level: str                        # SHALL, SHOULD or MAY: the lowest level of requirement checked
    timeout: float
    preloaded: bool
    reports_dir: Path
    peer: tuple[str, str] | None = None   # --peer NAME=URL; None: the suite starts its own peer
    stow_max_instances: int = 10          # the target's DicomWeb.StowMaxInstances (0 = no limit)
    stow_max_size_mb: int = 10            # the target's DicomWeb.StowMaxSize in MB (0 = no limit)
    cleanup: bool = False                 # --cleanup: delete the run's data at the end (controller only)

    def checks_level(self, level: str) -> bool:
        """Whether checks of requirement level ``level`` run (``--level``)."""
        return LEVELS.index(level) <= LEVELS.index(self.level)

    def to_json(self) -> dict[str, Any]:
        """What a pytest-xdist worker needs to rebuild the same options (credentials included)."""
        return {
            "dicomweb_url": self.dicomweb_url, "wado_uri_url": self.wado_uri_url,
            "basic_auth": list(self.basic_auth) if self.basic_auth else None,
            "bearer_token": self.bearer_token, "client_cert": self.client_cert, "client_key": self.client_key,
            "ca_bundle": self.ca_bundle, "insecure": self.insecure, "profile": self.profile.source,
            "level": self.level, "timeout": self.timeout, "preloaded": self.preloaded,
            "reports_dir": str(self.reports_dir), "peer": list(self.peer) if self.peer else None,
            "stow_max_instances": self.stow_max_instances, "stow_max_size_mb": self.stow_max_size_mb,
        }


def _raw(config: pytest.Config, opt: _Opt) -> tuple[Any, str]:
    """(value, where) from the command line, else the environment; (None, flag) if neither."""
    value = config.getoption(opt.dest, default=None)
    if value is not None:
        return value, opt.flag
    env = os.environ.get(opt.env)
    if env is not None:
        return env, f"{opt.flag} (from ${opt.env})"
    return None, opt.flag


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise pytest.UsageError(f"{where}: expected 1/0/true/false, got {value!r}")


def _url(value: str, where: str) -> str:
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise pytest.UsageError(f"{where}: {value!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(f"{where}: {value!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise pytest.UsageError(f"{where}: {value!r} must not have a query or a fragment")
    if any(c.isspace() for c in value.strip()):
        raise pytest.UsageError(f"{where}: {value!r} contains whitespace")
    return value.strip()


def _pem(value: str, where: str, marker: str, allow_dir: bool = False) -> str:
    path = Path(value).expanduser()
    if allow_dir and path.is_dir():
        return str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise pytest.UsageError(f"{where}: cannot read {value!r}: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in text or marker.encode() not in text:
        raise pytest.UsageError(f"{where}: {value!r} is not a PEM file holding a {marker}")
    return str(path)


def _basic(value: str, where: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise pytest.UsageError(f"{where}: expected USER:PASSWORD (a non-empty user, a colon, a password)")
    return user, password


def _token(value: str, where: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise pytest.UsageError(f"{where}: the token must be non-empty and without whitespace")
    return value


def _peer(value: str, where: str) -> tuple[str, str]:
    name, sep, url = str(value).partition("=")
    name = name.strip()
    if not sep or not name or "/" in name or any(c.isspace() for c in name):
        raise pytest.UsageError(f"{where}: expected NAME=URL (a server name without '/' or spaces, '=', a URL)")
    return name, _url(url, where)


def _level(value: Any, where: str) -> str:
    text = str(value).strip().upper()
    if text not in LEVELS:
        raise pytest.UsageError(f"{where}: expected shall, should or may, got {value!r}")
    return text


def _directory(value: Any, where: str) -> str:
    path = Path(str(value)).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"{where}: {value!r} exists and is not a directory")
    return str(path)


def _limit(value: Any, where: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise pytest.UsageError(f"{where}: expected an integer >= 0 (0 = no limit), got {value!r}") from None
    if number < 0:
        raise pytest.UsageError(f"{where}: expected an integer >= 0 (0 = no limit), got {value!r}")
    return number


def _timeout(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{where}: expected a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise pytest.UsageError(f"{where}: expected a positive number of seconds, got {value!r}")
    return seconds


def _get(config: pytest.Config, dest: str, check: Callable[[Any, str], Any] | None = None) -> Any:
    opt = next(o for o in OPTIONS if o.dest == dest)
    value, where = _raw(config, opt)
    if opt.kind == "flag":
        return _flag(value, where)
    if value is None:
        return None
    return check(value, where) if check else value


def resolve_options(config: pytest.Config) -> RunOptions:
    """Read, validate and combine command line, environment and profile; UsageError on a bad value."""
    url = _get(config, "dicomweb_url", _url)
    wado = _get(config, "wado_uri_url", _url)
    name = _get(config, "target_profile")
    try:
        if name is not None:
            profile = load_profile(str(name))
        else:
            profile = load_profile("generic" if url else "mock")
    except ProfileError as exc:
        raise pytest.UsageError(f"--target-profile: {exc}") from None
    if url is None and profile.dicomweb_url:
        url = _url(profile.dicomweb_url, f"dicomweb_url of target profile {profile.source}")
    if wado is None and profile.wado_uri_url:
        wado = _url(profile.wado_uri_url, f"wado_uri_url of target profile {profile.source}")
    if url is not None and not url.endswith("/"):
        url += "/"
    if wado is not None and url is None:
        raise pytest.UsageError("--wado-uri-url: needs --dicomweb-url (the embedded mock serves its own WADO-URI)")

    basic = _get(config, "basic_auth", _basic)
    bearer = _get(config, "bearer_token", _token)
    if basic and bearer:
        raise pytest.UsageError("--bearer-token: cannot be combined with --basic-auth; choose one")
    cert = _get(config, "client_cert", lambda v, w: _pem(v, w, "CERTIFICATE"))
    key = _get(config, "client_key", lambda v, w: _pem(v, w, "PRIVATE KEY"))
    if key and not cert:
        raise pytest.UsageError("--client-key: needs --client-cert")
    ca = _get(config, "ca_bundle", lambda v, w: _pem(v, w, "CERTIFICATE", allow_dir=True))
    insecure = _get(config, "insecure")
    if insecure and ca:
        raise pytest.UsageError("--insecure: contradicts --ca-bundle (verify with the bundle, or do not verify)")
    timeout = _get(config, "request_timeout", _timeout)
    reports = _get(config, "reports_dir") or "reports"
    reports_dir = Path(reports).expanduser().resolve()
    if reports_dir.exists() and not reports_dir.is_dir():
        raise pytest.UsageError(f"--reports-dir: {reports!r} exists and is not a directory")
    fixtures_dir = _get(config, "fixtures_dir", _directory)
    if fixtures_dir is not None:
        os.environ["DICOMWEB_FIXTURES_DIR"] = fixtures_dir  # read by dicomweb_fixtures, here and in workers
    max_instances = _get(config, "stow_max_instances", _limit)
    max_size = _get(config, "stow_max_size_mb", _limit)
    return RunOptions(
        dicomweb_url=url, wado_uri_url=wado, basic_auth=basic, bearer_token=bearer, client_cert=cert,
        client_key=key, ca_bundle=ca, insecure=insecure, profile=profile,
        level=_get(config, "level", _level) or "SHALL",
        timeout=timeout if timeout is not None else 30.0, preloaded=_get(config, "preloaded"),
        reports_dir=reports_dir, peer=_get(config, "peer", _peer),
        stow_max_instances=profile.stow_max_instances if max_instances is None else max_instances,
        stow_max_size_mb=profile.stow_max_size_mb if max_size is None else max_size,
        cleanup=_get(config, "cleanup"),
    )


def options_from_json(data: dict[str, Any]) -> RunOptions:
    """Rebuild the controller's :class:`RunOptions` in a pytest-xdist worker."""
    profile = load_profile(data["profile"]) if data["profile"] != "<built-in generic profile>" \
        else load_profile("generic")
    return RunOptions(
        dicomweb_url=data["dicomweb_url"], wado_uri_url=data["wado_uri_url"],
        basic_auth=tuple(data["basic_auth"]) if data["basic_auth"] else None,  # type: ignore[arg-type]
        bearer_token=data["bearer_token"], client_cert=data["client_cert"], client_key=data["client_key"],
        ca_bundle=data["ca_bundle"], insecure=data["insecure"], profile=profile, level=data["level"],
        timeout=data["timeout"], preloaded=data["preloaded"], reports_dir=Path(data["reports_dir"]),
        peer=tuple(data["peer"]) if data.get("peer") else None,  # type: ignore[arg-type]
        stow_max_instances=data.get("stow_max_instances", 10), stow_max_size_mb=data.get("stow_max_size_mb", 10),
    )
