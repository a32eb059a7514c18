"""The mock behind a path: URLs it hands out keep the prefix (SCRIPT_NAME or X-Forwarded-Prefix)."""

from __future__ import annotations

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response
from tests.helpers.http import MockClient

BULK = "BulkDataURI"


@pytest.fixture(scope="module")
def instance(manifest) -> dict:
    return next(i for i in manifest["instances"] if i["NumberOfFrames"] == 1 and i["Rows"])


def metadata_path(i: dict) -> str:
    return (f"/dicom-web/studies/{i['StudyInstanceUID']}/series/{i['SeriesInstanceUID']}"
            f"/instances/{i['SOPInstanceUID']}/metadata")


def bulk_uris(response) -> list[str]:
    (ds,) = response.get_json()
    return [e[BULK] for e in ds.values() if isinstance(e, dict) and BULK in e]


def test_mounted_under_a_script_name(fixture_app, instance):
    outside = DispatcherMiddleware(Response("not the mock", status=404), {"/pacs": fixture_app})
    c = MockClient(outside)
    r = c.get("/pacs" + metadata_path(instance))
    assert r.status_code == 200
    uris = bulk_uris(r)
    assert uris and all(u.startswith("http://localhost/pacs/dicom-web/studies/") for u in uris)
    rendered = c.get("/pacs" + metadata_path(instance).replace("/metadata", "/rendered"))
    assert rendered.headers["Content-Location"].startswith("http://localhost/pacs/dicom-web/")
    page = c.get("/pacs/").get_data(as_text=True)
    assert 'src="_browser/app.js"' in page and 'data-root="dicom-web/"' in page


@pytest.mark.parametrize("prefix,expected", [("/pacs", "/pacs"), ("/pacs/", "/pacs"), ("/a/b", "/a/b"),
                                             ("pacs", ""), ("/pa cs", ""), ("/x/<y>", "")])
def test_x_forwarded_prefix(client, instance, prefix, expected):
    r = client.get(metadata_path(instance), headers={"X-Forwarded-Prefix": prefix})
    uris = bulk_uris(r)
    assert uris and all(u.startswith(f"http://localhost{expected}/dicom-web/studies/") for u in uris)
