"""Per-request overhead of the mock on several WSGI servers; print median latencies and requests/s.

    python3 bench/wsgi_servers.py [--servers werkzeug,gunicorn,cheroot,waitress,granian]
                                  [--rounds 5] [--requests 40] [--threads 8] [--clients 8] [--seconds 3]

Each server serves the same application with the fixtures loaded (one process,
``--threads`` threads; see ``bench/_wsgi_runner.py``).  Three small requests
are timed over one keep-alive connection: frame 1 of a 512x512 CT slice
(octet-stream), the metadata of that series and a QIDO-RS study search by
PatientID.  Rounds alternate the servers (the first one rotates); each figure
is the median over all rounds.  Then ``--clients`` threads request the frame
for ``--seconds`` per server (requests/s).  Servers that are not installed are
skipped with one line.  A measurement: nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._servers import free_port  # noqa: E402
from bench._wsgi_runner import SERVERS  # noqa: E402

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"'


def cases() -> dict[str, tuple[str, str]]:
    """name -> (path, Accept) on the fixture data set."""
    import dicomweb_fixtures as fixtures

    manifest = fixtures.load_manifest()
    ct = next(i for i in manifest["instances"] if i["Rows"] == 512 and i["TransferSyntaxUID"] in
              ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1") and i.get("NumberOfFrames", 1) == 1)
    series = f"/dicom-web/studies/{ct['StudyInstanceUID']}/series/{ct['SeriesInstanceUID']}"
    patient = next(s["PatientID"] for s in manifest["studies"] if s["StudyInstanceUID"] == ct["StudyInstanceUID"])
    return {
        "frame 1 (octet-stream)": (f"{series}/instances/{ct['SOPInstanceUID']}/frames/1", FRAME_ACCEPT),
        "series metadata": (f"{series}/metadata", "application/dicom+json"),
        "QIDO studies by PatientID": (f"/dicom-web/studies?PatientID={patient}", "application/dicom+json"),
    }


class Running:
    def __init__(self, name: str, threads: int):
        self.name, self.port = name, free_port()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_wsgi_runner.py"), name,
                                         str(self.port), str(threads)], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.process.stderr.read().decode(errors='replace')[-300:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/system")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def timed(port: int, path: str, accept: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for _ in range(n + 2):
        start = time.perf_counter()
        conn.request("GET", path, headers={"Accept": accept})
        response = conn.getresponse()
        body = response.read()
        out.append(time.perf_counter() - start)
        if response.status != 200 or not body:
            raise RuntimeError(f"GET {path} answered {response.status}")
    conn.close()
    return out[2:]  # the first two warm up


def rate(port: int, path: str, accept: str, clients: int, seconds: float) -> float:
    count = [0] * clients
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            conn.request("GET", path, headers={"Accept": accept})
            conn.getresponse().read()
            count[k] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=40, help="timed requests per case, server and round")
    p.add_argument("--threads", type=int, default=8, help="server threads")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients for requests/s (0: skip)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    names = [s for s in args.servers.split(",") if s]
    unknown = [s for s in names if s not in SERVERS]
    if unknown:
        p.error(f"unknown server {unknown[0]!r}; one of {', '.join(SERVERS)}")
    running: list[Running] = []
    for name in names:
        module = "dicomweb_mock" if name == "werkzeug" else name
        if importlib.util.find_spec(module) is None:
            print(f"{name}: not installed, skipped")
            continue
        running.append(Running(name, args.threads))
    try:
        work = cases()
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            order = running[r % len(running):] + running[:r % len(running)]
            for case, (path, accept) in work.items():
                for server in order:
                    times.setdefault((server.name, case), []).extend(timed(server.port, path, accept, args.requests))
        rates = {}
        if args.clients:
            path, accept = work["frame 1 (octet-stream)"]
            for server in running:
                rates[server.name] = rate(server.port, path, accept, args.clients, args.seconds)
    finally:
        for server in running:
            server.stop()
    figures = {s.name: {case: statistics.median(times[(s.name, case)]) * 1000 for case in work} for s in running}
    width = max(len(c) for c in work) + 2
    print(f"{'median ms':<{width}}" + "".join(f"{s.name:>11}" for s in running))
    for case in work:
        print(f"{case:<{width}}" + "".join(f"{figures[s.name][case]:>11.2f}" for s in running))
    if rates:
        print(f"{'frame req/s, ' + str(args.clients) + ' clients':<{width}}" +
              "".join(f"{rates[s.name]:>11.0f}" for s in running))
    if args.json:
        args.json.write_text(json.dumps({"median_ms": figures, "frame_requests_per_s": rates}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
