"""The load mode (``dicomweb-conformance load``): its checks, its summary, and short runs on Locust.

The runs are a few seconds long and assert what the summary holds, never how fast anything was.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import requests

from dicomweb_conformance.cli import main as cli_main
from dicomweb_conformance.http import multipart_related
from dicomweb_conformance.load import checks
from dicomweb_conformance.load.cli import parse_run_time
from dicomweb_conformance.load.summary import classify, render_markdown, summarize

# Never import locust here: it monkey-patches the process (gevent); the load mode runs it in a subprocess.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="Locust is not installed")

KIND_KEYS = {"requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "average_bytes",
             "http_failures", "conformance_errors"}


# -- checks ---------------------------------------------------------------------------------------
def test_status_problems_are_http_failures():
    assert checks.check_status(200, (200,)) is None
    assert checks.check_status(503, (200,)) == ("http", "status 503, expected 200")
    kind, message = checks.check_status(0, (200,), "ConnectionError(refused)")
    assert kind == "http" and "no answer" in message


def test_dicom_json_media_type_and_schema():
    good = json.dumps([{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]).encode()
    assert checks.check_dicom_json("application/dicom+json", good) == (None, json.loads(good))
    problem, doc = checks.check_dicom_json("text/plain", good)
    assert problem[0] == "conformance" and "text/plain" in problem[1] and doc  # readable: the journey goes on
    problem, _ = checks.check_dicom_json("application/dicom+json",
                                         json.dumps([{"00201208": {"vr": "IS", "Value": [{}]}}]).encode())
    assert problem[0] == "conformance" and problem[1].startswith("DICOM JSON")
    problem, doc = checks.check_dicom_json("application/dicom+json", b"{not json")
    assert problem[0] == "conformance" and doc is None


def test_frames_multipart_syntax():
    body, content_type = multipart_related([b"\x00\x01"], part_type="application/octet-stream")
    assert checks.check_frames(content_type, body) is None
    no_type = content_type.replace('type="application/octet-stream"; ', "")
    assert "type" in checks.check_frames(no_type, body)[1]
    assert checks.check_frames(content_type, body, frames=2) == ("conformance", "1 parts for 2 frame(s) requested")
    empty, ct = multipart_related([b""], part_type="application/octet-stream")
    assert checks.check_frames(ct, empty) == ("conformance", "empty frame part")


def test_rendered_and_stow():
    assert checks.check_rendered("image/jpeg", b"\xff\xd8\xff\xe0") is None
    assert checks.check_rendered("image/png", b"\x89PNG")[0] == "conformance"
    assert "SOI" in checks.check_rendered("image/jpeg", b"\x89PNG")[1]
    ref = {"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3.4.5"]}}]}}
    assert checks.check_stow("application/dicom+json", json.dumps(ref).encode(), ["1.2.3.4.5"]) is None
    assert "lacks" in checks.check_stow("application/dicom+json", json.dumps(ref).encode(), ["1.2.3.4.6"])[1]


def test_messages_do_not_vary_per_request():
    a = checks.generic("/3/0020000D/Value/0: '2.25.123456.1.2.3' is not valid under any of the given schemas")
    b = checks.generic("/7/0020000D/Value/0: '2.25.999.4.5.6.7' is not valid under any of the given schemas")
    assert a == b


# -- options --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [("30", 30), ("30s", 30), ("2m", 120), ("1h30m", 5400)])
def test_run_time(text, seconds):
    assert parse_run_time(text) == seconds


@pytest.mark.parametrize("argv", [["--run-time", "soon"], ["--users", "0"], ["--spawn-rate", "x"],
                                  ["--header", "no colon"], ["--master", "--worker"]],
                         ids=["run-time", "users", "spawn-rate", "header", "master-worker"])
def test_bad_options_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["load", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dicomweb-conformance load: error:")


# -- summary --------------------------------------------------------------------------------------
def test_summary_tells_conformance_errors_from_http_failures(tmp_path):
    stats = {"entries": [{"name": "QIDO studies", "requests": 10, "failures": 4, "requests_per_s": 2.0,
                          "p50_ms": 5, "p95_ms": 9, "p99_ms": 12, "max_ms": 15, "average_bytes": 900}],
             "total": {"name": "Aggregated", "requests": 10, "failures": 4, "requests_per_s": 2.0,
                       "p50_ms": 5, "p95_ms": 9, "p99_ms": 12, "max_ms": 15, "average_bytes": 900},
             "errors": [{"name": "QIDO studies", "error": "ConformanceError('Content-Type text/plain')",
                         "occurrences": 3},
                        {"name": "QIDO studies", "error": "HttpFailure('status 503, expected 200')",
                         "occurrences": 1}]}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(stats))
    summary = summarize(path, target="x")
    assert summary["conformance_errors"] == 3 and summary["http_failures"] == 1
    assert summary["kinds"]["QIDO studies"]["conformance_errors"] == 3
    assert "| QIDO studies | 10 |" in render_markdown(summary)
    assert classify("ConnectionRefusedError(111, 'refused')")[0] == "http"


# -- short runs -----------------------------------------------------------------------------------
def _run(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    reports = tmp_path / "reports"
    rc = cli_main(["load", "--users", "4", "--spawn-rate", "4", "--run-time", "5s", "--think-time", "0.1",
                   "--reports-dir", str(reports), *extra])
    return rc, json.loads((reports / "load-summary.json").read_text())


def test_short_run_against_the_embedded_mock(tmp_path):
    rc, summary = _run(tmp_path)
    assert (tmp_path / "reports" / "load-report.html").stat().st_size > 0
    assert (tmp_path / "reports" / "load-summary.md").read_text().startswith("# Load run against")
    assert {"target", "server", "users", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms",
            "http_failures", "conformance_errors", "kinds", "problems"} <= set(summary)
    assert summary["requests"] > 0 and summary["users"] == 4
    assert {"QIDO studies", "QIDO series", "series metadata"} <= set(summary["kinds"])
    for kind in summary["kinds"].values():
        assert set(kind) == KIND_KEYS
    assert (summary["http_failures"], summary["conformance_errors"], summary["problems"]) == (0, 0, [])
    assert rc == 0


def test_an_injected_fault_shows_as_conformance_errors(tmp_path):
    from dicomweb_mock.app import create_app
    from dicomweb_mock.config import Settings
    from dicomweb_mock.threaded import serve_in_thread

    app = create_app(Settings(), fixtures=False)
    try:
        with serve_in_thread(app) as server:
            put = requests.put(f"{server.url}/_mock/faults", json=["qido-text-content-type"], timeout=10)
            assert put.status_code == 200
            rc, summary = _run(tmp_path, "--dicomweb-url", server.dicomweb_url, "--no-upload")
    finally:
        app.store.close()
    assert rc == 1
    assert summary["conformance_errors"] > 0 and summary["http_failures"] == 0
    assert summary["kinds"]["QIDO studies"]["conformance_errors"] > 0
    assert summary["kinds"]["series metadata"]["conformance_errors"] == 0
    assert {p["type"] for p in summary["problems"]} == {"conformance"}
    assert any("text/plain" in p["message"] for p in summary["problems"])
