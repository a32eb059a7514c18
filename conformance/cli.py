"""``dicomweb-conformance``: run the whole conformance suite from any directory, like h2spec.

``dicomweb-conformance [--dicomweb-url URL] [suite and pytest options]`` runs the
installed suite (``--pyargs dicomweb_conformance``) against the embedded mock by
default and writes ``./reports``; ``--version`` prints the suite's version and
``--list-features`` the features (mandatory and optional) with their requirement IDs.
``dicomweb-conformance load [options]`` runs the load mode instead
(:mod:`conformance.load.cli`, needs the ``load`` extra).
``python -m dicomweb_conformance`` is the same command.
"""
from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "dicomweb_conformance"
DISTRIBUTION = "dicomweb-conformance"
#: The suite's own pytest settings; passed with -c so that an ini file in the current directory
#: (another project's) does not change the run.
INI = Path(__file__).resolve().parent / "suite.ini"


def version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0+unknown"


def pytest_args(argv: list[str]) -> list[str]:
    """The pytest command line of the suite run that ``argv`` asks for."""
    return ["--pyargs", PACKAGE, "-c", str(INI), "--rootdir", os.getcwd(), *argv]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console command and of ``python -m dicomweb_conformance``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "load":
        from .load.cli import main as load_main

        return load_main(args[1:])
    if "--version" in args:
        print(f"{DISTRIBUTION} {version()} (DICOM PS3.18 2019a)")
        return 0
    if "--list-features" in args:  # needs no target
        from .features import main as list_features

        return list_features()
    import pytest

    return int(pytest.main(pytest_args(args)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
