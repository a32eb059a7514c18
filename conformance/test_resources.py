"""The resources many tests use as vehicles, each checked once (PS3.18-2019a Table 10.3-2; 9.4.3.3).

Metadata, frames and rendered resources are mandatory for an origin server
(Table 10.3-2 marks them M); WADO-URI is a service of its own, tested when the
profile claims it.  Each is probed once per run (:mod:`conformance.preconditions`):
when it is not served, this test reports it under the resource's own
requirement, and every other test that needs the resource is skipped as
"blocked by" that requirement instead of failing under its own ID.
"""

from __future__ import annotations

import pytest

from dicomweb_conformance.preconditions import CAPABILITIES, OWN_TEST

_CASES = ["wado-metadata", "frames", "wado-rendered", "wado-uri"]


@pytest.mark.parametrize("feature", [pytest.param(f, marks=pytest.mark.requirement(CAPABILITIES[f].req_id), id=f)
                                     for f in _CASES])
def test_mandatory_resource_is_served(client, truth, expect, feature):
    """GET of the resource for a stored single-frame instance answers 200 (the request of the run's probe)."""
    capability = CAPABILITIES[feature]
    problem = capability.probe(client, truth)
    expect.that(problem is None, req=capability.req_id, what=capability.what, expected="200 OK",
                actual=problem, response=client.last.response if client.last else None)


assert test_mandatory_resource_is_served.__name__ == OWN_TEST
