"""WADO-RS: instances, metadata, frames, bulk data, rendered, thumbnail (PS3.18 10.4).

Instances stored in the requested transfer syntax (or asked for with
``transfer-syntax=*``) are streamed from their files without being loaded
into memory; any other syntax is transcoded one instance at a time.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from werkzeug.wrappers import Request, Response

from ..dicomweb import frames as frame_ops
from ..dicomweb import rendering
from ..dicomweb.dicom_xml import json_to_xml
from ..dicomweb.media_types import bulk_media_type_for
from ..dicomweb.multipart import Part
from ..dicomweb.negotiation import Choice, Offer, negotiate
from ..dicomweb.pixel_check import refuse_undecodable
from ..dicomweb.query_string import query_values
from ..dicomweb.resource_urls import BASE_PLACEHOLDER, element_at, instance_path
from ..dicomweb.transcoding import SUPPORTED_TARGETS, WEB_FORBIDDEN_SYNTAXES, can_transcode, transcode, write_part10
from ..dicomweb.uids import EXPLICIT_VR_LE
from ..errors import HttpError
from ..leniency import accept_required
from ..store.base import InstanceRecord
from ..urls import dicomweb_base
from ..state import AppState
from .common import check_charsets, located, multipart_response, warning_value

#: Transfer Syntaxes offered over the web: Implicit VR Little Endian and Explicit VR Big
#: Endian "shall not be used with Web Services" (PS3.18 8.7.3), even though the
#: transcoder can write them.
WEB_TARGETS = SUPPORTED_TARGETS - WEB_FORBIDDEN_SYNTAXES
#: Image Pixel attributes that decide whether an instance can be transcoded.
_PIXEL_KEYWORDS = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored",
                   "PixelRepresentation", "PhotometricInterpretation")


def _accept_query(request: Request) -> str | None:
    """The "accept" Query Parameter values joined with commas (``+`` is literal: PS3.18 8.3.1)."""
    return ",".join(query_values(request.query_string, "accept")) or None


def _negotiate(request: Request, offers: list[Offer], default: Offer | None, state: AppState | None = None) -> Choice:
    # The "accept" Query Parameter is prioritized before the Accept header field
    # (PS3.18 8.3.3.1, 8.7.8.1; origin server usage M in table 10.4.1-5).
    choice = negotiate(request.headers.get("Accept"), offers, default=default, accept_query=_accept_query(request),
                       require_accept=state is not None and accept_required(state.settings, request))
    check_charsets(request, choice)
    return choice


def _instance_url(base: str, r: InstanceRecord) -> str:
    return base + instance_path(r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid)


def _records(state: AppState, study: str, series: str | None, instance: str | None) -> list[InstanceRecord]:
    return state.store.instances(study, series, instance)


# -- instances -------------------------------------------------------------------------------------
def _dicom_offers() -> list[Offer]:
    offers = [Offer(media_type="multipart/related", part_type="application/dicom", transfer_syntax=EXPLICIT_VR_LE)]
    offers += [Offer(media_type="multipart/related", part_type="application/dicom", transfer_syntax=ts)
               for ts in sorted(WEB_TARGETS) if ts != EXPLICIT_VR_LE]
    return offers


def _part_syntax(record: InstanceRecord, target: str) -> str:
    """The Transfer Syntax one instance is sent in: ``*`` keeps the stored one unless
    the web may not carry it (PS3.18 8.7.3), then the default Explicit VR Little Endian."""
    if target != "*":
        return target
    return EXPLICIT_VR_LE if record.transfer_syntax_uid in WEB_FORBIDDEN_SYNTAXES else record.transfer_syntax_uid


def _instance_part(state: AppState, base: str, record: InstanceRecord, target_ts: str | None) -> Part:
    url = _instance_url(base, record)
    target_ts = _part_syntax(record, target_ts or EXPLICIT_VR_LE)
    if target_ts == record.transfer_syntax_uid:
        ts = record.transfer_syntax_uid
        return Part(content_type=f"application/dicom; transfer-syntax={ts}",
                    body=lambda r=record: state.store.open(r),
                    content_location=url, length=record.size)

    # Transcoded when its turn comes (the parts are pulled lazily), so one instance at a time is
    # in memory and its part still carries a Content-Length (PS3.18 8.6.1.2.1).
    data = write_part10(transcode(state.store.read_dataset(record), target_ts), target_ts)
    return Part(content_type=f"application/dicom; transfer-syntax={target_ts}", body=data,
                content_location=url, length=len(data))


def _check_transcodable(state: AppState, records: list[InstanceRecord], target: str) -> None:
    """406 before the first byte when one instance cannot be sent in ``target`` (PS3.18 8.7.3.5)."""
    for record in records:
        ts = _part_syntax(record, target)
        if record.transfer_syntax_uid == ts:
            continue
        refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid, ts)
        ds = state.store.read_dataset(record, stop_before_pixels=True)
        # A Dataset read without its Pixel Data looks like an image-less instance: the pixel
        # attributes (a plain mapping) tell can_transcode that there is an image.
        meta: Any = ds
        if record.number_of_frames > 0:
            meta = {kw: ds.get(kw) for kw in _PIXEL_KEYWORDS}
        if not can_transcode(record.transfer_syntax_uid, ts, meta):
            raise HttpError(406, f"instance {record.sop_instance_uid} stored in {record.transfer_syntax_uid} "
                                 f"cannot be sent in transfer syntax {target}")


def retrieve_instances(state: AppState, request: Request, study: str, series: str | None = None,
                       instance: str | None = None) -> Response:
    """Study, series or instance retrieve as ``multipart/related; type="application/dicom"``."""
    choice = _negotiate(request, _dicom_offers(), default=_dicom_offers()[0], state=state)
    records = _records(state, study, series, instance)
    target = choice.transfer_syntax or EXPLICIT_VR_LE
    if target != "*" and target not in WEB_TARGETS:
        raise HttpError(406, f"transfer syntax {target} is not supported for retrieval")
    _check_transcodable(state, records, target)
    base = dicomweb_base(request, state.settings)
    if all(_part_syntax(r, target) == r.transfer_syntax_uid for r in records):
        parts: Iterable[Part] = [_instance_part(state, base, r, target) for r in records]
    else:
        parts = (_instance_part(state, base, r, target) for r in records)
    # The first part is produced before the status line is sent.
    return multipart_response(parts, "application/dicom", None if target == "*" else target)


# -- metadata --------------------------------------------------------------------------------------
_META_JSON = Offer(media_type="application/dicom+json")
_META_XML = Offer(media_type="multipart/related", part_type="application/dicom+xml")


#: Metadata of more instances than this is streamed (bounded memory) instead of sent with a length.
STREAMED_METADATA_ABOVE = 200
_METADATA_BATCH = 100


def _metadata_texts(state: AppState, records: list, base: str) -> Iterator[str]:
    """Stored metadata texts in ``records`` order, read in batches, BulkDataURIs made absolute."""
    for start in range(0, len(records), _METADATA_BATCH):
        for text in state.store.metadata_texts(records[start:start + _METADATA_BATCH]):
            yield text.replace(BASE_PLACEHOLDER, base)


def _json_array(texts: Iterator[str]) -> Iterator[bytes]:
    yield b"["
    for number, text in enumerate(texts):
        yield (text if number == 0 else "," + text).encode("utf-8")
    yield b"]"


def retrieve_metadata(state: AppState, request: Request, study: str, series: str | None = None,
                      instance: str | None = None) -> Response:
    """Metadata as DICOM JSON (default) or multipart DICOM XML, BulkDataURIs absolute (PS3.18 10.4.1.1.2).

    A large study's metadata is streamed instance by instance, never held whole in memory.
    """
    choice = _negotiate(request, [_META_JSON, _META_XML], default=_META_JSON, state=state)
    records = _records(state, study, series, instance)
    url_base = dicomweb_base(request, state.settings)
    texts = _metadata_texts(state, records, json.dumps(url_base)[1:-1])
    streamed = len(records) > STREAMED_METADATA_ABOVE
    if choice.offer is _META_JSON:
        body: Any = _json_array(texts) if streamed else b"".join(_json_array(texts))
        return located(Response(body, content_type="application/dicom+json"), request, state.settings)
    # Each part carries the Content-Location of the instance metadata it holds
    # (PS3.18 8.6.1.2 table 8.6.1-1); texts and records are in the same order.
    parts = (Part(content_type="application/dicom+xml", body=json_to_xml(json.loads(t)),
                  content_location=_instance_url(url_base, r) + "/metadata") for r, t in zip(records, texts))
    return multipart_response(parts if streamed else list(parts), "application/dicom+xml")


# -- frames ----------------------------------------------------------------------------------------
def _frame_offers(stored_ts: str) -> list[Offer]:
    offers = [Offer(media_type="multipart/related", part_type="application/octet-stream",
                    transfer_syntax=EXPLICIT_VR_LE),
              Offer(media_type="application/octet-stream", transfer_syntax=EXPLICIT_VR_LE)]
    # A native stored syntax is offered only as octet-stream in Explicit VR Little Endian:
    # the stored one may be Implicit VR Little Endian, forbidden on the web (8.7.3).
    compressed = [m for m in bulk_media_type_for(stored_ts) if m != "application/octet-stream"]
    for media in compressed:
        offers.append(Offer(media_type="multipart/related", part_type=media, transfer_syntax=stored_ts))
    return offers


def retrieve_frames(state: AppState, request: Request, study: str, series: str, instance: str, frames: str) -> Response:
    """Frames in the stored compressed syntax or native (PS3.18 10.4.1.1.4, 8.7.3.3)."""
    record = _records(state, study, series, instance)[0]
    if record.number_of_frames == 0:
        raise HttpError(404, f"instance {instance} has no pixel data, so no frames")
    numbers = frame_ops.parse_frame_list(frames, record.number_of_frames)
    offers = _frame_offers(record.transfer_syntax_uid)
    choice = _negotiate(request, offers, default=offers[0], state=state)
    part_type = choice.offer.part_type or choice.offer.media_type
    ts = choice.resolve_transfer_syntax(record.transfer_syntax_uid) or EXPLICIT_VR_LE
    if choice.transfer_syntax == "*" and part_type != "application/octet-stream":
        ts = record.transfer_syntax_uid
    if ts == "*":
        ts = record.transfer_syntax_uid
    refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid, ts)
    payloads = _frame_payloads(state, record, numbers, ts)
    if choice.offer.media_type == "application/octet-stream":
        if len(payloads) != 1:
            raise HttpError(406, "application/octet-stream without multipart can carry one frame only")
        return located(Response(payloads[0], content_type="application/octet-stream"), request, state.settings)
    base = dicomweb_base(request, state.settings)
    url = _instance_url(base, record)
    parts = [Part(content_type=f"{part_type}; transfer-syntax={ts}", body=p,
                  content_location=f"{url}/frames/{n}", length=len(p)) for n, p in zip(numbers, payloads)]
    return multipart_response(parts, part_type, ts)


def _frame_payloads(state: AppState, record: InstanceRecord, numbers: list[int], ts: str) -> list[bytes]:
    if record.pixel_offset is not None and record.frame_length and frame_ops.by_range(record.transfer_syntax_uid, ts):
        with state.store.open(record) as fh:  # frames located when the instance was stored
            return frame_ops.frames_at(fh, record.pixel_offset, record.frame_length, numbers)
    ds = state.store.read_dataset(record)
    if ts == record.transfer_syntax_uid:
        return [frame_ops.stored_frame(ds, n) for n in numbers]
    if ts == EXPLICIT_VR_LE:
        return [frame_ops.native_frame(ds, n) for n in numbers]
    return [frame_ops.frame_in_syntax(ds, n, ts) for n in numbers]


# -- bulk data -------------------------------------------------------------------------------------
def retrieve_bulk(state: AppState, request: Request, study: str, series: str, instance: str, bulk: str) -> Response:
    """The value of one bulk data element named by a BulkDataURI (PS3.18 10.4.1.1.5)."""
    record = _records(state, study, series, instance)[0]
    offers = [Offer(media_type="multipart/related", part_type="application/octet-stream",
                    transfer_syntax=EXPLICIT_VR_LE),
              Offer(media_type="application/octet-stream", transfer_syntax=EXPLICIT_VR_LE)]
    choice = _negotiate(request, offers, default=offers[0], state=state)
    ds = state.store.read_dataset(record)
    element = element_at(ds, bulk)
    if element is None or element.VR == "SQ":
        raise HttpError(404, f"no bulk data element at {bulk} in instance {instance}")
    if element.tag == 0x7FE00010 and "/" not in bulk.strip("/"):
        refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid, EXPLICIT_VR_LE)
        payload = b"".join(frame_ops.native_frame(ds, n) for n in range(1, record.number_of_frames + 1))
    else:
        value = element.value
        payload = value if isinstance(value, bytes) else bytes(str(value), "utf-8")
    if choice.offer.media_type == "application/octet-stream":
        return located(Response(payload, content_type="application/octet-stream"), request, state.settings)
    url = _instance_url(dicomweb_base(request, state.settings), record) + "/bulk/" + bulk
    return multipart_response([Part(content_type="application/octet-stream", body=payload,
                                     content_location=url, length=len(payload))], "application/octet-stream")


# -- rendered and thumbnail ------------------------------------------------------------------------
_RENDERED = [Offer(media_type="image/jpeg"), Offer(media_type="image/png"), Offer(media_type="image/gif")]


def _images(state: AppState, study: str, series: str | None, instance: str | None) -> list[InstanceRecord]:
    records = [r for r in _records(state, study, series, instance) if r.number_of_frames > 0]
    if not records:
        raise HttpError(404, "no instance with pixel data to render here")
    return records


def _render_params(request: Request, media_type: str, frames: str | None,
                   record: InstanceRecord) -> list[rendering.RenderParams]:
    params = rendering.parse_rendered_query(request.args.to_dict(flat=False), media_type)
    numbers = frame_ops.parse_frame_list(frames, record.number_of_frames) if frames else [1]
    return [params.with_frame(n) for n in numbers]


def _render_all(state: AppState, records: Iterable[InstanceRecord], params_for) -> list[tuple[InstanceRecord, int, bytes]]:
    images = []
    for record in records:
        refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid)
        ds = state.store.read_dataset(record)
        images += [(record, params.frame, rendering.render(ds, params)) for params in params_for(record)]
    return images


def retrieve_rendered(state: AppState, request: Request, study: str, series: str | None = None,
                      instance: str | None = None, frames: str | None = None) -> Response:
    """Rendered images (PS3.18 10.4.1.1.3 / 8.3.5.1): one image for an instance or frame, multipart otherwise."""
    multipart_offers = [Offer(media_type="multipart/related", part_type=o.media_type) for o in _RENDERED]
    choice = _negotiate(request, _RENDERED + multipart_offers, default=_RENDERED[0], state=state)
    media = choice.offer.part_type or choice.offer.media_type
    unsupported = rendering.parse_annotations(request.args.getlist("annotation"), "annotation" in request.args)
    records = _images(state, study, series, instance)
    images = _render_all(state, records, lambda r: _render_params(request, media, frames, r))
    if len(images) == 1 and choice.offer.media_type != "multipart/related":
        response = located(Response(images[0][2], content_type=media), request, state.settings)
    else:
        base = dicomweb_base(request, state.settings)  # parts name the rendered resource (table 8.6.1-1)
        parts = [Part(content_type=media, body=img, length=len(img),
                      content_location=_instance_url(base, r) + (f"/frames/{n}" if frames else "") + "/rendered")
                 for r, n, img in images]
        response = multipart_response(parts, media)
    if unsupported:  # 8.3.5.1.1: unsupported values are ignored and named in a 299 warning
        response.headers.add("Warning", warning_value(
            request.host, f"The following annotation values are not supported: {','.join(unsupported)}"))
    return response


def retrieve_thumbnail(state: AppState, request: Request, study: str, series: str | None = None,
                       instance: str | None = None, frames: str | None = None) -> Response:
    """A small representative image of the resource (PS3.18 10.4.1.1.3 thumbnail)."""
    choice = _negotiate(request, _RENDERED, default=_RENDERED[0], state=state)
    records = _images(state, study, series, instance)
    record = records[len(records) // 2]
    viewport = rendering.parse_rendered_query(request.args.to_dict(flat=False), choice.offer.media_type).viewport
    number = frame_ops.parse_frame_list(frames, record.number_of_frames)[0] if frames else 1
    refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid)
    image = rendering.thumbnail(state.store.read_dataset(record), choice.offer.media_type, viewport=viewport,
                                frame=number)
    return located(Response(image, content_type=choice.offer.media_type), request, state.settings)
