"""Declarative specification of the fixture data set (the single source of truth).

Every patient, study, series and instance of the fixture data set is declared
here as plain data.  The generator (``fixtures.generator``) turns this table
into DICOM Part 10 files (PS3.10) and the manifest (``fixtures/manifest.json``)
that the conformance suite uses as its ground truth for QIDO-RS (PS3.18 §10.6),
WADO-RS (PS3.18 §10.4) and WADO-URI (PS3.18 §9) expectations.

UIDs are built deterministically below one root (PS3.5 §9 / Annex B.2): a
UUID-derived root ``2.25.<decimal UUID>`` that we generated once, so no
registration is needed and no other organisation can collide with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Root of every UID in the data set: a UUID-derived UID (PS3.5 §B.2).
UID_ROOT = "2.25.19441755302629660279256523889367975571"

#: Bump when the content changes; it names the cache directory.
DATASET_VERSION = 2

#: (0002,0012) Implementation Class UID written into every file meta header.
IMPLEMENTATION_CLASS_UID = UID_ROOT + ".0.1"
IMPLEMENTATION_VERSION_NAME = "DWCFIXTURES_2"

# Transfer syntaxes (PS3.5 §10, Annex A).
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
NATIVE_SYNTAXES = frozenset({IMPLICIT_LE, EXPLICIT_LE})
LOSSY_SYNTAXES = frozenset({JPEG_BASELINE})

# Storage SOP classes (PS3.4 Annex B.5).
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"

PRIVATE_CREATOR = "DICOMWEB-CONFORMANCE"
PRIVATE_GROUP = 0x0029


def study_uid(patient: int, study: int) -> str:
    """StudyInstanceUID of study ``study`` of patient ``patient`` (1-based)."""
    return f"{UID_ROOT}.1.{patient}.{study}"


def series_uid(patient: int, study: int, series: int) -> str:
    """SeriesInstanceUID below :func:`study_uid`."""
    return f"{study_uid(patient, study)}.{series}"


def instance_uid(patient: int, study: int, series: int, instance: int) -> str:
    """SOPInstanceUID below :func:`series_uid`."""
    return f"{series_uid(patient, study, series)}.{instance}"


def frame_of_reference_uid(patient: int, study: int) -> str:
    """FrameOfReferenceUID shared by the images of one study."""
    return f"{UID_ROOT}.2.{patient}.{study}"


@dataclass(frozen=True)
class RequestAttributes:
    """One item of Request Attributes Sequence (0040,0275), a series-level QIDO key."""

    requested_procedure_id: str
    scheduled_procedure_step_id: str
    #: (code value, scheme, meaning) of Scheduled Protocol Code Sequence; when
    #: set, the item nests a Protocol Context Sequence holding a code sequence
    #: (three sequence levels).
    protocol_code: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Series:
    """One series; ``syntaxes`` has one transfer syntax per instance."""

    number: int
    key: str
    modality: str
    description: str
    sop_class: str
    kind: str
    syntaxes: tuple[str, ...]
    date: str
    time: str
    performed_start: tuple[str, str] | None = None
    request_attributes: tuple[RequestAttributes, ...] = ()
    private: bool = False
    empty_bot: bool = False
    referenced_study: tuple[int, int] | None = None


@dataclass(frozen=True)
class Study:
    """One study; ``referring`` and ``study_id`` may be empty (type 2, PS3.3)."""

    number: int
    date: str
    time: str
    accession: str
    referring: str
    study_id: str
    description: str
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Patient:
    """One patient; ``name`` is the PN value with its ``=`` component groups."""

    number: int
    patient_id: str
    name: str
    birth_date: str
    sex: str
    charset: tuple[str, ...] | None
    studies: tuple[Study, ...]
    other_ids: tuple[tuple[str, str, str], ...] = field(default=())


def _n(count: int, syntax: str) -> tuple[str, ...]:
    return (syntax,) * count


_VIX_REQUEST = RequestAttributes("RP-VIX-1", "SPS-VIX-1", ("P5-08000", "SRT", "CT Chest Abdomen"))

PATIENTS: tuple[Patient, ...] = (
    Patient(
        1, "VIX-0001", "VIX^Visible^Human", "19380105", "M", None,
        other_ids=(("VHM-1994", "NLM", "TEXT"), ("0001-VIX", "OSIRIX", "TEXT")),
        studies=(
            Study(
                1, "20190315", "101530", "VIX2019001", "House^Gregory^^Dr", "1001",
                "CT CHEST ABDOMEN",
                series=(
                    Series(1, "vix-ct-localizer", "CT", "Topogram AP LAT", CT_IMAGE, "ct_localizer",
                           _n(2, IMPLICIT_LE), "20190315", "101548",
                           request_attributes=(RequestAttributes("RP-VIX-1", "SPS-VIX-0"),)),
                    Series(2, "vix-ct-axial", "CT", "Axial 5mm Soft Tissue", CT_IMAGE, "ct_axial",
                           _n(40, EXPLICIT_LE), "20190315", "101612",
                           performed_start=("20190315", "101600"),
                           request_attributes=(_VIX_REQUEST,), private=True),
                ),
            ),
            Study(
                2, "20200102", "083000.25", "VIX2020002", "House^Gregory^^Dr", "1002",
                "SCREEN CAPTURE",
                series=(
                    Series(1, "vix-sc-rgb", "OT", "Colour test card", SECONDARY_CAPTURE, "sc_rgb",
                           _n(1, EXPLICIT_LE), "20200102", "083015", referenced_study=(1, 1)),
                ),
            ),
        ),
    ),
    Patient(
        2, "DOE-0002", "DOE^JOHN", "19700704", "M", ("ISO_IR 100",),
        studies=(
            Study(
                1, "20200612", "143012", "ACC20200612", "Müller^Hans", "MR612", "MR BRAIN",
                series=(
                    Series(3, "doe-mr-t2", "MR", "T2 TSE axial", MR_IMAGE, "mr",
                           (EXPLICIT_LE, EXPLICIT_LE, JPEG_LS_LOSSLESS, JPEG_LS_LOSSLESS,
                            J2K_LOSSLESS, RLE_LOSSLESS), "20200612", "143520",
                           performed_start=("20200612", "143500"),
                           request_attributes=(RequestAttributes("RP-DOE-7", "SPS-DOE-7A"),
                                               RequestAttributes("RP-DOE-7", "SPS-DOE-7B"))),
                    Series(99, "doe-sc-palette", "OT", "Key image (palette)", SECONDARY_CAPTURE,
                           "sc_palette", _n(1, RLE_LOSSLESS), "20200612", "150000"),
                ),
            ),
        ),
    ),
    Patient(
        3, "DOE-0003", "doe^jane", "19850212", "F", None,
        studies=(
            Study(
                1, "20171104", "091500", "ACC20171104", "", "", "US ABDOMEN",
                series=(
                    Series(1, "jane-us-cine", "US", "Liver cine", US_MULTIFRAME, "us_gray",
                           _n(1, JPEG_BASELINE), "20171104", "092010",
                           performed_start=("20171104", "092000")),
                    Series(2, "jane-us-doppler", "US", "Colour Doppler cine", US_MULTIFRAME,
                           "us_rgb", _n(1, RLE_LOSSLESS), "20171104", "092500", empty_bot=True),
                ),
            ),
        ),
    ),
    Patient(
        4, "JP-0004", "Yamada^Tarou=山田^太郎=やまだ^たろう", "19800808", "M", ("ISO_IR 192",),
        studies=(
            Study(
                1, "20210228", "160000", "JP20210228", "Suzuki^Ichiro=鈴木^一郎=すずき^いちろう",
                "4", "胸部 X線",
                series=(
                    Series(1, "yamada-cr", "CR", "胸部 正面", CR_IMAGE, "cr",
                           _n(1, J2K_LOSSLESS), "20210228", "160500"),
                ),
            ),
        ),
    ),
    Patient(
        5, "JP-0005", "Sato^Hanako=佐藤^花子=さとう^はなこ", "19750315", "F",
        ("", "ISO 2022 IR 87"),
        studies=(
            Study(
                1, "20160801", "120000", "JP20160801", "Tanaka^Jiro=田中^次郎=たなか^じろう", "5",
                "心臓 MR",
                series=(
                    Series(1, "sato-mr-cine", "MR", "シネ 短軸", MF_GRAYSCALE_WORD_SC, "mf_word",
                           _n(1, EXPLICIT_LE), "20160801", "121000"),
                ),
            ),
        ),
    ),
    Patient(
        6, "CN-0006", "Wang^XiaoDong=王^小东", "19900101", "M", ("GB18030",),
        studies=(
            Study(
                1, "20181225", "235959", "CN20181225", "Li^Na=李^娜", "6", "胸部CT平扫",
                series=(
                    Series(1, "wang-ct", "CT", "肺窗", CT_IMAGE, "ct_small",
                           _n(1, JPEG_LS_LOSSLESS), "20181225", "235959"),
                ),
            ),
        ),
    ),
)
