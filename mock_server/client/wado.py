"""WADO-RS retrieve from a remote DICOMweb server (PS3.18 10.4), part by part.

The instances of a study, series or instance come as ``multipart/related`` with
``application/dicom`` parts (PS3.18 8.6.1.2, 10.4.1.1.1); any transfer syntax is
accepted (``transfer-syntax=*``), the instances are stored as the remote sends them.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..config import RemoteServer
from ..dicomweb.multipart import MultipartError, ReceivedPart, iter_multipart, parse_content_type
from ..errors import HttpError
from .remote import BODY_ERRORS, RemoteClient, body_failure, remote_url

__all__ = ["ACCEPT_INSTANCES", "retrieve_parts"]

#: The media type asked for: Part 10 instances in any transfer syntax.
ACCEPT_INSTANCES = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def retrieve_parts(client: RemoteClient, server: RemoteServer, path: str, *,
                   arguments: Mapping[str, Any] | None = None,
                   session_headers: Mapping[str, str] | None = None) -> Iterator[ReceivedPart]:
    """The parts of the remote's answer to ``GET {server.url}/{path}``, each read whole before it
    is yielded.

    A 404 of the remote is a 404 (it has no such resource); any other failure of the remote
    (status, media type, a malformed or broken-off body) is a 502, or a 504 when it stalled.
    Close the generator (``contextlib.closing``) to release the connection early.
    """
    answer = client.request("GET", remote_url(server, path, arguments), headers={"Accept": ACCEPT_INSTANCES},
                            session_headers=session_headers, stream=True)
    try:
        if answer.status_code == 404:
            raise HttpError(404, f"the remote has no {path}")
        if answer.status_code != 200:
            raise HttpError(502, f"remote WADO-RS {path} answered {answer.status_code} {answer.reason}")
        mime, params = parse_content_type(answer.headers.get("Content-Type", ""))
        if mime != "multipart/related" or "boundary" not in params:
            raise HttpError(502, f"remote WADO-RS {path} answered {mime or 'no Content-Type'}, not multipart")
        answer.raw.decode_content = True
        yield from iter_multipart(answer.raw, params["boundary"])
    except MultipartError as exc:
        raise HttpError(502, f"remote WADO-RS {path} sent a malformed multipart body: {exc}") from None
    except BODY_ERRORS as exc:
        raise body_failure(server, exc) from None
    finally:
        answer.close()
