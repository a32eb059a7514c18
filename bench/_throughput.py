"""Requests per second under a concurrent mixed read load (QIDO-RS, WADO-RS metadata and frames, PS3.18 10.4/10.6).

Used by ``bench/compare_orthanc.py --throughput``: C client threads, each with
its own keep-alive session, cycle through the same list of GET requests for T
seconds; the figure is completed requests divided by the elapsed time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Sequence

import requests

from bench._servers import Server

__all__ = ["LoadResult", "mixed_read_load"]


@dataclass
class LoadResult:
    """The outcome of one load run against one server."""

    server: str
    threads: int
    seconds: float
    requests: int
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {"server": self.server, "threads": self.threads, "seconds": round(self.seconds, 3),
                "requests": self.requests, "errors": self.errors, "requests_per_second": round(self.per_second, 1)}


def mixed_read_load(server: Server, gets: Sequence[tuple[str, str]], threads: int, duration: float,
                    label: str | None = None) -> LoadResult:
    """Run ``threads`` clients for ``duration`` seconds over ``gets`` ((path below the DICOMweb root, Accept))."""
    counts = [0] * threads
    errors = [0] * threads
    began = [0.0]
    stop_at = [0.0]

    def open_gate() -> None:
        began[0] = time.perf_counter()
        stop_at[0] = began[0] + duration

    start_gate = threading.Barrier(threads + 1, action=open_gate)  # the action runs before anyone is released

    def client(k: int) -> None:
        session = server.new_session()
        for path, accept in gets:  # one warm-up round per client: connections open, caches warm
            try:
                session.get(server.dicomweb_url + path, headers={"Accept": accept}, timeout=60).content  # noqa: B018 - read the body
            except requests.RequestException:
                pass
        start_gate.wait()
        j = k
        while time.perf_counter() < stop_at[0]:
            path, accept = gets[j % len(gets)]
            j += 1
            try:
                r = session.get(server.dicomweb_url + path, headers={"Accept": accept}, timeout=60)
                r.content  # noqa: B018 - the whole body is read inside the timed loop
                if r.status_code == 200:
                    counts[k] += 1
                else:
                    errors[k] += 1
            except requests.RequestException:
                errors[k] += 1
        session.close()

    workers = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    start_gate.wait(timeout=600)
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began[0]
    return LoadResult(label or server.name, threads, elapsed, sum(counts), sum(errors))
