"""Code the tests share (imported as ``tests.helpers.<module>``); pytest fixtures live in conftest.py."""

from __future__ import annotations

from pathlib import Path

#: The repository's root directory.
REPO_ROOT = Path(__file__).resolve().parents[2]
