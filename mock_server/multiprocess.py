"""Serve one store with several worker processes under gunicorn (``--workers N``).

The master process opens the store (running crash recovery once), loads the
fixtures and builds the application; gunicorn then forks the workers, each
answering requests with a few threads.  Workers share state only through the
store: Part 10 files plus the SQLite index in WAL mode, whose write
transactions serialise concurrent STOW-RS across processes (see
:mod:`mock_server.store.disk`).  Per-process state that cannot be shared is
refused instead of diverging: run-time changes of ``/servers`` answer 409
and ``--record`` needs a single process.

The master forks with no thread of its own running (the store's fsync threads
end before each fork; gunicorn's control socket, whose thread would run in the
master, is off), so no child inherits a lock that a vanished thread holds.  A
worker ends by itself once its master is gone, and a stopping worker waits at
most :data:`EXIT_GRACE_SECONDS` for threads still busy with a request (one
reading a body its client never finishes) before it exits without them.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from typing import Any, Callable

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config

from .app import MockApp
from .store.disk import DiskStore, shutdown_sync_pool

__all__ = ["serve_with_workers", "EXIT_GRACE_SECONDS"]

_log = logging.getLogger(__name__)

#: How long a worker that stopped serving waits for its remaining threads before it exits anyway.
EXIT_GRACE_SECONDS = 5.0


def _exit_within(seconds: float) -> None:
    """End this process after ``seconds`` even when a non-daemon thread never finishes
    (interpreter shutdown joins them, and a signal no longer stops it then)."""
    def watchdog() -> None:
        time.sleep(seconds)
        busy = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
        # Logged from a thread of its own: a busy thread may hold the log handler's lock.
        report = threading.Thread(target=_log.warning, daemon=True, args=(
            "worker %d: threads still busy %.0f s after it stopped (%s); exiting without them",
            os.getpid(), seconds, ", ".join(busy) or "none"))
        try:
            report.start()
            report.join(timeout=1.0)
        finally:
            os._exit(1)

    threading.Thread(target=watchdog, name="worker-exit-watchdog", daemon=True).start()


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
        shutdown_sync_pool()  # no thread of the master runs while it forks
        if isinstance(store, DiskStore):
            store.index.close()  # an SQLite connection must not cross a fork

    def post_fork(server: Any, worker: Any) -> None:
        if isinstance(store, DiskStore):
            store.forget_temporary()  # the master removes a temporary store, not each worker

    def worker_exit(server: Any, worker: Any) -> None:
        if worker.pid == os.getpid():  # gunicorn also calls it in the master for a vanished worker
            _exit_within(EXIT_GRACE_SECONDS)

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
        "worker_exit": worker_exit,
        "loglevel": "warning",
        "accesslog": None,
        "errorlog": "-",
        # werkzeug's request limits apply (MaximumBodySize); gunicorn's line limits stay generous.
        "limit_request_line": 65536,
        "limit_request_field_size": 65536,
    }
    if "control_socket_disable" in Config().settings:
        options["control_socket_disable"] = True  # its thread would run in the master across forks
    if ssl_context is not None:
        options["ssl_context"] = lambda config, default: ssl_context()
        # gunicorn wraps sockets when a certificate file is named; the context above decides the rest.
        options["certfile"] = app.settings.ssl_certificate
    _MockApplication(app, options).run()
