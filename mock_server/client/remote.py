"""HTTP sessions towards the remote DICOMweb servers of ``DicomWeb.Servers``.

Applies what the seed lists for every remote call: the server's HTTP Basic
credentials, client certificate (``CertificateFile``/``CertificateKeyFile``,
with ``CertificateKeyPassword``), extra ``HttpHeaders`` and ``Timeout``, and
the global ``HttpProxy``, ``HttpTimeout``, ``HttpsVerifyPeers`` and
``HttpsCACertificates``.  URLs are always built below the server's URL, so
no request body can point a call at another host, scheme or port.
"""

from __future__ import annotations

import posixpath
import ssl
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote, unquote, urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ..errors import HttpError
from ..config import RemoteServer, Settings, http_header_problem

__all__ = ["RemoteError", "RemoteClient", "remote_url", "body_failure"]


class RemoteError(HttpError):
    """A remote call failed: ``status`` is the answer we give (502, 504, 404...)."""


def remote_url(server: RemoteServer, uri: str, arguments: Mapping[str, Any] | None = None) -> str:
    """``server.url`` joined with the path ``uri``; refuses anything that leaves it.

    ``uri`` must be a path (optionally with a query): no scheme, no host, no
    ``..`` segment climbing above the server's root.
    """
    if not isinstance(uri, str):
        raise RemoteError(400, "'Uri' must be a string")
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc or uri.startswith("//") or "\\" in uri:
        raise RemoteError(400, f"'Uri' must be a path below the server's URL, not {uri[:100]!r}")
    if any(ord(c) < 0x21 for c in uri):
        raise RemoteError(400, "'Uri' contains control characters or spaces")
    base = urlsplit(server.url)
    root = base.path if base.path.endswith("/") else base.path + "/"
    joined = posixpath.normpath(root + parts.path.lstrip("/")) if parts.path.strip("/") else root.rstrip("/")
    if parts.path.endswith("/") and not joined.endswith("/"):
        joined += "/"
    # The check also runs on the percent-decoded path, since "%2e%2e/" and "..%2f" are ".."
    # segments to any server that decodes before normalising.
    decoded = posixpath.normpath(root + unquote(parts.path).lstrip("/"))
    for candidate in (joined, decoded):
        if not (candidate + "/").startswith(root) and candidate != root.rstrip("/"):
            raise RemoteError(400, f"'Uri' {uri[:100]!r} leaves the server's root {root}")
    query = parts.query
    if arguments:
        if not isinstance(arguments, Mapping) or not all(isinstance(v, str) for v in arguments.values()):
            raise RemoteError(400, "'Arguments' must be an object of strings")
        # Everything outside RFC 3986 "unreserved" is percent-encoded (a space is %20, not "+":
        # PS3.18 8.3.1 lists "+" among the literal qp-special characters).
        extra = urlencode(list(arguments.items()), quote_via=quote, safe="")
        query = f"{query}&{extra}" if query else extra
    return f"{base.scheme}://{base.netloc}{joined}" + (f"?{query}" if query else "")


class _ClientCertAdapter(HTTPAdapter):
    """Uses an SSL context holding a client certificate (with a key password)."""

    def __init__(self, context: ssl.SSLContext):
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any):
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(*args, **kwargs)


@dataclass
class RemoteClient:
    """Makes requests to one remote server with all its settings applied."""

    server: RemoteServer
    settings: Settings

    @property
    def timeout(self) -> float | None:
        value = self.server.timeout if self.server.timeout else self.settings.http_timeout
        return value or None

    def session(self, extra_headers: Mapping[str, str] | None = None) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        if self.server.username is not None:
            s.auth = (self.server.username, self.server.password or "")
        s.headers.update(self.server.http_headers)
        if extra_headers:
            if not isinstance(extra_headers, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in extra_headers.items()):
                raise RemoteError(400, "'HttpHeaders' must be an object of strings")
            # A bad name or a CR/LF in a value is the caller's error (400; it would be header
            # injection if it went through).
            for name, value in extra_headers.items():
                problem = http_header_problem(name, value)
                if problem:
                    raise RemoteError(400, f"'HttpHeaders': {problem}")
            s.headers.update(extra_headers)
        if self.settings.http_proxy:
            proxy = self.settings.http_proxy
            # Orthanc (libcurl) takes "[user:password@]host:port" without a scheme; requests
            # would read "user" as the scheme of such a value.  The scheme defaults to http.
            if "://" not in proxy:
                proxy = "http://" + proxy
            s.proxies = {"http": proxy, "https": proxy}
        verify: bool | str = self.settings.https_verify_peers
        if verify and self.settings.https_ca_certificates:
            verify = self.settings.https_ca_certificates
        s.verify = verify
        if self.server.certificate_file:
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            try:
                context.load_cert_chain(self.server.certificate_file, self.server.certificate_key_file,
                                        password=self.server.certificate_key_password)
            except (OSError, ssl.SSLError) as exc:
                raise RemoteError(502, f"cannot load the client certificate of server {self.server.name!r}: "
                                       f"{exc}") from None
            s.mount("https://", _ClientCertAdapter(context))
        return s

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                session_headers: Mapping[str, str] | None = None, stream: bool = False,
                data: Any = None) -> requests.Response:
        """One call; connection failures and timeouts become :class:`RemoteError`."""
        session = self.session(session_headers)
        try:
            return session.request(method, url, headers=dict(headers or {}), data=data, stream=stream,
                                   timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.Timeout:
            raise RemoteError(504, f"remote server {self.server.name!r} did not answer within "
                                   f"{self.timeout} s") from None
        except requests.exceptions.SSLError as exc:
            raise RemoteError(502, f"TLS error with remote server {self.server.name!r}: "
                                   f"{str(exc).splitlines()[0][:200]}") from None
        except requests.exceptions.ProxyError as exc:
            raise RemoteError(502, f"proxy error reaching remote server {self.server.name!r}: "
                                   f"{str(exc)[:200]}") from None
        except requests.exceptions.ConnectionError as exc:
            raise RemoteError(502, f"cannot reach remote server {self.server.name!r} at {self.server.url}: "
                                   f"{type(exc).__name__}") from None
        except requests.exceptions.RequestException as exc:
            raise RemoteError(502, f"request to remote server {self.server.name!r} failed: {exc}") from None


#: What reading a streamed answer's body may raise (``answer.raw.read``).
BODY_ERRORS = (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, ConnectionError, TimeoutError,
               ssl.SSLError)


def body_failure(server: RemoteServer, exc: BaseException) -> RemoteError:
    """The answer for a remote that stalled (504) or hung up (502) in the middle of a body.

    Not an internal error (500): the remote broke the exchange.
    """
    if isinstance(exc, (urllib3.exceptions.ReadTimeoutError, requests.exceptions.Timeout, TimeoutError)):
        limit = f"{server.timeout} s" if server.timeout else "HttpTimeout"
        return RemoteError(504, f"remote server {server.name!r} stopped sending its answer (no data within {limit})")
    return RemoteError(502, f"remote server {server.name!r} broke off its answer: {type(exc).__name__}")
