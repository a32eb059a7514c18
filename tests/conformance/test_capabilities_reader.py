"""How the suite reads a Capabilities Description: WADL allows the same tree in several shapes."""

from __future__ import annotations

from lxml import etree

from dicomweb_conformance.test_capabilities import resource_methods

HEAD = '<application xmlns="http://wadl.dev.java.net/2009/02">'


def _read(body: str) -> dict[str, set[str]]:
    return resource_methods(etree.fromstring(f"{HEAD}{body}</application>"))


def test_nested_resources_join_their_paths():
    found = _read('<resources base="http://h/dw/"><resource path="studies"><method name="GET"/>'
                  '<resource path="{study}"><resource path="metadata"><method name="get"/></resource></resource>'
                  '</resource></resources>')
    assert found["studies"] == {"GET"} and found["studies/{}/metadata"] == {"GET"}


def test_flat_paths_with_slashes_and_any_template_name():
    found = _read('<resources base="/dw/"><resource path="/studies/{StudyInstanceUID}/series/"><method name="GET"/>'
                  '</resource></resources>')
    assert found == {"studies/{}/series": {"GET"}}


def test_methods_by_reference_and_resource_types():
    found = _read('<method id="search" name="GET"/><resource_type id="rt"><method name="POST"/>'
                  '<resource path="{uid}"><method name="GET"/></resource></resource_type>'
                  '<resources base="/"><resource path="studies" type="#rt"><method href="#search"/></resource>'
                  '</resources>')
    assert found["studies"] == {"GET", "POST"} and found["studies/{}"] == {"GET"}


def test_cyclic_resource_types_end():
    found = _read('<resource_type id="a"><resource path="x" type="#a"/></resource_type>'
                  '<resources base="/"><resource path="r" type="#a"/></resources>')
    assert "r/x" in found and len(found) < 40

