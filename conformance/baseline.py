"""A target's baseline in one command (``--write-profile FILE``), and known deviations that disappeared.

``--write-profile FILE`` runs the suite as usual and, at the end, writes a
target profile in which every failing test is a known deviation: an entry for
each requirement ID whose check failed, a ``tests`` glob naming exactly that
test, and the one-line reason of the failure.  A test that failed as a known
deviation of the profile in use keeps that deviation's reason; a deviation
that no longer happens is left out.  A feature whose every test failed with
HTTP 404, 405 or 501 is proposed, as a comment, for ``unsupported_features``:
the vendor confirms it.  Rerun with ``--target-profile FILE``, the same server
passes, and any new failure fails.

Whatever the profile, a known deviation whose tests now pass (XPASS, strict)
is named in a short block of the terminal summary, for example
``QIDO-029 no longer deviates: remove its entry from FILE``, and the run fails.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from . import expect as expect_module
from .profiles import Deviation, Profile
from .report import FAILED_REQUIREMENTS_PROPERTY, REQUIREMENTS_PROPERTY

__all__ = ["add_baseline_option", "register_baseline", "test_glob", "failure_line", "render_profile",
           "UNSUPPORTED_STATUSES"]

STATUS_PROPERTY = "last_http_status"
#: A feature whose every test failed with one of these is proposed as unsupported.
UNSUPPORTED_STATUSES = {404, 405, 501}
_REASON_LIMIT = 200


def add_baseline_option(parser: pytest.Parser) -> None:
    """``--write-profile FILE``."""
    parser.getgroup("dicomweb").addoption(
        "--write-profile", dest="write_profile", default=None, metavar="FILE",
        help="after the run, write a target profile to FILE in which every failing test is a known deviation; "
             "rerun with --target-profile FILE to gate the same server")


def register_baseline(config: pytest.Config, profile: Profile | None, is_controller: bool) -> None:
    """Register the recorders this process needs (``profile`` None: the plugin is inactive)."""
    target = config.getoption("write_profile", default=None)
    if target is not None:
        path = Path(target).expanduser()
        if is_controller and (path.is_dir() or not path.parent.is_dir()):
            raise pytest.UsageError(f"--write-profile: cannot write {target!r} (a directory, or its directory "
                                    f"does not exist)")
        config.pluginmanager.register(_StatusRecorder(), "dicomweb-conformance-status")
    if is_controller and profile is not None:
        config.pluginmanager.register(_Baseline(config, profile, Path(target) if target else None),
                                      "dicomweb-conformance-baseline")


class _StatusRecorder:
    """In the process that runs the tests: the last HTTP status of each failing test, as a user property."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
        report = yield
        context = expect_module.current()
        if report.failed and context is not None and context.exchanges:
            status = context.exchanges[-1].status
            if status is not None:
                report.user_properties.append((STATUS_PROPERTY, str(status)))
        return report


class _Seen:
    """What the controller learnt of one test from its reports."""

    def __init__(self, nodeid: str, ids: tuple[str, ...]):
        self.nodeid, self.ids = nodeid, ids
        self.name = nodeid.rsplit("::", 1)[-1]
        self.outcome = "passed"
        self.failed_ids: tuple[str, ...] = ()
        self.reason = ""
        self.status: int | None = None
        self.xpassed = False


class _Baseline:
    """In the controller: gathers outcomes; reports disappeared deviations; writes the profile."""

    def __init__(self, config: pytest.Config, profile: Profile, path: Path | None):
        self.config, self.profile, self.path = config, profile, path
        self.tests: dict[str, _Seen] = {}
        self.stale: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(getattr(report, "user_properties", ()))
        ids = props.get(REQUIREMENTS_PROPERTY)
        if not ids:
            return
        seen = self.tests.setdefault(report.nodeid, _Seen(report.nodeid, tuple(ids.split(","))))
        if report.skipped and getattr(report, "wasxfail", None) is not None:
            seen.outcome = "xfailed"
        elif report.skipped:
            if seen.outcome == "passed":
                seen.outcome = "skipped"
        elif report.failed:
            text = str(report.longreprtext or "")
            if any(line.startswith("[XPASS(strict)]") for line in text.splitlines()[:3]):  # xdist adds a line
                seen.xpassed = True
                seen.outcome = "xpassed"
                return
            if seen.outcome != "failed":
                seen.outcome = "failed"
                seen.reason = failure_line(text, report.when)
                failed = props.get(FAILED_REQUIREMENTS_PROPERTY)
                seen.failed_ids = tuple(failed.split(",")) if failed else ()
                status = props.get(STATUS_PROPERTY)
                seen.status = int(status) if status and status.isdigit() else None

    # -- disappeared deviations -------------------------------------------------------------------------
    def _stale_lines(self) -> list[str]:
        per_entry: dict[Deviation, list[_Seen]] = defaultdict(list)
        for seen in self.tests.values():
            for dev in self.profile.deviations_for(list(seen.ids), seen.name, seen.nodeid):
                per_entry[dev].append(seen)
        lines = []
        for dev in self.profile.known_deviations:
            matched = per_entry.get(dev, [])
            gone = [s for s in matched if s.xpassed]
            if not gone:
                continue
            where = dev.source or self.profile.source
            entry = f"its entry (tests = {json.dumps(dev.tests)})" if dev.tests else "its entry"
            if len(gone) == len(matched):
                lines.append(f"{dev.id} no longer deviates: remove {entry} from {where}")
            else:
                names = ", ".join(s.name for s in gone[:3]) + (" ..." if len(gone) > 3 else "")
                lines.append(f"{dev.id} no longer deviates in {names}: narrow the tests glob of {entry} in {where}")
        return lines

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stale = self._stale_lines()
        if self.stale and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.path is not None and self.tests:
            from .run import state_of

            state = state_of(self.config)
            if state is not None and state.prepared:
                self.path.write_text(render_profile(self, state), encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.stale:
            terminalreporter.section("known deviations that disappeared", sep="-", red=True)
            for line in self.stale:
                terminalreporter.write_line(line)
        if self.path is not None and self.path.is_file() and self.tests:
            failing = sum(1 for s in self.tests.values() if s.outcome in ("failed", "xfailed"))
            terminalreporter.write_line(f"dicomweb conformance: profile written to {self.path} ({failing} known "
                                        f"deviation(s)); gate with --target-profile {self.path}")


# -- the profile -------------------------------------------------------------------------------------------
def test_glob(name: str) -> str:
    """An fnmatch pattern matching exactly ``name`` (``[``, ``*``, ``?`` bracketed)."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in name)


test_glob.__test__ = False  # type: ignore[attr-defined]  # not a test, despite its name


def failure_line(text: str, when: str = "call") -> str:
    """The one-line reason of a failure report's text (a suite check's checked/expected/actual if present)."""
    fields = dict(re.findall(r"^\s*(checked|expected|actual):\s+(.*)$", text, flags=re.MULTILINE))
    if "checked" in fields:
        line = f"{fields['checked']}: expected {fields.get('expected', '?')}, got {fields.get('actual', '?')}"
    else:
        errors = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ") and ln[1:].strip()]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        line = (errors or lines or ["failed without a message"])[0]
        if when != "call":
            line = f"error in {when}: {line}"
    line = " ".join(line.split())
    return line if len(line) <= _REASON_LIMIT else line[:_REASON_LIMIT - 3] + "..."


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _proposed_unsupported(baseline: _Baseline, catalogue: Any) -> list[tuple[str, int, str]]:
    per_feature: dict[str, list[_Seen]] = defaultdict(list)
    for seen in baseline.tests.values():
        if seen.outcome in ("skipped",):
            continue
        for feature in catalogue.features_of(seen.ids):
            per_feature[feature].append(seen)
    out = []
    for feature, tests in sorted(per_feature.items()):
        if tests and all(s.outcome == "failed" and s.status in UNSUPPORTED_STATUSES for s in tests):
            statuses = "/".join(str(c) for c in sorted({s.status for s in tests if s.status}))
            out.append((feature, len(tests), statuses))
    return out


def render_profile(baseline: _Baseline, state: Any) -> str:
    """The TOML text of the written profile."""
    o, target, profile = state.options, state.target, baseline.profile
    unique = defaultdict(int)
    for seen in baseline.tests.values():
        unique[seen.name] += 1
    path = baseline.path
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    auth = ("basic" if o.basic_auth else "bearer" if o.bearer_token else "client-cert" if o.client_cert
            else profile.auth)
    level = getattr(o, "level", "SHALL")
    lines = [f"# Baseline of {target.description} at {target.dicomweb_url}, written by --write-profile on {stamp}",
             f"# from a run at level {level.lower()} with profile {profile.name}. Gate the same server with:",
             f"#   dicomweb-conformance --dicomweb-url {target.dicomweb_url} --level {level.lower()} "
             f"--target-profile {path}",
             "# (and the credentials options of the first run).",
             "# Each failing test is a known deviation (strict xfail); review the reasons.",
             f"name = {_toml(path.stem if path else 'baseline')}",
             f"description = {_toml('baseline of ' + target.description)}",
             f"auth = {_toml(auth)}",
             f"stow_max_instances = {o.stow_max_instances}",
             f"stow_max_size_mb = {o.stow_max_size_mb}"]
    if profile.claims is not None:
        lines.append(f"claims = [{', '.join(_toml(c) for c in sorted(profile.claims))}]")
    lines.append(f"unsupported_features = [{', '.join(_toml(f) for f in sorted(profile.unsupported_features))}]")
    proposed = _proposed_unsupported(baseline, state.catalogue)
    if proposed:
        lines.append("# Proposed unsupported features: every test of each failed with HTTP 404/405/501. If the")
        lines.append("# server indeed lacks the feature, add it to unsupported_features (its tests are then skipped")
        lines.append("# as not claimed) and delete its entries below.")
        for feature, count, statuses in proposed:
            lines.append(f"#   {_toml(feature)},  # {count} test(s), all answered {statuses}")
    lines.append("known_deviations = [")
    for seen in sorted(baseline.tests.values(), key=lambda s: s.nodeid):
        # A known deviation covers its own requirement only, so a test gets an entry for each requirement
        # whose check failed (one check may cite several), and keeps every deviation it was xfailed for.
        if seen.outcome == "xfailed":
            old = profile.deviations_for(list(seen.ids), seen.name, seen.nodeid)
            entries = [(d.id, d.reason) for d in old] or [(seen.ids[0], "known deviation")]
        elif seen.outcome == "failed":
            entries = [(req_id, seen.reason) for req_id in (seen.failed_ids or seen.ids[:1])]
        else:
            continue
        glob = test_glob(seen.name)
        if unique[seen.name] > 1:
            glob = "*" + test_glob(seen.nodeid.replace("\\", "/").rsplit("/", 1)[-1])
        for req_id, reason in dict.fromkeys(entries):
            lines.append(f"  {{ id = {_toml(req_id)}, tests = {_toml(glob)}, reason = {_toml(reason)} }},")
    lines.append("]")
    return "\n".join(lines) + "\n"
