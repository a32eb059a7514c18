"""The Capabilities Description document (PS3.18 Annex H) built from route entries."""

from __future__ import annotations

from lxml import etree

from dicomweb_mock.dicomweb.capabilities import WADL_NS, RouteEntry, capabilities_wadl, template_path

W = f"{{{WADL_NS}}}"
BASE = "http://example.org:8042/dicom-web/"
ENTRIES = [
    RouteEntry("studies", "GET", "search"),
    RouteEntry("studies", "POST", "store"),
    RouteEntry("studies/<study>", "GET", "retrieve-instances"),
    RouteEntry("studies/<study>/series/<series>/instances/<instance>/bulk/<path:bulk>", "GET", "retrieve-bulkdata"),
    RouteEntry("servers/<name>", "PUT", "put_server"),
]


def _doc(entries=ENTRIES) -> etree._Element:
    return etree.fromstring(capabilities_wadl(BASE, entries))


def test_template_path_turns_converters_into_wadl_templates():
    assert template_path("studies/<study>/bulk/<path:bulk>") == "studies/{study}/bulk/{bulk}"


def test_one_application_with_one_resources_element_at_the_base_url():
    root = _doc()
    assert root.tag == f"{W}application"
    resources = root.findall(f"{W}resources")
    assert len(resources) == 1 and resources[0].get("base") == BASE


def test_resources_nest_by_path_segment_with_their_methods():
    root = _doc()
    studies = root.find(f"{W}resources/{W}resource[@path='studies']")
    assert sorted(m.get("name") for m in studies.findall(f"{W}method")) == ["GET", "POST"]
    study = studies.find(f"{W}resource[@path='{{study}}']")
    assert [m.get("name") for m in study.findall(f"{W}method")] == ["GET"]
    template = study.find(f"{W}param")
    assert (template.get("name"), template.get("style")) == ("study", "template")
    bulk = root.xpath("//w:resource[@path='bulk']/w:resource[@path='{bulk}']/w:method/@name", namespaces={"w": WADL_NS})
    assert bulk == ["GET"]


def test_methods_list_their_query_parameters():
    root = _doc()
    search = root.find(f"{W}resources/{W}resource[@path='studies']/{W}method[@name='GET']")
    params = [p.get("name") for p in search.findall(f"{W}request/{W}param[@style='query']")]
    assert {"limit", "offset", "includefield", "fuzzymatching", "charset"} <= set(params)
    store = root.find(f"{W}resources/{W}resource[@path='studies']/{W}method[@name='POST']")
    assert len(store) == 0


def test_an_unknown_transaction_gets_no_query_parameters():
    put = _doc().xpath("//w:resource[@path='{name}']/w:method[@name='PUT']", namespaces={"w": WADL_NS})[0]
    assert len(put) == 0


def test_supported_character_sets_are_documented():
    docs = _doc().findall(f"{W}doc")
    assert any("UTF-8" in (d.text or "") for d in docs)


def test_no_entries_give_an_empty_resources_element():
    resources = _doc([]).find(f"{W}resources")
    assert resources is not None and len(resources) == 0
