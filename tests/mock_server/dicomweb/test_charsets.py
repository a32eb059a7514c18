"""Character set selection (PS3.18 8.8.5) and the charset Query Parameter (8.3.3.2)."""

from __future__ import annotations

import pytest

from dicomweb_mock.dicomweb.charsets import parse_charset_list, selected_charset
from dicomweb_mock.errors import HttpError


def test_parse_charset_list_with_weights_and_defined_terms():
    assert parse_charset_list('UTF-8;q=0.5, "ISO_IR 192", iso-8859-1;q=0') == [
        ("UTF-8", 0.5), ("ISO_IR 192", 1.0), ("iso-8859-1", 0.0)]


@pytest.mark.parametrize("value", ["UTF-8;q=abc", "UTF-8;q=2", "", "a,,b", "utf-8; level=1"])
def test_parse_charset_list_refuses_invalid_entries(value):
    assert parse_charset_list(value) is None


def test_invalid_accept_charset_entries_are_skipped():
    assert parse_charset_list("nonsense;q=x, utf-8", skip_invalid=True) == [("utf-8", 1.0)]


@pytest.mark.parametrize("query", [["UTF-8"], ["utf-8"], ["ISO_IR 192"], ["UTF-8;q=0.3"]])
def test_supported_charset_query_parameter_selects_utf8(query):
    assert selected_charset(query, None) == "UTF-8"


@pytest.mark.parametrize("query", [["ISO-8859-1"], ["x-no-such-charset"], ["*"], ["UTF-8;q=abc"],
                                   ["UTF-8, ISO-8859-1"]])
def test_invalid_or_unsupported_charset_query_parameter_is_400(query):
    with pytest.raises(HttpError) as info:
        selected_charset(query, None)
    assert info.value.status == 400 and "8.3.3.2" in info.value.reason


@pytest.mark.parametrize("accept_charset", [None, "ISO-8859-1", "*", "utf-8;q=0", "nonsense;;", "ISO-8859-1, utf-8"])
def test_accept_charset_unsupported_values_are_ignored_and_utf8_selected(accept_charset):
    assert selected_charset([], accept_charset) == "UTF-8"


def test_media_type_charset_parameter_unsupported_is_ignored():
    assert selected_charset([], None, "x-no-such-charset") == "UTF-8"
    assert selected_charset([], None, '"ISO_IR 192"') == "UTF-8"
