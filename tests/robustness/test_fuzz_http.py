"""Robustness of the mock's HTTP surface under generated hostile requests (hypothesis).

Every request must be answered below 500; a 4xx carries a Content-Type and a
one-line reason (PS3.18 8.5: the payload of an error response may hold a status
report; ours is one line of text/plain); the server keeps answering (a
``GET {root}studies`` returns 200 every 50 requests and at the end); the store
keeps every original instance byte-identical unless a 200/202 STOW-RS answer
(PS3.18 10.5.3, Annex I ReferencedSOPSequence) or a 200 ``POST /instances``
stored it again, and holds no other new instance.  Over a real socket, a
malformed request (RFC 7230 3) gets a well-formed answer below 500 (505 for an
HTTP/2+ request line, RFC 7231 6.6.6) or a closed connection.

Budget: ``FUZZ_REQUESTS`` requests (default 600) shared by the category tests.
The full run (5,000 requests, or ``FUZZ_REQUESTS`` if larger) is the ``slow``
test, skipped unless selected::

    python -m pytest -q -p no:cacheprovider -m slow -s tests/robustness/test_fuzz_http.py

Each test prints its counts ("fuzz[qido]: 110 requests ..."; ``-s`` or ``-rP`` shows them)
and records them as the junit properties ``fuzz_requests`` and ``fuzz_statuses``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dicomweb_fixtures as fixtures
from tests.helpers import fuzz_strategies as fs
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers.part10 import data_set_bytes
from tests.helpers.http import MockClient

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

FULL_BUDGET = 5000
SHARES = {"qido": 0.22, "headers": 0.14, "stow": 0.16, "dicom": 0.08, "paths": 0.22, "huge": 0.04, "raw": 0.14}
MAX_RESULTS = 3
MAX_BODY = 1 << 20
ROOT = "/dicom-web/"
PING_EVERY = 50
SETTINGS = settings(deadline=None, database=None, derandomize=False, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example, HealthCheck.filter_too_much])


def budget() -> int:
    """Requests for the category tests: ``FUZZ_REQUESTS`` or 600."""
    return int(os.environ.get("FUZZ_REQUESTS", "600"))


def share(category: str, total: int) -> int:
    return max(1, round(total * SHARES[category]))


# ------------------------------------------------------------------------------------------ the harness


def data_set_digest(part10: bytes) -> str:
    """sha256 of the data set of a Part 10 stream (the store writes its own File Meta
    Information), or of the whole stream when it has no readable header."""
    try:
        return hashlib.sha256(data_set_bytes(part10)).hexdigest()
    except Exception:  # a fuzzed header: such a stream is never stored
        return hashlib.sha256(part10).hexdigest()

class Fuzzer:
    """Sends requests to one app, checks the invariants of each answer and keeps the counts."""

    def __init__(self, app: MockApp, manifest: dict[str, Any]):
        self.app = app
        self.client = MockClient(app)
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.allowed_uids: set[str] = set()
        self.allowed_hashes: set[str] = set()
        self.original = self.snapshot()
        small = [i for i in manifest["instances"] if "vix-ct-axial" not in i["file"]]
        self.instances = [(i["StudyInstanceUID"], i["SeriesInstanceUID"], i["SOPInstanceUID"]) for i in small]
        self.multiframe = [t for t, i in zip(self.instances, small) if i["NumberOfFrames"] > 1]
        big_study = {i["StudyInstanceUID"] for i in manifest["instances"] if "vix-ct-axial" in i["file"]}
        self.studies = sorted({s for s, _, _ in self.instances} - big_study)
        self.series = sorted({(s, se) for s, se, _ in self.instances})
        self.uids = sorted({u for t in self.instances for u in t})
        self.orthanc = {level: app.store.orthanc_ids(level)[:6]
                        for level in ("patients", "studies", "series", "instances")}
        self.samples = [fs.DicomSample(p.name, p.read_bytes()) for p in fixtures.instance_files()
                        if p.name in ("wang-ct-001.dcm", "doe-mr-t2-003.dcm", "yamada-cr-001.dcm",
                                      "doe-sc-palette-001.dcm")]

    # -- store snapshot ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, str]:
        """SOP Instance UID -> sha256 of the data set of the stored Part 10 file."""
        store = self.app.store
        out = {}
        for oid in store.index.orthanc_ids("instances"):
            record = store.orthanc_resource("instances", oid)["record"]
            out[record.sop_instance_uid] = data_set_digest(store.file_path(record).read_bytes())
        return out

    def check_store(self) -> None:
        """Originals unchanged unless validly stored again; nothing new but what was reported stored."""
        now = self.snapshot()
        missing = sorted(set(self.original) - set(now))
        assert not missing, f"original instances lost: {missing[:5]}"
        for uid, digest in now.items():
            if self.original.get(uid) == digest:
                continue
            assert uid in self.allowed_uids, f"instance {uid!r} changed or appeared without a 200/202 answer"
            assert digest in self.allowed_hashes, f"instance {uid!r} stored with bytes that were never sent"

    # -- requests ---------------------------------------------------------------------------------
    def send(self, category: str, method: str, path: str, *, query: str | None = None,
             headers: dict[str, str | None] | None = None, data: bytes | None = None) -> tuple[int, Any, bytes]:
        """One in-process request; returns (status, headers, body) after checking the invariants."""
        if "?" in path:  # a raw "?" in a generated segment starts the query, as on the wire
            path, _, extra = path.partition("?")
            query = extra + ("&" + query if query else "")
        where = f"{method} {path[:200]}?{(query or '')[:200]} headers={str(headers)[:300]}"
        try:
            r = self.client.open(path, method=method, query_string=query, headers=headers or {}, data=data)
        except Exception as exc:  # escaped the app: a real server answers 500 or drops the connection
            raise AssertionError(f"{where}: the app raised {type(exc).__name__}: {str(exc)[:300]}") from exc
        try:
            body = r.get_data()
        except Exception as exc:  # the streamed body broke after the status was sent
            raise AssertionError(f"{where}: response body raised {type(exc).__name__}: {exc}") from exc
        self.record(category, r.status_code)
        check_answer(where, method, r.status_code, r.headers.get("Content-Type"), body)
        if self.counts.total() % PING_EVERY == 0:
            self.ping()
        return r.status_code, r.headers, body

    def record(self, category: str, *statuses: int) -> None:
        """Count one request and its final answer(s); 0 stands for a connection closed without one."""
        self.counts[category] += 1
        self.statuses.update(statuses or (0,))

    def ping(self) -> None:
        """The server still answers a plain search."""
        r = self.client.get(ROOT + "studies")
        r.get_data()
        self.record("liveness", r.status_code)
        assert r.status_code == 200, f"liveness: GET {ROOT}studies answered {r.status_code}"

    def note_stored(self, status: int, body: bytes, payloads: list[bytes]) -> None:
        """Remember what a 200/202 STOW-RS answer says it stored (Annex I, 0008,1199)."""
        if status not in (200, 202):
            return
        module = json.loads(body)
        for item in module.get("00081199", {}).get("Value", []):
            self.allowed_uids.update(item.get("00081155", {}).get("Value", []))
        self.allowed_hashes.update(data_set_digest(p) for p in payloads)

    def summary(self, label: str, seconds: float, since: tuple[Counter[str], Counter[int]]) -> str:
        """Counts since the ``(counts, statuses)`` copies in ``since``."""
        counts, statuses = self.counts - since[0], self.statuses - since[1]
        fivexx = sum(n for s, n in statuses.items() if s >= 500 and s != 505)
        return (f"fuzz[{label}]: {counts.total()} requests in {seconds:.1f} s, per category "
                f"{dict(sorted(counts.items()))}, statuses {dict(sorted(statuses.items()))} "
                f"(0: closed without answer; 505 only for HTTP/2+ request lines), {fivexx} other 5xx")


def check_answer(where: str, method: str, status: int, content_type: str | None, body: bytes) -> None:
    """Below 500; a 4xx has a Content-Type and one non-empty line of reason (HEAD has no body)."""
    assert status < 500, f"{where}: {status} {body[:300]!r}"
    if 400 <= status < 500:
        assert content_type, f"{where}: {status} without Content-Type"
        if method != "HEAD":
            text = body.strip()
            assert text and b"\n" not in text and b"\r" not in text, f"{where}: {status} reason {body[:300]!r}"


# ------------------------------------------------------------------------------------------ the categories

def run_qido(fz: Fuzzer, n: int) -> None:
    """QIDO-RS searches with garbage keys, values and escapes (PS3.18 8.3.4, 10.6.1)."""
    scoped = st.one_of(st.sampled_from(fz.studies), fs.hostile_uid(fz.uids))
    resource = st.one_of(st.sampled_from([ROOT + p for p in fs.QIDO_PATHS]),
                         scoped.map(lambda s: f"{ROOT}studies/{s}/series"),
                         scoped.map(lambda s: f"{ROOT}studies/{s}/instances"),
                         st.sampled_from(fz.series).map(lambda p: f"{ROOT}studies/{p[0]}/series/{p[1]}/instances"))
    accept = st.sampled_from(["*/*", "application/dicom+json", "application/json",
                              'multipart/related; type="application/dicom+xml"'])

    @settings(SETTINGS, max_examples=n)
    @given(path=resource, query=fs.qido_query(), accept=accept)
    def one(path: str, query: str, accept: str) -> None:
        status, headers, body = fz.send("qido", "GET", path, query=query, headers={"Accept": accept})
        if status == 200 and headers.get("Content-Type", "").startswith("application/"):
            # MaximumResults caps every answer, whatever limit says (8.3.4.4)
            assert len(json.loads(body)) <= MAX_RESULTS, f"{path}?{query}: more than {MAX_RESULTS} results"
    one()


def _cheap_routes(fz: Fuzzer) -> st.SearchStrategy[str]:
    def inst(t: tuple[str, str, str]) -> str:
        return f"{ROOT}studies/{t[0]}/series/{t[1]}/instances/{t[2]}"
    small = st.sampled_from(fz.instances)
    return st.one_of(st.just(ROOT + "studies"), small.map(inst), small.map(lambda t: inst(t) + "/metadata"),
                     small.map(lambda t: inst(t) + "/frames/1"), small.map(lambda t: inst(t) + "/rendered"),
                     small.map(lambda t: inst(t) + "/thumbnail"), st.sampled_from(fz.studies).map(
                         lambda s: f"{ROOT}studies/{s}/metadata"),
                     small.map(lambda t: f"/wado?requestType=WADO&studyUID={t[0]}&seriesUID={t[1]}&objectUID={t[2]}"))


def run_headers(fz: Fuzzer, n: int) -> None:
    """Hostile Accept / accept= / Content-Type values on reads and on STOW-RS (8.7, 8.3.3.1)."""
    sample = fz.samples[0].data
    valid = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + sample + b"\r\n--b--\r\n"

    @settings(SETTINGS, max_examples=n)
    @given(route=_cheap_routes(fz), accept=st.one_of(fs.accept_header(), st.none()), data=st.data())
    def one(route: str, accept: str | None, data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3)) == 0:  # STOW-RS: hostile Content-Type, body re-stores an original
            ctype = data.draw(fs.stow_content_type("b"))
            fz.send("headers", "POST", ROOT + "studies", headers={"Content-Type": ctype, "Accept": accept},
                    data=data.draw(st.sampled_from([fs.Blob(valid), b"", b"garbage"])))
            return
        path, _, query = route.partition("?")
        if data.draw(st.booleans()):
            query += "&accept=" + fs.percent_encode(data.draw(fs.accept_header()), safe="/")
        fz.send("headers", data.draw(st.sampled_from(["GET", "GET", "HEAD"])), path, query=query or None,
                headers={"Accept": accept})
    one()


def run_stow(fz: Fuzzer, n: int) -> None:
    """Mis-framed multipart/related bodies (8.6.1.2, RFC 2046 5.1.1) with real and broken DICOM parts."""
    target = st.one_of(st.just(ROOT + "studies"), st.sampled_from(fz.studies).map(lambda s: f"{ROOT}studies/{s}"),
                       fs.hostile_uid(fz.uids).map(lambda s: f"{ROOT}studies/{s}"))

    @settings(SETTINGS, max_examples=n)
    @given(path=target, boundary=st.sampled_from(fs.BOUNDARIES[:6]), data=st.data())
    def one(path: str, boundary: str, data: st.DataObject) -> None:
        body, payloads = data.draw(fs.multipart_body(boundary, fz.samples))
        if data.draw(st.integers(0, 30)) == 0:
            body += b"\0" * MAX_BODY  # above MaximumBodySize: 413
        ctype = data.draw(fs.stow_content_type(boundary))
        headers: dict[str, str | None] = {"Content-Type": ctype, "Accept": "application/dicom+json"}
        declared = data.draw(st.sampled_from([0, 0, 0, 0, -7, 5000, 1]))  # a Content-Length that lies
        if declared:
            headers["Content-Length"] = str(max(0, len(body) + declared))
        status, _, answer = fz.send("stow", "POST", path, headers=headers, data=body)
        fz.note_stored(status, answer, payloads)
    one()


def run_dicom(fz: Fuzzer, n: int) -> None:
    """Truncated and bit-flipped Part 10 files (PS3.10 7.1) by STOW-RS and by ``POST /instances``."""
    @settings(SETTINGS, max_examples=n)
    @given(payload=fs.dicom_payload(fz.samples), orthanc=st.booleans())
    def one(payload: bytes, orthanc: bool) -> None:
        if orthanc:
            status, _, answer = fz.send("dicom", "POST", "/instances", data=payload)
            if status == 200:
                oid = json.loads(answer)["ID"]
                _, _, info = fz.send("dicom", "GET", f"/instances/{oid}")
                fz.allowed_uids.add(json.loads(info)["MainDicomTags"]["SOPInstanceUID"])
                fz.allowed_hashes.add(data_set_digest(payload))
            return
        body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + payload + b"\r\n--b--\r\n"
        status, _, answer = fz.send("dicom", "POST", ROOT + "studies", data=body, headers={
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=b',
            "Accept": "application/dicom+json"})
        fz.note_stored(status, answer, [payload])
    one()


RENDER_QUERY = st.sampled_from(["", "viewport=64,64", "viewport=0,0", "viewport=-1,64", "viewport=1e3,1e3",
                                "viewport=99999999,1", "viewport=64,64,0,0,-64,-64", "viewport=NaN,1",
                                "window=40,400,linear", "window=0,0,sigmoid", "window=1e308,1e308,linear",
                                "window=a,b,c", "window=40,400,LINEAR", "quality=0", "quality=101", "quality=-1",
                                "quality=", "quality=%FF", "annotation=patient", "charset=%C3%28", "accept=%"])
FRAMES = ["1", "1,2", "2,1", "0", "-1", "1,,2", ",", "", "99999999999999999999", "1;2", "%00", "1e3", "01",
          "1," * 2000 + "1", "\u0661", "1%2C2", "13", "16,17"]
BULK = ["7FE00010", "00281201", "00880200/1/7FE00010", "00880200/0/7FE00010", "../../x", "7FE00010/0", "zz",
        "%2e%2e/%2e%2e", "00100010", "00880200", "00880200/1", "00880200/99999999999999999999/7FE00010", "/", "//"]
WADO_KEYS = ["requestType", "studyUID", "seriesUID", "objectUID", "contentType", "frameNumber", "rows", "columns",
             "region", "windowCenter", "windowWidth", "transferSyntax", "anonymize", "charset", "imageQuality",
             "presentationUID", "presentationSeriesUID", "annotation"]
WADO_VALUES = ["WADO", "wado", "", "1", "0", "-1", "64", "99999999999999999999", "1e3", "NaN", "yes", "no",
               "application/dicom", "image/jpeg", "image/png;q=0.5,image/gif", "image/*", "*/*", "text/html",
               "application/dicom;transfer-syntax=1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50",
               "1.2.840.10008.1.2", "0,0,1,1", "0.5,0.5,0.1,0.1", "0,0,1", "a,b,c,d", "-1,0,2,1", "%FF", "%"]


def run_paths(fz: Fuzzer, n: int) -> None:
    """Every WADO-RS, WADO-URI, Orthanc and /servers route with hostile UIDs and ids (10.4, 9, seed)."""
    def uid(valid: list[str]) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(valid), fs.hostile_uid(fz.uids))
    orthanc_ids = [i for ids in fz.orthanc.values() for i in ids]

    @st.composite
    def wado_rs(draw: st.DrawFn) -> tuple[str, str, str | None]:
        s, se, i = draw(st.sampled_from(fz.instances + fz.multiframe * 2))
        s = draw(uid([s])) if draw(st.integers(0, 2)) else s
        se, i = draw(uid([se])), draw(uid([i]))
        level = draw(st.sampled_from(["study", "series", "instance", "instance", "instance"]))
        base = {"study": f"studies/{s}", "series": f"studies/{s}/series/{se}",
                "instance": f"studies/{s}/series/{se}/instances/{i}"}[level]
        if level == "study" and s not in fz.studies:
            base = f"studies/{draw(fs.hostile_uid(fz.uids))}"  # never retrieve the 42-instance CT study
        tails = ["", "/metadata", "/rendered", "/thumbnail"]
        if level == "instance":
            frames = draw(st.one_of(st.sampled_from(FRAMES), fs.wire_text(max_size=10)))
            tails += [f"/frames/{frames}", f"/frames/{frames}/rendered", f"/frames/{frames}/thumbnail",
                      "/bulk/" + draw(st.one_of(st.sampled_from(BULK), fs.wire_text(max_size=20)))]
        tail = draw(st.sampled_from(tails))
        query = draw(RENDER_QUERY) if tail.endswith(("rendered", "thumbnail")) else ""
        return "GET", ROOT + base + tail, query or None

    @st.composite
    def wado_uri(draw: st.DrawFn) -> tuple[str, str, str | None]:
        s, se, i = draw(st.sampled_from(fz.instances))
        good = {"requestType": "WADO", "studyUID": s, "seriesUID": se, "objectUID": i}
        pairs = [(k, v) for k, v in good.items() if draw(st.integers(0, 5))]
        for _ in range(draw(st.integers(0, 4))):
            key = draw(st.sampled_from(WADO_KEYS))
            value = draw(st.one_of(st.sampled_from(WADO_VALUES), fs.hostile_uid(fz.uids), fs.wire_text(10)))
            pairs.append((key, value))
        pairs = draw(st.permutations(pairs))
        return "GET", "/wado", "&".join(f"{k}={v if '%' in v else fs.percent_encode(v, ',;*/')}" for k, v in pairs)

    @st.composite
    def orthanc(draw: st.DrawFn) -> tuple[str, str, str | None]:
        level = draw(st.sampled_from(["patients", "studies", "series", "instances"]))
        hostile = draw(st.one_of(fs.hostile_uid(fz.uids), st.sampled_from(orthanc_ids).map(lambda o: o + "0")))
        if draw(st.integers(0, 3)) == 0:
            return "DELETE", f"/{level}/{hostile}", None  # never a stored resource
        oid = draw(st.one_of(st.sampled_from(fz.orthanc[level]), st.just(hostile)))
        tail = "/file" if level == "instances" and draw(st.booleans()) else ""
        query = draw(st.sampled_from([None, "expand", "expand=%FF", "%"]))
        return "GET", draw(st.sampled_from([f"/{level}/{oid}{tail}", f"/{level}"])), query

    @st.composite
    def servers(draw: st.DrawFn) -> tuple[str, str, str | None]:
        name = draw(st.one_of(st.just("none"), fs.hostile_uid(fz.uids), fs.wire_text(max_size=12)))
        method, tail = draw(st.sampled_from([("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/get"),
                                             ("POST", "/stow"), ("POST", "/retrieve")]))
        if draw(st.integers(0, 5)) == 0:
            return "GET", ROOT + "servers", draw(st.sampled_from([None, "expand", "%FF"]))
        return method, f"{ROOT}servers/{name}{tail}", None

    @settings(SETTINGS, max_examples=n)
    @given(route=st.one_of(wado_rs(), wado_rs(), wado_uri(), orthanc(), servers()),
           body=st.one_of(st.none(), fs.json_garbage().map(lambda v: json.dumps(v).encode()), st.binary(max_size=64)))
    def one(route: tuple[str, str, str | None], body: bytes | None) -> None:
        method, path, query = route
        fz.send("paths", method, path, query=query, data=body if method in ("PUT", "POST") else None)
    one()
    assert not fz.app.settings.dicomweb.servers, "an invalid PUT servers/{name} registered a server"


HUGE = {"a*100k": "a" * 100_000, "q-params": "*/*;" + "q=1;" * 25_000, "commas": "x," * 50_000,
        "latin1": "\u00e9" * 100_000, "quotes": '"' * 100_000, "escapes": "%FF" * 33_000,
        "label64": "a" * 64, "labels": "a." * 50_000}
HUGE_HEADERS = ["Accept", "Content-Type", "Host", "X-Forwarded-Host", "X-Forwarded-Proto", "Authorization",
                "Cookie", "Range", "If-None-Match", "Content-Encoding", "X-Anything"]


def run_huge(fz: Fuzzer, n: int) -> None:
    """100 kB header values, query strings and path segments (and a 64-character host label)."""
    @settings(SETTINGS, max_examples=n)
    @given(route=_cheap_routes(fz), header=st.sampled_from(HUGE_HEADERS), key=st.sampled_from(sorted(HUGE)),
           where=st.integers(0, 3))
    def one(route: str, header: str, key: str, where: int) -> None:
        value = HUGE[key]
        path, _, query = route.partition("?")
        if where == 0:
            query = (query + "&" if query else "") + "PatientID=" + fs.percent_encode(value)
        elif where == 1:
            path = f"{ROOT}studies/{fs.percent_encode(value)}/metadata"
        method = "POST" if header == "Content-Type" and where == 2 else "GET"
        fz.send("huge", method, ROOT + "studies" if method == "POST" else path, query=query or None,
                headers={header: value}, data=b"x" if method == "POST" else None)
    one()


# ------------------------------------------------------------------------------------------ raw sockets

def run_raw(fz: Fuzzer, n: int) -> None:
    """Raw HTTP/1.x bytes to werkzeug's threaded server (RFC 7230 3: request line, fields, framing)."""
    s, se, i = fz.instances[0]
    targets = [ROOT + "studies", f"{ROOT}studies/{s}/series/{se}/instances/{i}/metadata", "/wado", "/system",
               f"{ROOT}studies/{s}", "/instances", f"{ROOT}servers", "/nope", ROOT + "studies?PatientID=%FF"]
    with serve_in_thread(fz.app) as server:
        port = server.server.server_port

        @settings(SETTINGS, max_examples=n)
        @given(request=fs.raw_request(targets))
        def one(request: fs.RawRequest) -> None:
            statuses = fs.check_raw(request, fs.exchange(port, request.data))
            fz.record("raw", *(s for s in statuses if s >= 200))
            if fz.counts["raw"] % 25 == 0:
                assert fs.http_ping(port) == 200, "the threaded server stopped answering"
                fz.record("liveness", 200)
        one()
        assert fs.http_ping(port) == 200


RUNNERS = {"qido": run_qido, "headers": run_headers, "stow": run_stow, "dicom": run_dicom, "paths": run_paths,
           "huge": run_huge, "raw": run_raw}


# ------------------------------------------------------------------------------------------ fixtures and tests

def fuzz_app(fixture_store_dir: Path, directory: Path) -> MockApp:
    """A writable copy of the fixture disk store with small limits, so that fuzzing reaches them."""
    shutil.copytree(fixture_store_dir, directory)
    settings_ = parse_config({"MaximumResults": MAX_RESULTS, "MaximumBodySize": MAX_BODY})
    return create_app(settings_, DiskStore(directory))


@pytest.fixture(scope="module")
def fuzzer(fixture_store_dir: Path, manifest: dict[str, Any], tmp_path_factory) -> Iterator[Fuzzer]:
    app = fuzz_app(fixture_store_dir, tmp_path_factory.mktemp("fuzz") / "store")
    yield Fuzzer(app, manifest)
    app.store.close()


def finish(fz: Fuzzer, label: str, started: float, since: tuple[Counter[str], Counter[int]],
           record_property) -> None:
    """End-of-run invariants, then print and record the counts of this run."""
    fz.ping()
    fz.check_store()
    print(fz.summary(label, time.monotonic() - started, since))
    record_property("fuzz_requests", (fz.counts - since[0]).total())
    record_property("fuzz_statuses", json.dumps(dict(fz.statuses - since[1])))


def mark(fz: Fuzzer) -> tuple[Counter[str], Counter[int]]:
    return Counter(fz.counts), Counter(fz.statuses)


@pytest.mark.parametrize("category", list(RUNNERS))
def test_fuzz_category(fuzzer: Fuzzer, category: str, record_property) -> None:
    """Each category with its share of ``FUZZ_REQUESTS``: no 5xx, one-line 4xx, store intact."""
    n = share(category, budget())
    since, started = mark(fuzzer), time.monotonic()
    RUNNERS[category](fuzzer, n)
    assert fuzzer.counts[category] - since[0][category] >= n
    finish(fuzzer, category, started, since, record_property)


@pytest.mark.slow
def test_fuzz_full_budget(fixture_store_dir: Path, manifest: dict[str, Any], tmp_path: Path, request,
                          record_property) -> None:
    """Every category with the full budget (5,000+ requests) on a fresh copy; only with ``-m slow``."""
    if "slow" not in (request.config.getoption("markexpr") or "").replace("not slow", ""):
        pytest.skip("the full fuzz budget runs with -m slow")
    total = max(FULL_BUDGET, budget() if "FUZZ_REQUESTS" in os.environ else 0)
    app = fuzz_app(fixture_store_dir, tmp_path / "store")
    try:
        fz = Fuzzer(app, manifest)
        since, started = mark(fz), time.monotonic()
        for category, runner in RUNNERS.items():
            runner(fz, share(category, total))
            assert fz.counts[category] >= share(category, total)
        finish(fz, "full", started, since, record_property)
        assert fz.counts.total() - fz.counts["liveness"] >= total
    finally:
        app.store.close()


