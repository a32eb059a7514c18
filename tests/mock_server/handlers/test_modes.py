"""Default (forgiving) mode vs strict mode: each rule of mock_server.leniency.RULES, both ways."""

from __future__ import annotations

import json
import logging
from typing import Iterator

import pytest

from dicomweb_conformance.target import start_embedded_mock
from dicomweb_mock.__main__ import build_parser
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.leniency import RULES
from tests.helpers import REPO_ROOT
from tests.helpers.http import MockClient

BOUNDARY = "modes-boundary-42"
STUDIES = "/dicom-web/studies"


def multipart_body(data: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{BOUNDARY}--\r\n".encode())


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, MockApp]]:
    made = {"default": create_app(parse_config({})),
            "strict": create_app(parse_config({"DicomWeb": {"Strict": True}}))}
    yield made
    for app in made.values():
        app.store.close()


@pytest.fixture(scope="module")
def instance(manifest) -> dict:
    return next(i for i in manifest["instances"] if i["NumberOfFrames"] == 1 and i["Rows"])


def no_accept_paths(i: dict) -> list[str]:
    base = f"{STUDIES}/{i['StudyInstanceUID']}/series/{i['SeriesInstanceUID']}/instances/{i['SOPInstanceUID']}"
    return [STUDIES, f"{base}/metadata", f"{base}/frames/1", f"{base}/rendered", base]


def warnings_of(r) -> list[str]:
    return r.headers.getlist("Warning")


@pytest.mark.parametrize("index", range(5))
def test_missing_accept_strict_is_406(apps, instance, index):
    r = MockClient(apps["strict"]).get(no_accept_paths(instance)[index], headers={"Accept": None})
    assert r.status_code == 406
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "no Accept header" in r.get_data(as_text=True)


@pytest.mark.parametrize("index,media_type", list(enumerate([
    "application/dicom+json", "application/dicom+json", "multipart/related", "image/jpeg", "multipart/related"])))
def test_missing_accept_default_serves_the_default_media_type(apps, instance, index, media_type, caplog):
    with caplog.at_level(logging.WARNING, logger="mock_server.leniency"):
        r = MockClient(apps["default"]).get(no_accept_paths(instance)[index], headers={"Accept": None})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith(media_type)
    (warning,) = warnings_of(r)
    assert warning.startswith("299 ") and "8.7.5" in warning and "no Accept header" in warning
    assert "strict mode answers 406" in warning
    assert any("forgiven" in rec.getMessage() and "8.7.5" in rec.getMessage() for rec in caplog.records)


def test_accept_given_no_warning_in_either_mode(apps):
    for app in apps.values():
        r = MockClient(app).get(STUDIES, headers={"Accept": "application/dicom+json"})
        assert r.status_code == 200 and not warnings_of(r)


def test_require_accept_key_overrides_the_mode():
    app = create_app(parse_config({"DicomWeb": {"RequireAccept": True}}), fixtures=False)
    try:
        assert MockClient(app).get(STUDIES, headers={"Accept": None}).status_code == 406
    finally:
        app.store.close()


def test_stow_without_accept(files, apps):
    # The JavaScript dicomweb-client (OHIF) stores with no Accept header.
    data = files["wang-ct-001.dcm"].read_bytes()
    ctype = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    for mode, app in (("strict", create_app(parse_config({"DicomWeb": {"Strict": True}}), fixtures=False)),
                      ("default", create_app(parse_config({}), fixtures=False))):
        try:
            r = MockClient(app).post(STUDIES, data=multipart_body(data), headers={"Content-Type": ctype, "Accept": None})
            if mode == "strict":
                assert r.status_code == 406 and app.store.counts()["instances"] == 0
            else:
                assert r.status_code == 200 and r.headers["Content-Type"] == "application/dicom+json"
                assert "00081199" in json.loads(r.get_data())
                assert any("8.7.5" in w for w in warnings_of(r))
        finally:
            app.store.close()


def test_stow_without_type_parameter(files):
    data = files["wang-ct-001.dcm"].read_bytes()
    ctype = f"multipart/related; boundary={BOUNDARY}"
    strict = create_app(parse_config({"DicomWeb": {"Strict": True}}), fixtures=False)
    default = create_app(parse_config({}), fixtures=False)
    try:
        r = MockClient(strict).post(STUDIES, data=multipart_body(data), headers={"Content-Type": ctype})
        assert r.status_code == 415 and "type parameter" in r.get_data(as_text=True)
        assert strict.store.counts()["instances"] == 0
        r = MockClient(default).post(STUDIES, data=multipart_body(data), headers={"Content-Type": ctype})
        assert r.status_code == 200 and default.store.counts()["instances"] == 1
        assert any("10.5.1.3" in w for w in warnings_of(r))
    finally:
        strict.store.close()
        default.store.close()


def test_every_rule_names_its_section_and_both_answers():
    for rule in RULES.values():
        assert rule.section.startswith("PS3.18") and rule.strict[:3].isdigit() and rule.default


def test_readme_table_lists_every_rule():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Default and strict mode", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "PS3.18" in line]
    assert len(rows) == len(RULES)
    for rule, row in zip(RULES.values(), rows):
        assert rule.section in row and rule.strict in row


def test_mode_selected_by_cli_and_config():
    assert build_parser().parse_args(["--strict"]).strict
    assert not build_parser().parse_args([]).strict
    assert parse_config({"DicomWeb": {"Strict": True}}).dicomweb.strict
    assert not parse_config({}).dicomweb.strict
    with pytest.raises(Exception, match="DicomWeb.Strict"):
        parse_config({"DicomWeb": {"Strict": "yes"}})


def test_the_suites_embedded_mock_is_strict():
    mock = start_embedded_mock()
    try:
        assert mock.app.settings.dicomweb.strict
    finally:
        mock.stop()
