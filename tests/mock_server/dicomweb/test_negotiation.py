"""Tests for content negotiation and media type tables (PS3.18 2019a 8.7, RFC 7231 5.3)."""

from __future__ import annotations

import pytest

from dicomweb_mock.dicomweb import media_types as mt
from dicomweb_mock.dicomweb.negotiation import (
    Choice,
    MediaRange,
    MixedCategories,
    NegotiationError,
    NotAcceptable,
    Offer,
    acceptable_choices,
    check_categories,
    negotiate,
    parse_accept,
)

EVRLE = "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"

# Offers of a WADO-RS instance retrieve (table 10.4.4-1, 8.7.3.1).
DICOM_MP = Offer("multipart/related", part_type="application/dicom", transfer_syntaxes=(EVRLE, JPEG_BASELINE, JPEG_SV1))
# Offers of a frames retrieve (bulkdata, tables 8.7.3-4/8.7.3-5).
OCTET_MP = Offer("multipart/related", part_type="application/octet-stream", transfer_syntaxes=(EVRLE,))
JPEG_MP = Offer("multipart/related", part_type="image/jpeg", transfer_syntaxes=(JPEG_SV1, JPEG_BASELINE))
JLS_MP = Offer("multipart/related", part_type="image/jls", transfer_syntaxes=("1.2.840.10008.1.2.4.80",))
JP2_MP = Offer("multipart/related", part_type="image/jp2", transfer_syntaxes=("1.2.840.10008.1.2.4.90",))
JPX_MP = Offer("multipart/related", part_type="image/jpx", transfer_syntaxes=("1.2.840.10008.1.2.4.92",))
RLE_MP = Offer("multipart/related", part_type="image/dicom-rle", transfer_syntaxes=("1.2.840.10008.1.2.5",))
FRAME_OFFERS = [OCTET_MP, JPEG_MP, JLS_MP, JP2_MP, JPX_MP, RLE_MP]
# Metadata offers (table 10.4.4-1: JSON default, multipart XML required).
JSON = Offer("application/dicom+json")
XML_MP = Offer("multipart/related", part_type="application/dicom+xml")
# Rendered offers (table 8.7.4-1, single frame image: jpeg default).
JPEG = Offer("image/jpeg")
PNG = Offer("image/png")
GIF = Offer("image/gif")


# ------------------------------------------------------------ parse_accept
def test_parse_accept_keeps_parameters_and_q() -> None:
    (r1, r2) = parse_accept(
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50, '
        "Multipart/Related; TYPE=image/dicom+jpeg; q=0.5"
    )
    assert (r1.type, r1.subtype, r1.q) == ("multipart", "related", 1.0)
    assert r1.params == {"type": "application/dicom", "transfer-syntax": JPEG_BASELINE}
    assert r1.part_type == "application/dicom" and r1.transfer_syntax == JPEG_BASELINE
    # Unquoted value with "/" kept whole; names and types are case-insensitive (8.7).
    assert r2.params == {"type": "image/dicom+jpeg"} and r2.q == 0.5
    assert r2.part_type == "image/jpeg"  # 2014a name mapped to the 2019a one


def test_parse_accept_quoted_and_unquoted_values_equal() -> None:
    # 8.7: "The quoted and unquoted values are equivalent."
    (a,) = parse_accept('application/dicom; transfer-syntax="1.2.840.10008.1.2.1"')
    (b,) = parse_accept("application/dicom; transfer-syntax=1.2.840.10008.1.2.1")
    assert a == b


@pytest.mark.parametrize(
    "junk",
    [
        "foo",  # no subtype
        "/json",
        "*/json",  # wildcard type with concrete subtype
        "text/html;q=2",  # qvalue above 1
        "text/html;q=1.5",
        "text/html;q=abc",
        "text/html;q=0.1234",  # more than 3 decimals (8.7.5 qvalue grammar)
        "text/html;q=-1",
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.1; transfer-syntax=1.2.840.10008.1.2.4.50",
        "application/dicom; transfer-syntax",  # parameter without value
        'multipart/related; type="application/dicom',  # unterminated quote
        "text/ html",
    ],
)
def test_invalid_entries_are_ignored(junk: str) -> None:
    # 8.7.7: "Any Accept header field values ... that are not valid ... shall be ignored".
    accept = f"application/dicom+json, {junk}"
    assert [r.media_type for r in parse_accept(accept)] == ["application/dicom+json"]
    assert negotiate(accept, [XML_MP, JSON]).offer == JSON


@pytest.mark.parametrize(
    ("value", "q"),
    [("a/b", 1.0), ("a/b;q=0", 0.0), ("a/b;q=0.", 0.0), ("a/b;q=0.5", 0.5), ("a/b;q=0.125", 0.125), ("a/b;q=1.000", 1.0), ("a/b ; Q = 0.3", 0.3)],
)
def test_qvalue_grammar(value: str, q: float) -> None:
    # 8.7.5: qvalue = ("0" ["." 0*3DIGIT]) / ("1" ["." 0*3("0")]); default 1.
    (r,) = parse_accept(value)
    assert r.q == q


def test_accept_extensions_after_q_are_dropped() -> None:
    # RFC 7231 5.3.2: parameters after the weight are accept-ext, not media type parameters.
    (r,) = parse_accept('multipart/related; type="application/dicom"; q=0.5; boundary=**')
    assert r.params == {"type": "application/dicom"} and r.q == 0.5


def test_query_parameter_forbids_wildcards() -> None:
    # 8.3.3.1: the Accept Query Parameter "shall not have wildcards".
    assert [r.media_type for r in parse_accept("*/*, image/*, image/png", allow_wildcards=False)] == ["image/png"]


# ------------------------------------------------------------- selection
def test_ps318_example_qvalues_and_selection() -> None:
    # 8.7.8.1 example: text/html;level=1 is selected; image/png is unsupported.
    offers = [
        Offer("text/html", params={"level": "1"}),
        Offer("text/html", params={"level": "2"}),
        Offer("text/plain"),
        Offer("text/rtf"),
        Offer("text/html"),
    ]
    accept = "text/*; q=0.5, text/html; q=0.4, text/html; level=1, text/html; level=2; q=0.7,\n image/png, */*; q=0.4"
    choices = acceptable_choices(accept, offers)
    q = {(c.offer.media_type, c.offer.params): c.q for c in choices}
    assert q == {
        ("text/html", (("level", "1"),)): 1.0,
        ("text/html", (("level", "2"),)): 0.7,
        ("text/plain", ()): 0.5,
        ("text/rtf", ()): 0.5,
        ("text/html", ()): 0.4,
    }
    assert negotiate(accept, offers).offer == offers[0]


def test_rfc7231_example_qvalues() -> None:
    # RFC 7231 5.3.2 example table.
    accept = "text/*;q=0.3, text/html;q=0.7, text/html;level=1, text/html;level=2;q=0.4, */*;q=0.5"
    cases = {
        Offer("text/html", params={"level": "1"}): 1.0,
        Offer("text/html"): 0.7,
        Offer("text/plain"): 0.3,
        Offer("image/jpeg"): 0.5,
        Offer("text/html", params={"level": "2"}): 0.4,
        Offer("text/html", params={"level": "3"}): 0.7,
    }
    # Offered together, as a server would: "level" is then a supported parameter (PS3.18 8.7.7
    # ignores only parameters no offer supports).
    got = {c.offer: c.q for c in acceptable_choices(accept, list(cases), reject_mixed=False)}
    assert got == cases


@pytest.mark.parametrize(
    ("accept", "offers", "expected"),
    [
        # highest q wins regardless of offer order
        ("application/dicom+json;q=0.4, multipart/related; type=\"application/dicom+xml\"", [JSON, XML_MP], XML_MP),
        ("application/dicom+json, multipart/related; type=application/dicom+xml;q=0.9", [XML_MP, JSON], JSON),
        # equal q: server preference (offer order)
        ("application/dicom+json, multipart/related; type=application/dicom+xml", [XML_MP, JSON], XML_MP),
        ("application/dicom+json, multipart/related; type=application/dicom+xml", [JSON, XML_MP], JSON),
        # equal q: an explicitly named type beats a wildcard match
        ("*/*, application/dicom+json", [XML_MP, JSON], JSON),
        ("image/*, image/png", [JPEG, PNG], PNG),
        # type/* matches all subtypes (8.7.7: image/* matches image/jpeg)
        ("image/*", [JPEG, PNG], JPEG),
        ("image/*", [PNG, JPEG], PNG),
        ("text/*", [Offer("text/html"), Offer("text/plain")], Offer("text/html")),
        # q=0 means not acceptable (RFC 7231 5.3.1), even through a wildcard
        ("image/*, image/jpeg;q=0", [JPEG, PNG], PNG),
        ("*/*;q=0.1, application/dicom+json;q=0", [JSON, XML_MP], XML_MP),
        # the most specific matching range gives the qvalue (8.7.8.1)
        ("multipart/related; type=application/dicom+xml; q=0.1, */*", [XML_MP, JSON], JSON),
        # duplicates: the best weight of equally specific ranges counts
        ("application/dicom+json;q=0.2, application/dicom+json, multipart/related;type=application/dicom+xml;q=0.5", [XML_MP, JSON], JSON),
        # a multipart range without type parameter matches any multipart offer
        ("multipart/related", [JSON, XML_MP], XML_MP),
        # multipart/* and part-type wildcards
        ("multipart/*; type=\"application/*\"", [JSON, XML_MP], XML_MP),
        # a parameter no offer supports is ignored (PS3.18 8.7.7), so the entry still matches
        ("application/dicom+json; foo=bar, multipart/related; type=application/dicom+xml; q=0.1", [JSON, XML_MP], JSON),
        # boundary/charset parameters never restrict matching
        ("multipart/related; type=application/dicom+xml; boundary=**; charset=utf-8", [JSON, XML_MP], XML_MP),
    ],
)
def test_selection(accept: str, offers: list[Offer], expected: Offer) -> None:
    choice = negotiate(accept, offers)
    assert choice.offer == expected
    assert choice.source == "header"


def test_wildcard_selects_default_media_type() -> None:
    # 8.7.7: "*/*" matches the default media type of the Resource Category.
    assert negotiate("*/*", [XML_MP, JSON], default=JSON).offer == JSON
    assert negotiate("*/*", [XML_MP, JSON]).offer == XML_MP  # no default: first offer
    # 8.7.7: image/* matches image/jpeg, the Single Frame Image default.
    assert negotiate("image/*", [PNG, GIF, JPEG], default=JPEG).offer == JPEG
    assert negotiate("text/*", [Offer("text/plain"), Offer("text/html")], default=Offer("text/html")).offer == Offer("text/html")


def test_default_is_a_candidate_even_if_not_offered() -> None:
    assert negotiate("application/dicom+json", [XML_MP], default=JSON).offer == JSON


@pytest.mark.parametrize("accept", [None, "", "   "])
def test_missing_accept_uses_default(accept: str | None) -> None:
    choice = negotiate(accept, [XML_MP, JSON], default=JSON)
    assert choice == Choice(JSON, None, 1.0, None, "default")
    with pytest.raises(NotAcceptable):
        negotiate(accept, [XML_MP, JSON])


def test_missing_accept_strict_mode_is_406() -> None:
    # 8.7.5 / 8.7.7: a request without an Accept header field gets 406.
    with pytest.raises(NotAcceptable) as exc:
        negotiate(None, [JSON], default=JSON, require_accept=True)
    assert exc.value.status == 406


@pytest.mark.parametrize(
    "accept",
    [
        "image/png",  # supported nowhere in the offers
        "application/dicom+json;q=0",  # explicitly refused
        "*/*;q=0",
        "foo, bar",  # only invalid entries
        "application/dicom",  # single part not offered, only multipart
        "multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2",  # unsupported TS
        "multipart/related; type=image/jpeg",  # other part type
    ],
)
def test_not_acceptable(accept: str) -> None:
    # 8.7.8.1 step 5: return 406 (Not Acceptable).
    with pytest.raises(NotAcceptable) as exc:
        negotiate(accept, [DICOM_MP, JSON], default=JSON)
    assert exc.value.status == 406
    assert isinstance(exc.value, NegotiationError)
    assert "\n" not in exc.value.reason


# ------------------------------------------------------- mixed categories
@pytest.mark.parametrize(
    "accept",
    [
        "application/dicom, image/jpeg",
        'multipart/related; type="application/dicom", image/jpeg',
        "application/dicom+json, text/html",
        "multipart/related; type=application/octet-stream, image/png;q=0.5",
        "application/octet-stream, application/pdf",
        "image/gif, application/dicom+xml",
    ],
)
def test_mixed_dicom_and_rendered_is_400(accept: str) -> None:
    # 8.7.5: DICOM and Rendered Media Types together -> 400 (Bad Request).
    with pytest.raises(MixedCategories) as exc:
        negotiate(accept, [DICOM_MP, JPEG])
    assert exc.value.status == 400
    assert "\n" not in exc.value.reason


@pytest.mark.parametrize(
    "accept",
    [
        "application/dicom+json, */*",  # wildcards belong to no category
        "application/dicom+json, image/*",
        "application/dicom+json, application/json, foo/bar",  # unknown types are ignored
        "application/dicom+json, text/html;q=0",  # q=0 is not an Acceptable Media Type
    ],
)
def test_not_mixed(accept: str) -> None:
    check_categories(parse_accept(accept))
    assert negotiate(accept, [JSON]).offer == JSON


def test_mixed_check_can_be_disabled_and_covers_query() -> None:
    assert negotiate("application/dicom+json, text/html", [JSON], reject_mixed=False).offer == JSON
    with pytest.raises(MixedCategories):
        negotiate("*/*", [JSON, JPEG], accept_query="application/dicom+json,image/jpeg")


# ------------------------------------------------------- transfer syntax
def test_no_transfer_syntax_parameter_means_default() -> None:
    # 8.7.8.2: otherwise select the default Transfer Syntax (table 8.7.3-2: EVRLE).
    choice = negotiate('multipart/related; type="application/dicom"', [DICOM_MP])
    assert choice.transfer_syntax is None
    assert choice.resolve_transfer_syntax(stored=JPEG_BASELINE) == EVRLE


def test_explicit_transfer_syntax() -> None:
    choice = negotiate(f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_BASELINE}', [DICOM_MP])
    assert choice.transfer_syntax == JPEG_BASELINE
    assert choice.resolve_transfer_syntax(stored=EVRLE) == JPEG_BASELINE


def test_wildcard_transfer_syntax_means_as_stored() -> None:
    # 8.7.3.5.2: "*" lets the origin server respond without transcoding.
    choice = negotiate('multipart/related; type="application/dicom"; transfer-syntax=*', [DICOM_MP])
    assert choice.transfer_syntax == "*"
    assert choice.resolve_transfer_syntax(stored=JPEG_SV1) == JPEG_SV1
    assert choice.resolve_transfer_syntax(stored="1.2.840.10008.1.2.4.91") == EVRLE  # not producible
    assert choice.resolve_transfer_syntax() == EVRLE


def test_ps318_transfer_syntax_preference_example() -> None:
    # 8.7.3.5.2 note: .50 and .57 acceptable, .50 preferred.
    offer = Offer("multipart/related", part_type="application/dicom", transfer_syntaxes=(EVRLE, JPEG_LOSSLESS, JPEG_BASELINE))
    accept = (
        'multipart/related; type="application/dicom";transfer-syntax=1.2.840.10008.1.2.4.50;boundary=**, '
        'multipart/related; type="application/dicom";transfer-syntax=1.2.840.10008.1.2.4.57;q=0.5;boundary=**'
    )
    choices = acceptable_choices(accept, [offer])
    assert [(c.transfer_syntax, c.q) for c in choices] == [(JPEG_BASELINE, 1.0), (JPEG_LOSSLESS, 0.5)]


def test_transfer_syntax_fallback_order() -> None:
    accept = (
        f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_BASELINE}; q=0.9, '
        'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.5, '
        'multipart/related; type="application/dicom"; q=0.1'
    )
    assert [c.transfer_syntax for c in acceptable_choices(accept, [DICOM_MP])] == [JPEG_BASELINE, "*", None]
    # An unsupported UID is ignored, the next acceptable entry wins.
    accept2 = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.3.4, multipart/related; type="application/dicom"; q=0.2'
    assert negotiate(accept2, [DICOM_MP]).transfer_syntax is None


def test_transfer_syntax_not_permitted_on_rendered_types() -> None:
    # 8.7.4: "A Transfer Syntax media type parameter is not permitted for Rendered Media Types."
    with pytest.raises(NotAcceptable):
        negotiate(f"image/jpeg; transfer-syntax={JPEG_BASELINE}", [JPEG])


@pytest.mark.parametrize(
    ("part_type", "expected"),
    [
        ("image/dicom+jpeg", JPEG_MP),
        ("image/dicom+jpeg-ls", JLS_MP),
        ("image/dicom+jp2", JP2_MP),
        ("image/dicom+jpx", JPX_MP),
        ("image/dicom+rle", RLE_MP),
        ("image/x-dicom-rle", RLE_MP),  # 8.7.3.3.2 note 8
        ("image/x-jls", JLS_MP),
        ("image/jpeg", JPEG_MP),
        ("application/octet-stream", OCTET_MP),
    ],
)
def test_frame_media_types_including_2014a_forms(part_type: str, expected: Offer) -> None:
    for accept in (f"multipart/related; type={part_type}", f'multipart/related; type="{part_type}"'):
        choice = negotiate(accept, FRAME_OFFERS)
        assert choice.offer == expected
        assert choice.media_range is not None and choice.media_range.params["type"] == part_type


def test_2014a_jpeg_form_with_transfer_syntax() -> None:
    choice = negotiate(f"multipart/related; type=image/dicom+jpeg; transfer-syntax={JPEG_BASELINE}", FRAME_OFFERS)
    assert (choice.offer, choice.transfer_syntax) == (JPEG_MP, JPEG_BASELINE)
    # Default of image/jpeg is JPEG Lossless SV1 (table 8.7.3-5).
    assert negotiate("multipart/related; type=image/dicom+jpeg", FRAME_OFFERS).resolve_transfer_syntax() == JPEG_SV1


# ------------------------------------------------------ accept query param
def test_query_parameter_takes_priority() -> None:
    # 8.7.8.1 steps 2-3: the Accept Query Parameter is considered first.
    choice = negotiate("application/dicom+json", [JSON, XML_MP], accept_query='multipart/related; type="application/dicom+xml"')
    assert (choice.offer, choice.source) == (XML_MP, "query")
    # Unsupported query types fall back to the header.
    choice = negotiate("application/dicom+json", [JSON], accept_query='multipart/related; type="application/dicom+xml", */*')
    assert (choice.offer, choice.source) == (JSON, "header")


def test_query_only_request() -> None:
    choice = negotiate(None, [JSON, JPEG], accept_query="image/jpeg", reject_mixed=True)
    assert choice.offer == JPEG
    with pytest.raises(NotAcceptable):
        negotiate(None, [JSON], default=JSON, accept_query="image/png")


# ------------------------------------------------------------ media types
def test_media_range_is_hashable_frozen() -> None:
    r = MediaRange("a", "b", {"x": "1"}, 0.5)
    assert hash(r) == hash(MediaRange("a", "b", {"x": "2"}, 0.5))
    with pytest.raises(AttributeError):
        r.q = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("media_type", "default_ts"),
    [
        # Table 8.7.3-5 default ("D") Transfer Syntaxes of compressed Bulkdata.
        ("image/jpeg", "1.2.840.10008.1.2.4.70"),
        ("image/dicom-rle", "1.2.840.10008.1.2.5"),
        ("image/jls", "1.2.840.10008.1.2.4.80"),
        ("image/jp2", "1.2.840.10008.1.2.4.90"),
        ("image/jpx", "1.2.840.10008.1.2.4.92"),
        ("video/mpeg2", "1.2.840.10008.1.2.4.101"),
        ("video/mp4", "1.2.840.10008.1.2.4.102"),
        # Table 8.7.3-4: uncompressed Bulkdata.
        ("application/octet-stream", "1.2.840.10008.1.2.1"),
    ],
)
def test_bulkdata_default_transfer_syntax(media_type: str, default_ts: str) -> None:
    assert mt.BULKDATA_DEFAULT_TRANSFER_SYNTAX[media_type] == default_ts
    assert mt.bulkdata_media_type(default_ts) == media_type


@pytest.mark.parametrize(
    ("uid", "media_type"),
    [
        ("1.2.840.10008.1.2.4.50", "image/jpeg"),
        ("1.2.840.10008.1.2.4.51", "image/jpeg"),
        ("1.2.840.10008.1.2.4.57", "image/jpeg"),
        ("1.2.840.10008.1.2.4.81", "image/jls"),
        ("1.2.840.10008.1.2.4.91", "image/jp2"),
        ("1.2.840.10008.1.2.4.93", "image/jpx"),
        ("1.2.840.10008.1.2.4.100", "video/mpeg2"),
        ("1.2.840.10008.1.2.4.103", "video/mp4"),
        ("1.2.840.10008.1.2.1.99", "application/octet-stream"),
        ("1.2.3.4.5", None),
    ],
)
def test_bulkdata_media_type_of_transfer_syntax(uid: str, media_type: str | None) -> None:
    assert mt.bulkdata_media_type(uid) == media_type


def test_media_type_constants() -> None:
    # 8.7.3 / 8.7.3.4: Implicit VR LE and Explicit VR BE shall not be used.
    assert mt.FORBIDDEN_TRANSFER_SYNTAXES == {"1.2.840.10008.1.2", "1.2.840.10008.1.2.2"}
    assert mt.DEFAULT_TRANSFER_SYNTAX == "1.2.840.10008.1.2.1"
    assert mt.canonical_media_type("Image/DICOM+JPEG-LS") == "image/jls"
    assert {"image/jpeg", "image/gif", "image/png", "image/jp2", "text/html", "application/pdf"} <= mt.RENDERED_MEDIA_TYPES
    assert mt.DICOM_MEDIA_TYPES == {"application/dicom", "application/dicom+json", "application/dicom+xml", "application/octet-stream"}


def test_format_and_parse_media_type() -> None:
    value = mt.format_media_type("application/dicom", {"transfer-syntax": EVRLE, "charset": "ISO_IR 192"})
    assert value == 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1; charset="ISO_IR 192"'
    assert mt.parse_media_type(value) == ("application/dicom", {"transfer-syntax": EVRLE, "charset": "ISO_IR 192"})
    assert mt.parse_media_type('a/b; x="q\\"uote"') == ("a/b", {"x": 'q"uote'})
    for bad in ("a", "a/b; x", 'a/b; x="1"2', "a/b; x=1; X=2", "a/b; x=a b"):
        with pytest.raises(mt.MediaTypeSyntaxError):
            mt.parse_media_type(bad)
    with pytest.raises(ValueError):
        mt.format_media_type("a/b", {"x": "1\r\n"})


# ------------------------------------------------ one offer per transfer syntax
PER_TS = [
    Offer("multipart/related", part_type="application/dicom", transfer_syntax=EVRLE),
    Offer("multipart/related", part_type="application/dicom", transfer_syntax=JPEG_BASELINE),
    Offer("multipart/related", part_type="application/dicom", transfer_syntax=JPEG_SV1),
]


@pytest.mark.parametrize(
    ("ts_param", "expected_offer", "expected_ts"),
    [
        ("", PER_TS[0], None),  # default: first offer of the family (8.7.8.2)
        ("; transfer-syntax=*", PER_TS[0], "*"),
        (f"; transfer-syntax={JPEG_BASELINE}", PER_TS[1], JPEG_BASELINE),
        (f"; transfer-syntax={JPEG_SV1}", PER_TS[2], JPEG_SV1),
    ],
)
def test_offers_differing_only_by_transfer_syntax(ts_param: str, expected_offer: Offer, expected_ts: str | None) -> None:
    choices = acceptable_choices(f'multipart/related; type="application/dicom"{ts_param}', PER_TS, default=PER_TS[0])
    assert len(choices) == 1
    assert (choices[0].offer, choices[0].transfer_syntax) == (expected_offer, expected_ts)
    assert choices[0].resolve_transfer_syntax() == (expected_ts if expected_ts not in (None, "*") else EVRLE)


def test_offer_transfer_syntax_shorthand() -> None:
    offer = Offer("multipart/related", part_type="application/dicom", transfer_syntax=JPEG_SV1, transfer_syntaxes=(EVRLE, JPEG_SV1))
    assert offer.transfer_syntaxes == (JPEG_SV1, EVRLE)
    assert offer.transfer_syntax == offer.default_transfer_syntax == JPEG_SV1
    assert Offer("image/jpeg").transfer_syntax is None
    # 2014a names are normalized, so duplicate offers collapse.
    assert Offer("multipart/related", part_type="image/dicom+jpeg") == Offer("multipart/related", part_type="image/jpeg")


@pytest.mark.parametrize(
    ("uid", "names"),
    [
        ("1.2.840.10008.1.2.4.50", ("image/jpeg", "image/dicom+jpeg")),
        ("1.2.840.10008.1.2.4.80", ("image/jls", "image/dicom+jpeg-ls", "image/x-jls")),
        ("1.2.840.10008.1.2.5", ("image/dicom-rle", "image/dicom+rle", "image/x-dicom-rle")),
        ("1.2.840.10008.1.2.4.91", ("image/jp2", "image/dicom+jp2")),
        ("1.2.840.10008.1.2.4.92", ("image/jpx", "image/dicom+jpx")),
        ("1.2.840.10008.1.2.1", ("application/octet-stream",)),
        ("9.9.9", ()),
    ],
)
def test_bulk_media_type_for(uid: str, names: tuple[str, ...]) -> None:
    assert mt.bulk_media_type_for(uid) == names
