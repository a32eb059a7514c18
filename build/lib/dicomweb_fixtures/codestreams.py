"""The committed compressed frames of the fixture data set (``fixtures/codestreams/``).

Encoders do not promise the same bytes from one release to the next (nor
does the RLE segmenter of one pydicom version match another's), so the
compressed frames are made once by a developer and committed, like the
manifest.  Generating the data set then needs no encoder: each compressed
frame is read from here, after checking that it was made from exactly the
native pixels the generator produced (``source_sha256`` in ``index.json``).

``index.json`` maps ``<instance stem>/<frame number>`` to the stream's file
name, its SHA-256, the SHA-256 of the native frame it encodes and, for lossy
streams, of Pillow's decoding of it (the manifest's ``native_frames_sha256``).

Developer command: ``python -m dicomweb_fixtures.generator --encode`` makes
the streams anew from the generator's pixels and checks that every lossless
one decodes back to them exactly.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).resolve().parent / "codestreams"
INDEX = DIRECTORY / "index.json"

#: File extension of each compressed transfer syntax's stream.
EXTENSIONS = {
    "1.2.840.10008.1.2.4.50": "jpg",
    "1.2.840.10008.1.2.4.80": "jls",
    "1.2.840.10008.1.2.4.90": "j2k",
    "1.2.840.10008.1.2.5": "rle",
}


class CodestreamError(RuntimeError):
    """A committed stream is missing, altered, or was made from other pixels than the generator's."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_index() -> dict[str, Any]:
    """The committed index (empty when there is none yet)."""
    try:
        return json.loads(INDEX.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


_INDEX_CACHE: dict[str, Any] | None = None


def load_index_cached() -> dict[str, Any]:
    """:func:`load_index`, read once per process."""
    global _INDEX_CACHE
    if _INDEX_CACHE is None:
        _INDEX_CACHE = load_index()
    return _INDEX_CACHE


def committed_frames(stem: str, syntax: str, native: list[bytes],
                     index: dict[str, Any]) -> tuple[list[bytes], list[str | None]]:
    """The committed streams of instance ``stem`` and, per frame, the decoded SHA-256 recorded for lossy ones."""
    streams, decoded = [], []
    for number, frame in enumerate(native, 1):
        key = f"{stem}/{number}"
        entry = index.get(key)
        if entry is None or entry.get("syntax") != syntax:
            raise CodestreamError(f"no committed {syntax} stream for frame {key}")
        if entry["source_sha256"] != _sha256(frame):
            raise CodestreamError(f"the committed stream of frame {key} encodes other pixels than the generator's")
        data = (DIRECTORY / entry["file"]).read_bytes()
        if _sha256(data) != entry["sha256"]:
            raise CodestreamError(f"{DIRECTORY / entry['file']} was altered (SHA-256 differs from index.json)")
        streams.append(data)
        decoded.append(entry.get("decoded_sha256"))
    return streams, decoded


def record(index: dict[str, Any], stem: str, syntax: str, native: list[bytes], streams: list[bytes],
           decoded: list[bytes | None]) -> None:
    """Write the streams of one instance and add them to ``index`` (developer command)."""
    folder = DIRECTORY / stem
    folder.mkdir(parents=True, exist_ok=True)
    for number, (frame, data, pixels) in enumerate(zip(native, streams, decoded), 1):
        name = f"{stem}/{number:03d}.{EXTENSIONS[syntax]}"
        (DIRECTORY / name).write_bytes(data)
        entry = {"file": name, "syntax": syntax, "sha256": _sha256(data), "source_sha256": _sha256(frame)}
        if pixels is not None:
            entry["decoded_sha256"] = _sha256(pixels)
        index[f"{stem}/{number}"] = entry


def write_index(index: dict[str, Any]) -> None:
    """Write ``index.json`` in a stable order."""
    INDEX.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n", encoding="utf-8")
