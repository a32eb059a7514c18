"""``python -m dicomweb_mock``: start the reference DICOMweb server."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .config import ConfigError, Settings, cors_origin, load_config

if TYPE_CHECKING:
    from .store.base import Store

__all__ = ["main"]


def _int_in(option: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer within low..high, or a message naming ``option``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{option} must be within {low}..{high}, got {value}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dicomweb-mock",
                                description="Reference mock DICOMweb server (QIDO-RS, WADO-RS, WADO-URI, STOW-RS).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_int_in("--port", 0, 65535), default=None, help="port (default: HttpPort of the config, else 8042; 0 = any free port)")
    p.add_argument("--config", type=Path, help="Orthanc-style JSON configuration file (// comments allowed)")
    p.add_argument("--store", help="directory that keeps the instances across restarts (default: a temporary directory); "
                                   "'memory': keep them in this process's memory, writing no file (one worker; "
                                   "./memory names a directory)")
    p.add_argument("--no-fixtures", action="store_true", help="start with an empty store instead of the VIX-like fixtures")
    p.add_argument("--record", action="store_true", help="keep a log of received requests at /_mock/requests (a spy for tests)")
    p.add_argument("--workers", type=_int_in("--workers", 1, 64), default=1,
                   help="worker processes sharing the store (default 1: one process, which keeps run-time "
                        "state such as --record and PUT /servers; more: N processes sharing only the store)")
    p.add_argument("--strict", action="store_true",
                   help="answer exactly as PS3.18 2019a says (e.g. 406 without Accept) instead of serving what "
                        "clients mean with a Warning (config: DicomWeb.Strict)")
    p.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                   help="allow browser pages of this origin (scheme://host[:port]; repeatable; '*' any, the default; "
                        "'none' turns CORS off); replaces the config's CorsAllowedOrigins")
    p.add_argument("--threads", type=_int_in("--threads", 1, 256), default=None,
                   help="threads per worker process (default 8 with one process, 4 with several)")
    p.add_argument("--server", choices=["gunicorn", "werkzeug"], default=None,
                   help="HTTP server: gunicorn (default; production server, sendfile) or werkzeug "
                        "(development server, one process only; the default where gunicorn is missing)")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


class _Refused(Exception):
    """A refused command line: one line for stderr and the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _settings(args: argparse.Namespace) -> Settings:
    """The configuration file's settings with the command line's options applied."""
    try:
        settings = load_config(args.config) if args.config else Settings()
    except ConfigError as exc:
        raise _Refused(f"--config: {exc}") from None
    if args.record:
        settings.record_requests = True
    if args.strict:
        settings.dicomweb.strict = True
    if args.cors_origin:
        try:
            settings.cors_allowed_origins = [] if args.cors_origin == ["none"] else [
                cors_origin(o, "--cors-origin") for o in args.cors_origin]
        except ConfigError as exc:
            raise _Refused(f"--cors-origin: {exc}") from None
    if args.workers > 1 and settings.record_requests:
        raise _Refused("--record: the request log lives in one process; use it with --workers 1")
    if args.server == "werkzeug" and args.workers > 1:
        raise _Refused("--workers: werkzeug's server runs one process; use --server gunicorn")
    settings.workers = args.workers
    return settings


def _open_store(args: argparse.Namespace) -> Store:
    """The store ``--store`` names: a directory, ``memory``, or (default) a temporary directory."""
    from .store.disk import DiskStore
    from .store.memory import MemoryStore

    if args.store == "memory":
        if args.workers > 1:
            raise _Refused("--store memory: the store lives in one process; use it with --workers 1")
        return MemoryStore()
    if not args.store:
        return DiskStore.temporary()
    store_dir = Path(args.store)
    if store_dir.exists() and not store_dir.is_dir():
        raise _Refused(f"--store: {store_dir} exists and is not a directory")
    try:
        return DiskStore(store_dir)
    except OSError as exc:
        raise _Refused(f"--store: cannot use {store_dir}: {exc.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.server = args.server or _default_server()
    started = time.perf_counter()
    try:
        settings = _settings(args)
        store = _open_store(args)
    except _Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    try:
        return _serve(args, settings, store, started)
    except _Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    finally:
        store.close()


def _serve(args: argparse.Namespace, settings: Settings, store: Store, started: float) -> int:
    """Load the fixtures, then serve until interrupted."""
    from dicomweb_fixtures import FixtureError

    from .app import create_app
    from .threaded import ServerThread

    try:
        app = create_app(settings, store, fixtures=not args.no_fixtures)
    except FixtureError as exc:
        raise _Refused(f"cannot load the fixtures: {exc}", 1) from None
    port = args.port if args.port is not None else settings.http_port
    ssl_context = None
    if settings.ssl_enabled:
        from .tls import server_ssl_context
        ssl_context = server_ssl_context(settings)
    if args.server == "gunicorn":
        problem = _cannot_listen(args.host, port)
        if problem:
            raise _Refused(f"--port: cannot listen on {args.host}:{port}: {problem}")
        threads = args.threads or (8 if args.workers == 1 else 4)
        return _serve_with_workers(app, args.host, port, args.workers, started, threads)
    try:
        server = ServerThread(app, args.host, port, ssl_context, quiet=False)
    except OSError as exc:
        raise _Refused(f"--port: cannot listen on {args.host}:{port}: {exc.strerror}") from None
    settings.http_port = server.server.server_port
    _banner(app, server.url, started)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    return 0


def _banner(app, origin: str, started: float, workers: int = 1) -> None:
    counts = app.store.counts()
    how = f", {workers} worker processes" if workers > 1 else ""
    print(f"DICOMweb mock serving {counts['instances']} instances in {counts['studies']} studies "
          f"(ready in {time.perf_counter() - started:.1f} s{how})", flush=True)
    print(f"  DICOMweb root: {origin}{app.settings.dicomweb.root}", flush=True)
    print(f"  WADO-URI:      {origin}{app.settings.dicomweb.wado_root}", flush=True)
    print(f"  Study browser: {origin}/", flush=True)
    mode = "strict (PS3.18 2019a as written)" if app.settings.dicomweb.strict else \
        "default (forgiving, with Warning: 299; --strict for the standard as written)"
    origins = ", ".join(app.settings.cors_allowed_origins) or "off"
    print(f"  Mode: {mode}; CORS origins: {origins}", flush=True)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (gunicorn would retry, then exit without a reason), or None."""
    import socket

    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(infos[0][4])
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _default_server() -> str:
    """gunicorn where it runs (it is a dependency except on Windows), else werkzeug's server."""
    import importlib.util

    return "gunicorn" if sys.platform != "win32" and importlib.util.find_spec("gunicorn") else "werkzeug"


def _serve_with_workers(app, host: str, port: int, workers: int, started: float, threads: int = 4) -> int:
    """gunicorn forks ``workers`` processes (gthread, ``threads`` each) over the store the master opened.

    One worker is the default server: one process holds all run-time state, as with werkzeug's
    server, with a production HTTP layer (sendfile for retrievals, see bench/wsgi_servers.py).
    """
    from .multiprocess import serve_with_workers

    settings = app.settings
    scheme = "https" if settings.ssl_enabled else "http"
    ssl_factory = None
    if settings.ssl_enabled:
        from .tls import server_ssl_context
        ssl_factory = lambda: server_ssl_context(settings)  # noqa: E731

    def ready(bound: int) -> None:
        settings.http_port = bound
        _banner(app, f"{scheme}://{host}:{bound}", started, workers)

    serve_with_workers(app, host, port, workers, threads=threads, ssl_context=ssl_factory, on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
