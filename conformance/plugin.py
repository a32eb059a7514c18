"""pytest plugin of the DICOMweb conformance suite (registered through the ``pytest11`` entry point).

* options (:mod:`conformance.options`), validated before any test;
* the target: the embedded mock (empty store) or ``--dicomweb-url``
  (:mod:`conformance.target`), seeded once per run with the fixtures under the
  run's own UIDs (:mod:`conformance.seeding`) -- in the pytest-xdist
  controller, which hands URL and UID root to the workers;
* ``@pytest.mark.requirement(...)`` checked against the catalogue at
  collection, turned into level/feature skips, known-deviation xfails, Allure
  labels and ``user_properties``;
* the conformance matrix and a terminal summary at the end (:mod:`conformance.report`).

The plugin does nothing unless the command line selects tests under the
conformance paths (ini ``conformance_paths``, default: this package), by path
or with ``--pyargs dicomweb_conformance``.  A conformance test collected in a
run that prepared no target errors instead of being skipped, and a run in
which no conformance check ran exits 1: neither can pass silently.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from . import expect as expect_module
from . import preconditions
from .http import Exchange
from .options import add_options, options_from_json, resolve_options, suite_paths
from .baseline import add_baseline_option, register_baseline
from .profiles import ProfileError
from .report import FAILED_REQUIREMENTS_PROPERTY, REQUIREMENTS_PROPERTY, rows, summary_lines, write_environment, \
    write_matrix
from .reporting import FAILURE_PROPERTY, allure_labels, clear_reports, deselected_hook, merge_worker_output, \
    write_reports
from .terminal import Progress, closing_block
from . import cleanup
from .requirements import Catalogue, CatalogueError, load_catalogue
from .run import STATE, WORKER_KEY, RunState, environment, prepare, state_of
from .selection import select_profile
from .invocation import in_paths, selects
from .target import Target
from .truth import RunIds

pytest_plugins = ["dicomweb_conformance.suite_fixtures", "dicomweb_conformance.peer"]  # peer: the servers tests' remote

_CATALOGUE = pytest.StashKey[Catalogue]()
_ITEM_IDS = pytest.StashKey[tuple[str, ...]]()


# -- configuration ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """The suite's options (see :mod:`conformance.options`)."""
    add_options(parser, pluginmanager)
    add_baseline_option(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--list-features``: print the features and exit 0 before any target is resolved."""
    from .features import main as list_features

    return list_features() if config.getoption("list_features", False) else None


def _item_ids(item: pytest.Item) -> tuple[str, ...] | None:
    return item.stash.get(_ITEM_IDS, None)


def _catalogue(config: pytest.Config) -> Catalogue:
    if _CATALOGUE not in config.stash:
        try:
            config.stash[_CATALOGUE] = load_catalogue()
        except CatalogueError as exc:
            raise pytest.UsageError(f"requirement catalogue: {exc}") from None
    return config.stash[_CATALOGUE]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Markers; then the run's state: from ``workerinput`` in a worker, from validated options otherwise."""
    config.addinivalue_line("markers", "requirement(*ids): requirement IDs of conformance/requirements.csv "
                                       "that the test checks (mandatory for conformance tests)")
    config.addinivalue_line("markers", "mutates: the test stores or deletes data on the target "
                                       "(skipped with --preloaded)")
    config.addinivalue_line("markers", "uses(*features): the test uses a resource of these features as a vehicle "
                                       "(skipped when the profile does not claim them)")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        data = workerinput.get(WORKER_KEY)
        if data is None:
            return
        state = RunState(options=options_from_json(data["options"]), catalogue=_catalogue(config),
                         paths=suite_paths(config), is_worker=True,
                         target=Target.from_json(data["target"]), ids=RunIds.from_json(data["ids"]))
        if data["allure_dir"] and hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
            config.option.allure_report_dir = data["allure_dir"]
        config.stash[STATE] = state
        config.pluginmanager.register(deselected_hook(state, config, _item_ids), "dicomweb-conformance-deselected")
        register_baseline(config, None, is_controller=False)
        _install_preconditions(state)
        return
    paths = suite_paths(config)
    if not selects(config, paths):
        return
    options = select_profile(config, resolve_options(config))
    catalogue = _catalogue(config)
    try:
        options.profile.check_against(catalogue)
    except ProfileError as exc:
        raise pytest.UsageError(f"--target-profile: {exc}") from None
    state = RunState(options=options, catalogue=catalogue, paths=paths)
    _default_reports(config, state)
    config.stash[STATE] = state
    _install_preconditions(state)
    config.pluginmanager.register(_OutcomeRecorder(state), "dicomweb-conformance-outcomes")
    config.pluginmanager.register(deselected_hook(state, config, _item_ids), "dicomweb-conformance-deselected")
    register_baseline(config, options.profile, is_controller=True)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(state), "dicomweb-conformance-xdist")


def _install_preconditions(state: RunState) -> None:
    """Let :mod:`conformance.preconditions` probe the target (its own client, exchanges not logged)."""
    def client() -> Any:
        from .suite_fixtures import make_client_for
        made = make_client_for(state)
        made.exchanges = []
        made.fail_on_transport_error = False
        return made
    preconditions.install(client, lambda: state.truth)


def _default_reports(config: pytest.Config, state: RunState) -> None:
    """JUnit XML and Allure results under --reports-dir unless the user chose their own."""
    if config.option.collectonly:
        return
    reports = state.options.reports_dir
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--reports-dir: cannot create {reports}: {exc.strerror or exc}") from None
    clear_reports(reports)  # no report of a previous run next to this run's junit.xml
    if getattr(config.option, "xmlpath", None) is None:
        config.option.xmlpath = str(reports / "junit.xml")
    if hasattr(config.option, "allure_report_dir"):
        if not config.option.allure_report_dir:
            default = reports / "allure-results"
            shutil.rmtree(default, ignore_errors=True)  # our own default: results of this run only
            config.option.allure_report_dir = str(default)
        state.allure_dir = Path(config.option.allure_report_dir).resolve()


class _OutcomeRecorder:
    """Registered in the controller: folds every test report into the run's :class:`OutcomeBook`."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # in one process, or in the pytest-xdist controller, which receives every worker's reports
        self.state.book.add(report)
        cleanup.collect_stored(report, self.state.fresh_ids)


class _XdistHooks:
    """Registered only when pytest-xdist is installed (its hook is unknown otherwise)."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_configure_node(self, node: Any) -> None:
        if self.state.prepared:
            node.workerinput[WORKER_KEY] = self.state.to_json()

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        merge_worker_output(self.state, getattr(node, "workeroutput", None) or {})


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """One header line: target, profile, flags, reports directory."""
    state = state_of(config)
    if state is None or state.is_worker:
        return None
    o = state.options
    where = o.dicomweb_url or "embedded mock (started in-process, empty store)"
    flags = [f"level {o.level}"] + [f for f, on in (("preloaded", o.preloaded), ("insecure", o.insecure)) if on]
    lines = [f"dicomweb conformance: target {where}; profile {o.profile.name}"
             + (f"; {', '.join(flags)}" if flags else "") + f"; reports in {o.reports_dir}"]
    if o.profile.disclaimed_mandatory:
        lines.append(f"dicomweb conformance: profile {o.profile.name} lists mandatory features as unsupported "
                     f"({', '.join(o.profile.disclaimed_mandatory)}): PS3.18-2019a requires them, so they are "
                     f"tested and their failures are failed SHALLs")
    return lines


# -- preparing the target (controller only) ---------------------------------------------------------------
def _prepare(state: RunState, config: pytest.Config) -> None:
    progress = Progress(config.pluginmanager.get_plugin("terminalreporter"))
    prepare(state, progress)
    progress.done(f"target ready ({state.seed_report.instances} instances stored)" if state.seed_report
                  else "target ready")
    if state.allure_dir is not None:
        write_environment(state.allure_dir, environment(state))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, prepare the target in the controller before the workers start."""
    state = state_of(session.config)
    distributing = session.config.pluginmanager.getplugin("dsession") is not None
    if state and not state.is_worker and distributing and not session.config.option.collectonly:
        _prepare(state, session.config)  # before xdist starts the workers (its sessionstart is trylast)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """In one process, prepare the target once collection found conformance tests (and no error)."""
    state = state_of(session.config)
    if state is None or state.is_worker or state.prepared or session.config.option.collectonly:
        return
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return  # pytest reports the collection errors and stops
    if any(item.stash.get(_ITEM_IDS, None) for item in session.items):
        _prepare(state, session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Print the closing block of failed requirements; stop the embedded mock."""
    state = state_of(config)
    if state is not None:
        if not state.is_worker:
            _write_closing_block(config, state)
        state.stop()


# -- collection -----------------------------------------------------------------------------------------
def _requirement_ids(item: pytest.Item, catalogue: Catalogue) -> tuple[tuple[str, ...], str | None]:
    marks = list(item.iter_markers("requirement"))
    if not marks:
        return (), (f"{item.nodeid}: no @pytest.mark.requirement(...); every conformance test cites the "
                    f"IDs of {catalogue.source} that it checks")
    ids: dict[str, None] = {}
    for mark in marks:
        if mark.kwargs:
            return (), f"{item.nodeid}: @pytest.mark.requirement takes IDs only, not {sorted(mark.kwargs)}"
        for arg in mark.args:
            if not isinstance(arg, str):
                return (), f"{item.nodeid}: requirement IDs are strings, got {arg!r}"
            if arg not in catalogue:
                return (), f"{item.nodeid}: unknown requirement ID {arg!r} (not in {catalogue.source})"
            ids.setdefault(arg, None)
    if not ids:
        return (), f"{item.nodeid}: @pytest.mark.requirement() cites no ID"
    return tuple(ids), None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[Any]:
    """A conformance test without valid ``@pytest.mark.requirement`` IDs makes its module a collection error."""
    report = yield
    state = state_of(collector.config)
    paths = state.paths if state else suite_paths(collector.config)
    if report.outcome != "passed" or not in_paths(Path(collector.path), paths):
        return report
    problems = []
    for node in report.result or ():
        if isinstance(node, pytest.Item):
            ids, problem = _requirement_ids(node, _catalogue(collector.config))
            if problem:
                problems.append(problem)
            else:
                node.stash[_ITEM_IDS] = ids
    if problems:
        report.outcome = "failed"
        report.longrepr = "\n".join(problems)
        report.result = []
    return report


def _allure_marks(item: pytest.Item, catalogue: Catalogue, ids: tuple[str, ...], level: str) -> None:
    if not item.config.pluginmanager.hasplugin("allure_pytest"):
        return
    for mark in allure_labels(catalogue, ids, level):
        item.add_marker(mark)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Requirement IDs -> user_properties, Allure labels, level/feature/preloaded skips, deviation xfails."""
    state = state_of(config)
    for item in items:
        ids = item.stash.get(_ITEM_IDS, None)
        if not ids:
            continue
        if state is None:
            continue  # errors at setup (pytest_runtest_setup): never a silent skip
        catalogue, o = state.catalogue, state.options
        level = catalogue.level_of(ids)
        features = _item_features(item, catalogue, ids)
        item.user_properties.append((REQUIREMENTS_PROPERTY, ",".join(ids)))
        _allure_marks(item, catalogue, ids, level)
        unclaimed = [f for f in features if not o.profile.claims_feature(f)]
        if not o.checks_level(level):
            item.add_marker(pytest.mark.skip(reason=f"{level}-level check: run with --level {level.lower()}"))
        elif unclaimed:
            item.add_marker(pytest.mark.skip(
                reason=f"not claimed by profile {o.profile.name}: {', '.join(unclaimed)}"))
        elif o.preloaded and ("stow" in features or item.get_closest_marker("mutates")):
            item.add_marker(pytest.mark.skip(reason="not run in --preloaded mode"))
        else:
            deviations = o.profile.deviations_for(list(ids), item.name, item.nodeid)
            if deviations:
                reason = "; ".join(f"known deviation {d.id} (profile {o.profile.name}): {d.reason}"
                                   for d in deviations)
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


# -- running ----------------------------------------------------------------------------------------------
def _describer(state: RunState) -> Any:
    """Failure notes name the run's studies, series and instances by patient, date and description."""
    if state.ids is None:
        return None
    from .checks.qido import describe_entity

    return describe_entity(state.truth, "any")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Install the test's :class:`~conformance.expect.CheckContext` before its fixtures are set up."""
    state = state_of(item.config)
    ids = item.stash.get(_ITEM_IDS, None)
    if state is None and ids:
        pytest.fail("no target was prepared for this conformance test: select the suite by its path or with "
                    "--pyargs dicomweb_conformance, or run dicomweb-conformance", pytrace=False)
    if state is not None and ids:
        root = state.ids.uid_root if state.ids is not None and state.ids.rewrites else ""
        expect_module.set_current(expect_module.CheckContext(item.nodeid, ids, state.catalogue, run_uid_root=root,
                                                             describe=_describer(state)))
        _skip_if_blocked(item, state, ids)
    else:
        expect_module.set_current(None)


def _item_features(item: pytest.Item, catalogue: Catalogue, ids: tuple[str, ...]) -> list[str]:
    """Features of the cited requirements, then those of the resources the test uses (``uses`` marks)."""
    features = dict.fromkeys(catalogue.features_of(ids))
    for mark in item.iter_markers("uses"):
        features.update(dict.fromkeys(str(f) for f in mark.args))
    return list(features)


def _skip_if_blocked(item: pytest.Item, state: RunState, ids: tuple[str, ...]) -> None:
    """Skip a test whose resource the target does not serve: that resource's own requirement reports it."""
    if not state.prepared or item.get_closest_marker("skip") is not None:
        return  # skipped anyway (level, not claimed, --preloaded): its own reason stands
    reason = preconditions.blocker_for(_item_features(item, state.catalogue, ids), item.name)
    if reason:
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Attach the test's HTTP exchanges to its Allure result."""
    try:
        return (yield)
    finally:
        context = expect_module.current()
        if context is not None and context.exchanges:
            _attach_exchanges(context.exchanges)


def _attach_exchanges(exchanges: list[Exchange]) -> None:
    try:
        import allure
    except ImportError:
        return
    text = "\n\n".join(f"Exchange {n} of {len(exchanges)}:\n{ex.format()}" for n, ex in enumerate(exchanges, 1))
    try:
        allure.attach(text, name=f"HTTP exchanges ({len(exchanges)})", attachment_type=allure.attachment_type.TEXT)
    except Exception:  # allure inactive in this run
        pass


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Record which requirement's check failed (also in a known deviation's xfail), so the matrix does not
    blame the test's other IDs."""
    report = yield
    context = expect_module.current()
    if call.when == "call" and context is not None and context.failed:
        _unmask_other_failures(item, report, context.failed)
    stopped = report.failed or getattr(report, "wasxfail", None) is not None
    if call.when == "call" and stopped and context is not None and context.failed:
        report.user_properties.append((FAILED_REQUIREMENTS_PROPERTY, ",".join(context.failed)))
    if report.failed and context is not None and context.failure is not None \
            and not any(k == FAILURE_PROPERTY for k, _ in report.user_properties):
        report.user_properties.append((FAILURE_PROPERTY, json.dumps(context.failure)))
    if call.when == "teardown":
        cleanup.attach_stored(report)
    return report


def _unmask_other_failures(item: pytest.Item, report: pytest.TestReport, failed: list[str]) -> None:
    """A known deviation covers its own requirement only: a test xfailed for it that failed a check of
    another requirement is a failure of that requirement."""
    if not getattr(report, "wasxfail", None):
        return
    state = state_of(item.config)
    if state is None:
        return
    covered = {d.id for d in state.options.profile.deviations_for(list(failed), item.name, item.nodeid)}
    others = [r for r in failed if r not in covered]
    if not others:
        return
    del report.wasxfail
    report.outcome = "failed"
    report.longrepr = (f"{', '.join(others)} failed in a test xfailed only for the known deviation(s) "
                       f"{', '.join(sorted(covered)) or '(none)'}: a deviation does not hide other requirements\n\n"
                       + str(report.longrepr))


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str) -> None:
    """Clear the test's check context."""
    context = expect_module.current()
    if context is not None and context.nodeid == nodeid:
        expect_module.set_current(None)


# -- the end of the run -------------------------------------------------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the conformance matrix (controller only)."""
    state = state_of(session.config)
    if state is None or state.is_worker or not state.prepared:
        return
    if state.options.cleanup:
        state.cleanup_lines = cleanup.run_cleanup(state)
    results = rows(state.catalogue, state.book)
    state.matrix_paths = write_matrix(state.options.reports_dir, results, environment(state))
    state.report_path = write_reports(state.options.reports_dir, results, environment(state))
    state.results = results
    if session.exitstatus == 0 and not _checks_ran(state):
        state.nothing_ran = True
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _checks_ran(state: RunState) -> bool:
    """Whether at least one conformance check ran (passed, failed or a known deviation)."""
    return any(t.outcome in ("passed", "failed", "xfailed") for t in state.book.tests.values())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Counts of requirements per level and outcome, and where the matrix is."""
    state = state_of(config)
    if state is None or state.is_worker or not state.prepared or not state.results:
        return
    t = state.target
    header = (f"DICOMweb conformance of {t.dicomweb_url} ({t.description}), profile {state.options.profile.name}"
              + f", level {state.options.level}")
    terminalreporter.section("DICOMweb conformance", sep="-")
    for line in summary_lines(state.results, header):
        terminalreporter.write_line(line)
    if state.nothing_ran:
        terminalreporter.write_line("  no conformance check ran (every selected test was skipped): exit status 1",
                                    red=True)
    md, html_path = state.matrix_paths
    terminalreporter.write_line(f"  report: {state.report_path}; matrix: {md.name} and {html_path.name}")
    for line in state.cleanup_lines:
        terminalreporter.write_line(f"  {line}")


def _write_closing_block(config: pytest.Config, state: RunState) -> None:
    """After pytest's own last line: the failed requirements, h2spec style."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not state.results:
        return
    failed = any(r.outcome == "failed" for r in state.results)
    reporter.write_sep("=", "DICOMweb conformance: failed requirements", red=failed, green=not failed, bold=True)
    for line in closing_block(state.results, state.book):
        reporter.write_line(line)
