"""Tests of the fixture data set: every manifest claim is checked against the files.

The files are read back with pydicom and, where the claim is about encoding,
with independent byte-level parsing: encapsulation (PS3.5 §A.4), RLE headers
(PS3.5 Annex G), JPEG / JPEG-LS / JPEG 2000 markers (PS3.5 §A.4.1-A.4.4),
UID syntax (PS3.5 §9.1) and character set code extension (PS3.5 §6.1.2.5).
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

import dicomweb_fixtures as fixtures
from dicomweb_fixtures import cache, generator

REPO = Path(__file__).resolve().parents[1]
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
ALL_SYNTAXES = NATIVE | {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80",
                         "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"}
UID_RE = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"
MANIFEST = fixtures.load_manifest()
INSTANCES = MANIFEST["instances"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A generation through the CLI, not validated against the manifest (claims are tested below)."""
    out = tmp_path_factory.mktemp("fresh") / "data"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = generator.main(["--out", str(out)])
    return out, rc, buf.getvalue()


@pytest.fixture(scope="module")
def dataset(fresh: tuple[Path, int, str]) -> Path:
    return fresh[0]


def read(dataset: Path, entry: dict) -> Dataset:
    return dcmread(dataset / entry["file"])


def encapsulated_items(value: bytes) -> list[bytes]:
    """Item values of encapsulated Pixel Data (PS3.5 §A.4), the Basic Offset Table first."""
    items, pos = [], 0
    while pos + 8 <= len(value):
        group, elem, length = struct.unpack_from("<HHL", value, pos)
        if (group, elem) == (0xFFFE, 0xE0DD):
            break
        assert (group, elem) == (0xFFFE, 0xE000), f"unexpected tag in encapsulated data at {pos}"
        items.append(value[pos + 8:pos + 8 + length])
        pos += 8 + length
    return items


def dtype_of(entry: dict) -> str:
    return f"<{'i' if entry['PixelRepresentation'] else 'u'}{entry['BitsAllocated'] // 8}"


def binary_paths(ds: Dataset, prefix: str = "") -> list[str]:
    """Paths of the binary-VR elements other than the top-level Pixel Data (BulkData candidates)."""
    paths = []
    for el in ds:
        path = f"{prefix}{el.tag:08X}"
        if el.VR == "SQ":
            for index, item in enumerate(el.value):
                paths += binary_paths(item, f"{path}/{index}/")
        elif el.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and path != "7FE00010":
            paths.append(path)
    return paths


def seq_depth(ds: Dataset) -> int:
    depths = [1 + max((seq_depth(item) for item in el.value), default=0)
              for el in ds if el.VR == "SQ"]
    return max(depths, default=0)


# --- manifest currency, determinism, UIDs --------------------------------------------------


def test_cli_reports_and_committed_manifest_is_current(fresh: tuple[Path, int, str]) -> None:
    out, rc, text = fresh
    assert f"{len(INSTANCES)} instances" in text and " MB" in text and " s " in text
    assert (out / "manifest.json").read_bytes() == fixtures.MANIFEST_PATH.read_bytes(), \
        "fixtures/manifest.json is stale: see fixtures/README.md, 'Changing the data set'"
    assert rc == 0


def test_two_generations_are_byte_identical(dataset: Path) -> None:
    out = fixtures.ensure_dataset()  # the shared cache: another, earlier generation
    names = sorted(p.name for p in out.glob("*.dcm"))
    assert names == sorted(p.name for p in dataset.glob("*.dcm"))
    assert names == sorted(i["file"] for i in INSTANCES)
    for name in names:
        assert (out / name).read_bytes() == (dataset / name).read_bytes(), name


def test_uids_are_valid_unique_and_under_the_root(dataset: Path) -> None:
    root = MANIFEST["uid_root"]
    assert root == fixtures.UID_ROOT and root.startswith("2.25.")
    assert int(root.split(".")[2]) < 2 ** 128  # a UUID-derived root (PS3.5 §B.2)
    uids = [s["StudyInstanceUID"] for s in MANIFEST["studies"]]
    uids += [s["SeriesInstanceUID"] for s in MANIFEST["series"]]
    uids += [i["SOPInstanceUID"] for i in INSTANCES]
    assert len(uids) == len(set(uids))
    for entry in INSTANCES[::7]:
        ds = read(dataset, entry)
        uids += [ds.FrameOfReferenceUID] if "FrameOfReferenceUID" in ds else []
        uids.append(ds.file_meta.ImplementationClassUID)
    for uid in uids:
        assert len(uid) <= 64 and uid.startswith(root + ".")
        assert re.match(UID_RE, uid), uid


# --- instance-level claims ------------------------------------------------------------------


def check_encoded_frame(entry: dict, frame: bytes) -> None:
    """Marker-level facts of each compressed frame (PS3.5 §A.4.1-A.4.4, Annex G)."""
    ts = entry["TransferSyntaxUID"]
    if ts == "1.2.840.10008.1.2.5":
        count, *offsets = struct.unpack_from("<16L", frame)
        assert count == entry["SamplesPerPixel"] * entry["BitsAllocated"] // 8
        assert offsets[0] == 64 and all(o == 0 for o in offsets[count:])
    elif ts == "1.2.840.10008.1.2.4.50":
        assert frame[:2] == b"\xff\xd8" and b"\xff\xc0" in frame and b"\xff\xc2" not in frame
        assert frame.rstrip(b"\x00").endswith(b"\xff\xd9")
        sof = frame.index(b"\xff\xc0")
        assert frame[sof + 4] == 8  # sample precision of Process 1
    elif ts == "1.2.840.10008.1.2.4.80":
        assert frame[:2] == b"\xff\xd8" and b"\xff\xf7" in frame  # SOF55
        sos = frame.index(b"\xff\xda")
        components = frame[sos + 4]
        assert frame[sos + 5 + 2 * components] == 0, "NEAR must be 0 for lossless"
    elif ts == "1.2.840.10008.1.2.4.90":
        assert frame[:4] == b"\xff\x4f\xff\x51"
        cod = frame.index(b"\xff\x52")
        assert frame[cod + 13] == 1, "JPEG 2000 Lossless Only requires the reversible 5-3 wavelet"


@pytest.mark.parametrize("entry", INSTANCES, ids=[i["file"] for i in INSTANCES])
def test_instance_matches_manifest(dataset: Path, entry: dict) -> None:
    ds = read(dataset, entry)
    meta = ds.file_meta
    assert meta.TransferSyntaxUID == entry["TransferSyntaxUID"] in ALL_SYNTAXES
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == entry["SOPInstanceUID"]
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID == entry["SOPClassUID"]
    assert ds.SeriesInstanceUID == entry["SeriesInstanceUID"]
    assert ds.StudyInstanceUID == entry["StudyInstanceUID"]
    assert ds.InstanceNumber == entry["InstanceNumber"]
    for key in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "SamplesPerPixel",
                "PhotometricInterpretation", "PixelRepresentation"):
        assert ds[key].value == entry[key], key
    assert int(ds.get("NumberOfFrames", 1)) == entry["NumberOfFrames"]
    assert ds.get("PlanarConfiguration") == entry["PlanarConfiguration"]
    frames = entry["NumberOfFrames"]
    assert len(entry["frames_sha256"]) == len(entry["native_frames_sha256"]) == frames
    frame_size = entry["Rows"] * entry["Columns"] * entry["SamplesPerPixel"] * entry["BitsAllocated"] // 8
    if entry["TransferSyntaxUID"] in NATIVE:
        data = ds.PixelData
        assert len(data) == frames * frame_size + (frames * frame_size) % 2
        stored = [data[i * frame_size:(i + 1) * frame_size] for i in range(frames)]
        assert entry["native_frames_sha256"] == entry["frames_sha256"]
    else:
        assert ds["PixelData"].is_undefined_length
        items = encapsulated_items(ds.PixelData)
        bot, stored = items[0], items[1:]
        assert len(stored) == frames, "one fragment per frame"
        assert all(len(f) % 2 == 0 for f in stored)
        if "empty-bot" in entry["features"]:
            assert bot == b""
        else:
            offsets = list(struct.unpack(f"<{frames}L", bot))
            expected = [sum(8 + len(f) for f in stored[:i]) for i in range(frames)]
            assert offsets == expected
        for frame in stored:
            check_encoded_frame(entry, frame)
    assert [sha(f) for f in stored] == entry["frames_sha256"]

    if entry["lossy"]:
        ds.pixel_array_options(decoding_plugin="pillow")  # IJG 'islow' IDCT, as DCMTK decodes
        assert ds.LossyImageCompression == "01"
    arr = ds.pixel_array.reshape((frames, entry["Rows"], entry["Columns"], entry["SamplesPerPixel"]))
    native = [np.ascontiguousarray(f, dtype=dtype_of(entry)).tobytes() for f in arr]
    assert all(len(f) == frame_size for f in native)
    assert [sha(f) for f in native] == entry["native_frames_sha256"]

    assert sorted(binary_paths(ds)) == sorted(b["path"] for b in entry["bulk"]), "bulk list is complete"
    private_tags = sorted(f"{el.tag:08X}" for el in ds if el.tag.is_private)
    assert private_tags == sorted(p["tag"] for p in entry["private"]), "private list is complete"
    for bulk in entry["bulk"]:
        node: Dataset = ds
        parts = bulk["path"].split("/")
        for seq_tag, index in zip(parts[0::2], parts[1::2]):
            node = node[int(seq_tag, 16)].value[int(index)]
        element = node[int(parts[-1], 16)]
        assert parts[-1] == bulk["tag"] and element.VR == bulk["vr"] in ("OB", "OW")
        assert len(element.value) == bulk["length"] and sha(element.value) == bulk["sha256"]
    for private in entry["private"]:
        group, elem = int(private["tag"][:4], 16), int(private["tag"][4:], 16)
        assert group % 2 == 1, "private groups are odd (PS3.5 §7.8)"
        block = elem >> 8 if elem > 0xFF else elem
        assert ds[group, block].value == private["creator"]
        element = ds[group, elem]
        assert element.VR == private["vr"]
        if "value" in private:
            value = element.value if element.VM > 1 else [element.value]
            assert list(value) == private["value"]
        else:
            assert sha(element.value) == private["sha256"] and len(element.value) == private["length"]
    check_features(ds, entry)


def check_features(ds: Dataset, entry: dict) -> None:
    """Each declared feature holds, and the automatic ones are declared."""
    feats = set(entry["features"])
    ts = entry["TransferSyntaxUID"]
    assert ("multiframe" in feats) == (entry["NumberOfFrames"] > 1)
    assert ("compressed" in feats) == (ts not in NATIVE)
    assert ("implicit-vr" in feats) == (ts == "1.2.840.10008.1.2")
    assert ("explicit-vr" in feats) == (ts == "1.2.840.10008.1.2.1")
    assert ("lossy" in feats) == entry["lossy"] == (ts == "1.2.840.10008.1.2.4.50")
    assert ("bulk-data" in feats) == bool(entry["bulk"])
    assert ("private-tags" in feats) == bool(entry["private"])
    assert ("signed" in feats) == (ds.PixelRepresentation == 1)
    charset = ds.get("SpecificCharacterSet")
    charset = None if charset is None else ([charset] if isinstance(charset, str) else list(charset))
    charset_feature = {None: "charset-default", ("ISO_IR 100",): "charset-latin1",
                       ("ISO_IR 192",): "charset-ir192", ("", "ISO 2022 IR 87"): "charset-iso2022-ir87",
                       ("GB18030",): "charset-gb18030"}[None if charset is None else tuple(charset)]
    assert charset_feature in feats
    known = {"multiframe", "compressed", "implicit-vr", "explicit-vr", "lossy", "bulk-data", "private-tags",
             "signed", charset_feature, "jpeg-baseline", "jpeg-ls", "jpeg2000", "rle", "rgb", "palette-color",
             "monochrome1", "localizer", "request-attributes", "nested-sequence", "referenced-study",
             "other-patient-ids", "empty-type2", "icon-image", "empty-bot"}
    assert feats <= known, feats - known
    checks = {
        "rgb": lambda: ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3,
        "palette-color": lambda: ds.PhotometricInterpretation == "PALETTE COLOR"
        and "RedPaletteColorLookupTableData" in ds,
        "monochrome1": lambda: ds.PhotometricInterpretation == "MONOCHROME1",
        "localizer": lambda: ds.ImageType[2] == "LOCALIZER",
        "request-attributes": lambda: len(ds.RequestAttributesSequence) >= 1,
        "nested-sequence": lambda: seq_depth(ds) >= 3,
        "referenced-study": lambda: ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID
        in {s["StudyInstanceUID"] for s in MANIFEST["studies"]},
        "other-patient-ids": lambda: len(ds.OtherPatientIDsSequence) >= 1,
        "empty-type2": lambda: ("StudyID" in ds and not ds.StudyID)
        or ("ReferringPhysicianName" in ds and not ds.ReferringPhysicianName),
        "icon-image": lambda: "PixelData" in ds.IconImageSequence[0],
        "jpeg-baseline": lambda: ts == "1.2.840.10008.1.2.4.50",
        "jpeg-ls": lambda: ts == "1.2.840.10008.1.2.4.80",
        "jpeg2000": lambda: ts == "1.2.840.10008.1.2.4.90",
        "rle": lambda: ts == "1.2.840.10008.1.2.5",
    }
    for feature, check in checks.items():
        if feature in feats:
            assert check(), feature


# --- patient, study and series claims ---------------------------------------------------------


def pn_object(value) -> dict | None:
    groups = {"Alphabetic": value.alphabetic, "Ideographic": value.ideographic, "Phonetic": value.phonetic}
    return {k: v for k, v in groups.items() if v} or None


@pytest.fixture(scope="module")
def headers(dataset: Path) -> dict[str, Dataset]:
    return {i["SOPInstanceUID"]: dcmread(dataset / i["file"], stop_before_pixels=True) for i in INSTANCES}


def test_series_claims(headers: dict[str, Dataset]) -> None:
    for series in MANIFEST["series"]:
        members = [headers[i["SOPInstanceUID"]] for i in INSTANCES
                   if i["SeriesInstanceUID"] == series["SeriesInstanceUID"]]
        assert len(members) == series["NumberOfSeriesRelatedInstances"] > 0
        assert sorted(ds.InstanceNumber for ds in members) == list(range(1, len(members) + 1))
        for ds in members:
            assert ds.StudyInstanceUID == series["StudyInstanceUID"] and ds.PatientID == series["PatientID"]
            assert ds.Modality == series["Modality"] and ds.SeriesNumber == series["SeriesNumber"]
            assert ds.SeriesDescription == series["SeriesDescription"] and ds.SOPClassUID == series["SOPClassUID"]
            assert (ds.SeriesDate, ds.SeriesTime) == (series["SeriesDate"], series["SeriesTime"])
            assert ds.get("PerformedProcedureStepStartDate") == series["PerformedProcedureStepStartDate"]
            assert ds.get("PerformedProcedureStepStartTime") == series["PerformedProcedureStepStartTime"]
            items = [{"RequestedProcedureID": it.RequestedProcedureID,
                      "ScheduledProcedureStepID": it.ScheduledProcedureStepID}
                     for it in ds.get("RequestAttributesSequence", [])]
            assert items == series["RequestAttributesSequence"]


def test_study_and_patient_claims(headers: dict[str, Dataset]) -> None:
    patients = {p["PatientID"]: p for p in MANIFEST["patients"]}
    for study in MANIFEST["studies"]:
        members = [headers[i["SOPInstanceUID"]] for i in INSTANCES
                   if i["StudyInstanceUID"] == study["StudyInstanceUID"]]
        assert len(members) == study["NumberOfStudyRelatedInstances"]
        assert len({ds.SeriesInstanceUID for ds in members}) == study["NumberOfStudyRelatedSeries"]
        assert sorted({ds.Modality for ds in members}) == sorted(study["ModalitiesInStudy"])
        patient = patients[study["PatientID"]]
        for ds in members:
            charset = ds.get("SpecificCharacterSet")
            charset = None if charset is None else ([charset] if isinstance(charset, str) else list(charset))
            assert charset == study["SpecificCharacterSet"] == patient["SpecificCharacterSet"]
            for key in ("StudyDate", "StudyTime", "AccessionNumber", "StudyDescription"):
                assert ds[key].value == study[key], key
            assert "StudyID" in ds and "ReferringPhysicianName" in ds  # type 2: present even if empty
            assert (ds.StudyID or None) == study["StudyID"]
            assert pn_object(ds.ReferringPhysicianName) == study["ReferringPhysicianName"]
            assert pn_object(ds.PatientName) == study["PatientName"] == patient["PatientName"]
            assert ds.PatientBirthDate == patient["PatientBirthDate"] and ds.PatientSex == patient["PatientSex"]
            others = [{"PatientID": o.PatientID, "IssuerOfPatientID": o.IssuerOfPatientID,
                       "TypeOfPatientID": o.TypeOfPatientID} for o in ds.get("OtherPatientIDsSequence", [])]
            assert others == patient["OtherPatientIDsSequence"]
    for patient in MANIFEST["patients"]:
        studies = [s for s in MANIFEST["studies"] if s["PatientID"] == patient["PatientID"]]
        assert len(studies) == patient["NumberOfPatientRelatedStudies"]
        assert sum(s["NumberOfStudyRelatedSeries"] for s in studies) == patient["NumberOfPatientRelatedSeries"]
        assert sum(s["NumberOfStudyRelatedInstances"] for s in studies) == \
            patient["NumberOfPatientRelatedInstances"]


def raw_value(dataset: Path, patient_id: str, tag: int) -> bytes:
    entry = next(i for i in INSTANCES if next(
        s for s in MANIFEST["studies"] if s["StudyInstanceUID"] == i["StudyInstanceUID"])["PatientID"] == patient_id)
    return dcmread(dataset / entry["file"], stop_before_pixels=True).get_item(tag).value


def test_character_sets_are_encoded_as_stated(dataset: Path) -> None:
    """Decode raw PN bytes with Python's codecs, independently of pydicom (PS3.5 §6.1, Annexes H-K)."""
    expected = {p["PatientID"]: "=".join(p["PatientName"].get(k, "") for k in ("Alphabetic", "Ideographic",
                                                                              "Phonetic")).rstrip("=")
                for p in MANIFEST["patients"]}
    by_charset = {tuple(p["SpecificCharacterSet"] or ()): p["PatientID"] for p in MANIFEST["patients"]}
    raw = raw_value(dataset, by_charset[("ISO_IR 192",)], 0x00100010)
    assert raw.rstrip(b" ").decode("utf-8") == expected[by_charset[("ISO_IR 192",)]]
    raw = raw_value(dataset, by_charset[("GB18030",)], 0x00100010)
    assert raw.rstrip(b" ").decode("gb18030") == expected[by_charset[("GB18030",)]]
    jis = by_charset[("", "ISO 2022 IR 87")]
    raw = raw_value(dataset, jis, 0x00100010).rstrip(b" ")
    assert raw.decode("iso2022_jp") == expected[jis]
    assert b"\x1b$B" in raw  # JIS X 0208 designated with ESC $ B
    for part in raw.replace(b"=", b"^").split(b"^"):  # ASCII active before each delimiter (§6.1.2.5.3)
        if b"\x1b$B" in part:
            assert part.endswith(b"\x1b(B")
    latin = by_charset[("ISO_IR 100",)]
    raw = raw_value(dataset, latin, 0x00080090).rstrip(b" ")
    assert b"\xfc" in raw and raw.decode("latin-1") == "Müller^Hans"


# --- coverage the conformance suite relies on ----------------------------------------------------


def test_data_set_covers_the_required_cases(headers: dict[str, Dataset]) -> None:
    ct = [h for h in headers.values() if h.Modality == "CT" and h.Rows == 512 and "AXIAL" in h.ImageType]
    assert len(ct) >= 40 and len({h.SeriesInstanceUID for h in ct}) == 1
    for h in ct:
        assert (h.BitsAllocated, h.PixelRepresentation) == (16, 1) and h.BitsStored in (12, 16)
        assert {"RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth", "SliceLocation"} <= set(h.dir())
        assert float(h.SliceLocation) == float(h.ImagePositionPatient[2])
    assert len({float(h.SliceLocation) for h in ct}) == len(ct)
    localizers = [h for h in headers.values() if h.Modality == "CT" and "LOCALIZER" in h.ImageType]
    assert 1 <= len(localizers) <= 2 and localizers[0].StudyInstanceUID == ct[0].StudyInstanceUID
    assert {i["TransferSyntaxUID"] for i in INSTANCES} == ALL_SYNTAXES
    assert any(i["NumberOfFrames"] >= 10 and i["TransferSyntaxUID"] not in NATIVE for i in INSTANCES)
    assert any(i["NumberOfFrames"] >= 10 and i["TransferSyntaxUID"] in NATIVE for i in INSTANCES)
    assert any(i["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.7" and i["PhotometricInterpretation"] == "RGB"
               and i["SamplesPerPixel"] == 3 for i in INSTANCES)
    assert any(h.Modality == "MR" for h in headers.values())
    studies = MANIFEST["studies"]
    assert any(len(s["ModalitiesInStudy"]) == 2 for s in studies)
    assert len({s["StudyDate"][:4] for s in studies}) >= 3 and len({s["StudyDate"][4:6] for s in studies}) >= 3
    assert len({s["AccessionNumber"] for s in studies}) == len(studies)
    assert any(s["ReferringPhysicianName"] is None and s["StudyID"] is None for s in studies)
    names = [p["PatientName"]["Alphabetic"] for p in MANIFEST["patients"]]
    assert len(fnmatch.filter(names, "DOE^J*")) == 1  # fnmatch is case-sensitive on POSIX
    assert len([n for n in names if fnmatch.fnmatchcase(n.upper(), "DOE^J*")]) == 2
    assert {"ISO_IR 192", "ISO 2022 IR 87", "GB18030"} <= {
        c for p in MANIFEST["patients"] for c in (p["SpecificCharacterSet"] or [])}
    assert any(p["OtherPatientIDsSequence"] for p in MANIFEST["patients"])
    assert any(s["PerformedProcedureStepStartDate"] for s in MANIFEST["series"])
    assert any(len(s["RequestAttributesSequence"]) == 2 for s in MANIFEST["series"])
    assert any(b["length"] >= 1024 and b["tag"][:4] != "7FE0" for i in INSTANCES for b in i["bulk"])
    assert any("/" in b["path"] for i in INSTANCES for b in i["bulk"])
    assert any(seq_depth(h) >= 3 for h in headers.values())


# --- cache behaviour ----------------------------------------------------------------------------


def test_concurrent_ensure_dataset_never_sees_partial_data(tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    code = "import sys, fixtures; print(fixtures.ensure_dataset(sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=REPO) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outputs]
    assert {o[0].decode().strip() for o in outputs} == {str(target.absolute())}
    files = fixtures.instance_files(target)
    assert [f.name for f in files] == sorted(i["file"] for i in INSTANCES)
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []


def test_stale_cache_is_rebuilt_and_a_manifest_mismatch_is_reported(
        dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "dataset"
    shutil.copytree(dataset, target)
    (target / "leftover.dcm").write_bytes(b"not dicom")
    (target / cache.MARKER).write_text("0" * 64)
    altered = json.loads(fixtures.MANIFEST_PATH.read_text(encoding="utf-8"))
    victim = altered["instances"][5]
    victim["frames_sha256"][0] = "0" * 64
    fake = tmp_path / "manifest.json"
    fake.write_bytes(generator.manifest_bytes(altered))
    monkeypatch.setattr(cache, "MANIFEST_PATH", fake)
    with pytest.raises(fixtures.ManifestMismatchError, match=victim["file"]) as raised:
        fixtures.ensure_dataset(target)
    message = str(raised.value)
    assert "\n" not in message and "(frames_sha256)" in message and "likely cause" in message
    assert "--manifest" not in message and "please report" in message
    assert not (target / "leftover.dcm").exists()
    real = hashlib.sha256(fixtures.MANIFEST_PATH.read_bytes()).hexdigest()
    assert (target / cache.MARKER).read_text().strip() == real


def test_missing_manifest_raises_a_fixture_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MANIFEST_PATH", tmp_path / "absent.json")
    with pytest.raises(fixtures.FixtureError, match="absent.json"):
        fixtures.ensure_dataset(tmp_path / "x")
    assert MANIFEST["version"] == fixtures.DATASET_VERSION
