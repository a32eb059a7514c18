"""On-demand, concurrency-safe cache of the generated fixture data set.

The data set is generated into a temporary sibling directory and renamed into
place only once complete (a rename within one file system is atomic), so
concurrent processes (pytest-xdist workers) never see a half-written cache.
Generation is serialised with an advisory file lock where the platform has
one.  A marker file holds the SHA-256 of the manifest the data was generated
with; a cache whose marker does not match the committed manifest is rebuilt.

The data set lives in the user's cache directory (``$XDG_CACHE_HOME`` or
``~/.cache``, under ``dicomweb-conformance/``), never inside the installed
package; ``$DICOMWEB_FIXTURES_DIR`` (or the suite's ``--fixtures-dir``) names
another directory.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import spec
from .codestreams import CodestreamError
from .generator import MANIFEST_PATH, generate, manifest_bytes

MARKER = ".complete"
ENV_DIR = "DICOMWEB_FIXTURES_DIR"


class FixtureError(RuntimeError):
    """The fixture data set or its manifest is missing, stale or inconsistent."""


class ManifestMismatchError(FixtureError):
    """Freshly generated data does not match the committed fixtures/manifest.json."""


def default_cache_dir() -> Path:
    """``$DICOMWEB_FIXTURES_DIR`` if set, else ``<user cache>/dicomweb-conformance/dataset-v<N>``."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base).expanduser() if Path(base).expanduser().is_absolute() else Path.home() / ".cache"
    return root / "dicomweb-conformance" / f"dataset-v{spec.DATASET_VERSION}"


def _committed_digest() -> str:
    try:
        return hashlib.sha256(MANIFEST_PATH.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FixtureError(f"{MANIFEST_PATH} is missing: the installation is incomplete") from None


def _marker_digest(directory: Path) -> str | None:
    try:
        return (directory / MARKER).read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): the atomic rename alone keeps readers safe
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def regenerate(target: Path, encode: bool = False) -> bytes:
    """Generate the data set into ``target`` atomically (replacing any old one); return the manifest bytes."""
    target = _writable(Path(target).absolute())
    with _lock(target.parent / f".{target.name}.lock"):
        return _generate_and_swap(target, encode)


def _writable(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FixtureError(f"cannot create the fixture cache {target.parent} ({exc.strerror or exc}); "
                           f"set ${ENV_DIR} or --fixtures-dir to a writable directory") from None
    return target


def _generate_and_swap(target: Path, encode: bool = False) -> bytes:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        try:
            data = manifest_bytes(generate(tmp, encode=encode))
        except CodestreamError as exc:
            raise FixtureError(f"fixture data: {exc}; the committed fixtures/codestreams do not fit this "
                               "generator (a packaging error: please report it)") from None
        (tmp / "manifest.json").write_bytes(data)
        (tmp / MARKER).write_text(hashlib.sha256(data).hexdigest() + "\n", encoding="ascii")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, old / "data")
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, target)
            except OSError:
                # Another process (without a lock) finished first: keep its copy if complete.
                if _marker_digest(target) is None:
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
                return (target / "manifest.json").read_bytes()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return data


def _environment() -> str:
    import numpy
    import pydicom

    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as features
    best = [name for name in ("AVX512F", "AVX2", "SSE42", "ASIMD") if features.get(name)][:1]
    return (f"numpy {numpy.__version__}, pydicom {pydicom.__version__}, "
            f"CPU {best[0] if best else 'baseline'}{', ' + os.environ['NPY_DISABLE_CPU_FEATURES'] + ' disabled' if os.environ.get('NPY_DISABLE_CPU_FEATURES') else ''}")


def describe_mismatch(generated: bytes) -> str:
    """One line: the first instances whose entries differ, which fields, and the likely cause."""
    import json

    new = {i["file"]: i for i in json.loads(generated)["instances"]}
    old = {i["file"]: i for i in json.loads(MANIFEST_PATH.read_bytes())["instances"]}
    fields: dict[str, list[str]] = {}
    for name in sorted(set(new) | set(old)):
        a, b = old.get(name, {}), new.get(name, {})
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if keys:
            fields[name] = keys
    if not fields:
        what, cause = "the patient/study/series entries", "a pydicom or Python version writing attributes differently"
    else:
        what = "; ".join(f"{name} ({', '.join(keys)})" for name, keys in list(fields.items())[:3])
        if len(fields) > 3:
            what += f" and {len(fields) - 3} more"
        changed = {k for keys in fields.values() for k in keys}
        if changed <= {"native_frames_sha256"}:
            cause = "pixel arithmetic that differs on this CPU (numpy SIMD dispatch)"
        elif changed <= {"frames_sha256", "native_frames_sha256"}:
            cause = "pixel data that differs on this CPU or with this numpy"
        else:
            cause = "a pydicom version writing attributes differently"
    return f"{what}; likely cause: {cause} [{_environment()}]"


def ensure_dataset(cache_dir: Path | None = None) -> Path:
    """Return the data set directory, generating it first if it is missing or stale.

    Raises :class:`ManifestMismatchError` (one line) when the freshly generated data
    does not match the committed manifest.
    """
    target = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    expected = _committed_digest()
    if _marker_digest(target) == expected:
        return target
    target = _writable(target.absolute())
    with _lock(target.parent / f".{target.name}.lock"):
        if _marker_digest(target) == expected:
            return target
        data = _generate_and_swap(target)
    if hashlib.sha256(data).hexdigest() != expected:
        raise ManifestMismatchError(
            f"the fixture data generated in {target} differs from the suite's manifest: {describe_mismatch(data)}; "
            "this is a bug of dicomweb-conformance, please report this line with the output of 'pip freeze'")
    return target


def instance_files(cache_dir: Path | None = None) -> list[Path]:
    """Paths of every fixture ``.dcm`` file, sorted by name (deterministic order)."""
    return sorted(ensure_dataset(cache_dir).glob("*.dcm"))
