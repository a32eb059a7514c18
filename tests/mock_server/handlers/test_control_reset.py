"""``POST /_mock/reset`` sets the whole runtime state back to the configuration's: the store,
the active faults, the DICOMweb servers registered at run time and the request log."""

from __future__ import annotations


from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from tests.helpers.http import MockClient

CONFIG = {"DicomWeb": {"Servers": {"configured": ["http://127.0.0.1:1/dicom-web/"]}}, "RecordRequests": True}


def test_reset_restores_faults_servers_and_the_request_log() -> None:
    app = create_app(parse_config(CONFIG), fixtures=False)
    try:
        c = MockClient(app)
        assert c.put("/_mock/faults", json=["qido-ignore-limit"]).status_code == 200
        assert c.put("/dicom-web/servers/added", json=["http://127.0.0.1:2/dicom-web/"]).status_code == 200
        assert c.delete("/dicom-web/servers/configured").status_code == 200
        c.get("/dicom-web/studies", headers={"Accept": "application/dicom+json"})
        assert c.get("/_mock/requests").get_json()["Requests"]
        assert app.settings.faults == [] and list(app.settings.dicomweb.servers) == ["configured"]

        assert c.post("/_mock/reset?empty").status_code == 200
        assert c.get("/_mock/requests").get_json()["Requests"] == []
        assert c.get("/_mock/faults").get_json()["Active"] == []
        assert c.get("/dicom-web/servers").get_json() == ["configured"]
    finally:
        app.store.close()
