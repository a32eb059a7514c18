"""The mock as a DICOMweb client: remote servers of /servers and STOW chunking."""
