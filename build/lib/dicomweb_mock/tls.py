"""HTTPS serving configured as Orthanc does.

``SslCertificate`` is one PEM file holding the certificate and its private
key; with ``SslVerifyPeers`` the client must present a certificate signed by
one of ``SslTrustedClientCertificates``.
"""

from __future__ import annotations

import ssl

from .config import ConfigError, Settings

__all__ = ["server_ssl_context"]


def server_ssl_context(settings: Settings) -> ssl.SSLContext:
    """Build the server TLS context; :class:`ConfigError` names the key on a bad file."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(settings.ssl_certificate or "")
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"configuration key 'SslCertificate': cannot load {settings.ssl_certificate!r}: {exc}") from None
    if settings.ssl_verify_peers:
        try:
            ctx.load_verify_locations(settings.ssl_trusted_client_certificates or "")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("configuration key 'SslTrustedClientCertificates': cannot load "
                              f"{settings.ssl_trusted_client_certificates!r}: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
