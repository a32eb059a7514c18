"""Reference mock DICOMweb server (PS3.18 QIDO-RS, WADO-RS, WADO-URI, STOW-RS)."""

__version__ = "0.1.0"
