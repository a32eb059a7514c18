"""Load mode: viewer and uploader journeys on Locust, every answer checked (``dicomweb-conformance load``)."""
