"""scripts/compare_targets.py: the requirement x target matrix built from conformance-results.json files.

The results files here are small synthetic ones in the format that
``conformance/report.py`` writes (meta, requirements, tests).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import REPO_ROOT

_SCRIPT = REPO_ROOT / "scripts" / "compare_targets.py"
_spec = importlib.util.spec_from_file_location("compare_targets", _SCRIPT)
ct = importlib.util.module_from_spec(_spec)
sys.modules["compare_targets"] = ct
_spec.loader.exec_module(ct)  # type: ignore[union-attr]


def _req(outcome: str, level: str = "SHALL", feature: str = "qido", detail: str = "") -> dict[str, Any]:
    return {"level": level, "section": "PS3.18-2019a 10.6", "feature": feature, "outcome": outcome,
            "detail": detail, "tests": []}


def _write(path: Path, *, server: str, profile: str, requirements: dict[str, Any],
           tests: dict[str, Any] | None = None) -> Path:
    doc = {"meta": {"target.server": server, "profile": f"{profile} (/x/{profile}.toml)", "level": "SHALL",
                    "target.dicomweb_url": "http://127.0.0.1:1/dicom-web/"},
           "requirements": requirements, "tests": tests or {}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    a = _write(tmp_path / "a.json", server="DICOMweb mock mock-0.1.0", profile="mock",
               requirements={"QIDO-002": _req("passed"), "QIDO-001": _req("passed"), "WADO-001": _req("passed"),
                             "HTTP-010": _req("skipped", level="SHOULD", feature="http",
                                              detail="SHOULD checks run only with --level should")},
               tests={"t::a": {"outcome": "passed"}, "t::b": {"outcome": "passed"}, "t::c": {"outcome": "skipped"}})
    b = _write(tmp_path / "b.json", server="Orthanc 1.10.1", profile="orthanc",
               requirements={"QIDO-001": _req("passed"), "QIDO-002": _req("xfailed", detail="known deviation QIDO-002"),
                             "WADO-001": _req("failed"), "URI-019": _req("skipped", feature="wado-uri-gif",
                                                                         detail="not claimed by profile orthanc"),
                             "HTTP-010": _req("blocked", level="SHOULD", feature="http")},
               tests={"t::a": {"outcome": "passed"}, "t::b": {"outcome": "xfailed"}, "t::c": {"outcome": "failed"},
                      "t::d": {"outcome": "skipped"}, "t::e": {"outcome": "xfailed"}})
    return a, b


def test_cells_hold_each_targets_outcome(two: tuple[Path, Path]) -> None:
    targets = [ct.load_results(two[0], "mock"), ct.load_results(two[1], "orthanc")]
    rows = {r.id: r for r in ct.build_rows(targets)}
    assert rows["QIDO-001"].outcomes == ["passed", "passed"] and not rows["QIDO-001"].differs
    assert rows["QIDO-002"].outcomes == ["passed", "xfailed"] and rows["QIDO-002"].differs
    assert rows["QIDO-002"].details == ["", "known deviation QIDO-002"]
    assert rows["WADO-001"].outcomes == ["passed", "failed"]
    assert rows["HTTP-010"].outcomes == ["skipped", "blocked"]
    # a requirement that one run does not know at all is 'absent' there, not 'not tested'
    assert rows["URI-019"].outcomes == ["absent", "skipped"]
    assert [ct.LABELS[o] for o in rows["QIDO-002"].outcomes] == ["passed", "xfail (known deviation)"]


def test_rows_follow_the_catalogue_then_the_ids(two: tuple[Path, Path]) -> None:
    targets = [ct.load_results(two[0]), ct.load_results(two[1])]
    rows = ct.build_rows(targets, {"WADO-001": "GET a study."}, order=["WADO-001", "QIDO-002", "GONE-001"])
    # catalogue order first (IDs that no run knows are left out), then the rest by prefix and number
    assert [r.id for r in rows] == ["WADO-001", "QIDO-002", "HTTP-010", "QIDO-001", "URI-019"]
    assert rows[0].statement == "GET a study." and rows[1].statement == ""


def test_default_names_are_the_profile_names(two: tuple[Path, Path]) -> None:
    assert [ct.load_results(p).name for p in two] == ["mock", "orthanc"]


def test_test_counts(two: tuple[Path, Path]) -> None:
    counts = ct.count_tests(ct.load_results(two[1]))
    assert counts == {"passed": 1, "failed": 1, "xfailed": 2, "skipped": 1, "total": 5}


def test_main_writes_markdown_and_html(two: tuple[Path, Path], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out" / "side-by-side.md"
    rc = ct.main([str(two[0]), str(two[1]), "--names", "mock,orthanc", "--about", "orthanc=DICOMweb plugin 1.7",
                  "--out", str(out), "--catalogue", str(tmp_path / "none.csv")])
    assert rc == 0
    md = out.read_text(encoding="utf-8")
    page = (tmp_path / "out" / "side-by-side.html").read_text(encoding="utf-8")
    assert "| ID | Level | Feature | Section | Statement | mock | orthanc | |" in md
    line = next(x for x in md.splitlines() if x.startswith("| QIDO-002 "))
    assert line.endswith("| passed | xfail (known deviation) | ≠ |")
    line = next(x for x in md.splitlines() if x.startswith("| QIDO-001 "))
    assert line.endswith("| passed | passed |  |")
    assert "- **server**: Orthanc 1.10.1 (DICOMweb plugin 1.7)" in md
    assert "- **server**: DICOMweb mock mock-0.1.0" in md
    assert "- **tests**: 5: 1 passed, 1 failed, 2 xfail (known deviation), 1 skipped" in md
    assert "- **QIDO-002** xfail (known deviation): known deviation QIDO-002" in md
    assert "5 requirements, 4 with different outcomes" in md
    assert '<td class="xfailed" title="known deviation QIDO-002">xfail (known deviation)</td>' in page
    assert '<td class="absent" title="">absent</td>' in page
    assert "side-by-side.html" in capsys.readouterr().out


def test_text_is_escaped(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.json", server="<b>srv</b> | x", profile="p",
                  requirements={"QIDO-001": _req("xfailed", detail="a|b <i>")})
    target = ct.load_results(path)
    rows = ct.build_rows([target])
    md = ct.render_markdown([target], rows, "now")
    page = ct.render_html([target], rows, "now")
    assert "<b>srv</b> \\| x" in md and "a\\|b <i>" in md
    assert "&lt;b&gt;srv&lt;/b&gt;" in page and "<b>srv</b>" not in page and 'title="a|b &lt;i&gt;"' in page


@pytest.mark.parametrize("content, message", [
    (None, "no such results file"),
    ("{not json", "not JSON"),
    ("[]", "top level is not an object"),
    ('{"requirements": {}}', "no 'meta' object"),
    ('{"meta": {}, "requirements": {"QIDO-001": {"outcome": "great"}}}', "QIDO-001 has no valid outcome"),
    ('{"meta": {}, "requirements": {"QIDO-001": {"outcome": "absent"}}}', "QIDO-001 has no valid outcome"),
    ('{"meta": {}, "requirements": {}, "tests": []}', "'tests' is not an object"),
])
def test_unusable_results_file_is_a_clear_error(tmp_path: Path, capsys: Any, content: str | None,
                                                message: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ct.CompareError, match=message):
        ct.load_results(path)
    assert ct.main([str(path), "--out", str(tmp_path / "o.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare_targets: error: ") and str(path) in err
    assert not (tmp_path / "o.md").exists()


@pytest.mark.parametrize("extra, message", [
    (["--names", "only-one"], "--names gives 1 name(s) for 2 results file(s)"),
    (["--names", "a,a"], "two targets are named 'a'"),
    (["--names", "a,b c"], "'b c' is not a valid target name"),
    (["--about", "nobody=x"], "no target named 'nobody'"),
    (["--about", "orthanc"], "expected NAME=TEXT"),
])
def test_bad_options_are_clear_errors(two: tuple[Path, Path], tmp_path: Path, capsys: Any, extra: list[str],
                                      message: str) -> None:
    rc = ct.main([str(two[0]), str(two[1]), "--out", str(tmp_path / "o.md"), *extra])
    assert rc == 2
    assert message in capsys.readouterr().err
