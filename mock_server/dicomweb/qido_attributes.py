"""QIDO-RS attribute tables: resources, IE levels, return and matching keys.

Implements the data of PS3.18 2019a section 10.6: the six Search
Transaction resources (table 10.6.1-1), the IE levels each may query
(table 10.6.1-4 and 10.6.1.2.1), the required matching attributes
(table 10.6.1-5) and the attributes every result carries (10.6.3.3,
tables 10.6.3-3 to 10.6.3-5).  The IE an attribute belongs to follows the
Patient Root model of PS3.4 C.3.1 / C.6.1.1 (Patient, Study, Series,
Composite Object Instance levels); attributes in no table are Composite
Object Instance attributes (C.3.1: "all attributes defined at the Composite
Object Instance level ... from any Composite IOD").
"""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword

__all__ = [
    "LEVELS", "IE_LEVELS", "ALL_STUDIES", "STUDY_SERIES", "STUDY_INSTANCES", "ALL_SERIES",
    "STUDY_SERIES_INSTANCES", "ALL_INSTANCES", "RESOURCES", "ResourceInfo", "resource_info",
    "resource_for", "level_of", "ie_of", "qido_level_of", "is_anywhere_attribute",
    "default_return_tags", "includable_levels", "REQUIRED_MATCHING", "STUDY_RETURN_TAGS",
    "SERIES_RETURN_TAGS", "INSTANCE_RETURN_TAGS", "RESERVED_GROUPS",
]

#: QIDO-RS result levels (PS3.18 10.6.1-4 "IE Level" columns).
LEVELS = ("study", "series", "instance")
#: Information Entities of the Patient Root model (PS3.4 C.6.1.1); patient attributes
#: are queried and returned at study level (Study Root model, PS3.4 C.3.2).
IE_LEVELS = ("patient", "study", "series", "instance")

ALL_STUDIES = "all-studies"                         # /studies
STUDY_SERIES = "study-series"                       # /studies/{study}/series
STUDY_INSTANCES = "study-instances"                 # /studies/{study}/instances
ALL_SERIES = "all-series"                           # /series
STUDY_SERIES_INSTANCES = "study-series-instances"   # /studies/{study}/series/{series}/instances
ALL_INSTANCES = "all-instances"                     # /instances


class ResourceInfo:
    """One Search Transaction resource (PS3.18 tables 10.6.1-1, 10.6.1-4)."""

    __slots__ = ("name", "uri_template", "level", "query_levels", "query_type")

    def __init__(self, name: str, uri_template: str, level: str, query_levels: tuple[str, ...],
                 query_type: str):
        self.name = name
        self.uri_template = uri_template
        #: level of the returned entities
        self.level = level
        #: IE levels whose attributes may be matching keys (10.6.1.2.1, table 10.6.1-4)
        self.query_levels = frozenset(query_levels)
        #: "hierarchical" or "relational" (table 10.6.1-1)
        self.query_type = query_type

    def __repr__(self) -> str:
        return f"ResourceInfo({self.name!r}, level={self.level!r})"


RESOURCES: dict[str, ResourceInfo] = {
    r.name: r for r in (
        ResourceInfo(ALL_STUDIES, "/studies", "study", ("study",), "hierarchical"),
        ResourceInfo(STUDY_SERIES, "/studies/{study}/series", "series", ("series",), "hierarchical"),
        ResourceInfo(STUDY_INSTANCES, "/studies/{study}/instances", "instance", ("series", "instance"),
                     "relational"),
        ResourceInfo(ALL_SERIES, "/series", "series", ("study", "series"), "relational"),
        ResourceInfo(STUDY_SERIES_INSTANCES, "/studies/{study}/series/{series}/instances", "instance",
                     ("instance",), "hierarchical"),
        ResourceInfo(ALL_INSTANCES, "/instances", "instance", ("study", "series", "instance"), "relational"),
    )
}


def resource_info(resource: str) -> ResourceInfo:
    """The :class:`ResourceInfo` of a resource name; ``ValueError`` for an unknown name."""
    try:
        return RESOURCES[resource]
    except KeyError:
        raise ValueError(f"unknown QIDO-RS resource {resource!r}; expected one of {sorted(RESOURCES)}") from None


def resource_for(level: str, *, study_uid: bool = False, series_uid: bool = False) -> str:
    """Resource name for a search of ``level`` below an optional study / series (table 10.6.1-1)."""
    table = {
        ("study", False, False): ALL_STUDIES,
        ("series", False, False): ALL_SERIES,
        ("series", True, False): STUDY_SERIES,
        ("instance", False, False): ALL_INSTANCES,
        ("instance", True, False): STUDY_INSTANCES,
        ("instance", True, True): STUDY_SERIES_INSTANCES,
    }
    try:
        return table[(level, study_uid, series_uid)]
    except KeyError:
        raise ValueError(f"no QIDO-RS resource searches {level!r} with study_uid={study_uid}, "
                         f"series_uid={series_uid}") from None


def _tags(*keywords: str) -> frozenset[int]:
    out = set()
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None:  # pragma: no cover - guards the table against typos
            raise RuntimeError(f"{keyword} is not in the data dictionary")
        out.add(tag)
    return frozenset(out)


# Patient IE: Patient, Clinical Trial Subject modules (PS3.3 C.7.1.1, C.7.1.3; PS3.4 table C.6-1).
_PATIENT = _tags(
    "PatientName", "PatientID", "IssuerOfPatientID", "TypeOfPatientID", "IssuerOfPatientIDQualifiersSequence",
    "PatientBirthDate", "PatientBirthTime", "PatientSex", "QualityControlSubject", "ReferencedPatientSequence",
    "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "PatientBirthName",
    "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers", "EthnicGroup", "PatientComments",
    "PatientSpeciesDescription", "PatientSpeciesCodeSequence", "PatientBreedDescription",
    "PatientBreedCodeSequence", "BreedRegistrationSequence", "ResponsiblePerson", "ResponsiblePersonRole",
    "ResponsibleOrganization", "StrainDescription", "StrainNomenclature", "StrainCodeSequence",
    "GeneticModificationsSequence", "PatientIdentityRemoved", "DeidentificationMethod",
    "DeidentificationMethodCodeSequence", "ClinicalTrialSponsorName", "ClinicalTrialProtocolID",
    "ClinicalTrialProtocolName", "ClinicalTrialSiteID", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "ClinicalTrialProtocolEthicsCommitteeName",
    "ClinicalTrialProtocolEthicsCommitteeApprovalNumber",
    "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances",
)

# Study IE: General Study, Patient Study, Clinical Trial Study modules (PS3.3 C.7.2.1-3;
# PS3.4 table C.6-2) plus the study-level Additional Query/Retrieve Attributes (C.3.4).
_STUDY = _tags(
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName",
    "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName",
    "ConsultingPhysicianIdentificationSequence", "StudyID", "AccessionNumber",
    "IssuerOfAccessionNumberSequence", "StudyDescription", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "RequestingServiceCodeSequence", "ReferencedStudySequence",
    "ProcedureCodeSequence", "ReasonForPerformedProcedureCodeSequence", "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence", "PatientAge", "PatientSize", "PatientWeight", "PatientSizeCodeSequence",
    "MedicalAlerts", "Allergies", "SmokingStatus", "PregnancyStatus", "LastMenstrualDate", "PatientState",
    "Occupation", "AdditionalPatientHistory", "AdmissionID", "IssuerOfAdmissionIDSequence", "ServiceEpisodeID",
    "ServiceEpisodeDescription", "IssuerOfServiceEpisodeIDSequence", "PatientSexNeutered", "ReasonForVisit",
    "ReasonForVisitCodeSequence", "ClinicalTrialTimePointID", "ClinicalTrialTimePointDescription",
    "ConsentForClinicalTrialUseSequence", "OtherStudyNumbers", "ModalitiesInStudy", "SOPClassesInStudy",
    "AnatomicRegionsInStudyCodeSequence", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
    # Returned for studies (table 10.6.3-3); the index keeps them with the study.
    "InstanceAvailability", "TimezoneOffsetFromUTC",
)

# Series IE: General Series, Clinical Trial Series, Frame of Reference and General
# Equipment modules (PS3.3 C.7.3.1, C.7.3.2, C.7.4.1, C.7.5.1; PS3.4 table C.6-3, C.3.1).
_SERIES = _tags(
    "Modality", "SeriesInstanceUID", "SeriesNumber", "Laterality", "SeriesDate", "SeriesTime",
    "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence", "ProtocolName",
    "SeriesDescription", "SeriesDescriptionCodeSequence", "OperatorsName", "OperatorIdentificationSequence",
    "ReferencedPerformedProcedureStepSequence", "RelatedSeriesSequence", "BodyPartExamined",
    "PatientPosition", "SmallestPixelValueInSeries", "LargestPixelValueInSeries", "RequestAttributesSequence",
    "PerformedProcedureStepID", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", "PerformedProcedureStepDescription",
    "PerformedProtocolCodeSequence", "CommentsOnThePerformedProcedureStep", "AnatomicalOrientationType",
    "ClinicalTrialCoordinatingCenterName", "ClinicalTrialSeriesID", "ClinicalTrialSeriesDescription",
    "FrameOfReferenceUID", "PositionReferenceIndicator", "Manufacturer", "InstitutionName",
    "InstitutionAddress", "StationName", "InstitutionalDepartmentName", "ManufacturerModelName",
    "DeviceSerialNumber", "SoftwareVersions", "SpatialResolution", "DateOfLastCalibration",
    "TimeOfLastCalibration", "NumberOfSeriesRelatedInstances",
)

# The Composite Object Instance IE holds every tag not listed above (see level_of).

#: Tags that are matching keys on every resource: PS3.18 10.6.1.2.1 allows "Additional
#: Query/Retrieve Attributes" (PS3.4 C.3.4) and Timezone Offset From UTC with no
#: resource restriction.  (Patient IE attributes and private tags are also allowed anywhere.)
_ANYWHERE = _tags(
    "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances",
    "ModalitiesInStudy", "SOPClassesInStudy", "AnatomicRegionsInStudyCodeSequence",
    "AlternateRepresentationSequence", "AvailableTransferSyntaxUID", "TimezoneOffsetFromUTC",
    "SpecificCharacterSet",
)

# Return keys (PS3.18 10.6.3.3.1-3).  Retrieve URL (0008,1190) is computed by the server.
STUDY_RETURN_TAGS: tuple[int, ...] = tuple(sorted(_tags(
    "StudyDate", "StudyTime", "AccessionNumber", "InstanceAvailability", "ModalitiesInStudy",
    "ReferringPhysicianName", "TimezoneOffsetFromUTC", "RetrieveURL", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)))  # table 10.6.3-3
SERIES_RETURN_TAGS: tuple[int, ...] = tuple(sorted(_tags(
    "Modality", "TimezoneOffsetFromUTC", "SeriesDescription", "RetrieveURL", "SeriesInstanceUID",
    "SeriesNumber", "NumberOfSeriesRelatedInstances", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime", "RequestAttributesSequence",
)))  # table 10.6.3-4
INSTANCE_RETURN_TAGS: tuple[int, ...] = tuple(sorted(_tags(
    "SOPClassUID", "SOPInstanceUID", "InstanceAvailability", "TimezoneOffsetFromUTC", "RetrieveURL",
    "InstanceNumber", "Rows", "Columns", "BitsAllocated", "NumberOfFrames",
)))  # table 10.6.3-5

#: Required matching attributes per IE level (table 10.6.1-5), as tag paths.
REQUIRED_MATCHING: dict[str, tuple[tuple[int, ...], ...]] = {
    "study": ((0x00080020,), (0x00080030,), (0x00080050,), (0x00080061,), (0x00080090,), (0x00100010,),
              (0x00100020,), (0x0020000D,), (0x00200010,)),
    "series": ((0x00080060,), (0x0020000E,), (0x00200011,), (0x00400244,), (0x00400245,), (0x00400275,),
               (0x00400275, 0x00400009), (0x00400275, 0x00401001)),
    "instance": ((0x00080016,), (0x00080018,), (0x00200013,)),
}


#: Groups no data set element may use (PS3.5 7.8.1).
RESERVED_GROUPS = frozenset({0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF})


def _not_an_attribute(tag: int) -> bool:
    group, element = tag >> 16, tag & 0xFFFF
    return group in (0x0000, 0x0002, 0xFFFE) or element == 0 or not 0 <= tag <= 0xFFFFFFFF


def ie_of(tag: int) -> str | None:
    """Information Entity of a top-level attribute: 'patient' | 'study' | 'series' | 'instance'.

    None for tags that are no data set attribute: command group (0000), file meta
    information (0002), item delimitation tags (FFFE) and group lengths (gggg,0000).
    Attributes of no listed module, including private ones, are 'instance'
    (PS3.4 C.3.1: the Composite Object Instance level holds all other attributes).
    """
    if _not_an_attribute(tag):
        return None
    if tag in _PATIENT:
        return "patient"
    if tag in _STUDY:
        return "study"
    if tag in _SERIES:
        return "series"
    return "instance"


def level_of(tag: int) -> str | None:
    """Level whose entity holds the attribute: 'patient' | 'study' | 'series' | 'instance' | None.

    Same as :func:`ie_of`; the index stores 'patient' attributes with the study
    (PS3.4 C.3.2).  Use :func:`qido_level_of` for the QIDO-RS level ('study' for
    patient attributes).
    """
    return ie_of(tag)


def qido_level_of(tag: int) -> str | None:
    """QIDO-RS level of a top-level attribute: 'study' | 'series' | 'instance' | None.

    Patient IE attributes are study-level (PS3.18 table 10.6.1-5 lists Patient Name
    and Patient ID under the Study IE level).
    """
    ie = ie_of(tag)
    return "study" if ie == "patient" else ie


def is_anywhere_attribute(tag: int) -> bool:
    """True when PS3.18 10.6.1.2.1 allows the attribute as a key on every resource.

    That is Patient IE attributes, Additional Query/Retrieve Attributes
    (PS3.4 C.3.4), Timezone Offset From UTC, Specific Character Set and private
    data elements (odd groups).
    """
    return tag in _PATIENT or tag in _ANYWHERE or bool((tag >> 16) & 1)


def default_return_tags(resource: str) -> list[int]:
    """Attributes every match of ``resource`` carries (PS3.18 10.6.3.3), ascending.

    Study resources: table 10.6.3-3.  Series resources: table 10.6.3-4, plus the
    study table for All Series.  Instance resources: table 10.6.3-5, plus the series
    table for All Instances and Study's Instances and the study table for All Instances.
    """
    level = resource_info(resource).level
    tags: set[int] = set()
    if level == "study" or resource in (ALL_SERIES, ALL_INSTANCES):
        tags.update(STUDY_RETURN_TAGS)
    if level == "series" or resource in (ALL_INSTANCES, STUDY_INSTANCES):
        tags.update(SERIES_RETURN_TAGS)
    if level == "instance":
        tags.update(INSTANCE_RETURN_TAGS)
    return sorted(tags)


def includable_levels(resource: str) -> frozenset[str]:
    """QIDO levels whose attributes an ``includefield`` may add to ``resource`` results.

    10.6.3.3.1: series/instance attributes are not returned for studies;
    10.6.3.3.2: study or series attributes for series; 10.6.3.3.3: any for instances.
    """
    level = resource_info(resource).level
    return frozenset(LEVELS[: LEVELS.index(level) + 1])
