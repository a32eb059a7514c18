"""``--list-features``: the suite's features, mandatory and optional, with their requirement IDs, without a target.

The listing is checked against ``conformance/features.py`` and the requirement catalogue, and the README's
feature table against ``features.py``, so the three cannot drift apart.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from dicomweb_conformance.cli import main
from dicomweb_conformance.features import FEATURES, feature_listing, feature_table
from dicomweb_conformance.requirements import load_catalogue
from tests.helpers import REPO_ROOT

REPO = REPO_ROOT
_HEADER = re.compile(r"^(\S+) \[(mandatory|optional(?:, part of (\S+))?)\]$")


def _blocks(text: str) -> dict[str, dict[str, str]]:
    """Feature name -> {kind, part_of, what, basis, requirements} parsed from the listing."""
    blocks: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    field = ""
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = blocks.setdefault(header.group(1), {"kind": header.group(2).split(",")[0],
                                                          "part_of": header.group(3) or ""})
            continue
        if not line.startswith("  "):  # a title or a blank line
            current = None
            continue
        assert current is not None, line
        if line.startswith("   "):  # a continuation line of the requirement IDs
            current[field] += " " + line.strip()
            continue
        label, _, rest = line.strip().partition(":")
        field = {"what": "what", "mandatory by": "basis", "optional by": "basis", "requirements": "requirements"}[label]
        current[field] = rest.strip()
    return blocks


def test_listing_names_every_feature_with_its_basis_and_requirements(capsys):
    assert main(["--list-features"]) == 0
    out = capsys.readouterr().out
    assert out == feature_listing()
    blocks = _blocks(out)
    assert list(blocks) == sorted(FEATURES, key=lambda n: (FEATURES[n].optional, list(FEATURES).index(n)))
    catalogue = load_catalogue()
    for name, feature in FEATURES.items():
        block = blocks[name]
        assert block["kind"] == ("optional" if feature.optional else "mandatory"), name
        assert block["part_of"] == (feature.requires or ""), name
        assert (block["what"], block["basis"]) == (feature.description, feature.basis), name
        listed = [] if block["requirements"] == "(none)" else block["requirements"].split(", ")
        assert listed == sorted(r.id for r in catalogue if r.feature == name), name
    assert blocks["qido"]["kind"] == "mandatory" and "QIDO-012" in blocks["qido"]["requirements"]
    assert blocks["wado-thumbnail"]["kind"] == "optional"
    assert blocks["wado-uri-window"]["part_of"] == "wado-uri"


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "dicomweb_conformance", "--list-features"],
    # a target that does not exist: the listing needs none
    [sys.executable, "-m", "dicomweb_conformance", "--list-features", "--dicomweb-url", "http://127.0.0.1:9/x/"],
    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "dicomweb_conformance", "--list-features"],
], ids=["module", "module-with-unreachable-target", "pytest-option"])
def test_list_features_exits_0_without_a_target(command, tmp_path):
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == feature_listing().strip()
    assert not (tmp_path / "reports").exists()  # no run happened


def test_readme_table_is_the_features_table_and_points_to_the_listing():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert feature_table() in readme, "README's feature table is out of date: python -m dicomweb_conformance.features"
    assert "--list-features" in readme
    rows = [line for line in readme.splitlines() if re.match(r"^\| `[a-z0-9-]+` \| (mandatory|optional)", line)]
    assert [re.match(r"^\| `([^`]+)`", r).group(1) for r in rows] == list(FEATURES)
