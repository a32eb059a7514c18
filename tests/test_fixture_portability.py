"""The fixture data set is the same on every machine, and a difference is one clear line.

* generated under numpy's baseline dispatch, without AVX-512, and with the host's best
  SIMD paths (``NPY_DISABLE_CPU_FEATURES``), every file is byte-identical and the manifest
  is the committed one;
* the compressed frames are the committed streams (no encoder release changes them);
* the data lives in the user's cache, never in the installed package;
* a mismatch stops the suite with one line and exit status 1, and never advises
  rewriting the committed manifest.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_fixtures import cache, codestreams

GENERATE = """
import hashlib, json, sys
from pathlib import Path
try:
    from numpy._core._multiarray_umath import __cpu_features__ as features
except ImportError:
    from numpy.core._multiarray_umath import __cpu_features__ as features
from dicomweb_fixtures import generator
out = Path(sys.argv[1])
out.mkdir()
rc = generator.main(["--out", str(out)])
digest = hashlib.sha256()
for path in sorted(out.glob("*.dcm")):
    digest.update(path.name.encode() + b"\\0" + path.read_bytes())
print(json.dumps({"rc": rc, "digest": digest.hexdigest(), "features": sorted(k for k, v in features.items() if v)}))
"""


def _dispatch_targets() -> list[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__ as dispatch  # numpy >= 2
    except ImportError:
        from numpy.core._multiarray_umath import __cpu_dispatch__ as dispatch
    return list(dispatch)


def _configurations() -> dict[str, str]:
    """NPY_DISABLE_CPU_FEATURES values: baseline only, no AVX-512 (numpy < 2.4: AVX512*; 2.4: X86_V4...), best."""
    targets = _dispatch_targets()
    wide = [t for t in targets if t.startswith("AVX512") or t == "X86_V4"]
    configs = {"baseline": " ".join(targets), "best": ""}
    if wide and len(wide) < len(targets):
        configs["no-avx512"] = " ".join(wide)
    return configs


def _generate(tmp_path: Path, name: str, disabled: str) -> dict:
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disabled)
    env.pop("DICOMWEB_FIXTURES_DIR", None)
    done = subprocess.run([sys.executable, "-c", GENERATE, str(tmp_path / name)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_same_bytes_under_every_numpy_dispatch(tmp_path: Path) -> None:
    configs = _configurations()
    results = {name: _generate(tmp_path, name, disabled) for name, disabled in configs.items()}
    for name, result in results.items():
        assert result["rc"] == 0, f"{name}: the generated manifest differs from the committed one"
    digests = {name: r["digest"] for name, r in results.items()}
    assert len(set(digests.values())) == 1, digests
    if "baseline" in results and results["best"]["features"] != results["baseline"]["features"]:
        # the dispatch really changed between the runs (not only on a CPU without SIMD extensions)
        assert set(results["baseline"]["features"]) < set(results["best"]["features"])
    print("data set SHA-256 under", ", ".join(configs), "=", next(iter(digests.values())))


def test_compressed_frames_are_the_committed_streams() -> None:
    index = codestreams.load_index()
    by_file = {i["file"]: i for i in fixtures.load_manifest()["instances"]}
    compressed = [i for i in by_file.values() if "compressed" in i["features"]]
    assert compressed, "the data set has compressed instances"
    for instance in compressed:
        stem = instance["file"].removesuffix(".dcm")
        for number, digest in enumerate(instance["frames_sha256"], 1):
            entry = index[f"{stem}/{number}"]
            data = (codestreams.DIRECTORY / entry["file"]).read_bytes()
            if len(data) % 2:
                data += b"\0"  # the stored fragment is padded to even length (PS3.5 A.4)
            assert hashlib.sha256(data).hexdigest() == digest, f"{stem} frame {number}"


def test_cache_is_in_the_users_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMWEB_FIXTURES_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "dicomweb-conformance" / f"dataset-v{fixtures.DATASET_VERSION}"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_cache_dir().is_relative_to(tmp_path / "home" / ".cache")
    monkeypatch.setenv("DICOMWEB_FIXTURES_DIR", str(tmp_path / "mine"))
    assert cache.default_cache_dir() == tmp_path / "mine"
    package = Path(fixtures.__file__).resolve().parent
    monkeypatch.delenv("DICOMWEB_FIXTURES_DIR")
    assert package not in cache.default_cache_dir().parents


def test_an_unwritable_cache_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(fixtures.FixtureError, match="DICOMWEB_FIXTURES_DIR or --fixtures-dir") as raised:
        fixtures.ensure_dataset(blocker / "sub" / "dataset")
    assert "\n" not in str(raised.value)


MISMATCH_RUN = """
import json, pathlib, sys
from dicomweb_fixtures import cache
altered = json.loads(cache.MANIFEST_PATH.read_text(encoding="utf-8"))
altered["instances"][7]["native_frames_sha256"][0] = "0" * 64
fake = pathlib.Path(sys.argv[1]) / "manifest.json"
fake.write_text(json.dumps(altered, indent=1, ensure_ascii=False) + "\\n", encoding="utf-8")
cache.MANIFEST_PATH = fake
from dicomweb_conformance.cli import main
sys.exit(main(["-q", "--fixtures-dir", str(pathlib.Path(sys.argv[1]) / "data")]))
"""


def test_a_manifest_mismatch_stops_the_suite_with_one_line(tmp_path: Path) -> None:
    victim = fixtures.load_manifest()["instances"][7]["file"]
    done = subprocess.run([sys.executable, "-c", MISMATCH_RUN, str(tmp_path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if "differs from the suite's manifest" in line]
    assert len(lines) == 1, output[-3000:]
    assert victim in lines[0] and "native_frames_sha256" in lines[0] and "numpy SIMD dispatch" in lines[0]
    assert "--manifest" not in output
