"""Print timings of common requests against the mock holding the fixture data set.

    python3 bench/fixture_timings.py [--repeat N]

Starts the mock in-process (threaded werkzeug server, fixtures loaded), then
times each request N times over HTTP and prints the median and the 90th
percentile.  A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dicomweb_fixtures as fixtures  # noqa: E402
from dicomweb_mock.app import create_app  # noqa: E402
from dicomweb_mock.threaded import serve_in_thread  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="requests per operation (default 20)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    manifest = fixtures.load_manifest()
    ct = next(s for s in manifest["series"] if s["Modality"] == "CT" and s["NumberOfSeriesRelatedInstances"] >= 40)
    study = ct["StudyInstanceUID"]
    multi = next(i for i in manifest["instances"] if i["NumberOfFrames"] >= 10)
    started = time.perf_counter()
    app = create_app()
    load_time = time.perf_counter() - started
    with serve_in_thread(app) as server, requests.Session() as http:
        base = server.dicomweb_url
        inst = f"studies/{multi['StudyInstanceUID']}/series/{multi['SeriesInstanceUID']}/instances/{multi['SOPInstanceUID']}"
        ops = {
            "QIDO /studies (all)": ("studies", {"Accept": "application/dicom+json"}),
            "QIDO /studies?PatientName=doe*": ("studies?PatientName=doe*", {"Accept": "application/dicom+json"}),
            "QIDO /studies?StudyDate=2015-2021": ("studies?StudyDate=20150101-20211231", {"Accept": "application/dicom+json"}),
            f"QIDO instances of the CT series ({ct['NumberOfSeriesRelatedInstances']})":
                (f"studies/{study}/series/{ct['SeriesInstanceUID']}/instances", {"Accept": "application/dicom+json"}),
            "WADO-RS series metadata (CT)": (f"studies/{study}/series/{ct['SeriesInstanceUID']}/metadata",
                                             {"Accept": "application/dicom+json"}),
            "WADO-RS series retrieve (CT, as stored)": (f"studies/{study}/series/{ct['SeriesInstanceUID']}",
                                                        {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}),
            "WADO-RS one frame (octet-stream)": (f"{inst}/frames/5",
                                                 {"Accept": 'multipart/related; type="application/octet-stream"'}),
            "WADO-RS rendered frame (JPEG)": (f"{inst}/frames/5/rendered", {"Accept": "image/jpeg"}),
        }
        print(f"mock start-up with {len(manifest['instances'])} fixture instances: {load_time * 1000:.0f} ms")
        print(f"{'operation':<52} {'median ms':>10} {'p90 ms':>8} {'bytes':>10}")
        for name, (path, headers) in ops.items():
            times, size = [], 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                response = http.get(base + path, headers=headers)
                size = len(response.content)
                times.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    print(f"{name}: HTTP {response.status_code} {response.text[:100]}", file=sys.stderr)
                    return 1
            times.sort()
            p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
            print(f"{name:<52} {statistics.median(times):>10.1f} {p90:>8.1f} {size:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
