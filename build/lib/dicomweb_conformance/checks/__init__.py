"""Reusable response checks of the conformance suite (independent of any server implementation).

- :mod:`conformance.checks.multipart`: strict multipart/related payload parser
  (PS3.18-2019a 8.6.1.2, 8.7.1; RFC 2046 5.1.1, RFC 2387).
- :mod:`conformance.checks.wado`: WADO-RS resource paths, Part 10 parsing, pixel
  frames and their comparison with the manifest (PS3.18-2019a 8.7.3).
- :mod:`conformance.checks.qido`: QIDO-RS helpers (owned by the QIDO tests).
"""
