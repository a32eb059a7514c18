"""The distribution declared in pyproject.toml ships every package of the source trees."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from tests.helpers import REPO_ROOT


def _setuptools() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_source_package_is_listed() -> None:
    """A package missing from the list is absent from an installed (non-editable) copy, though an
    editable install still finds it."""
    config = _setuptools()
    found = set()
    for name, folder in config["package-dir"].items():
        root = REPO_ROOT / folder
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            found.add(".".join((name, *relative)))
    assert sorted(found - set(config["packages"])) == []
    assert sorted(set(config["packages"]) - found) == []


def test_package_data_patterns_match_files() -> None:
    config = _setuptools()
    for package, patterns in config["package-data"].items():
        folder = REPO_ROOT / config["package-dir"][package]
        for pattern in patterns:
            assert list(Path(folder).glob(pattern)), f"{package}: {pattern!r} matches no file"
