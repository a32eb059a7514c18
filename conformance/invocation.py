"""What a pytest command line selects: whether it points at the suite's own test paths.

The plugin (:mod:`conformance.plugin`) acts only for a run that selects conformance
tests, by a path at, below or above them, or by a module name with ``--pyargs``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["in_paths", "selects"]


def in_paths(path: Path, paths: list[Path]) -> bool:
    """Whether ``path`` is one of ``paths`` or below one of them."""
    return any(path == p or p in path.parents for p in paths)


def _arg_path(config: pytest.Config, arg: str) -> Path | None:
    """The file system path a command-line argument names (a module name with ``--pyargs``)."""
    name = arg.split("::", 1)[0]
    if config.option.pyargs and name and "/" not in name and not name.endswith(".py"):
        import importlib.util

        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            if spec.submodule_search_locations:
                return Path(next(iter(spec.submodule_search_locations))).resolve()
            if spec.origin:
                return Path(spec.origin).resolve()
    return (Path(config.invocation_params.dir) / name).resolve()


def selects(config: pytest.Config, paths: list[Path]) -> bool:
    """Whether the command line points at (or above) a conformance path."""
    for arg in config.args:
        candidate = _arg_path(config, str(arg))
        if candidate is not None and any(
                candidate == p or candidate in p.parents or p in candidate.parents for p in paths):
            return True
    return False
