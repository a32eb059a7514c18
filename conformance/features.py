"""Features of the requirement catalogue: what PS3.18-2019a makes mandatory, and what a server may claim.

Every row of ``requirements.csv`` names a *feature*.  A **mandatory** feature is
what PS3.18-2019a requires of every origin server (Table 10.3-2 marks the
resource M, a media type is Default or Required, the text says "shall"); the
suite always runs its tests, also when a profile lists it in
``unsupported_features`` -- a SHALL cannot be disclaimed, its failure is a
failed SHALL.  An **optional** feature is one the standard (or the seed, for
Orthanc's own API) leaves to the implementation; a profile claims it in
``claims`` or disclaims it in ``unsupported_features``, and its tests are
skipped ("not claimed") when it is not claimed.  The built-in ``generic``
profile claims the mandatory features only.

``python -m dicomweb_conformance --list-features`` (also ``--list-features`` of
pytest with the suite's plugin) prints every feature with what makes it
mandatory or optional, what it covers and the requirement IDs under it;
``python -m dicomweb_conformance.features`` prints the README's table.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from typing import Iterable

__all__ = ["Feature", "FEATURES", "MANDATORY", "OPTIONAL", "is_optional", "requires", "feature_table",
           "feature_listing"]


@dataclass(frozen=True)
class Feature:
    name: str
    optional: bool
    basis: str  # where PS3.18-2019a (or the seed) makes it mandatory or optional
    description: str
    requires: str | None = None  # an optional feature that only exists as part of another one


_F = Feature
FEATURES: dict[str, Feature] = {f.name: f for f in [
    # -- mandatory for every origin server ------------------------------------------------------------
    _F("http", False, "8.1-8.8", "HTTP status codes, header fields, query parameters, content negotiation"),
    _F("qido", False, "10.6, Table 10.3-2 (Search: M)", "QIDO-RS search of studies, series and instances"),
    _F("qido-xml", False, "Table 10.6.4-1 (Required)", "search results as multipart/related; type=\"application/dicom+xml\""),
    _F("dicom-json", False, "Annex F", "the DICOM JSON Model"),
    _F("dicom-xml", False, "PS3.19 A.1", "the Native DICOM Model (XML)"),
    _F("stow", False, "10.5, Table 10.3-2 (Store: M)", "STOW-RS"),
    _F("stow-xml", False, "Table 10.5.4-1 (Required)", "Store Instances Response as application/dicom+xml"),
    _F("stow-bulkdata", False, "10.5.1.4, Table 10.5.4-1 (dicom+json Default; dicom+xml, octet-stream Required)",
       "STOW-RS of Metadata (DICOM JSON or XML) accompanied by Bulkdata parts"),
    _F("wado-rs", False, "10.4, Table 10.3-2 (Retrieve: M)", "WADO-RS study, series and instance retrieval"),
    _F("wado-metadata", False, "Table 10.3-2 (Metadata: M)", "study, series and instance metadata"),
    _F("wado-metadata-xml", False, "Table 10.4.4-1 (Required)", "metadata as multipart/related; type=\"application/dicom+xml\""),
    _F("bulkdata", False, "Table 10.3-2 (Bulkdata: M)", "bulk data resources (BulkDataURI)"),
    _F("frames", False, "Table 10.3-2 (Frames: M)", "the frames resource"),
    _F("wado-rendered", False, "Table 10.3-2 (Rendered: M), Table 8.7.4-1", "rendered study, series, instance and frames"),
    _F("capabilities", False, "10.2 (shall support the Retrieve Capabilities Transaction)", "Retrieve Capabilities"),
    # -- optional: claimed by a profile -------------------------------------------------------------
    _F("qido-fuzzy", True, "8.3.4.2 (fuzzy matching \"if supported\")", "fuzzymatching=true performs fuzzy PN matching"),
    _F("transcoding", True, "8.7.3.5.2 (a transfer-syntax the server supports)", "transfer syntaxes other than the default"),
    _F("frames-compressed", True, "8.7.3.3.2, Table 8.7.3-5 (Optional)", "frames in compressed Bulkdata media types"),
    _F("frames-2014a", True, "PS3.18-2014a only", "the 2014a image/dicom+jpeg frame media types of the seed"),
    _F("wado-rendered-window", True, "8.3.5.1 (\"Not all parameters are required to be supported\")",
       "the rendered window parameter", "wado-rendered"),
    _F("wado-rendered-viewport", True, "8.3.5.1 (\"Not all parameters are required to be supported\")",
       "the rendered viewport parameter", "wado-rendered"),
    _F("wado-rendered-quality", True, "8.3.5.1 (\"Not all parameters are required to be supported\")",
       "the rendered quality parameter", "wado-rendered"),
    _F("wado-thumbnail", True, "Table 10.3-2 (Thumbnail: O)", "thumbnail resources"),
    _F("wado-uri", True, "Chapter 9 (a service of its own)", "WADO-URI"),
    _F("wado-uri-rendered", True, "9.5 (part of WADO-URI)", "WADO-URI rendered image/jpeg", "wado-uri"),
    _F("wado-uri-png", True, "Table 9.5.1-1 (Optional)", "WADO-URI contentType=image/png", "wado-uri"),
    _F("wado-uri-gif", True, "Table 9.5.1-1 (Optional)", "WADO-URI contentType=image/gif", "wado-uri"),
    _F("wado-uri-frame", True, "9.5.2.1 (\"if this Query Parameter is supported\")", "WADO-URI frameNumber", "wado-uri"),
    _F("wado-uri-viewport", True, "9.5.2.5 (optional parameter)", "WADO-URI rows and columns", "wado-uri"),
    _F("wado-uri-region", True, "9.5.2.4 (\"if this Query Parameter is supported\")", "WADO-URI region", "wado-uri"),
    _F("wado-uri-window", True, "9.5.2.2 (optional parameter)", "WADO-URI windowCenter and windowWidth", "wado-uri"),
    _F("wado-uri-anonymize", True, "9.4.2.3 (optional parameter)", "WADO-URI anonymize", "wado-uri"),
    _F("wado-uri-transfer-syntax", True, "9.4.2.4 (optional parameter)", "WADO-URI transferSyntax", "wado-uri"),
    _F("notifications", True, "8.10 (may)", "WebSocket event notifications"),
    _F("auth-basic", True, "seed: authentication (a deployment choice)", "HTTP Basic authentication"),
    _F("auth-bearer", True, "a deployment choice", "bearer tokens"),
    _F("auth-client-cert", True, "a deployment choice", "TLS client certificates"),
    _F("servers", True, "seed: /servers (Orthanc's REST API, not PS3.18)", "the remote DICOMweb servers API"),
    _F("servers-retrieve", True, "seed: /servers/{name}/retrieve", "retrieving from a remote server", "servers"),
    _F("servers-stow", True, "seed: /servers/{name}/stow", "sending to a remote server", "servers"),
]}

MANDATORY = frozenset(name for name, f in FEATURES.items() if not f.optional)
OPTIONAL = frozenset(name for name, f in FEATURES.items() if f.optional)


def is_optional(feature: str) -> bool:
    """True for a feature a profile may disclaim; unknown features count as optional."""
    known = FEATURES.get(feature)
    return known is None or known.optional


def requires(feature: str) -> str | None:
    """The feature this optional feature is part of (e.g. wado-uri-window -> wado-uri), or None."""
    known = FEATURES.get(feature)
    return known.requires if known else None


def feature_table() -> str:
    """The features as a Markdown table (README)."""
    lines = ["| Feature | Mandatory / optional | Basis (PS3.18-2019a) | What |", "|---|---|---|---|"]
    for f in FEATURES.values():
        kind = "optional" + (f" (part of `{f.requires}`)" if f.requires else "") if f.optional else "mandatory"
        lines.append(f"| `{f.name}` | {kind} | {f.basis} | {f.description} |")
    return "\n".join(lines)


def _kind(f: Feature) -> str:
    return ("optional" + (f", part of {f.requires}" if f.requires else "")) if f.optional else "mandatory"


def feature_listing(requirements: Iterable[tuple[str, str]] | None = None) -> str:
    """Plain-text list of the features, mandatory ones first, each with the section that makes it
    mandatory or optional, what it covers and its requirement IDs (``requirements``: (ID, feature) pairs,
    by default the catalogue's)."""
    if requirements is None:
        from .requirements import load_catalogue

        requirements = [(r.id, r.feature) for r in load_catalogue()]
    ids: dict[str, list[str]] = {}
    for req_id, feature in requirements:
        ids.setdefault(feature, []).append(req_id)
    lines = []
    for title, optional in (("Mandatory features (always tested; a profile cannot disclaim them)", False),
                            ("Optional features (tested when the target profile claims them)", True)):
        lines += [title, ""]
        for f in (f for f in FEATURES.values() if f.optional == optional):
            listed = ", ".join(sorted(ids.get(f.name, []))) or "(none)"
            basis = "optional by:" if f.optional else "mandatory by:"
            lines += [f"{f.name} [{_kind(f)}]", f"  {'what:':<14}{f.description}", f"  {basis:<14}{f.basis}"]
            lines += textwrap.wrap(listed, 100, initial_indent=f"  {'requirements:':<14}", subsequent_indent=" " * 16)
            lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Print :func:`feature_listing`; exit status 0."""
    sys.stdout.write(feature_listing())
    return 0


if __name__ == "__main__":  # pragma: no cover - documentation helper
    sys.stdout.write(feature_table() + "\n")
