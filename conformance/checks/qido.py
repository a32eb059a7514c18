"""Helpers of the QIDO-RS conformance tests (PS3.18-2019a 10.6, 8.3.4; PS3.4-2019a C.2.2.2).

* reading DICOM JSON results: :func:`values`, :func:`value`, :func:`keys_of`, :func:`pn_text`;
* :func:`search`: one search request; 204 and ``200 []`` both mean "no match"
  (2019a 8.3.4.4.1 answers 204, later editions 200 with an empty array);
* an independent matching oracle over the manifest entries, written from PS3.4
  C.2.2.2 (never from what a server answered): :func:`wildcard_matches`,
  :func:`in_range`, :func:`tm_seconds`, :func:`datetime_in_range`;
* :class:`Case`: one search whose expected matches a predicate over the merged
  manifest entries computes (:func:`merged_entries`);
* :func:`warning_texts`: the 299 warnings of 8.3.4.2 / 8.3.4.4.1, quoted
  (RFC 7234 5.5 warn-text) or written as PS3.18 prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import unquote

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from .. import expect
from ..preconditions import owned_datasets, search_scope

__all__ = ["JSON", "XML", "LEVEL_KEY", "LEVEL_PATH", "tag", "values", "value", "keys_of", "pn_text",
           "scope", "scoped", "search", "results_of", "expect_no_match", "wildcard_matches", "tm_seconds", "parse_range", "in_range",
           "datetime_in_range", "warning_texts", "remaining_warning", "merged_entries", "Case"]

JSON = "application/dicom+json"
XML = 'multipart/related; type="application/dicom+xml"'
#: The unique key of each result level (10.6.3.3.1-3).
LEVEL_KEY = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID", "instance": "SOPInstanceUID"}
#: The All Studies / All Series / All Instances resources (table 10.6.1-1).
LEVEL_PATH = {"study": "studies", "series": "series", "instance": "instances"}
Req = str | Sequence[str] | None
Params = Callable[[Any], dict[str, Any]]
Pred = Callable[[Any, dict], bool]


def tag(name: str) -> str:
    """The DICOM JSON key (eight upper-case hex digits) of a PS3.6 keyword or tag."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        return name.upper()
    number = tag_for_keyword(name)
    if number is None:
        raise KeyError(f"{name!r} is not a PS3.6 keyword")
    return f"{number:08X}"


def values(dataset: dict[str, Any], name: str) -> list[Any]:
    """The Value array of attribute ``name`` (keyword or tag); [] when absent or empty."""
    element = dataset.get(tag(name))
    return list((element or {}).get("Value") or [])


def value(dataset: dict[str, Any], name: str) -> Any:
    """The first value of attribute ``name``, or None."""
    found = values(dataset, name)
    return found[0] if found else None


def keys_of(datasets: Iterable[dict[str, Any]], level: str) -> list[str]:
    """The unique keys (Study/Series/SOP Instance UID) of results of ``level``, in order."""
    return [str(value(ds, LEVEL_KEY[level])) for ds in datasets]


def pn_text(name: dict[str, str] | None) -> str:
    """A DICOM JSON PN object as the PS3.5 string ``Alphabetic=Ideographic=Phonetic`` (no trailing '=')."""
    if not name:
        return ""
    groups = [name.get("Alphabetic", ""), name.get("Ideographic", ""), name.get("Phonetic", "")]
    return "=".join(groups).rstrip("=")


def scope(truth: Any) -> dict[str, Any]:
    """Query parameters keeping a search to the run's data, whatever matching the target supports.

    A List of UID Matching key naming the run's studies; on a server that does not match UID lists,
    the run's PatientID suffix with a wild card; else nothing, and :func:`search` keeps only the
    run's own results (see :mod:`conformance.preconditions`).
    """
    return search_scope(truth)


def scoped(truth: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus the scoping keys it does not set itself."""
    return {**{k: v for k, v in scope(truth).items() if k not in params}, **params}


def scoped_last(params: Any) -> Any:
    """``params`` (a dict) with a multi-valued StudyInstanceUID moved to the end."""
    if isinstance(params, dict) and isinstance(params.get("StudyInstanceUID"), list) \
            and len(params["StudyInstanceUID"]) > 1:
        return {**{k: v for k, v in params.items() if k != "StudyInstanceUID"},
                "StudyInstanceUID": params["StudyInstanceUID"]}
    return params


def describe_query(raw: str, params: dict[str, Any]) -> str:
    """``PatientName=DOE^JOHN (among the run's 7 studies)``: the keys under test first, the scope last."""
    scoped = params.get("StudyInstanceUID")
    keys = [raw] if raw else []
    keys += [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items()
             if not (k == "StudyInstanceUID" and isinstance(scoped, list) and len(scoped) > 1)]
    text = "&".join(keys) or "no key"
    if isinstance(scoped, list) and len(scoped) > 1:
        text += f" (among the run's {len(scoped)} studies)"
    return text


def _knows(find: Callable[[str], Any], uid: Any) -> bool:
    try:
        find(uid)
    except (KeyError, TypeError):
        return False
    return True


def describe_entity(truth: Any, level: str) -> Callable[[str], str]:
    """``level`` is study, series, instance or any (the level the UID is found at).
``uid -> 'DOE^JOHN / 20200612 / MR BRAIN'``: patient name, study date and description of the
    study holding the entity (the UID itself when the run's truth does not know it)."""
    def describe(uid: str) -> str:
        if level == "any":
            found = next((lvl for lvl, find in (("study", truth.study), ("series", truth.series_by_uid),
                                                ("instance", truth.instance)) if _knows(find, uid)), None)
            return describe_entity(truth, found)(uid) if found else uid
        try:
            entry = {"study": truth.study, "series": truth.series_by_uid, "instance": truth.instance}[level](uid)
            study = truth.study(entry["StudyInstanceUID"])
        except (KeyError, TypeError):
            return expect.abbreviate(str(uid))
        text = f"{pn_text(study.get('PatientName'))} / {study.get('StudyDate') or '-'} / " \
               f"{study.get('StudyDescription') or '-'}"
        if level == "series":
            text += f" / series {entry.get('SeriesNumber')} {entry.get('SeriesDescription') or ''}".rstrip()
        elif level == "instance":
            text += f" / instance {entry.get('InstanceNumber')}"
        return text
    return describe


def search(client: Any, path: str, params: Any = None, *, req: Req, headers: dict[str, str | None] | None = None,
           expect_matches: bool | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """GET a search resource as DICOM JSON; return (response, datasets) -- see :func:`results_of`.

    A UID list scoping the search to the run's data goes last in the query, so the key under
    test comes first in the request line."""
    params = scoped_last(params)
    response = client.get(path, params=params, headers={"Accept": JSON, **(headers or {})})
    return response, owned_datasets(results_of(response, req=req, expect_matches=expect_matches))


def results_of(response: Any, *, req: Req, expect_matches: bool | None = None) -> list[dict[str, Any]]:
    """The datasets of a JSON search response.

    200 must carry a JSON array of objects; 204 must have an empty payload and
    yields [].  ``expect_matches``: True requires 200, False requires no match
    (204 or 200 with []), None accepts either.
    """
    if expect_matches is False:
        expect_no_match(response, req=req)
        return []
    expect.status(response, 200 if expect_matches else (200, 204), req=req)
    if response.status_code == 204:
        expect.equal(response.content, b"", req=req, what="payload of the 204 (No Content) response",
                     response=response)
        return []
    data = expect.json_body(response, req=req)
    if not isinstance(data, list) or not all(isinstance(ds, dict) for ds in data):
        expect.fail(req=req, what="search response payload", expected="a JSON array of DICOM JSON objects",
                    actual=type(data).__name__, response=response)
    return data


def expect_no_match(response: Any, *, req: Req) -> None:
    """No match: 204 with an empty payload (2019a 8.3.4.4.1) or 200 with ``[]`` (later editions)."""
    expect.status(response, (200, 204), req=req)
    if response.status_code == 204:
        expect.equal(response.content, b"", req=req, what="payload of the 204 (No Content) response",
                     response=response)
        return
    data = expect.json_body(response, req=req)
    expect.equal(data, [], req=req, what="payload of a search without match answered 200", response=response,
                 note="PS3.18-2019a answers 204; later editions 200 with an empty array")


def wildcard_matches(pattern: str, text: str, *, case_sensitive: bool = True) -> bool:
    """PS3.4 C.2.2.2.4: '*' matches any sequence of characters (also none), '?' any single character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL | (0 if case_sensitive else re.IGNORECASE)) is not None


def tm_seconds(tm: str) -> float:
    """A TM value (HH[MM[SS[.F{1,6}]]], PS3.5 6.2) as seconds since midnight."""
    match = re.fullmatch(r"(\d\d)(\d\d)?(\d\d)?(\.\d{1,6})?", tm.strip())
    if match is None:
        raise ValueError(f"not a TM value: {tm!r}")
    hh, mm, ss, frac = match.groups()
    return int(hh) * 3600 + int(mm or 0) * 60 + int(ss or 0) + float(frac or 0)


def parse_range(text: str) -> tuple[str | None, str | None]:
    """``A-B``, ``-B`` or ``A-`` (PS3.4 C.2.2.2.5) as (low, high); a single value as (v, v)."""
    if "-" not in text:
        return text, text
    low, high = text.split("-", 1)
    return low or None, high or None


def in_range(actual: str | None, key: str, convert: Callable[[str], Any] = str) -> bool:
    """Range (or single value) matching of ``actual`` against ``key``, comparing ``convert``-ed values."""
    if not actual:
        return False
    low, high = parse_range(key)
    value_ = convert(actual)
    return (low is None or convert(low) <= value_) and (high is None or value_ <= convert(high))


def datetime_in_range(date: str, time: str, date_key: str, time_key: str) -> bool:
    """Combined date-time range matching of a DA/TM pair (PS3.4 C.2.2.2.5.4): one DT range."""
    (d_low, d_high), (t_low, t_high) = parse_range(date_key), parse_range(time_key)
    moment = (date, tm_seconds(time))
    low = None if d_low is None else (d_low, tm_seconds(t_low) if t_low else 0.0)
    high = None if d_high is None else (d_high, tm_seconds(t_high) if t_high else 86400.0)
    return (low is None or low <= moment) and (high is None or moment <= high)


def warning_texts(response: Any) -> list[str]:
    """The warn-texts of the 299 warnings in the Warning header field(s) (RFC 7234 5.5)."""
    raw = response.headers.get("Warning") or ""
    found = []
    # warning-value = warn-code SP warn-agent SP warn-text [SP warn-date]; PS3.18 prints
    # "299 <service>: <text>" without the quotes RFC 7234 requires: accept both forms.
    for match in re.finditer(r'299\s+\S+\s+(?:"((?:[^"\\]|\\.)*)"|([^",]+))', raw):
        found.append((match.group(1) if match.group(1) is not None else match.group(2)).strip())
    return found


def remaining_warning(response: Any) -> int | None:
    """<remaining> of "There are <remaining> additional results that can be requested", or None."""
    for text in warning_texts(response):
        match = re.search(r"There are (\d+) additional results that can be requested", text)
        if match:
            return int(match.group(1))
    return None


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


def _field_of(name: str) -> str:
    """The manifest field an attribute parameter matches (first component of a dotted path)."""
    first = name.split(".", 1)[0]
    return keyword_for_tag(int(first, 16)) if len(first) == 8 and first.isalnum() and not first.isalpha() else first


def merged_entries(truth: Any, level: str) -> list[dict]:
    """Manifest entries of ``level``, each with the fields of its patient, study (and series)."""
    if level == "study":
        return [{**truth.patient(e["PatientID"]), **e} for e in truth.studies]
    if level == "series":
        return [{**truth.patient(e["PatientID"]), **truth.study(e["StudyInstanceUID"]), **e} for e in truth.series]
    return [{**truth.patient(e["PatientID"]), **truth.study(e["StudyInstanceUID"]),
             **truth.series_by_uid(e["SeriesInstanceUID"]), **e} for e in truth.instances]


@dataclass(frozen=True)
class Case:
    """One search: ``level`` of the results, query ``params(truth)``, ``pred(truth, entry)`` of the matches.

    ``entry`` merges the manifest fields of the entity and its parents.  ``path(truth)``
    replaces the All Studies/Series/Instances resource (then no scoping key is added).
    An entity whose matched attribute is empty may match or not: PS3.4 C.2.2.1.2 makes
    a zero-length Required Key "a successful match", which servers treat differently
    (QIDO-053); such entities are neither required nor forbidden in the results.
    """

    id: str
    level: str
    params: Params
    pred: Pred
    path: Callable[[Any], str] | None = None
    raw: Callable[[Any], str] | None = None  # a hand-encoded query string, sent verbatim before ``params``

    def run(self, client: Any, truth: Any, expect: Any, *, req: Any, status_req: Any = None,
            ignored_req: Any = None, may_ignore: bool = False) -> list[dict]:
        """Search, then compare the results with the oracle's; returns the results.

        ``req``: the matching rule the comparison checks; ``status_req``: the one the search's status
        checks (default ``req``); ``ignored_req``: the one a server breaks when it ignores the key
        (every entity returned although the oracle expects fewer), e.g. the matching key table of
        10.6.1.2.3 -- so that one failure is reported under the requirement it breaks.  ``may_ignore``:
        the key is an Optional Key, which a server that does not support matching on it ignores
        (PS3.4 C.2.2.1.3: "the value specified to be matched for the Optional Key is ignored"); every
        entity returned is then conformant.
        """
        params = self.params(truth)
        raw = self.raw(truth) if self.raw is not None else ""
        names = list(params) + [unquote(p.split("=", 1)[0]) for p in raw.split("&") if p]
        entries = merged_entries(truth, self.level)
        if self.path is not None:
            path = self.path(truth)
            segments = path.split("/")  # studies/{study}[/series/{series}]/...
            entries = [e for e in entries if e["StudyInstanceUID"] == segments[1]]
            if len(segments) > 3 and segments[2] == "series":
                entries = [e for e in entries if e["SeriesInstanceUID"] == segments[3]]
        unscoped = False
        if self.path is None:
            path = LEVEL_PATH[self.level]
            if not any(_field_of(n) == "StudyInstanceUID" for n in names):
                own = set(map(_field_of, names))
                scoping = scope(truth)
                # a key of the case replaces the scoping key of the same attribute (e.g. PatientID=*):
                # the results may then hold other data of the target, which is not the run's to judge
                unscoped = not scoping or any(_field_of(k) in own for k in scoping)
                params = {**params, **{k: v for k, v in scoping.items() if _field_of(k) not in own}}  # scope last
        if raw:
            path += "?" + raw
        fields = [f for f in map(_field_of, names) if f != "StudyInstanceUID"]
        key = LEVEL_KEY[self.level]
        expected, maybe = [], []
        for entry in entries:
            if self.pred(truth, entry):
                expected.append(entry[key])
            elif any(f in entry and _empty(entry[f]) for f in fields):
                maybe.append(entry[key])
        response, results = search(client, path, params, req=status_req or req,
                                   expect_matches=True if expected else None)
        found = keys_of(results, self.level)
        if unscoped:
            found = [k for k in found if truth.is_ours(k)]
        query = describe_query(raw, params)
        everything = {entry[key] for entry in entries}
        if may_ignore and set(found) == everything:
            return results
        if ignored_req and len(expected) < len(everything) and set(found) == everything:
            expect.fail(req=ignored_req, what=f"{key}s matched by {query}", response=response,
                        expected=f"{len(expected)} of the {len(everything)} entities",
                        actual=f"all {len(everything)}: the key was ignored (not supported as a matching key)")
        optional = f" (entities with an empty value, which may match or not: {len(maybe)})" if maybe else ""
        expect.same_set([k for k in found if k not in maybe], expected, req=req,
                        what=f"{key}s matched by {query}{optional}", response=response,
                        describe=describe_entity(truth, self.level))
        expect.equal(len(found), len(set(found)), req=req, what="number of results (each entity once)",
                     response=response)
        return results
