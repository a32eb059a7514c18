"""What every handler is given: the immutable settings, the store, and the runtime state.

:class:`~mock_server.config.Settings` is the configuration the mock started with; nothing
changes it while the mock runs.  What requests change (the active faults, the DICOMweb
servers registered at run time, the request log) is :class:`RuntimeState`, which
``POST /_mock/reset`` sets back to what the settings say, together with the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import RemoteServer, Settings
from .store.base import Store

if TYPE_CHECKING:
    from .recorder import RequestRecorder

__all__ = ["AppState", "RuntimeState"]


@dataclass
class RuntimeState:
    """The part of the mock's state that requests change."""

    #: Active faults (``PUT /_mock/faults``; see :mod:`mock_server.faults`).
    faults: list[str] = field(default_factory=list)
    #: Remote DICOMweb servers by name (``PUT/DELETE {root}servers/{name}``).
    servers: dict[str, RemoteServer] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeState:
        """The runtime state the mock starts with."""
        return cls(faults=list(settings.faults), servers=dict(settings.dicomweb.servers))


@dataclass
class AppState:
    """Everything a handler may use."""

    settings: Settings
    store: Store
    fixture_files: list[Path] = field(default_factory=list)
    runtime: RuntimeState = field(default_factory=RuntimeState)
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: The request log of a peer (``RecordRequests``), served at ``/_mock/requests``.
    recorder: RequestRecorder | None = None

    def reset_runtime(self) -> None:
        """Faults, registered servers and the request log as at start-up."""
        self.runtime = RuntimeState.from_settings(self.settings)
        if self.recorder is not None:
            self.recorder.clear()
