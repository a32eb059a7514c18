"""The npm ``dicomweb-client`` (the JavaScript DICOMweb client OHIF uses), installed at test time.

``dicomweb_client_js()`` returns its browser build (UMD), installing the package with npm into
a cache directory on first use (``$DICOMWEB_NPM_DIR``, else ``tests/.cache/npm``). The install
is serialised with a file lock (pytest-xdist workers) and skipped when the build is present.
The calling test is skipped, with the reason, when npm is absent; a failed install fails it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.helpers import REPO_ROOT

#: The version range tested (0.11 is the line OHIF 3 uses).
PACKAGE = "dicomweb-client@^0.11"
BUILD = Path("node_modules", "dicomweb-client", "build", "dicomweb-client.js")


def npm_dir() -> Path:
    env = os.environ.get("DICOMWEB_NPM_DIR")
    return Path(env) if env else REPO_ROOT / "tests" / ".cache" / "npm"


def dicomweb_client_js() -> Path:
    """Path of ``dicomweb-client.js`` (UMD build: ``window.DICOMwebClient``)."""
    where = npm_dir()
    build = where / BUILD
    if build.is_file():
        return build
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("the JavaScript dicomweb-client test needs npm (apt-get install nodejs npm)")
    where.mkdir(parents=True, exist_ok=True)
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not build.is_file():
            done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(where),
                                   PACKAGE], capture_output=True, text=True, timeout=600)
            if done.returncode != 0 or not build.is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                pytest.fail(f"npm install {PACKAGE} failed: {' / '.join(tail)}")
    return build
