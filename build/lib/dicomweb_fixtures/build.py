"""Build one fixture instance: its pydicom Dataset and its manifest entry.

Attributes follow the composite IOD modules of PS3.3 (Patient, General Study,
General Series, General Equipment, General Image, Image Plane, Image Pixel,
CT/MR/US/CR/SC Image, SOP Common) closely enough for DICOMweb services; the
manifest entry records what PS3.18 §10.4 (WADO-RS) and §10.6 (QIDO-RS) tests
must observe.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence

from . import spec
from . import codestreams, noise
from .codec import check_lossless, decode_jpeg_baseline, encode_frames
from .pixels import KINDS, ImageKind, hot_iron_lut, icon_from_rgb
from .spec import Patient, RequestAttributes, Series, Study

_TS_FEATURES = {
    spec.IMPLICIT_LE: ["implicit-vr"],
    spec.EXPLICIT_LE: ["explicit-vr"],
    spec.JPEG_BASELINE: ["compressed", "lossy", "jpeg-baseline"],
    spec.JPEG_LS_LOSSLESS: ["compressed", "jpeg-ls"],
    spec.J2K_LOSSLESS: ["compressed", "jpeg2000"],
    spec.RLE_LOSSLESS: ["compressed", "rle"],
}
_CHARSET_FEATURES = {
    None: "charset-default",
    ("ISO_IR 100",): "charset-latin1",
    ("ISO_IR 192",): "charset-ir192",
    ("", "ISO 2022 IR 87"): "charset-iso2022-ir87",
    ("GB18030",): "charset-gb18030",
}
_FRAME_TIME_TAG = 0x00181063  # Frame Time, the Frame Increment Pointer target


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_name(series: Series, index: int) -> str:
    """File name of instance ``index`` (0-based) of ``series`` inside the data set directory."""
    return f"{series.key}-{index + 1:03d}.dcm"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _request_item(req: RequestAttributes) -> Dataset:
    item = Dataset()
    item.RequestedProcedureID = req.requested_procedure_id
    item.ScheduledProcedureStepID = req.scheduled_procedure_step_id
    if req.protocol_code is not None:
        protocol = _code(*req.protocol_code)
        context = Dataset()
        context.ValueType = "CODE"
        context.ConceptNameCodeSequence = Sequence([_code("G-C0E8", "SRT", "Contrast/Bolus Agent")])
        context.ConceptCodeSequence = Sequence([_code("C-B0322", "SRT", "Iodinated contrast")])
        protocol.ProtocolContextSequence = Sequence([context])
        item.ScheduledProtocolCodeSequence = Sequence([protocol])
    return item


def _common(patient: Patient, study: Study, series: Series, index: int) -> Dataset:
    """Patient, General Study/Series/Equipment/Image and SOP Common attributes."""
    ds = Dataset()
    if patient.charset is not None:
        ds.SpecificCharacterSet = list(patient.charset) if len(patient.charset) > 1 else patient.charset[0]
    ds.InstanceCreationDate = series.date
    ds.InstanceCreationTime = series.time
    ds.SOPClassUID = series.sop_class
    ds.SOPInstanceUID = spec.instance_uid(patient.number, study.number, series.number, index + 1)
    ds.StudyDate, ds.SeriesDate, ds.ContentDate = study.date, series.date, series.date
    ds.StudyTime, ds.SeriesTime = study.time, series.time
    ds.ContentTime = series.time
    ds.AccessionNumber = study.accession
    ds.Modality = series.modality
    ds.Manufacturer = "DICOMweb Conformance Fixtures"
    ds.InstitutionName = "Synthetic Imaging Center"
    ds.ReferringPhysicianName = study.referring
    ds.StudyDescription = study.description
    ds.SeriesDescription = series.description
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    if patient.other_ids:
        items = []
        for pid, issuer, kind in patient.other_ids:
            item = Dataset()
            item.PatientID, item.IssuerOfPatientID, item.TypeOfPatientID = pid, issuer, kind
            items.append(item)
        ds.OtherPatientIDsSequence = Sequence(items)
    ds.StudyInstanceUID = spec.study_uid(patient.number, study.number)
    ds.SeriesInstanceUID = spec.series_uid(patient.number, study.number, series.number)
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.number
    ds.InstanceNumber = index + 1
    if series.performed_start is not None:
        ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime = series.performed_start
    if series.request_attributes:
        ds.RequestAttributesSequence = Sequence([_request_item(r) for r in series.request_attributes])
    if series.referenced_study is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
        ref.ReferencedSOPInstanceUID = spec.study_uid(*series.referenced_study)
        ds.ReferencedStudySequence = Sequence([ref])
    return ds


def _plane(ds: Dataset, patient: Patient, study: Study, spacing: float, size: int, z: float,
           orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0)) -> None:
    ds.FrameOfReferenceUID = spec.frame_of_reference_uid(patient.number, study.number)
    ds.PositionReferenceIndicator = ""
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageOrientationPatient = list(orientation)
    origin = -(size / 2 - 0.5) * spacing
    ds.ImagePositionPatient = [origin, origin, z]


def _kind_attributes(ds: Dataset, kind_name: str, patient: Patient, study: Study, index: int) -> None:
    """Modality-specific image attributes (PS3.3 §C.8)."""
    if kind_name == "ct_axial":
        z = float(-5 * index)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        _plane(ds, patient, study, 0.78125, 512, z)
        ds.SliceThickness, ds.SliceLocation, ds.KVP, ds.AcquisitionNumber = 5.0, z, 120, 1
        ds.BodyPartExamined = "CHEST"
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = [40, -600], [400, 1500]
        ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "LUNG"]
        ds.PixelPaddingValue = -2000
    elif kind_name == "ct_localizer":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        orient = (1, 0, 0, 0, 0, -1) if index == 0 else (0, 1, 0, 0, 0, -1)
        _plane(ds, patient, study, 1.0, 512, 100.0, orient)
        ds.KVP, ds.AcquisitionNumber = 120, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 0, 2000
    elif kind_name == "ct_small":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        _plane(ds, patient, study, 1.5625, 256, -60.0)
        ds.SliceThickness, ds.SliceLocation, ds.KVP = 1.25, -60.0, 100
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = -600, 1500
    elif kind_name == "mr":
        z = float(20 - 6 * index)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        _plane(ds, patient, study, 0.9375, 256, z)
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "SK", ""
        ds.MRAcquisitionType, ds.RepetitionTime, ds.EchoTime = "2D", 4000, 100
        ds.EchoTrainLength, ds.MagneticFieldStrength = 16, 3
        ds.SliceThickness, ds.SliceLocation = 5.0, z
        ds.WindowCenter, ds.WindowWidth = 1200, 2400
    elif kind_name in ("us_gray", "us_rgb"):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
        ds.FrameTime = 40.0 if kind_name == "us_gray" else 50.0
        ds.FrameIncrementPointer = _FRAME_TIME_TAG
        ds.CineRate = 25 if kind_name == "us_gray" else 20
    elif kind_name == "cr":
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.BodyPartExamined, ds.ViewPosition = "CHEST", "PA"
        ds.ImagerPixelSpacing = [0.5, 0.5]
        ds.PatientOrientation = ["L", "F"]
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
    elif kind_name == "mf_word":
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.FrameTime = 40.0
        ds.FrameIncrementPointer = _FRAME_TIME_TAG
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        ds.WindowCenter, ds.WindowWidth = 20000, 40000
    elif kind_name in ("sc_rgb", "sc_palette"):
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.PatientOrientation = ""
    else:
        raise KeyError(f"unknown image kind {kind_name!r}")


def _image_pixel(ds: Dataset, kind: ImageKind) -> None:
    ds.SamplesPerPixel = kind.samples
    ds.PhotometricInterpretation = kind.photometric
    if kind.samples > 1:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = kind.rows, kind.columns
    if kind.frames > 1:
        ds.NumberOfFrames = kind.frames
    ds.BitsAllocated, ds.BitsStored = kind.bits_allocated, kind.bits_stored
    ds.HighBit = kind.bits_stored - 1
    ds.PixelRepresentation = int(kind.signed)


def _private_block(ds: Dataset, index: int) -> list[dict[str, Any]]:
    """Private Data Elements (PS3.5 §7.8) under our own creator; returns manifest entries."""
    block = ds.private_block(spec.PRIVATE_GROUP, spec.PRIVATE_CREATOR, create=True)
    blob = noise.random_bytes((spec.PRIVATE_GROUP, index), 4096)
    block.add_new(0x10, "LO", "SYNTHETIC PHANTOM")
    block.add_new(0x11, "US", index)
    block.add_new(0x12, "OB", blob)
    creator = f"{spec.PRIVATE_GROUP:04X}0010"
    base = f"{spec.PRIVATE_GROUP:04X}10"
    return [
        {"tag": creator, "creator": spec.PRIVATE_CREATOR, "vr": "LO", "value": [spec.PRIVATE_CREATOR]},
        {"tag": base + "10", "creator": spec.PRIVATE_CREATOR, "vr": "LO", "value": ["SYNTHETIC PHANTOM"]},
        {"tag": base + "11", "creator": spec.PRIVATE_CREATOR, "vr": "US", "value": [index]},
        {"tag": base + "12", "creator": spec.PRIVATE_CREATOR, "vr": "OB", "length": len(blob),
         "sha256": sha256(blob)},
    ]


def _bulk(tag: str, path: str, vr: str, data: bytes) -> dict[str, Any]:
    return {"tag": tag, "path": path, "vr": vr, "length": len(data), "sha256": sha256(data)}


def _compressed(name: str, syntax: str, frames: np.ndarray, kind: ImageKind, source: list[bytes],
                codestream_index: dict[str, Any] | None) -> tuple[list[bytes], list[str | None]]:
    """The compressed frames: the committed streams, or (``codestream_index`` given) newly encoded ones."""
    stem = name.removesuffix(".dcm")
    if codestream_index is None:
        return codestreams.committed_frames(stem, syntax, source, codestreams.load_index_cached())
    encoded = encode_frames(frames, kind, syntax)
    decoded: list[bytes | None] = [None] * len(encoded)
    if syntax in spec.LOSSY_SYNTAXES:
        decoded = [decode_jpeg_baseline(e).tobytes() for e in encoded]
    else:
        check_lossless(encoded, frames, kind, syntax, name)
    codestreams.record(codestream_index, stem, syntax, source, encoded, decoded)
    return encoded, [sha256(d) if d is not None else None for d in decoded]


def build_instance(patient: Patient, study: Study, series: Series, index: int,
                   codestream_index: dict[str, Any] | None = None) -> tuple[Dataset, dict[str, Any]]:
    """Return the dataset (with file meta) and the manifest entry of one instance.

    Compressed frames come from the committed streams (:mod:`fixtures.codestreams`), or are
    encoded anew and recorded into ``codestream_index`` when it is given (developer command).
    """
    kind = KINDS[series.kind]
    syntax = series.syntaxes[index]
    ds = _common(patient, study, series, index)
    _kind_attributes(ds, series.kind, patient, study, index)
    frames = kind.make(index, len(series.syntaxes))
    if frames.shape[0] != kind.frames or frames.dtype != kind.dtype:
        raise ValueError(f"{series.kind}: generator returned {frames.shape} {frames.dtype}")
    _image_pixel(ds, kind)
    features = list(_TS_FEATURES[syntax])
    features.append(_CHARSET_FEATURES[patient.charset])
    bulk: list[dict[str, Any]] = []
    private: list[dict[str, Any]] = []

    if series.kind == "sc_rgb":
        icon = icon_from_rgb(frames[0])
        item = Dataset()
        item.SamplesPerPixel, item.PhotometricInterpretation = 1, "MONOCHROME2"
        item.Rows, item.Columns = icon.shape
        item.BitsAllocated, item.BitsStored, item.HighBit, item.PixelRepresentation = 8, 8, 7, 0
        item.add_new(0x7FE00010, "OB", icon.tobytes())
        ds.IconImageSequence = Sequence([item])
        bulk.append(_bulk("7FE00010", "00880200/0/7FE00010", "OB", icon.tobytes()))
        features.append("icon-image")
    if series.kind == "sc_palette":
        for colour, lut, tag in zip(("Red", "Green", "Blue"), hot_iron_lut(), (0x00281201, 0x00281202, 0x00281203)):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            ds.add_new(tag, "OW", lut.tobytes())
            bulk.append(_bulk(f"{tag:08X}", f"{tag:08X}", "OW", lut.tobytes()))
    if series.private:
        private = _private_block(ds, index)
        blob_entry = private[-1]
        bulk.append({"tag": blob_entry["tag"], "path": blob_entry["tag"], "vr": "OB",
                     "length": blob_entry["length"], "sha256": blob_entry["sha256"]})
        features.append("private-tags")

    source = [np.ascontiguousarray(f).tobytes() for f in frames]
    if syntax in spec.NATIVE_SYNTAXES:
        encoded = encode_frames(frames, kind, syntax)
        ds.add_new(0x7FE00010, "OW" if kind.bits_allocated > 8 else "OB", b"".join(encoded))
        stored = encoded
        native_hashes = [sha256(f) for f in encoded]
    else:
        encoded, decoded = _compressed(file_name(series, index), syntax, frames, kind, source, codestream_index)
        ds.add_new(0x7FE00010, "OB", encapsulate(encoded, has_bot=not series.empty_bot))
        ds["PixelData"].is_undefined_length = True
        stored = [e + b"\x00" if len(e) % 2 else e for e in encoded]  # fragments are even (PS3.5 §A.4)
        if syntax in spec.LOSSY_SYNTAXES:
            native_hashes = [h for h in decoded if h is not None]
            raw = sum(len(f) for f in source)
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionRatio = round(raw / sum(len(e) for e in encoded), 2)
            ds.LossyImageCompressionMethod = "ISO_10918_1"
        else:
            native_hashes = [sha256(f) for f in source]
    if series.empty_bot:
        features.append("empty-bot")

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.ImplementationClassUID = spec.IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = spec.IMPLEMENTATION_VERSION_NAME

    if kind.frames > 1:
        features.append("multiframe")
    if kind.signed:
        features.append("signed")
    features += {"RGB": ["rgb"], "PALETTE COLOR": ["palette-color"], "MONOCHROME1": ["monochrome1"]}.get(
        kind.photometric, [])
    if series.kind == "ct_localizer":
        features.append("localizer")
    if series.request_attributes:
        features.append("request-attributes")
        if any(r.protocol_code for r in series.request_attributes):
            features.append("nested-sequence")
    if series.referenced_study:
        features.append("referenced-study")
    if patient.other_ids:
        features.append("other-patient-ids")
    if not study.referring or not study.study_id:
        features.append("empty-type2")
    if bulk:
        features.append("bulk-data")

    entry: dict[str, Any] = {
        "SOPInstanceUID": ds.SOPInstanceUID,
        "SOPClassUID": ds.SOPClassUID,
        "SeriesInstanceUID": ds.SeriesInstanceUID,
        "StudyInstanceUID": ds.StudyInstanceUID,
        "InstanceNumber": index + 1,
        "TransferSyntaxUID": syntax,
        "Rows": kind.rows,
        "Columns": kind.columns,
        "NumberOfFrames": kind.frames,
        "BitsAllocated": kind.bits_allocated,
        "BitsStored": kind.bits_stored,
        "HighBit": kind.bits_stored - 1,
        "SamplesPerPixel": kind.samples,
        "PhotometricInterpretation": kind.photometric,
        "PlanarConfiguration": 0 if kind.samples > 1 else None,
        "PixelRepresentation": int(kind.signed),
        "lossy": syntax in spec.LOSSY_SYNTAXES,
        "file": file_name(series, index),
        "frames_sha256": [sha256(f) for f in stored],
        "native_frames_sha256": native_hashes,
        "bulk": bulk,
        "private": private,
        "features": features,
    }
    return ds, entry
