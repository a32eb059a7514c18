"""Print a pip constraints file pinning every dependency of pyproject.toml to its lower bound.

CI installs the distribution with it (``pip install . -c FILE``) to prove that the lowest
versions the project declares really work::

    python3 scripts/lowest_constraints.py > /tmp/lowest.txt
    python3 -m pip install . -c /tmp/lowest.txt

``--extra NAME`` adds the lower bounds of an optional-dependency group.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;\s*(.*))?$")


def lower_bounds(requirements: list[str]) -> list[str]:
    """``name==lower`` (with its environment marker) for each requirement; a requirement without ``>=`` is an error."""
    out = []
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        bound = re.search(r">=\s*([^,\s]+)", match.group(2)) if match else None
        if match is None or bound is None:
            raise SystemExit(f"pyproject.toml: {requirement!r} has no lower bound (>=)")
        marker = f"; {match.group(3)}" if match.group(3) else ""
        out.append(f"{match.group(1)}=={bound.group(1)}{marker}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="also pin this optional-dependency group")
    args = parser.parse_args(argv)
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in args.extra:
        if extra not in project.get("optional-dependencies", {}):
            parser.error(f"--extra: no optional-dependency group {extra!r} in pyproject.toml")
        requirements += project["optional-dependencies"][extra]
    print("\n".join(lower_bounds(requirements)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
