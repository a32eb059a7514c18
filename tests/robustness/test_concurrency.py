"""Concurrent STOW-RS, QIDO-RS and WADO-RS against one store (PS3.18 10.4, 10.5, 10.6).

Eight writers store 100 distinct instances each (some one per request, some ten per
request) while readers search and retrieve what is already acknowledged; pairs of
writers also send the same instances at the same moment.  Afterwards every instance is
stored exactly once and retrieves byte for byte as sent (``transfer-syntax=*``,
PS3.18 8.7.3.5.2), and the store directory holds exactly the indexed files.

Two setups: one threaded server in this process, and two ``python -m dicomweb_mock``
processes sharing one ``--store`` directory.  A third test starts a second process on a
store while the first is storing: start-up must not disturb the other process's work.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import requests

from dicomweb_conformance.checks.multipart import parse_multipart
from dicomweb_conformance.http import multipart_related
from dicomweb_mock.app import create_app
from dicomweb_mock.config import Settings
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers.part10 import data_set_bytes
from tests.helpers.robustness import (AS_STORED, DICOM_JSON, Instance, MockProcess, fixed_uid, make_instance,
                                      qido_instances, retrieve_as_stored, store_listing, values_of)
from tests.helpers.http import MockClient


WRITERS = 8
PER_WRITER = 100
SHARED_PER_PAIR = 3
TIMEOUT = 20.0
READ_PAUSE = 0.02  # between two reads of one reader: the readers must not starve the writers


@dataclass
class Workload:
    """What each writer sends, the instances pairs of writers share, and what was acknowledged."""

    per_writer: dict[int, list[Instance]]
    shared: dict[int, list[Instance]]  # pair number -> instances both writers of the pair send
    barriers: dict[int, threading.Barrier]
    acked: list[Instance] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    reads: dict[str, int] = field(default_factory=dict)

    def all_instances(self) -> dict[str, Instance]:
        out = {i.sop_uid: i for batch in self.per_writer.values() for i in batch}
        out.update({i.sop_uid: i for batch in self.shared.values() for i in batch})
        return out

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def count(self, what: str) -> None:
        with self.lock:
            self.reads[what] = self.reads.get(what, 0) + 1


def build_workload(writers: int = WRITERS, per_writer: int = PER_WRITER) -> Workload:
    """Writer w: patient CONC-w, 2 studies x 5 series x 10 instances; pair p shares 3 instances."""
    tag = uuid.uuid4().hex[:6]
    per: dict[int, list[Instance]] = {}
    for w in range(writers):
        pid = f"CONC-{tag}-{w}"
        out: list[Instance] = []
        studies = [fixed_uid() for _ in range(2)]
        series = [(st, fixed_uid()) for st in studies for _ in range(5)]
        for n in range(per_writer):
            st, se = series[n * len(series) // per_writer]
            out.append(make_instance(pid, st, se, n + 1))
        per[w] = out
    shared = {}
    for p in range(writers // 2):
        st, se = fixed_uid(), fixed_uid()
        shared[p] = [make_instance(f"SHARED-{tag}-{p}", st, se, n + 1) for n in range(SHARED_PER_PAIR)]
    barriers = {p: threading.Barrier(2, timeout=TIMEOUT) for p in shared}
    return Workload(per, shared, barriers)


def stow(session: requests.Session, dicomweb_url: str, batch: list[Instance], work: Workload) -> None:
    """One STOW-RS request; every instance must be referenced and none failed (PS3.18 10.5.3, Annex I)."""
    body, ctype = multipart_related([i.data for i in batch])
    try:
        response = session.post(dicomweb_url + "studies", data=body, timeout=TIMEOUT,
                                headers={"Content-Type": ctype, "Accept": DICOM_JSON})
    except requests.RequestException as exc:
        work.error(f"STOW of {len(batch)}: transport error {exc}")
        return
    if response.status_code != 200:
        work.error(f"STOW of {len(batch)}: {response.status_code} {response.text[:300]}")
        return
    try:
        module = response.json()
    except ValueError:
        work.error(f"STOW of {len(batch)}: 200 with a body that is not JSON: {response.content[:200]!r}")
        return
    referenced = {values_of(item, "00081155")[0] for item in values_of(module, "00081199")}
    if referenced != {i.sop_uid for i in batch} or "00081198" in module:
        work.error(f"STOW of {len(batch)}: response module does not reference exactly the batch: {module}")
        return
    with work.lock:
        work.acked.extend(batch)


def writer(w: int, urls: list[str], work: Workload) -> None:
    """Send the writer's instances (1 or 10 per request); halfway, its pair's shared ones at once."""
    # With two servers each gets four writers, and the two writers of a pair use different servers.
    url = urls[(w // 2 + w) % len(urls)]
    size = 1 if w % 2 == 0 else 10
    mine = work.per_writer[w]
    session = requests.Session()
    for start in range(0, len(mine), size):
        if start == len(mine) // 2 and (w // 2) in work.shared:
            try:
                work.barriers[w // 2].wait()
            except threading.BrokenBarrierError:
                work.error(f"writer {w}: its pair never reached the shared instances")
            shared = work.shared[w // 2]
            if size == 1:
                for inst in shared:
                    stow(session, url, [inst], work)
            else:
                stow(session, url, shared, work)
        stow(session, url, mine[start:start + size], work)


def _snapshot(work: Workload) -> list[Instance]:
    with work.lock:
        return list(work.acked)


def reader_qido(urls: list[str], work: Workload, rng: random.Random) -> None:
    """Searches: each answer 200/204 with valid DICOM JSON; acknowledged instances are visible."""
    session = requests.Session()
    while not work.done.wait(READ_PAUSE):
        url = rng.choice(urls)
        acked = _snapshot(work)
        if not acked:
            time.sleep(0.01)
            continue
        pid = rng.choice(acked).patient_id
        expected = {i.sop_uid for i in acked if i.patient_id == pid}
        for path, params in (("studies", {}), ("instances", {"PatientID": pid})):
            try:
                r = session.get(url + path, params=params, headers={"Accept": DICOM_JSON}, timeout=TIMEOUT)
            except requests.RequestException as exc:
                work.error(f"QIDO {path} {params}: transport error {exc}")
                continue
            work.count("qido")
            if r.status_code not in (200, 204):
                work.error(f"QIDO {path} {params}: {r.status_code} {r.text[:200]}")
                continue
            try:
                found = r.json() if r.status_code == 200 else []
            except ValueError:
                work.error(f"QIDO {path} {params}: 200 with a body that is not JSON: {r.content[:200]!r}")
                continue
            if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
                work.error(f"QIDO {path} {params}: not an array of objects: {r.text[:200]}")
            elif path == "instances":
                missing = expected - {values_of(d, "00080018")[0] for d in found}
                if missing:
                    work.error(f"QIDO instances of {pid}: {len(missing)} acknowledged instances not found")


def reader_wado(urls: list[str], work: Workload, rng: random.Random) -> None:
    """Instance and series retrieves as stored: 200, well-formed multipart, the bytes sent."""
    session = requests.Session()
    by_bytes = {data_set_bytes(i.data): i.sop_uid for i in work.all_instances().values()}
    while not work.done.wait(READ_PAUSE):
        acked = _snapshot(work)
        if not acked:
            time.sleep(0.01)
            continue
        url = rng.choice(urls)
        inst = rng.choice(acked)
        try:
            got = retrieve_as_stored(session, url, inst, timeout=TIMEOUT)
            work.count("wado-instance")
            if data_set_bytes(got) != data_set_bytes(inst.data):
                work.error(f"instance {inst.sop_uid}: {len(got)} bytes differ from the {len(inst.data)} sent")
        except (AssertionError, requests.RequestException) as exc:
            work.error(f"instance retrieve {inst.sop_uid}: {exc}")
        inst = rng.choice(acked)
        expected = {i.sop_uid for i in acked if i.series_uid == inst.series_uid}
        series_url = f"{url}studies/{inst.study_uid}/series/{inst.series_uid}"
        try:
            r = session.get(series_url, headers={"Accept": AS_STORED}, timeout=TIMEOUT)
            work.count("wado-series")
            if r.status_code != 200:
                work.error(f"series retrieve {series_url}: {r.status_code} {r.text[:200]}")
                continue
            parts = parse_multipart(r.headers.get("Content-Type"), r.content, strict=True).parts
            got_uids = {by_bytes.get(data_set_bytes(part.body)) for part in parts}
            if None in got_uids:
                work.error(f"series retrieve {series_url}: a part differs from every instance sent")
            if expected - got_uids:
                work.error(f"series retrieve {series_url}: acknowledged instances missing {expected - got_uids}")
        except (AssertionError, requests.RequestException) as exc:
            work.error(f"series retrieve {series_url}: {type(exc).__name__}: {exc}")


def run_workload(urls: list[str], work: Workload) -> float:
    """Writers and readers at once; returns the seconds the writers took."""
    rng = random.Random(1234)
    readers = [threading.Thread(target=reader_qido, args=(urls, work, random.Random(rng.random())))] + [
        threading.Thread(target=reader_wado, args=(urls, work, random.Random(rng.random()))) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(w, urls, work)) for w in range(WRITERS)]
    start = time.monotonic()
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    elapsed = time.monotonic() - start
    work.done.set()
    for t in readers:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in readers + writers), "a client thread is stuck"
    return elapsed


def check_end_state(url: str, origin: str, work: Workload) -> None:
    """QIDO and Orthanc REST see every instance once; each retrieves as sent."""
    expected = work.all_instances()
    assert len(expected) == WRITERS * PER_WRITER + SHARED_PER_PAIR * (WRITERS // 2)
    session = requests.Session()
    assert qido_instances(session, url, timeout=TIMEOUT) == set(expected)
    response = session.get(url + "instances", headers={"Accept": DICOM_JSON}, timeout=TIMEOUT)
    assert len(response.json()) == len(expected), "a SOP Instance UID is listed more than once"
    orthanc_ids = session.get(origin + "/instances", timeout=TIMEOUT).json()
    assert len(orthanc_ids) == len(set(orthanc_ids)) == len(expected)
    bad: list[str] = []
    items = list(expected.values())

    def fetch(part: list[Instance]) -> None:
        s = requests.Session()
        for inst in part:
            if data_set_bytes(retrieve_as_stored(s, url, inst, timeout=TIMEOUT)) != data_set_bytes(inst.data):
                bad.append(inst.sop_uid)

    threads = [threading.Thread(target=fetch, args=(items[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not bad, f"{len(bad)} instances do not retrieve as sent: {bad[:3]}"


def check_store_dir(root: Path, work: Workload) -> None:
    """Exactly one file per index row, each holding its instance, and no temporary file left."""
    listing = store_listing(root)
    expected = work.all_instances()
    assert listing.counts["instances"] == len(expected)
    assert sorted(listing.indexed.values()) == sorted(expected), "index rows are not the instances sent"
    assert listing.dcm_files == set(listing.indexed), (
        f"files without index row: {sorted(listing.dcm_files - set(listing.indexed))[:3]}; "
        f"rows without file: {sorted(set(listing.indexed) - listing.dcm_files)[:3]}")
    assert listing.tmp_files == [], f"temporary files left: {listing.tmp_files[:5]}"
    for path, uid in listing.indexed.items():
        assert data_set_bytes((root / path).read_bytes()) == data_set_bytes(expected[uid].data), \
            f"{path} does not hold {uid} as sent"


def _report(work: Workload) -> str:
    shown = "\n".join(work.errors[:15])
    return f"{len(work.errors)} errors (reads done: {work.reads}):\n{shown}"


def test_threaded_server_under_concurrent_stow_qido_wado(tmp_path: Path) -> None:
    work = build_workload()
    store = DiskStore(tmp_path / "store")
    try:
        with serve_in_thread(create_app(Settings(), store, fixtures=False)) as server:
            run_workload([server.dicomweb_url], work)
            assert not work.errors, _report(work)
            assert work.reads.get("qido", 0) > 0 and work.reads.get("wado-instance", 0) > 0, work.reads
            check_end_state(server.dicomweb_url, server.url, work)
        check_store_dir(store.root, work)
    finally:
        store.close()


@pytest.fixture(params=["two-processes", "workers-2"])
def shared_store_servers(request, tmp_path: Path) -> Iterator[tuple[Path, list[MockProcess]]]:
    """One --store directory served by two independent mock processes (both started before any
    traffic), or by one ``--workers 2`` server (gunicorn forks two processes)."""
    root = tmp_path / "store"
    procs: list[MockProcess] = []
    try:
        if request.param == "two-processes":
            procs.append(MockProcess(root, log=tmp_path / "a.log"))
            procs.append(MockProcess(root, log=tmp_path / "b.log"))
        else:
            procs.append(MockProcess(root, "--workers", "2", log=tmp_path / "workers.log"))
        yield root, procs
    finally:
        for p in procs:
            p.stop()


def test_processes_sharing_one_store_under_concurrent_load(shared_store_servers) -> None:
    root, procs = shared_store_servers
    work = build_workload()
    urls = [p.dicomweb_url for p in procs]
    run_workload(urls, work)
    logs = "\n".join(p.stderr_text()[-2000:] for p in procs)
    assert not work.errors, _report(work) + "\n" + logs
    for p in procs:
        check_end_state(p.dicomweb_url, p.origin, work)
    for p in procs:
        p.stop()
    check_store_dir(root, work)


def test_starting_a_second_process_does_not_disturb_the_first(tmp_path: Path) -> None:
    """Start-up recovery of a new process must leave another process's in-flight STOWs alone."""
    root = tmp_path / "store"
    work = build_workload(writers=4, per_writer=60)
    # larger instances keep each STOW's temporary file on disk longer
    work.per_writer = {w: [make_instance(i.patient_id, i.study_uid, i.series_uid, n + 1, rows=256, columns=256)
                           for n, i in enumerate(batch)]
                       for w, batch in work.per_writer.items()}
    work.shared = {}
    with MockProcess(root, log=tmp_path / "first.log") as first:
        threads = [threading.Thread(target=_stow_each, args=(first.dicomweb_url, work.per_writer[w], work))
                   for w in range(4)]
        for t in threads:
            t.start()
        late: list[MockProcess] = []
        try:
            for n in range(3):  # processes started while the first one is storing
                time.sleep(0.3)
                late.append(MockProcess(root, log=tmp_path / f"late-{n}.log"))
        finally:
            for t in threads:
                t.join(timeout=120)
            for p in late:
                p.stop()
        assert not work.errors, _report(work) + "\n" + first.stderr_text()[-2000:]
        session = requests.Session()
        missing = [i.sop_uid for i in work.acked
                   if session.get(f"{first.dicomweb_url}studies/{i.study_uid}/series/{i.series_uid}/instances/"
                                  f"{i.sop_uid}", headers={"Accept": AS_STORED}, timeout=TIMEOUT).status_code != 200]
        assert not missing, f"{len(missing)} acknowledged instances cannot be retrieved: {missing[:3]}"
    listing = store_listing(root)
    assert listing.dcm_files == set(listing.indexed) and listing.tmp_files == []
    assert sorted(listing.indexed.values()) == sorted(work.all_instances())


def _stow_each(url: str, batch: list[Instance], work: Workload) -> None:
    session = requests.Session()
    for inst in batch:
        stow(session, url, [inst], work)


def test_streaming_retrieve_sends_what_it_listed_while_the_series_changes(tmp_path: Path) -> None:
    """A series retrieve (PS3.18 10.4.1) whose instances are stored again or deleted while its
    body streams still sends every part it listed, byte for byte and with its announced length
    (the failure this guards against: a part whose file had been replaced cut the body short)."""
    study, series_uid = fixed_uid(), fixed_uid()
    series = [make_instance("SWAP-1", study, series_uid, n + 1, rows=64, columns=64) for n in range(4)]
    store = DiskStore(tmp_path / "store")
    try:
        client = MockClient(create_app(Settings(), store, fixtures=False))

        def stow_one(data: bytes) -> None:
            body, content_type = multipart_related([data])
            response = client.post("/dicom-web/studies", data=body, headers={"Content-Type": content_type})
            assert response.status_code == 200, response.get_data(as_text=True)[:300]

        for inst in series:
            stow_one(inst.data)
        url = f"/dicom-web/studies/{study}/series/{series_uid}"
        response = client.get(url, headers={"Accept": AS_STORED}, buffered=False)
        assert response.status_code == 200
        chunks = iter(response.response)
        received = next(chunks)  # the body has started: every part is listed, its length announced
        again = series[1].data[:-64] + bytes(64)  # the same instance with other pixels
        stow_one(again)
        store.delete_instance(store.instance(series[2].sop_uid))
        received += b"".join(chunks)
        parts = parse_multipart(response.headers["Content-Type"], received, strict=True).parts
        assert sorted(data_set_bytes(p.body) for p in parts) == sorted(data_set_bytes(i.data) for i in series)

        later = client.get(url, headers={"Accept": AS_STORED})  # a new retrieve sees the changes
        bodies = parse_multipart(later.headers["Content-Type"], later.get_data(), strict=True).parts
        assert sorted(data_set_bytes(p.body) for p in bodies) == \
            sorted(data_set_bytes(d) for d in [series[0].data, again, series[3].data])
    finally:
        store.close()
