"""Serve one store with several worker processes under gunicorn (``--workers N``).

The master process opens the store (running crash recovery once), loads the
fixtures and builds the application; gunicorn then forks the workers, each
answering requests with a few threads.  Workers share state only through the
store: Part 10 files plus the SQLite index in WAL mode, whose write
transactions serialise concurrent STOW-RS across processes (see
:mod:`mock_server.store.disk`).  Per-process state that cannot be shared is
refused instead of diverging: run-time changes of ``/servers`` answer 409
and ``--record`` needs a single process.
"""

from __future__ import annotations

import ssl
from typing import Any, Callable

from gunicorn.app.base import BaseApplication

from .app import MockApp
from .store.disk import DiskStore

__all__ = ["serve_with_workers"]


class _MockApplication(BaseApplication):  # type: ignore[misc]
    """A gunicorn application around an already-built :class:`MockApp` (preloaded in the master)."""

    def __init__(self, app: MockApp, options: dict[str, Any]):
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .sendfile import with_sendfile

        return with_sendfile(self._app)


def serve_with_workers(app: MockApp, host: str, port: int, workers: int, *, threads: int = 4,
                       ssl_context: Callable[[], ssl.SSLContext] | None = None,
                       on_ready: Callable[[int], None] | None = None) -> None:
    """Serve ``app`` on ``host:port`` with ``workers`` processes until SIGINT/SIGTERM.

    ``ssl_context`` builds the server TLS context (HTTPS, from the settings'
    ``SslCertificate``); ``on_ready`` gets the bound port once the master listens.
    """
    store = app.store

    def when_ready(server: Any) -> None:
        if on_ready is not None:
            on_ready(server.LISTENERS[0].sock.getsockname()[1])

    def pre_fork(server: Any, worker: Any) -> None:
        if isinstance(store, DiskStore):
            store.index.close()  # an SQLite connection must not cross a fork

    def post_fork(server: Any, worker: Any) -> None:
        if isinstance(store, DiskStore):
            store.forget_temporary()  # the master removes a temporary store, not each worker

    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 300,  # a worker's heartbeat; long transfers run in its threads
        "graceful_timeout": 10,
        # Idle keep-alive connections stay open 30 s (gunicorn's default is 2 s): a client reusing
        # one just as the server closes it gets no answer to a request it already sent.
        "keepalive": 30,
        "preload_app": True,
        "when_ready": when_ready,
        "pre_fork": pre_fork,
        "post_fork": post_fork,
        "loglevel": "warning",
        "accesslog": None,
        "errorlog": "-",
        # werkzeug's request limits apply (MaximumBodySize); gunicorn's line limits stay generous.
        "limit_request_line": 65536,
        "limit_request_field_size": 65536,
    }
    if ssl_context is not None:
        options["ssl_context"] = lambda config, default: ssl_context()
        # gunicorn wraps sockets when a certificate file is named; the context above decides the rest.
        options["certfile"] = app.settings.ssl_certificate
    _MockApplication(app, options).run()
