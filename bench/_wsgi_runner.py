"""Serve the mock (fixtures loaded) on one WSGI server, for :mod:`bench.wsgi_servers`.

    python3 bench/_wsgi_runner.py SERVER PORT THREADS

SERVER is werkzeug (the in-process threaded server of the tests), gunicorn (one
gthread worker, as ``python3 -m dicomweb_mock`` serves), cheroot, waitress or
granian (one WSGI worker; granian loads the app from :func:`make_app`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVERS = ("werkzeug", "gunicorn", "cheroot", "waitress", "granian")


def make_app():
    from dicomweb_mock.app import create_app
    from dicomweb_mock.config import Settings
    from dicomweb_mock.store.disk import DiskStore

    return create_app(Settings(), DiskStore.temporary(), fixtures=True)


def main(argv: list[str]) -> int:
    server, port, threads = argv[0], int(argv[1]), int(argv[2])
    host = "127.0.0.1"
    if server == "granian":
        from granian import Granian

        Granian("bench._wsgi_runner:make_app", address=host, port=port, interface="wsgi", workers=1,
                blocking_threads=threads, factory=True, log_enabled=False,
                working_dir=Path(__file__).resolve().parent.parent).serve()
        return 0
    app = make_app()
    if server == "werkzeug":
        from dicomweb_mock.threaded import ServerThread

        ServerThread(app, host, port).server.serve_forever()
    elif server == "gunicorn":
        from dicomweb_mock.multiprocess import serve_with_workers

        serve_with_workers(app, host, port, 1, threads=threads)
    elif server == "cheroot":
        from cheroot.wsgi import Server

        Server((host, port), app, numthreads=threads).safe_start()
    elif server == "waitress":
        import waitress

        waitress.serve(app, host=host, port=port, threads=threads, _quiet=True)
    else:
        print(f"unknown server {server!r}; one of {', '.join(SERVERS)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
