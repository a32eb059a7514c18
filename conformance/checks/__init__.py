"""Reusable response checks of the conformance suite (independent of any server implementation).

- :mod:`conformance.checks.multipart`: strict multipart/related payload parser
  (PS3.18-2019a 8.6.1.2, 8.7.1; RFC 2046 5.1.1, RFC 2387).
"""
