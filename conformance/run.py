"""State of one conformance run, and preparing its target (start/reach, identify, seed).

One :class:`RunState` per pytest process, in ``config.stash``: built from the
options in the controller, or from ``workerinput`` in a pytest-xdist worker.
Only the controller (or the single process) prepares the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from .cli import version as suite_version
from .options import RunOptions
from .report import OutcomeBook, RowResult
from .requirements import Catalogue
from .seeding import SeedError, SeedReport, seed
from .target import EmbeddedMock, Target, default_wado_uri_url, make_client, make_session, probe_identity, \
    start_embedded_mock
from .http import TransportError
from dicomweb_fixtures import FixtureError
from .truth import RunIds, Truth

__all__ = ["STATE", "WORKER_KEY", "RunState", "state_of", "prepare", "environment"]

WORKER_KEY = "dicomweb_conformance"
STATE = pytest.StashKey["RunState"]()
#: Exit status when the target cannot be tested at all (unreachable, seeding failed): a failure of the
#: target like a failed check, and never pytest's 3, which means an internal error of the suite itself.
EXIT_TARGET_FAILURE = 1


@dataclass
class RunState:
    """Everything the plugin knows about this run."""

    options: RunOptions
    catalogue: Catalogue
    paths: list[Path]
    is_worker: bool = False
    allure_dir: Path | None = None
    target: Target | None = None
    ids: RunIds | None = None
    mock: EmbeddedMock | None = None
    seed_report: SeedReport | None = None
    book: OutcomeBook = field(default_factory=OutcomeBook)
    results: list[RowResult] = field(default_factory=list)
    matrix_paths: tuple[Path, Path] | None = None
    report_path: Path | None = None
    cleanup_lines: list[str] = field(default_factory=list)
    fresh_ids: list[RunIds] = field(default_factory=list)  # fresh truths of the tests (what --cleanup deletes)
    nothing_ran: bool = False          # every selected conformance test was skipped
    _session: Any = None
    _truth: Truth | None = None

    @property
    def prepared(self) -> bool:
        """True once the target is reachable and seeded (or, in a worker, handed over)."""
        return self.target is not None and self.ids is not None

    @property
    def session(self) -> Any:
        """The shared requests.Session (TLS settings of the run)."""
        if self._session is None:
            self._session = make_session(self.options)
        return self._session

    @property
    def truth(self) -> Truth:
        if self._truth is None:
            import dicomweb_fixtures as fixtures
            assert self.ids is not None
            self._truth = Truth(fixtures.load_manifest(), self.ids, preloaded=self.options.preloaded)
        return self._truth

    def to_json(self) -> dict[str, Any]:
        """What the controller hands to each pytest-xdist worker."""
        assert self.target is not None and self.ids is not None
        return {"options": self.options.to_json(), "target": self.target.to_json(), "ids": self.ids.to_json(),
                "allure_dir": str(self.allure_dir) if self.allure_dir else None}

    def stop(self) -> None:
        if self.mock is not None:
            self.mock.stop()
            self.mock = None


def state_of(config: pytest.Config) -> RunState | None:
    """The run's state, or None when the plugin is inactive in this run."""
    return config.stash.get(STATE, None)


def _quiet_mock_warnings() -> None:
    """The embedded mock runs in this process's threads: pydicom's warnings about what it reads (also
    logged by pydicom) would land in the middle of the progress line, so they are not shown."""
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")


def _fixture_files(progress: Callable[[str], None]) -> list[Path]:
    import dicomweb_fixtures as fixtures

    progress("fixtures: checking the data set (generated on first use)...")
    files = fixtures.instance_files()
    progress(f"fixtures: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB")
    return files


def prepare(state: RunState, progress: Callable[[str], None] = lambda text: None) -> None:
    """Start (or reach) the target, learn its identity and seed it (``progress``: status lines).

    A target that cannot be reached, or refuses the fixtures, and fixture data
    that cannot be generated, end the run at once with one line
    (``pytest.exit``, exit status 1).
    """
    o = state.options
    try:
        if o.dicomweb_url is None:
            state.mock = start_embedded_mock(preloaded=o.preloaded)
            _quiet_mock_warnings()
            target = Target(state.mock.dicomweb_url, state.mock.wado_uri_url, embedded=True)
        else:
            target = Target(o.dicomweb_url, o.wado_uri_url or default_wado_uri_url(o.dicomweb_url), embedded=False)
        client = make_client(o, target, state.session)
        target.identity = probe_identity(client)
        import dicomweb_fixtures as fixtures
        ids = RunIds.preloaded(fixtures.UID_ROOT) if o.preloaded else RunIds.new(fixtures.UID_ROOT)
        if not o.preloaded:
            state.seed_report = seed(client, ids, _fixture_files(progress),
                                     max_instances=o.profile.stow_max_instances,
                                     max_size_mb=o.profile.stow_max_size_mb, progress=progress)
    except TransportError as exc:
        state.stop()
        ex = exc.exchange
        pytest.exit(f"dicomweb conformance: cannot reach the target ({ex.method} {ex.url}): {ex.error}",
                    returncode=EXIT_TARGET_FAILURE)
    except SeedError as exc:
        state.stop()
        pytest.exit(f"dicomweb conformance: seeding the target failed: {exc}", returncode=EXIT_TARGET_FAILURE)
    except FixtureError as exc:
        state.stop()
        pytest.exit(f"dicomweb conformance: {exc}", returncode=EXIT_TARGET_FAILURE)
    state.target, state.ids = target, ids


def environment(state: RunState) -> dict[str, str]:
    """Key/values describing the run (Allure environment.properties, matrix header)."""
    t, o, ids = state.target, state.options, state.ids
    assert t is not None and ids is not None
    env = {"target.dicomweb_url": t.dicomweb_url, "target.wado_uri_url": t.wado_uri_url,
           "target.server": t.description, "target.embedded": str(t.embedded).lower(),
           "profile": f"{o.profile.name} ({o.profile.source})", "level": o.level,
           "preloaded": str(o.preloaded).lower(), "run.uid_root": ids.uid_root,
           "run.patient_suffix": ids.patient_suffix or "(none)", "suite.version": suite_version()}
    if state.seed_report:
        r = state.seed_report
        env["seeding"] = f"{r.instances} instances in {r.requests} STOW-RS requests, {r.seconds:.1f} s"
    return env
