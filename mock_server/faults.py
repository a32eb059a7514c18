"""Fault injection: break one behaviour at a time, to prove the suite notices.

Each fault is a small, named deviation from PS3.18 applied by a WSGI
middleware around the application: it rewrites the request (drops a query
parameter, an Accept parameter) or the response (status, a header, a DICOM
JSON attribute, a multipart part) of one kind of exchange.  The handlers
stay free of test code.  Faults are switched on with the ``Faults`` list of
the configuration or at run time with ``PUT /_mock/faults`` (a JSON list).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode

from werkzeug.wrappers import Request, Response

__all__ = ["FAULTS", "Fault", "FaultInjector", "unknown_faults"]

Exchange = str  # "qido" | "metadata" | "retrieve" | "frames" | "bulk" | "rendered" | "thumbnail" | "uri" | "stow" | "any"


@dataclass(frozen=True)
class Fault:
    """One deviation: where it applies and what it breaks."""

    name: str
    exchange: Exchange
    description: str
    request: Callable[[dict[str, Any]], None] | None = None
    response: Callable[[Response, Request], Response] | None = None


# -- request rewriting -----------------------------------------------------------------------------
def _drop_params(*names: str, when: Callable[[str, str], bool] | None = None) -> Callable[[dict[str, Any]], None]:
    def rewrite(environ: dict[str, Any]) -> None:
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not (k in names and (when is None or when(k, v)))]
        environ["QUERY_STRING"] = urlencode(kept)
    return rewrite


def _first_of_lists(environ: dict[str, Any]) -> None:
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    environ["QUERY_STRING"] = urlencode([(k, v.split(",")[0] if "UID" in k or k.startswith("0020") else v)
                                         for k, v in pairs])


def _strip_accept_transfer_syntax(environ: dict[str, Any]) -> None:
    accept = environ.get("HTTP_ACCEPT")
    if accept:
        environ["HTTP_ACCEPT"] = re.sub(r";\s*transfer-syntax=[^,;]*", "", accept)


def _no_uid_lists(environ: dict[str, Any]) -> None:
    """A server without List of UID Matching: a comma-separated UID list is one (unknown) UID value."""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    environ["QUERY_STRING"] = urlencode([(k, "0.0" if ("UID" in k or k.startswith("0020")) and "," in v else v)
                                         for k, v in pairs])


# -- response rewriting ----------------------------------------------------------------------------
def _not_served(resp: Response, req: Request) -> Response:
    """A resource this (partial) server does not implement: 404 whatever was asked."""
    return Response(b"Not Found: this server does not implement the resource\n", status=404,
                    content_type="text/plain")

def _status(old: int, new: int, body: bytes | None = None) -> Callable[[Response, Request], Response]:
    def rewrite(resp: Response, req: Request) -> Response:
        if resp.status_code == old:
            resp.status_code = new
            if body is not None:
                resp.set_data(body)
        return resp
    return rewrite


def _drop_header(name: str) -> Callable[[Response, Request], Response]:
    def rewrite(resp: Response, req: Request) -> Response:
        resp.headers.pop(name, None)
        return resp
    return rewrite


def _set_content_type(value: str, only_status: int = 200) -> Callable[[Response, Request], Response]:
    def rewrite(resp: Response, req: Request) -> Response:
        if resp.status_code == only_status:
            resp.headers["Content-Type"] = value
        return resp
    return rewrite


def _json_rewrite(edit: Callable[[Any], Any]) -> Callable[[Response, Request], Response]:
    """Apply ``edit`` to a DICOM JSON body (array or object)."""
    def rewrite(resp: Response, req: Request) -> Response:
        if resp.status_code not in (200, 202, 409, 400) or "json" not in (resp.content_type or ""):
            return resp
        doc = json.loads(resp.get_data())
        resp.set_data(json.dumps(edit(doc), ensure_ascii=False).encode("utf-8"))
        return resp
    return rewrite


def _each_dataset(doc: Any, edit: Callable[[dict[str, Any]], None]) -> Any:
    for ds in doc if isinstance(doc, list) else [doc]:
        edit(ds)
    return doc


def _drop_tag(tag: str) -> Callable[[Any], Any]:
    return lambda doc: _each_dataset(doc, lambda ds: ds.pop(tag, None))


def _walk(ds: dict[str, Any], visit: Callable[[str, dict[str, Any]], None]) -> None:
    for key, attr in list(ds.items()):
        visit(key, attr)
        if attr.get("vr") == "SQ":
            for item in attr.get("Value") or []:
                _walk(item, visit)


def _numbers_as_strings(doc: Any) -> Any:
    def visit(key: str, attr: dict[str, Any]) -> None:
        if attr.get("vr") in ("US", "UL", "SS", "SL") and "Value" in attr:
            attr["Value"] = [str(v) for v in attr["Value"]]
    return _each_dataset(doc, lambda ds: _walk(ds, visit))


def _pn_as_strings(doc: Any) -> Any:
    def visit(key: str, attr: dict[str, Any]) -> None:
        if attr.get("vr") == "PN" and "Value" in attr:
            attr["Value"] = [v.get("Alphabetic", "") if isinstance(v, dict) else v for v in attr["Value"]]
    return _each_dataset(doc, lambda ds: _walk(ds, visit))


def _reverse_order(doc: Any) -> Any:
    def rev(ds: dict[str, Any]) -> dict[str, Any]:
        return dict(reversed(list(ds.items())))
    return [rev(ds) for ds in doc] if isinstance(doc, list) else rev(doc)


def _wrong_vr(doc: Any) -> Any:
    def edit(ds: dict[str, Any]) -> None:
        if "00100010" in ds:
            ds["00100010"]["vr"] = "LO"
    return _each_dataset(doc, edit)


def _bulk_with_value(doc: Any) -> Any:
    def visit(key: str, attr: dict[str, Any]) -> None:
        if "BulkDataURI" in attr:
            attr["InlineBinary"] = ""
    return _each_dataset(doc, lambda ds: _walk(ds, visit))


def _drop_bulk_uris(doc: Any) -> Any:
    def edit(ds: dict[str, Any]) -> None:
        for key in [k for k, a in ds.items() if "BulkDataURI" in a and k != "7FE00010"]:
            del ds[key]
    return _each_dataset(doc, edit)


def _drop_item_tag(seq: str, tag: str) -> Callable[[Any], Any]:
    def edit(ds: dict[str, Any]) -> None:
        for item in ds.get(seq, {}).get("Value") or []:
            item.pop(tag, None)
    return lambda doc: _each_dataset(doc, edit)


def _multipart_rewrite(edit: Callable[[bytes, bytes], bytes]) -> Callable[[Response, Request], Response]:
    """Apply ``edit(body, boundary)`` to a multipart body (fault mode buffers it)."""
    def rewrite(resp: Response, req: Request) -> Response:
        match = re.search(r'boundary="?([^";]+)"?', resp.headers.get("Content-Type", ""))
        if resp.status_code != 200 or not match:
            return resp
        body = edit(resp.get_data(), match.group(1).encode())
        resp.set_data(body)
        return resp
    return rewrite


def _drop_part_header(name: bytes) -> Callable[[bytes, bytes], bytes]:
    return lambda body, boundary: re.sub(rb"(?im)^" + re.escape(name) + rb":[^\r\n]*\r\n", b"", body)


def _set_part_type(value: bytes) -> Callable[[bytes, bytes], bytes]:
    return lambda body, boundary: re.sub(rb"(?im)^Content-Type:[^\r\n]*\r\n", b"Content-Type: " + value + b"\r\n",
                                         body)


def _drop_last_part(body: bytes, boundary: bytes) -> bytes:
    delimiter = b"\r\n--" + boundary
    pieces = body.split(delimiter)
    if len(pieces) <= 3:  # preamble+first part, close: keep single-part bodies
        return body
    return delimiter.join(pieces[:-2] + pieces[-1:])


def _corrupt_payload(body: bytes, boundary: bytes) -> bytes:
    start = body.find(b"\r\n\r\n")
    if start < 0 or len(body) < start + 10:
        return body
    i = start + 5
    return body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:]


def _png_instead_of_jpeg(resp: Response, req: Request) -> Response:
    if resp.status_code == 200 and resp.content_type == "image/jpeg":
        from PIL import Image
        out = io.BytesIO()
        Image.open(io.BytesIO(resp.get_data())).save(out, format="PNG")
        resp.set_data(out.getvalue())
    return resp


def _drop_type_param(resp: Response, req: Request) -> Response:
    ctype = resp.headers.get("Content-Type", "")
    if ctype.startswith("multipart/related"):
        resp.headers["Content-Type"] = re.sub(r';\s*type="?[^";]+"?', "", ctype)
    return resp


_FAULT_LIST = [
    # QIDO-RS
    Fault("qido-ignore-limit", "qido", "ignore the limit parameter", request=_drop_params("limit")),
    Fault("qido-ignore-offset", "qido", "ignore the offset parameter", request=_drop_params("offset")),
    Fault("qido-no-warning", "qido", "omit the Warning header when more results remain",
          response=_drop_header("Warning")),
    Fault("qido-ignore-includefield", "qido", "ignore includefield", request=_drop_params("includefield")),
    Fault("qido-ignore-patient-name", "qido", "ignore PatientName matching keys",
          request=_drop_params("PatientName", "00100010")),
    Fault("qido-ignore-date-range", "qido", "ignore StudyDate keys that are ranges",
          request=_drop_params("StudyDate", "00080020", when=lambda k, v: "-" in v)),
    Fault("qido-uid-list-first-only", "qido", "match only the first UID of a UID list", request=_first_of_lists),
    Fault("qido-ignore-modality", "qido", "ignore Modality and ModalitiesInStudy keys",
          request=_drop_params("Modality", "00080060", "ModalitiesInStudy", "00080061")),
    Fault("qido-empty-as-404", "qido", "answer 404 instead of an empty result", response=_status(204, 404)),
    Fault("qido-bad-param-accepted", "qido", "answer 200 [] to invalid query parameters",
          response=_status(400, 200, b"[]")),
    Fault("qido-text-content-type", "qido", "label JSON results text/plain",
          response=_set_content_type("text/plain")),
    Fault("qido-no-retrieve-url", "qido", "omit RetrieveURL (0008,1190) from results",
          response=_json_rewrite(_drop_tag("00081190"))),
    Fault("qido-no-study-date", "qido", "omit StudyDate (0008,0020) from results",
          response=_json_rewrite(_drop_tag("00080020"))),
    Fault("qido-no-instance-count", "qido", "omit NumberOfStudyRelatedInstances (0020,1208)",
          response=_json_rewrite(_drop_tag("00201208"))),
    # DICOM JSON / XML model
    Fault("model-numbers-as-strings", "any", "write US/UL/SS/SL values as JSON strings",
          response=_json_rewrite(_numbers_as_strings)),
    Fault("model-pn-as-string", "any", "write PN values as plain strings", response=_json_rewrite(_pn_as_strings)),
    Fault("model-unsorted-tags", "any", "write attributes in descending tag order",
          response=_json_rewrite(_reverse_order)),
    Fault("model-wrong-vr", "any", "label PatientName with VR LO", response=_json_rewrite(_wrong_vr)),
    Fault("model-bulk-and-inline", "metadata", "add InlineBinary next to BulkDataURI",
          response=_json_rewrite(_bulk_with_value)),
    # WADO-RS
    Fault("wado-no-content-location", "retrieve", "omit Content-Location from parts",
          response=_multipart_rewrite(_drop_part_header(b"Content-Location"))),
    Fault("wado-part-octet-stream", "retrieve", "label instance parts application/octet-stream",
          response=_multipart_rewrite(_set_part_type(b"application/octet-stream"))),
    Fault("wado-drop-last-instance", "retrieve", "leave the last instance out of a retrieve",
          response=_multipart_rewrite(_drop_last_part)),
    Fault("wado-unsupported-syntax-accepted", "retrieve", "ignore the transfer-syntax the client asked for",
          request=_strip_accept_transfer_syntax),
    Fault("wado-multipart-no-type", "retrieve", "omit the type parameter of multipart/related",
          response=_drop_type_param),
    Fault("wado-unknown-as-empty", "retrieve", "answer 204 instead of 404 for unknown UIDs",
          response=_status(404, 204, b"")),
    Fault("wado-metadata-no-bulk", "metadata", "drop attributes that have a BulkDataURI",
          response=_json_rewrite(_drop_bulk_uris)),
    Fault("wado-frames-corrupt", "frames", "flip one byte of the first frame", response=_multipart_rewrite(_corrupt_payload)),
    Fault("wado-frame-out-of-range-ok", "frames", "answer 200 to frames beyond the last",
          response=_status(404, 200, b"")),
    Fault("wado-rendered-png-as-jpeg", "rendered", "send PNG bytes labelled image/jpeg", response=_png_instead_of_jpeg),
    # WADO-URI
    Fault("uri-missing-param-ok", "uri", "answer 200 when required parameters are missing",
          response=_status(400, 200, b"")),
    Fault("uri-ignore-content-type", "uri", "ignore the contentType parameter", request=_drop_params("contentType")),
    Fault("uri-unknown-as-500", "uri", "answer 500 for unknown objects", response=_status(404, 500)),
    # STOW-RS
    Fault("stow-no-failed-sequence", "stow", "omit FailedSOPSequence (0008,1198)",
          response=_json_rewrite(_drop_tag("00081198"))),
    Fault("stow-conflict-as-200", "stow", "answer 200 when every instance failed with a conflict",
          response=_status(409, 200)),
    Fault("stow-no-retrieve-url", "stow", "omit RetrieveURL from ReferencedSOPSequence items",
          response=_json_rewrite(_drop_item_tag("00081199", "00081190"))),
    Fault("stow-wrong-media-accepted", "stow", "answer 200 to an unsupported request media type",
          response=_status(415, 200, b"{}")),
    # a partial server: capabilities switched off altogether
    Fault("qido-no-uid-list", "qido", "no List of UID Matching (a UID list matches nothing)",
          request=_no_uid_lists),
    Fault("no-metadata", "metadata", "no metadata resources (404)", response=_not_served),
    Fault("no-frames", "frames", "no frames resources (404)", response=_not_served),
    Fault("no-rendered", "rendered", "no rendered resources (404)", response=_not_served),
    Fault("no-thumbnail", "thumbnail", "no thumbnail resources (404)", response=_not_served),
    Fault("no-wado-uri", "uri", "no WADO-URI service (404)", response=_not_served),
    # HTTP
    Fault("http-405-no-allow", "any", "omit Allow from 405 answers", response=_drop_header("Allow")),
    Fault("http-error-no-content-type", "any", "send error answers without Content-Type",
          response=lambda resp, req: _drop_header("Content-Type")(resp, req) if resp.status_code >= 400 else resp),
]
FAULTS: dict[str, Fault] = {f.name: f for f in _FAULT_LIST}


def unknown_faults(names: Iterable[str]) -> list[str]:
    return [n for n in names if n not in FAULTS]


def classify(method: str, path: str, dicomweb_root: str, wado_root: str) -> Exchange | None:
    """Which kind of exchange a request is (the faults' scope)."""
    if path.rstrip("/") == wado_root.rstrip("/"):
        return "uri"
    if not path.startswith(dicomweb_root):
        return None
    rest = path[len(dicomweb_root):].strip("/")
    segments = rest.split("/")
    if method == "POST":
        return "stow"
    last = segments[-1]
    if last in ("studies", "series", "instances") and (len(segments) % 2 == 1):
        return "qido"
    if last == "metadata":
        return "metadata"
    if last in ("rendered",):
        return "rendered"
    if last == "thumbnail":
        return "thumbnail"
    if "frames" in segments:
        return "frames"
    if "bulk" in segments:
        return "bulk"
    return "retrieve"


class FaultInjector:
    """WSGI middleware applying the active faults to matching exchanges."""

    def __init__(self, app: Callable[..., Iterable[bytes]], active: Iterable[str], dicomweb_root: str,
                 wado_root: str):
        self.app = app
        self.active: list[str] = list(active)
        self.dicomweb_root = dicomweb_root
        self.wado_root = wado_root

    def _faults(self, exchange: Exchange | None) -> list[Fault]:
        return [FAULTS[n] for n in self.active if FAULTS[n].exchange in ("any", exchange)]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.active:
            return self.app(environ, start_response)
        exchange = classify(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                            self.dicomweb_root, self.wado_root)
        faults = self._faults(exchange) if exchange else [FAULTS[n] for n in self.active
                                                           if FAULTS[n].exchange == "any"]
        if not faults:
            return self.app(environ, start_response)
        for fault in faults:
            if fault.request is not None:
                fault.request(environ)
        request = Request(environ)
        response = Response.from_app(self.app, environ, buffered=True)
        for fault in faults:
            if fault.response is not None:
                response = fault.response(response, request)
        if response.headers.get("Content-Length") and not response.direct_passthrough:
            response.headers["Content-Length"] = str(len(response.get_data()))
        return response(environ, start_response)
