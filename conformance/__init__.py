"""DICOMweb conformance test suite (PS3.18 2019a) as a pytest plugin and test modules.

Installed as ``dicomweb_conformance``.  Run ``dicomweb-conformance`` (or
``python -m dicomweb_conformance``; from a checkout also ``python -m pytest conformance``)
against the embedded mock, or add ``--dicomweb-url URL`` for another server; see
:mod:`dicomweb_conformance.plugin`.
Test modules use the fixtures ``client``, ``truth``, ``target``, ``expect``,
``make_client``, ``fresh_truth``, ``target_profile`` and ``run_options``, and
cite requirement IDs with ``@pytest.mark.requirement("QIDO-001", ...)``.

The console command imports this package before pytest starts, so pytest is told not to
rewrite it (PYTEST_DONT_REWRITE); the modules below it are still rewritten.
"""
