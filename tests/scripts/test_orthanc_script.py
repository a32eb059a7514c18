"""scripts/orthanc.py: the Debian build choice and its failures (one line, non-zero exit), without Orthanc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
SCRIPT = ROOT / "scripts" / "orthanc.py"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_unknown_build_is_one_line(tmp_path):
    done = _run("start", "--build", "sid", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["orthanc: error: --build must be one of bookworm, trixie, got 'sid'"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the chroot is only created as root")
def test_failed_debootstrap_is_one_line_and_leaves_no_chroot(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "debootstrap").write_text("#!/bin/sh\necho 'I: Retrieving InRelease'\n"
                                      "echo 'E: Failed getting release file http://deb.debian.org/x'\nexit 1\n")
    (fake / "debootstrap").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    root = tmp_path / "trixie"
    done = _run("start", "--build", "trixie", "--chroot", str(root), "--dir", str(tmp_path / "d"), env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "orthanc: error: debootstrap of trixie failed (exit code 1): E: Failed getting release file "
        "http://deb.debian.org/x"]
    assert not root.exists() and not Path(f"{root}.partial").exists()


def test_chroot_config_names_paths_as_orthanc_sees_them(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import orthanc as script
    finally:
        sys.path.remove(str(SCRIPT.parent))
    root = tmp_path / "chroot"
    work = script.chroot_workdir(root, tmp_path / "run")
    assert work.parent == root / script.CHROOT_WORK
    assert script.chroot_workdir(root, tmp_path / "other") != work
    config = json.loads(script.write_config(work, 8042, "u", "p", root=root).read_text())
    assert config["StorageDirectory"] == "/" + str((work / "storage").relative_to(root))
    assert (work / "storage").is_dir()
