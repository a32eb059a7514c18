"""Unit tests of the mock's pure DICOMweb protocol code (mock_server/dicomweb)."""
