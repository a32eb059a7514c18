"""The route table: which handler answers which URL (as moto's ``urls.py``).

PS3.18 chapter 10 resources under ``DicomWeb.Root``, WADO-URI (chapter 9) under
``DicomWeb.WadoRoot``, the small part of Orthanc's REST API the seed uses, the study
browser, and the ``/_mock`` control routes.  Every endpoint is called as
``handler(state, request, **url_values)``.
"""

from __future__ import annotations

from werkzeug.routing import Rule

from .config import Settings
from .dicomweb.capabilities import RouteEntry

__all__ = ["rules", "capability_entries"]

#: The transaction (a key of ``dicomweb.capabilities.TRANSACTIONS``) of each DICOMweb endpoint.
_TRANSACTIONS = {
    "search_studies": "search", "search_study_series": "search", "search_study_instances": "search",
    "search_series": "search", "search_series_instances": "search", "search_instances": "search",
    "store_instances": "store", "retrieve_instances": "retrieve-instances",
    "retrieve_metadata": "retrieve-metadata", "retrieve_frames": "retrieve-frames",
    "retrieve_bulk": "retrieve-bulkdata", "retrieve_rendered": "retrieve-rendered",
    "retrieve_thumbnail": "retrieve-thumbnail",
}


def rules(settings: Settings) -> list[Rule]:
    """The rules for ``settings`` (DICOMweb and WADO-URI routes only when enabled)."""
    from .handlers import browser, capabilities, control, orthanc_rest, wado_uri

    rules: list[Rule] = [
        # The study browser (people's view of the store, over the DICOMweb API below)
        Rule("/", endpoint=browser.index, methods=["GET"]),
        Rule("/_browser/keywords.json", endpoint=browser.keywords, methods=["GET"]),
        Rule("/_browser/<name>", endpoint=browser.asset, methods=["GET"]),
        Rule("/system", endpoint=orthanc_rest.system, methods=["GET"]),
        Rule("/<any(patients,studies,series,instances):level>", endpoint=orthanc_rest.list_resources,
             methods=["GET"]),
        Rule("/instances", endpoint=orthanc_rest.upload_instance, methods=["POST"]),
        Rule("/<any(patients,studies,series,instances):level>/<oid>", endpoint=orthanc_rest.get_resource,
             methods=["GET"]),
        Rule("/<any(patients,studies,series,instances):level>/<oid>", endpoint=orthanc_rest.delete_resource,
             methods=["DELETE"]),
        Rule("/instances/<oid>/file", endpoint=orthanc_rest.instance_file, methods=["GET"]),
        Rule("/_mock/reset", endpoint=control.reset, methods=["POST"]),
        Rule("/_mock/status", endpoint=control.status, methods=["GET"]),
        Rule("/_mock/faults", endpoint=control.get_faults, methods=["GET"]),
        Rule("/_mock/requests", endpoint=control.get_requests, methods=["GET"]),
        Rule("/_mock/requests", endpoint=control.clear_requests, methods=["DELETE"]),
        Rule("/_mock/faults", endpoint=control.set_faults, methods=["PUT"]),
    ]
    dw = settings.dicomweb
    if dw.enable:
        served = _dicomweb_rules(settings)
        # Retrieve Capabilities (PS3.18 8.9): OPTIONS on the base URI and on each resource below it
        paths = dict.fromkeys([dw.root] + [rule.rule for rule in served])
        rules += served + [Rule(path, endpoint=capabilities.retrieve_capabilities, methods=["OPTIONS"])
                           for path in paths]
    if dw.enable_wado:
        rules.append(Rule(dw.wado_root, endpoint=wado_uri.wado_uri, methods=["GET"]))
    return rules


def _dicomweb_rules(settings: Settings) -> list[Rule]:
    """The routes below ``DicomWeb.Root``: the client side of the seed, QIDO-RS, STOW-RS, WADO-RS."""
    from .handlers import qido, servers, stow, wado_rs

    r = settings.dicomweb.root
    s, se, i = "studies/<study>", "series/<series>", "instances/<instance>"
    return [
        # The client side (seed: "Querying a remote DICOMweb server")
        Rule(f"{r}servers", endpoint=servers.list_servers, methods=["GET"]),
        Rule(f"{r}servers/<name>", endpoint=servers.get_server, methods=["GET"]),
        Rule(f"{r}servers/<name>", endpoint=servers.put_server, methods=["PUT"]),
        Rule(f"{r}servers/<name>", endpoint=servers.delete_server, methods=["DELETE"]),
        Rule(f"{r}servers/<name>/get", endpoint=servers.remote_get, methods=["POST"]),
        Rule(f"{r}servers/<name>/stow", endpoint=servers.remote_stow, methods=["POST"]),
        Rule(f"{r}servers/<name>/retrieve", endpoint=servers.remote_retrieve, methods=["POST"]),
        # QIDO-RS (PS3.18 10.6)
        Rule(f"{r}studies", endpoint=qido.search_studies, methods=["GET"]),
        Rule(f"{r}{s}/series", endpoint=qido.search_study_series, methods=["GET"]),
        Rule(f"{r}{s}/instances", endpoint=qido.search_study_instances, methods=["GET"]),
        Rule(f"{r}series", endpoint=qido.search_series, methods=["GET"]),
        Rule(f"{r}{s}/{se}/instances", endpoint=qido.search_series_instances, methods=["GET"]),
        Rule(f"{r}instances", endpoint=qido.search_instances, methods=["GET"]),
        # STOW-RS (PS3.18 10.5)
        Rule(f"{r}studies", endpoint=stow.store_instances, methods=["POST"]),
        Rule(f"{r}{s}", endpoint=stow.store_instances, methods=["POST"]),
        # WADO-RS (PS3.18 10.4)
        Rule(f"{r}{s}", endpoint=wado_rs.retrieve_instances, methods=["GET"]),
        Rule(f"{r}{s}/{se}", endpoint=wado_rs.retrieve_instances, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}", endpoint=wado_rs.retrieve_instances, methods=["GET"]),
        Rule(f"{r}{s}/metadata", endpoint=wado_rs.retrieve_metadata, methods=["GET"]),
        Rule(f"{r}{s}/{se}/metadata", endpoint=wado_rs.retrieve_metadata, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/metadata", endpoint=wado_rs.retrieve_metadata, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/frames/<frames>", endpoint=wado_rs.retrieve_frames, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/bulk/<path:bulk>", endpoint=wado_rs.retrieve_bulk, methods=["GET"]),
        Rule(f"{r}{s}/rendered", endpoint=wado_rs.retrieve_rendered, methods=["GET"]),
        Rule(f"{r}{s}/{se}/rendered", endpoint=wado_rs.retrieve_rendered, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/rendered", endpoint=wado_rs.retrieve_rendered, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/frames/<frames>/rendered", endpoint=wado_rs.retrieve_rendered,
             methods=["GET"]),
        Rule(f"{r}{s}/thumbnail", endpoint=wado_rs.retrieve_thumbnail, methods=["GET"]),
        Rule(f"{r}{s}/{se}/thumbnail", endpoint=wado_rs.retrieve_thumbnail, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/thumbnail", endpoint=wado_rs.retrieve_thumbnail, methods=["GET"]),
        Rule(f"{r}{s}/{se}/{i}/frames/<frames>/thumbnail", endpoint=wado_rs.retrieve_thumbnail,
             methods=["GET"]),
    ]


def capability_entries(settings: Settings) -> list[RouteEntry]:
    """The DICOMweb routes of :func:`rules` below ``DicomWeb.Root``: what the Capabilities Description lists."""
    root = settings.dicomweb.root
    entries = []
    for rule in _dicomweb_rules(settings) if settings.dicomweb.enable else []:
        endpoint = getattr(rule.endpoint, "__name__", "")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            entries.append(RouteEntry(rule.rule[len(root):], method, _TRANSACTIONS.get(endpoint, endpoint)))
    return entries
