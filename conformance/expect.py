"""Checks that explain themselves (h2spec style): requirement, expectation, what came back, the exchange.

Use the module functions (``from conformance import expect``) or the
``expect`` fixture (the same module).  Every check takes ``req=``: one
requirement ID or a list of them, which must be cited by the test's
``@pytest.mark.requirement``; without it, all the test's IDs are shown.  A
failed check ends the test with :func:`pytest.fail` (no traceback) whose
message holds, for each requirement, its ID, level, section, statement and
link; then what was checked, expected and actually found; the test's line;
and the last HTTP exchange(s) of the test's clients.  The same text is
attached to the Allure result.
"""

from __future__ import annotations

import json as _json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, NoReturn, Sequence

import pytest

from .http import Exchange
from .requirements import Catalogue, Requirement

__all__ = ["CheckContext", "current", "fail", "that", "equal", "status", "content_type", "header",
           "json_body", "dicom_json", "dicom_xml", "same_set", "parse_media_type"]

_HERE = Path(__file__).resolve().parent
_FRAMEWORK_FILES = {str(_HERE / name) for name in ("expect.py", "http.py")}
_VALUE_LIMIT = 600
Req = str | Sequence[str] | None


@dataclass
class CheckContext:
    """What the checks need to know about the running test (set by the plugin)."""

    nodeid: str
    req_ids: tuple[str, ...]
    catalogue: Catalogue
    exchanges: list[Exchange] = field(default_factory=list)
    show_exchanges: int = 2
    failed: list[str] = field(default_factory=list)  # IDs whose check failed (for the matrix)
    run_uid_root: str = ""  # the run's UID root, shown as <run> in failure text
    failure: dict[str, Any] | None = None  # the first failed check, for the reports (see :func:`fail`)
    describe: Callable[[Any], str] | None = None  # a run UID -> patient / study date / description

    def requirements(self, req: Req) -> list[Requirement]:
        ids = list(self.req_ids) if req is None else [req] if isinstance(req, str) else list(req)
        rows = []
        for req_id in ids:
            if req_id not in self.catalogue:
                raise KeyError(f"expect(req={req_id!r}): unknown requirement ID (not in {self.catalogue.source})")
            if req_id not in self.req_ids:
                raise KeyError(f"expect(req={req_id!r}): the test does not cite it; add it to "
                               f"@pytest.mark.requirement{tuple(self.req_ids)!r}")
            rows.append(self.catalogue[req_id])
        return rows


_current: CheckContext | None = None


def current() -> CheckContext | None:
    """The context of the running conformance test, or None outside one."""
    return _current


def set_current(context: CheckContext | None) -> None:
    """Plugin use: install (or clear) the running test's context."""
    global _current
    _current = context


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) or not value or value != value.strip() else value
    if isinstance(value, str) and ("\n" in value or len(value) > 80):
        text = repr(value)
    text = abbreviate(text)
    return text if len(text) <= _VALUE_LIMIT else text[:_VALUE_LIMIT] + f"... ({len(text)} characters)"


def abbreviate(text: str, uid_root: str | None = None) -> str:
    """Shorten the run's UIDs in ``text``: a list of three or more becomes ``[N UIDs of this run]``,
    one UID ``<run>.1.2.1`` (``<run>`` stands for the run's UID root)."""
    root = uid_root if uid_root is not None else (_current.run_uid_root if _current else "")
    if not root:
        return text
    one = re.escape(root) + r"(?:\.[0-9]+)*"
    many = re.compile(r"\[\s*(?:'" + one + r"'\s*,\s*){2,}'" + one + r"'\s*\]|(?<![0-9.])(?:" + one
                      + r",){2,}" + one + r"(?![0-9.])")
    text = many.sub(lambda m: f"[{len(re.findall(re.escape(root), m.group(0)))} UIDs of this run]", text)
    return re.sub(re.escape(root) + r"(?=[.'\s,\]]|$)", "<run>", text)


def _caller() -> str:
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in _FRAMEWORK_FILES:
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _requirement_lines(req: Req) -> list[str]:
    ctx = _current
    if ctx is None:
        ids = [] if req is None else [req] if isinstance(req, str) else list(req)
        return [f"  {r} (no conformance test context)" for r in ids] or ["  (no requirement given)"]
    lines = []
    rows = ctx.requirements(req)
    ctx.failed.extend(row.id for row in rows if row.id not in ctx.failed)
    for row in rows:
        lines.append(f"  {row.id} [{row.level}] {row.section} ({row.feature})")
        lines.append(f"    {row.statement}")
        if row.url:
            lines.append(f"    {row.url}")
    return lines


def _exchange_lines(response: Any) -> list[str]:
    ctx = _current
    if ctx is None or not ctx.exchanges:
        return []
    chosen: list[Exchange] = []
    if response is not None:
        chosen = [ex for ex in ctx.exchanges if ex.response is response]
    if not chosen:
        chosen = ctx.exchanges[-ctx.show_exchanges:]
    total = len(ctx.exchanges)
    lines: list[str] = []
    for ex in chosen:
        index = ctx.exchanges.index(ex) + 1
        lines += ["", f"Exchange {index} of {total}:", ex.format()]
    return lines


def _attach(text: str, name: str) -> None:
    try:
        import allure
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
    except Exception:  # allure absent or inactive: the message is in the pytest report anyway
        pass


def fail(*, req: Req = None, what: str, expected: Any, actual: Any, response: Any = None,
         note: str | None = None) -> NoReturn:
    """Fail the test with the full explanation (see the module docstring)."""
    shown = {"checked": abbreviate(what), "expected": _show(expected), "actual": _show(actual),
             "note": abbreviate(note or "")}
    lines = ["DICOMweb conformance failure", *_requirement_lines(req),
             f"  checked:  {shown['checked']}", f"  expected: {shown['expected']}", f"  actual:   {shown['actual']}"]
    if note:
        lines.append(f"  note:     {shown['note']}")
    if _current is not None and _current.run_uid_root and "<run>" in "".join(lines):
        lines.append(f"  <run> is this run's UID root {_current.run_uid_root}")
    lines.append(f"  at {_caller()}")
    exchange = _exchange_lines(response)
    lines += exchange
    text = "\n".join(lines)
    _record(shown, exchange[2] if len(exchange) > 2 else "")
    ids = req if isinstance(req, str) else ",".join(req) if req else ",".join(_current.req_ids if _current else [])
    _attach(text, f"failure {ids}: {what}")
    pytest.fail(text, pytrace=False)


def _record(shown: dict[str, str], exchange: str) -> None:
    """Keep the first failed check of the test for the reports (JSON, HTML, terminal)."""
    ctx = _current
    if ctx is None or ctx.failure is not None:
        return
    ctx.failure = {**shown, "requirements": list(ctx.failed), "exchange": exchange[:4000]}


def that(condition: Any, *, req: Req = None, what: str = "condition", expected: Any = True,
         actual: Any = False, response: Any = None, note: str | None = None) -> None:
    """Fail unless ``condition`` is truthy; ``expected``/``actual`` describe the two sides."""
    if not condition:
        fail(req=req, what=what, expected=expected, actual=actual, response=response, note=note)


def equal(actual: Any, expected: Any, *, req: Req = None, what: str = "value", response: Any = None,
          note: str | None = None) -> None:
    """Fail unless ``actual == expected``."""
    if actual != expected:
        fail(req=req, what=what, expected=expected, actual=actual, response=response, note=note)


def same_set(actual: Iterable[Any], expected: Iterable[Any], *, req: Req = None, what: str = "items",
             response: Any = None, describe: Callable[[Any], str] | None = None) -> None:
    """Fail unless both hold the same elements (order and duplicates ignored); names missing/extra ones,
    through ``describe`` when given (e.g. a study UID as patient / study date / description)."""
    got, want = set(actual), set(expected)
    if got != want:
        missing, extra = sorted(want - got, key=str), sorted(got - want, key=str)
        describe = describe or (_current.describe if _current is not None else None)
        if describe is not None:
            missing, extra = [describe(m) for m in missing], [describe(e) for e in extra]
        note = f"missing {len(missing)}: {_show(missing)}; unexpected {len(extra)}: {_show(extra)}"
        fail(req=req, what=what, expected=f"{len(want)} item(s)", actual=f"{len(got)} item(s)",
             response=response, note=note)


def status(response: Any, expected: int | Collection[int], *, req: Req = None) -> None:
    """Fail unless the response's status code is ``expected`` (or one of them)."""
    allowed = {expected} if isinstance(expected, int) else set(expected)
    if response.status_code not in allowed:
        want = expected if isinstance(expected, int) else " or ".join(str(c) for c in sorted(allowed))
        fail(req=req, what="status code", expected=want, actual=f"{response.status_code} {response.reason or ''}".strip(),
             response=response)


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``'multipart/related; type="application/dicom"; boundary=x'`` -> ``('multipart/related', {...})``.

    The type is lower-cased, parameter names too; quoted values are unquoted (RFC 7231 3.1.1.1).
    """
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " \t;":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            i += 1
            out = []
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                out.append(rest[i])
                i += 1
            i += 1
            params[name] = "".join(out)
        else:
            end = rest.find(";", i)
            end = len(rest) if end < 0 else end
            params[name] = rest[i:end].strip()
            i = end
    return head.strip().lower(), params


def content_type(response: Any, expected: str, *, req: Req = None) -> tuple[str, dict[str, str]]:
    """Fail unless Content-Type has the media type of ``expected`` and each parameter it names.

    Parameters not named in ``expected`` are ignored; values compare case-insensitively,
    except ``boundary``.  Returns the parsed (media type, parameters).
    """
    raw = response.headers.get("Content-Type")
    if raw is None:
        fail(req=req, what="Content-Type header", expected=expected, actual="(absent)", response=response)
    got_type, got_params = parse_media_type(raw)
    want_type, want_params = parse_media_type(expected)
    ok = got_type == want_type
    for name, value in want_params.items():
        have = got_params.get(name)
        ok = ok and have is not None and (have == value if name == "boundary" else have.lower() == value.lower())
    if not ok:
        fail(req=req, what="Content-Type header", expected=expected, actual=raw, response=response)
    return got_type, got_params


def header(response: Any, name: str, *, req: Req = None, expected: str | None = None) -> str:
    """Fail unless header ``name`` is present (and equal to ``expected`` if given); return its value."""
    value = response.headers.get(name)
    if value is None:
        fail(req=req, what=f"{name} header", expected=expected or "present", actual="(absent)", response=response)
    if expected is not None and value != expected:
        fail(req=req, what=f"{name} header", expected=expected, actual=value, response=response)
    return value


def json_body(response: Any, *, req: Req = None) -> Any:
    """The parsed JSON payload; fail if it is not JSON."""
    try:
        return _json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(req=req, what="JSON payload", expected="a JSON document", actual=f"not JSON ({exc})", response=response)


def dicom_json(response: Any, *, req: Req = None, check_order: bool = True) -> list[dict[str, Any]]:
    """Parse the payload as a DICOM JSON array (PS3.18 F.2.1) and validate it; return the datasets."""
    from .schemas import SchemaValidationError, validate_json

    data = json_body(response, req=req)
    if not isinstance(data, list):
        fail(req=req, what="DICOM JSON payload", expected="a JSON array of datasets (F.2.1)",
             actual=type(data).__name__, response=response)
    try:
        validate_json(data, check_order=check_order)
    except SchemaValidationError as exc:
        fail(req=req, what="DICOM JSON Model (Annex F)", expected="valid datasets", actual="; ".join(exc.problems[:5]),
             response=response)
    return data


def dicom_xml(document: bytes | str, *, req: Req = None, response: Any = None) -> None:
    """Validate one Native DICOM Model document (PS3.19 A.1.6)."""
    from .schemas import SchemaValidationError, validate_xml

    try:
        validate_xml(document)
    except SchemaValidationError as exc:
        fail(req=req, what="Native DICOM Model (PS3.19 A.1.6)", expected="a valid document",
             actual="; ".join(exc.problems[:5]), response=response)
