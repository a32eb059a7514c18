"""The DICOMweb client side: ``{root}servers`` (seed: "Querying a remote DICOMweb server").

* ``GET servers`` (names), ``GET servers?expand`` (details, never a password),
  ``GET servers/{name}`` (operations offered), ``PUT``/``DELETE servers/{name}``;
* ``POST servers/{name}/get``: a GET below the remote's URL, its answer relayed;
* ``POST servers/{name}/stow``: Orthanc resources sent by STOW-RS, chunked by
  ``StowMaxInstances``/``StowMaxSize``;
* ``POST servers/{name}/retrieve``: WADO-RS retrieve of studies, series or
  instances into the local store; the answer lists their Orthanc identifiers.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any, Iterator

from werkzeug.wrappers import Request, Response

from ..client.chunking import plan_chunks
from ..client.remote import RemoteClient, RemoteError, remote_url
from ..client.wado import retrieve_parts
from ..config import ConfigError, RemoteServer, parse_remote_server
from ..dicomweb.multipart import (Part, ReceivedPart, content_type_header, iter_parts,
                                  multipart_length, new_boundary)
from ..dicomweb.uids import is_uid
from ..errors import HttpError
from ..store.base import InstanceRecord, StoreError
from ..store.orthanc_ids import ORTHANC_ID_RE
from ..state import AppState
from .common import json_response

_OPERATIONS = ["get", "retrieve", "stow"]
_LEVELS = ("patients", "studies", "series", "instances")


def _server(state: AppState, name: str) -> RemoteServer:
    server = state.runtime.servers.get(name)
    if server is None:
        raise HttpError(404, f"unknown DICOMweb server {name!r}; GET servers lists them")
    return server


def _json(request: Request) -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "the request body must be a JSON object") from None


def _body(request: Request) -> dict[str, Any]:
    body = _json(request)
    if not isinstance(body, dict):
        raise HttpError(400, "the request body must be a JSON object")
    return body


# -- registry ----------------------------------------------------------------------------------------
def list_servers(state: AppState, request: Request) -> Response:
    """Names of the configured servers; ``?expand`` adds their (password-free) settings."""
    servers = state.runtime.servers
    if "expand" in request.args:
        return json_response({name: s.public() for name, s in sorted(servers.items())})
    return json_response(sorted(servers))


def get_server(state: AppState, request: Request, name: str) -> Response:
    _server(state, name)
    return json_response(_OPERATIONS)


def _single_process(state: AppState) -> None:
    """Run-time registry changes would reach one worker only: refuse them with several workers."""
    if state.settings.workers > 1:
        raise HttpError(409, f"the mock runs {state.settings.workers} worker processes: set remote servers in "
                             "the configuration (DicomWeb.Servers) instead of at run time")


def put_server(state: AppState, request: Request, name: str) -> Response:
    """Add or replace a remote at run time; validated like the configuration."""
    _single_process(state)
    if not name or "/" in name:
        raise HttpError(400, f"invalid server name {name!r}")
    try:
        # Any form of the configuration (``[url]``, ``[url, user, password]``, an object), not only
        # objects: the run-time registry is validated exactly like ``DicomWeb.Servers``.
        server = parse_remote_server(name, _json(request), f"servers/{name}")
    except ConfigError as exc:
        raise HttpError(400, str(exc)) from None
    with state.lock:
        state.runtime.servers[name] = server
    return json_response({})


def delete_server(state: AppState, request: Request, name: str) -> Response:
    _single_process(state)
    with state.lock:
        _server(state, name)
        del state.runtime.servers[name]
    return json_response({})


# -- get -----------------------------------------------------------------------------------------------
def remote_get(state: AppState, request: Request, name: str) -> Response:
    """Relay a GET (QIDO-RS, WADO-RS) to the remote: its status, Content-Type and body come back."""
    server = _server(state, name)
    body = _body(request)
    if "Uri" not in body:
        raise HttpError(400, "the body needs a 'Uri' (a path below the server's URL)")
    url = remote_url(server, body["Uri"], body.get("Arguments"))
    client = RemoteClient(server, state.settings)
    answer = client.request("GET", url, session_headers=body.get("HttpHeaders"), stream=True)
    headers = {"Content-Type": answer.headers.get("Content-Type", "application/octet-stream")}
    if "Content-Length" in answer.headers and "Content-Encoding" not in answer.headers:
        headers["Content-Length"] = answer.headers["Content-Length"]

    def relay() -> Iterator[bytes]:
        try:
            yield from answer.iter_content(64 * 1024)
        finally:
            answer.close()
    return Response(relay(), status=answer.status_code, headers=headers, direct_passthrough=True)


# -- stow ----------------------------------------------------------------------------------------------
class _Body:
    """A STOW-RS body of known length, read part by part from the files (bounded memory)."""

    def __init__(self, parts: list[Part], boundary: str, length: int):
        self._iter = iter_parts(parts, boundary)
        self._buffer = b""
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from self._iter

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._iter, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _instances_of(state: AppState, resources: list[Any]) -> list[InstanceRecord]:
    seen: dict[str, InstanceRecord] = {}
    for oid in resources:
        if not isinstance(oid, str) or not ORTHANC_ID_RE.match(oid):
            raise HttpError(400, f"'Resources' must hold Orthanc identifiers, got {str(oid)[:80]!r}")
        found: list[InstanceRecord] = []
        for level in _LEVELS:
            found = state.store.instances_under(level, oid)
            if found:
                break
        if not found:
            raise HttpError(404, f"unknown resource {oid}")
        for record in found:
            seen.setdefault(record.sop_instance_uid, record)
    return list(seen.values())


def _failed_uids(answer_body: bytes) -> list[str]:
    """SOP Instance UIDs of FailedSOPSequence (0008,1198), plus "?" per item of (0008,119A).

    (0008,119A) "Other Failures" (a part that is not an instance, a truncated body) counts: a 202
    that stored fewer instances than were sent is no success.
    """
    try:
        module = json.loads(answer_body)
    except ValueError:
        return []
    if not isinstance(module, dict):
        return []
    failed = []
    for tag in ("00081198", "0008119A"):
        element = module.get(tag)
        items = element.get("Value") if isinstance(element, dict) else None
        for item in items if isinstance(items, list) else []:
            uid = item.get("00081155") if isinstance(item, dict) else None
            values = uid.get("Value") if isinstance(uid, dict) else None
            failed.append(str(values[0]) if isinstance(values, list) and values else "?")
    return failed


def remote_stow(state: AppState, request: Request, name: str) -> Response:
    """Send Orthanc resources to the remote by STOW-RS, in chunks within the configured limits."""
    server = _server(state, name)
    body = _body(request)
    resources = body.get("Resources")
    if not isinstance(resources, list) or not resources:
        raise HttpError(400, "the body needs 'Resources': a non-empty list of Orthanc identifiers")
    records = _instances_of(state, resources)
    boundary = new_boundary()
    parts = [Part(content_type="application/dicom", body=lambda r=r: state.store.open(r),
                  length=r.size) for r in records]
    part_sizes = [_part_size(p, boundary) for p in parts]
    dw = state.settings.dicomweb
    chunks = plan_chunks(part_sizes, dw.stow_max_instances, dw.stow_max_size, overhead=len(boundary) + 6)
    client = RemoteClient(server, state.settings)
    url = remote_url(server, "studies")
    sent: list[dict[str, Any]] = []
    for number, chunk in enumerate(chunks, start=1):
        chunk_parts = [parts[i] for i in chunk]
        length = sum(part_sizes[i] for i in chunk) + len(boundary) + 4
        headers = {"Content-Type": content_type_header("application/dicom", boundary),
                   "Accept": "application/dicom+json"}
        try:
            answer = client.request("POST", url, headers=headers, session_headers=body.get("HttpHeaders"),
                                    data=_Body(chunk_parts, boundary, length))
        except RemoteError as exc:
            raise HttpError(exc.status, f"STOW-RS request {number}/{len(chunks)}: {exc.reason}") from None
        failed = _failed_uids(answer.content) if answer.status_code in (200, 202, 409) else []
        sent.append({"Instances": len(chunk), "Bytes": length, "Status": answer.status_code,
                     "FailedInstances": failed})
        if answer.status_code >= 300 or failed:
            reason = answer.text.strip().splitlines()[0][:200] if answer.text.strip() else ""
            return json_response({"Error": f"remote STOW-RS request {number}/{len(chunks)} answered "
                                           f"{answer.status_code} {answer.reason}" + (f": {reason}" if reason else ""),
                                  # the failed request's instances are not counted as sent
                                  "Requests": sent, "Instances": sum(s["Instances"] for s in sent[:-1])},
                                 status=502)
    return json_response({"Resources": resources, "Instances": len(records), "Requests": sent})


def _part_size(part: Part, boundary: str) -> int:
    """Bytes one part adds to a body: delimiter, headers, data, CRLF (the close delimiter excluded).

    Measured on the part itself: its ``Content-Length`` header has as many digits as its length,
    and the request's Content-Length must count every one of them.
    """
    return (multipart_length([part], boundary) or 0) - len(boundary) - 4


# -- retrieve ------------------------------------------------------------------------------------------
def _retrieve_path(item: Any) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("Study"), str) or not item["Study"]:
        raise HttpError(400, "each of 'Resources' must be an object with 'Study' (and 'Series', 'Instance')")
    path = f"studies/{item['Study']}"
    if item.get("Series"):
        path += f"/series/{item['Series']}"
        if item.get("Instance"):
            path += f"/instances/{item['Instance']}"
    elif item.get("Instance"):
        raise HttpError(400, "'Instance' needs 'Series'")
    for key in ("Study", "Series", "Instance"):
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not is_uid(value)):
            raise HttpError(400, f"'{key}' must be a DICOM UID, got {str(value)[:80]!r}")
    return path


def remote_retrieve(state: AppState, request: Request, name: str) -> Response:
    """WADO-RS retrieve from the remote into the local store; answers the Orthanc instance ids."""
    server = _server(state, name)
    body = _body(request)
    resources = body.get("Resources")
    if not isinstance(resources, list) or not resources:
        raise HttpError(400, "the body needs 'Resources': a list of {Study, Series?, Instance?}")
    paths = [_retrieve_path(item) for item in resources]
    client = RemoteClient(server, state.settings)
    arguments = body.get("Arguments") or body.get("HttpArguments")
    # Overlapping resources (a study, then one of its series) list each instance once: the
    # seed's answer lists the instances.
    retrieved: dict[str, None] = {}
    for path in paths:
        with closing(retrieve_parts(client, server, path, arguments=arguments,
                                    session_headers=body.get("HttpHeaders"))) as parts:
            for part in parts:
                retrieved.setdefault(_store_part(state, part, path))
    return json_response(list(retrieved))


def _store_part(state: AppState, part: ReceivedPart, path: str) -> str:
    """Store one retrieved instance; its Orthanc identifier."""
    with part:
        try:
            with part.open() as fh:
                return state.store.add(fh).record.orthanc_id
        except StoreError as exc:
            raise HttpError(502, f"an instance retrieved from {path} cannot be stored: {exc.reason}") from None
