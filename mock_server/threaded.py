"""Run the mock in a background thread on a free port (tests, the suite).

The same :class:`~mock_server.app.MockApp` as ``python -m dicomweb_mock``,
served by werkzeug's threaded WSGI server.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

from werkzeug.serving import BaseWSGIServer, make_server

from .app import MockApp

__all__ = ["ServerThread", "serve_in_thread"]


class ServerThread:
    """A started server: ``url`` is its origin, ``dicomweb_url`` its DICOMweb root."""

    def __init__(self, app: MockApp, host: str = "127.0.0.1", port: int = 0, ssl_context=None,
                 quiet: bool = True):
        self.app = app
        if quiet:
            # werkzeug logs every request at INFO; tests and the suite keep their output clean.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        self.server.daemon_threads = True
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="dicomweb-mock", daemon=True)

    @property
    def dicomweb_url(self) -> str:
        return self.url + self.app.settings.dicomweb.root

    @property
    def wado_uri_url(self) -> str:
        return self.url + self.app.settings.dicomweb.wado_root

    def start(self) -> "ServerThread":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@contextmanager
def serve_in_thread(app: MockApp, host: str = "127.0.0.1", port: int = 0, ssl_context=None
                    ) -> Iterator[ServerThread]:
    """Serve ``app`` until the ``with`` block ends."""
    server = ServerThread(app, host, port, ssl_context).start()
    try:
        yield server
    finally:
        server.stop()
