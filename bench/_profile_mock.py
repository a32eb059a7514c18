"""Serve the mock like ``python3 -m dicomweb_mock`` but with cProfile on every request-handler thread.

    python3 bench/_profile_mock.py --profile OUT.prof --store DIR --no-fixtures [--config CFG] --port P

``python -m cProfile -m mock_server`` only sees the main thread, which merely
accepts connections: werkzeug's threaded server handles each connection in a
thread of its own.  Here each request (HTTP parsing, the application, writing
the response) is profiled in its handler thread and merged into one
:class:`pstats.Stats`, written to OUT.prof when the server stops (SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from dicomweb_mock.app import create_app  # noqa: E402
from dicomweb_mock.config import Settings, load_config  # noqa: E402
from dicomweb_mock.store.disk import DiskStore  # noqa: E402

_lock = threading.Lock()
_stats: list[pstats.Stats] = []


class ProfilingHandler(WSGIRequestHandler):
    """A werkzeug request handler that profiles each request it handles."""

    def handle_one_request(self) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            super().handle_one_request()
        finally:
            profiler.disable()
            with _lock:
                if _stats:
                    _stats[0].add(profiler)
                else:
                    _stats.append(pstats.Stats(profiler))

    def log_request(self, *args: object, **kwargs: object) -> None:
        """Quiet: no access log."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", type=Path, required=True)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-fixtures", action="store_true")
    args = p.parse_args()
    settings = load_config(args.config) if args.config else Settings()
    store = DiskStore(args.store)
    app = create_app(settings, store, fixtures=not args.no_fixtures)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=ProfilingHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"  DICOMweb root: http://127.0.0.1:{server.server_port}{settings.dicomweb.root} (profiled)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        with _lock:
            if _stats:
                _stats[0].dump_stats(str(args.profile))
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
