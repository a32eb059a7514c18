"""Orthanc-style JSON configuration: load, strip ``//`` comments, validate.

The keys are those of Orthanc's configuration file and of the ``DicomWeb``
section documented by the Orthanc DICOMweb plugin.  Wrong types are reported
at start-up as :class:`ConfigError` naming the offending key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = ["ConfigError", "Settings", "DicomWebSettings", "cors_origin", "load_config", "parse_config",
           "strip_json_comments"]


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the key."""


def strip_json_comments(text: str) -> str:
    """Remove ``//`` line comments and ``/* */`` block comments outside strings."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ConfigError("unterminated /* comment in configuration")
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass
class RemoteServer:
    """One entry of ``DicomWeb.Servers`` (seed: "Client-related options")."""

    name: str
    url: str
    username: str | None = None
    password: str | None = None
    certificate_file: str | None = None
    certificate_key_file: str | None = None
    certificate_key_password: str | None = None
    http_headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    pkcs11: bool = False

    def public(self) -> dict[str, Any]:
        """Description safe to show to clients: never includes a password."""
        info: dict[str, Any] = {"Url": self.url}
        if self.username is not None:
            info["Username"] = self.username
        if self.certificate_file:
            info["CertificateFile"] = self.certificate_file
        if self.http_headers:
            info["HttpHeaders"] = sorted(self.http_headers)
        if self.timeout is not None:
            info["Timeout"] = self.timeout
        info["Pkcs11"] = self.pkcs11
        return info


@dataclass
class DicomWebSettings:
    """The ``DicomWeb`` section of the configuration."""

    enable: bool = True
    root: str = "/dicom-web/"
    enable_wado: bool = True
    wado_root: str = "/wado"
    host: str | None = None
    ssl: bool = False
    stow_max_instances: int = 10
    stow_max_size: int = 10
    qido_case_sensitive: bool = False
    #: Strict mode (``DicomWeb.Strict``, ``--strict``): answer exactly as PS3.18 2019a says instead of
    #: forgiving what real clients send when the intent is clear (see mock_server/leniency.py).
    strict: bool = False
    #: PS3.18 8.7.7: a request without Accept that may have a payload gets 406. None: as the mode says
    #: (406 in strict mode; in the default mode the default media type, with a Warning).
    require_accept: bool | None = None
    servers: dict[str, RemoteServer] = field(default_factory=dict)


@dataclass
class Settings:
    """Typed view of an Orthanc-style configuration file."""

    name: str = "DICOMweb mock"
    http_port: int = 8042
    remote_access_allowed: bool = True
    authentication_enabled: bool = False
    registered_users: dict[str, str] = field(default_factory=dict)
    http_proxy: str | None = None
    http_timeout: float = 60.0
    https_verify_peers: bool = True
    https_ca_certificates: str | None = None
    ssl_enabled: bool = False
    ssl_certificate: str | None = None
    ssl_verify_peers: bool = False
    ssl_trusted_client_certificates: str | None = None
    max_body_size: int = 4 * 1024**3
    max_results: int = 0
    faults: list[str] = field(default_factory=list)
    record_requests: bool = False
    #: Refuse (STOW-RS failure 0xC000) an instance whose Pixel Data cannot be decoded
    #: (``CheckPixelData``); by default it is stored and served as stored.
    check_pixel_data: bool = False
    #: Origins whose pages may call the mock from a browser (``CorsAllowedOrigins``, ``--cors-origin``);
    #: "*" is any origin (the default: a development server); an empty list turns CORS off.
    cors_allowed_origins: list[str] = field(default_factory=lambda: ["*"])
    #: Worker processes serving the store (``--workers``); >1 means state shared only through the store.
    workers: int = 1
    dicomweb: DicomWebSettings = field(default_factory=DicomWebSettings)
    source: str = "<defaults>"


def _expect(value: Any, types: type | tuple[type, ...], key: str) -> Any:
    if isinstance(value, bool) and types in (int, float, (int, float)):
        raise ConfigError(f"configuration key {key!r} must be a number, not a boolean")
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ConfigError(f"configuration key {key!r} must be of type {names}, got {type(value).__name__}")
    return value


def _non_negative_int(value: Any, key: str) -> int:
    _expect(value, int, key)
    if value < 0:
        raise ConfigError(f"configuration key {key!r} must be >= 0, got {value}")
    return int(value)


def _path_root(value: Any, key: str, *, trailing_slash: bool) -> str:
    _expect(value, str, key)
    if not value.startswith("/"):
        raise ConfigError(f"configuration key {key!r} must start with '/', got {value!r}")
    root = value if not trailing_slash or value.endswith("/") else value + "/"
    if not trailing_slash:
        root = root.rstrip("/") or "/"
    return root


_URL_RE = re.compile(r"^https?://[^/\s]+(/\S*)?$", re.IGNORECASE)


_HEADER_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 7230 3.2.6 token
_HEADER_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers that frame the message or the connection (RFC 7230 3.3, 6.1): set by the client
#: itself; a caller's value would desynchronise the body or the connection.
_RESERVED_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
                     "trailer", "proxy-connection"}


def http_header_problem(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be sent as an extra header (``HttpHeaders``), or None."""
    if not _HEADER_TOKEN_RE.match(name):
        return f"invalid header name {name[:60]!r}"
    if _HEADER_BAD_VALUE_RE.search(value):
        return f"header {name!r} has a control character (CR, LF...) in its value"
    if name.lower() in _RESERVED_HEADERS:
        return f"header {name!r} is set by the HTTP client itself"
    return None


_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$",
                        re.IGNORECASE)


def cors_origin(value: Any, key: str) -> str:
    """An allowed CORS origin: ``*`` or ``scheme://host[:port]`` as browsers send it (RFC 6454 6.1)."""
    _expect(value, str, key)
    origin = value.strip().rstrip("/")
    if origin != "*" and not _ORIGIN_RE.match(origin):
        raise ConfigError(f"configuration key {key!r} is not an origin (scheme://host[:port] or *): {value!r}")
    return origin.lower()


def parse_remote_server(name: str, raw: Any, key: str) -> RemoteServer:
    """Parse one ``DicomWeb.Servers`` entry in any of the seed's three forms."""
    if isinstance(raw, list):
        if len(raw) not in (1, 3) or not all(isinstance(x, str) for x in raw):
            raise ConfigError(f"configuration key {key!r} must be [url] or [url, username, password]")
        server = RemoteServer(name=name, url=raw[0])
        if len(raw) == 3:
            server.username, server.password = raw[1], raw[2]
    elif isinstance(raw, dict):
        known = {"Url", "Username", "Password", "CertificateFile", "CertificateKeyFile",
                 "CertificateKeyPassword", "HttpHeaders", "Timeout", "Pkcs11"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"configuration key {key!r} has unknown field {unknown[0]!r}")
        if "Url" not in raw:
            raise ConfigError(f"configuration key {key!r} needs a 'Url'")
        server = RemoteServer(name=name, url=_expect(raw["Url"], str, f"{key}.Url"))
        for field_name, attr in (("Username", "username"), ("Password", "password"),
                                 ("CertificateFile", "certificate_file"),
                                 ("CertificateKeyFile", "certificate_key_file"),
                                 ("CertificateKeyPassword", "certificate_key_password")):
            if field_name in raw:
                setattr(server, attr, _expect(raw[field_name], str, f"{key}.{field_name}"))
        if "HttpHeaders" in raw:
            headers = _expect(raw["HttpHeaders"], dict, f"{key}.HttpHeaders")
            for h, v in headers.items():
                _expect(v, str, f"{key}.HttpHeaders.{h}")
                problem = http_header_problem(h, v)
                if problem:  # refused at start-up: it would make every call to the server fail
                    raise ConfigError(f"configuration key {key + '.HttpHeaders'!r}: {problem}")
            server.http_headers = dict(headers)
        if "Timeout" in raw:
            server.timeout = float(_expect(raw["Timeout"], (int, float), f"{key}.Timeout"))
            if server.timeout <= 0:
                raise ConfigError(f"configuration key {key + '.Timeout'!r} must be > 0")
        if "Pkcs11" in raw:
            server.pkcs11 = _expect(raw["Pkcs11"], bool, f"{key}.Pkcs11")
        if (server.certificate_file is None) != (server.certificate_key_file is None):
            raise ConfigError(f"configuration key {key!r} needs both CertificateFile and CertificateKeyFile")
    else:
        raise ConfigError(f"configuration key {key!r} must be a list or an object")
    if not _URL_RE.match(server.url):
        raise ConfigError(f"configuration key {key!r} has an invalid URL {server.url!r} (http:// or https:// expected)")
    if "@" in server.url.split("/")[2]:
        # Credentials inside the URL would be shown by ``?expand`` and in error messages:
        # the seed's forms carry them apart, where they stay hidden.
        raise ConfigError(f"configuration key {key!r}: the URL must not hold credentials; "
                          "give them as Username and Password")
    if not server.url.endswith("/"):
        server.url += "/"
    if server.username is not None and server.password is None:
        raise ConfigError(f"configuration key {key!r} has a Username without a Password")
    if server.pkcs11:
        raise ConfigError(f"configuration key {key + '.Pkcs11'!r}: PKCS#11 client authentication is not supported by this server")
    return server


def parse_config(raw: Mapping[str, Any], source: str = "<dict>") -> Settings:
    """Validate a parsed configuration mapping and return typed :class:`Settings`."""
    _expect(raw, dict, "<root>")
    s = Settings(source=source)
    simple: dict[str, tuple[str, type | tuple[type, ...]]] = {
        "Name": ("name", str),
        "RemoteAccessAllowed": ("remote_access_allowed", bool),
        "AuthenticationEnabled": ("authentication_enabled", bool),
        "HttpsVerifyPeers": ("https_verify_peers", bool),
        "SslEnabled": ("ssl_enabled", bool),
        "SslVerifyPeers": ("ssl_verify_peers", bool),
        "RecordRequests": ("record_requests", bool),
        "CheckPixelData": ("check_pixel_data", bool),
    }
    for key, (attr, types) in simple.items():
        if key in raw:
            setattr(s, attr, _expect(raw[key], types, key))
    for key, attr in (("HttpsCACertificates", "https_ca_certificates"), ("SslCertificate", "ssl_certificate"),
                      ("SslTrustedClientCertificates", "ssl_trusted_client_certificates"),
                      ("HttpProxy", "http_proxy")):
        if key in raw:
            value = _expect(raw[key], str, key)
            setattr(s, attr, value or None)
    if "HttpPort" in raw:
        port = _expect(raw["HttpPort"], int, "HttpPort")
        if not 0 <= port <= 65535:
            raise ConfigError(f"configuration key 'HttpPort' must be within 0..65535, got {port}")
        s.http_port = port
    if "HttpTimeout" in raw:
        s.http_timeout = float(_expect(raw["HttpTimeout"], (int, float), "HttpTimeout"))
        if s.http_timeout < 0:
            raise ConfigError("configuration key 'HttpTimeout' must be >= 0")
    if "MaximumBodySize" in raw:
        s.max_body_size = _non_negative_int(raw["MaximumBodySize"], "MaximumBodySize")
    if "MaximumResults" in raw:
        s.max_results = _non_negative_int(raw["MaximumResults"], "MaximumResults")
    if "Faults" in raw:
        faults = _expect(raw["Faults"], list, "Faults")
        from .faults import unknown_faults
        bad = unknown_faults(str(f) for f in faults)
        if bad:
            raise ConfigError(f"configuration key 'Faults' names unknown fault {bad[0]!r}")
        s.faults = [str(f) for f in faults]
    if "CorsAllowedOrigins" in raw:
        s.cors_allowed_origins = [cors_origin(o, f"CorsAllowedOrigins[{i}]")
                                  for i, o in enumerate(_expect(raw["CorsAllowedOrigins"], list, "CorsAllowedOrigins"))]
    if "RegisteredUsers" in raw:
        users = _expect(raw["RegisteredUsers"], dict, "RegisteredUsers")
        for user, password in users.items():
            _expect(password, str, f"RegisteredUsers.{user}")
        s.registered_users = dict(users)
    if "RemoteAccessAllowed" in raw and "AuthenticationEnabled" not in raw and s.remote_access_allowed:
        # Orthanc turns authentication on when remote access is allowed and the key is absent.
        s.authentication_enabled = bool(s.registered_users)
    if s.authentication_enabled and not s.registered_users:
        raise ConfigError("configuration key 'AuthenticationEnabled' is true but 'RegisteredUsers' is empty")
    if s.ssl_enabled and not s.ssl_certificate:
        raise ConfigError("configuration key 'SslEnabled' is true but 'SslCertificate' is not set")
    if s.ssl_verify_peers and not s.ssl_trusted_client_certificates:
        raise ConfigError("configuration key 'SslVerifyPeers' is true but 'SslTrustedClientCertificates' is not set")

    dw_raw = raw.get("DicomWeb", {})
    _expect(dw_raw, dict, "DicomWeb")
    dw = s.dicomweb
    for key, attr in (("Enable", "enable"), ("EnableWado", "enable_wado"), ("Ssl", "ssl"),
                      ("QidoCaseSensitive", "qido_case_sensitive"), ("RequireAccept", "require_accept"),
                      ("Strict", "strict")):
        if key in dw_raw:
            setattr(dw, attr, _expect(dw_raw[key], bool, f"DicomWeb.{key}"))
    if "Root" in dw_raw:
        dw.root = _path_root(dw_raw["Root"], "DicomWeb.Root", trailing_slash=True)
    if "WadoRoot" in dw_raw:
        dw.wado_root = _path_root(dw_raw["WadoRoot"], "DicomWeb.WadoRoot", trailing_slash=False)
    if "Host" in dw_raw:
        host = _expect(dw_raw["Host"], str, "DicomWeb.Host")
        if host and not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host):
            raise ConfigError(f"configuration key 'DicomWeb.Host' is not a host name: {host!r}")
        dw.host = host or None
    for key, attr in (("StowMaxInstances", "stow_max_instances"), ("StowMaxSize", "stow_max_size")):
        if key in dw_raw:
            setattr(dw, attr, _non_negative_int(dw_raw[key], f"DicomWeb.{key}"))
    if "Servers" in dw_raw:
        servers = _expect(dw_raw["Servers"], dict, "DicomWeb.Servers")
        dw.servers = {name: parse_remote_server(name, entry, f"DicomWeb.Servers.{name}")
                      for name, entry in servers.items()}
    return s


def load_config(path: str | Path) -> Settings:
    """Read an Orthanc-style JSON file (``//`` comments allowed) into :class:`Settings`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {str(p)!r}: {exc.strerror}") from None
    try:
        raw = json.loads(strip_json_comments(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"configuration file {str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return parse_config(raw, source=str(p))
