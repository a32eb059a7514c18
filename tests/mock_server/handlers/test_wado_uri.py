"""WADO-URI over HTTP (PS3.18 2019a chapter 9): parameters, media types, transfer syntax, rendering.

Expected values come from chapter 9 (and 8.7 for media types) and from the
fixture manifest; pixels are checked against the fixture files read with
pydicom and against the manifest's native frame hashes.
"""

from __future__ import annotations

import hashlib
import io
from urllib.parse import urlencode

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomweb_fixtures as fixtures
from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from tests.helpers.part10 import assert_kept
from tests.helpers.http import MockClient

EXPLICIT_LE, IMPLICIT_LE, RLE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.5"
INST = {i["file"].removesuffix(".dcm"): i for i in fixtures.load_manifest()["instances"]}
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}


def ids(name: str) -> dict[str, str]:
    i = INST[name]
    return {"studyUID": i["StudyInstanceUID"], "seriesUID": i["SeriesInstanceUID"], "objectUID": i["SOPInstanceUID"]}


def wado(client: MockClient, name: str | None = None, headers: dict[str, str] | None = None, root: str = "/wado",
         **params: str):
    query = {"requestType": "WADO", **(ids(name) if name else {}), **params}
    return client.get(root + "?" + urlencode({k: v for k, v in query.items() if v is not None}), headers=headers or {})


def image(r, media_type: str) -> Image.Image:
    assert r.status_code == 200, r.data
    assert r.headers["Content-Type"] == media_type
    img = Image.open(io.BytesIO(r.data))
    assert img.format == FORMATS[media_type]
    return img


def png_pixels(r) -> np.ndarray:
    return np.asarray(image(r, "image/png"), dtype=np.int32)


def part10(r) -> pydicom.Dataset:
    assert r.status_code == 200, r.data
    assert r.headers["Content-Type"] == "application/dicom"
    assert r.data[128:132] == b"DICM"  # PS3.10 7.1
    return pydicom.dcmread(io.BytesIO(r.data))


def native_frame_hashes(ds: pydicom.Dataset) -> list[str]:
    arr = ds.pixel_array if int(ds.get("NumberOfFrames") or 1) > 1 else ds.pixel_array[np.newaxis]
    dtype = np.dtype(f"<{'i' if ds.PixelRepresentation else 'u'}{ds.BitsAllocated // 8}")
    return [hashlib.sha256(np.ascontiguousarray(a, dtype=dtype).tobytes()).hexdigest() for a in arr]


# ----------------------------------------------------------------------------- required parameters
@pytest.mark.parametrize("missing", ["requestType", "studyUID", "seriesUID", "objectUID"])
def test_each_required_parameter_is_needed(client: MockClient, missing: str) -> None:
    """9.4.2.1 / 9.4.2.2: a missing requestType or UID is 400."""
    query = {"requestType": "WADO", **ids("wang-ct-001")}
    del query[missing]
    r = client.get("/wado?" + urlencode(query))
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("value", ["WADO-RS", "wado", "", "WADO,WADO"])
def test_request_type_must_be_wado(client: MockClient, value: str) -> None:
    """9.1.2.1.1: any other value is 400."""
    assert wado(client, "wang-ct-001", requestType=value).status_code == 400


@pytest.mark.parametrize("param,value", [("studyUID", "1.2.x"), ("objectUID", "1..2"), ("seriesUID", "1." * 40)])
def test_malformed_uids_are_400(client: MockClient, param: str, value: str) -> None:
    assert wado(client, "wang-ct-001", **{param: value}).status_code == 400


@pytest.mark.parametrize("param", ["studyUID", "seriesUID", "objectUID"])
def test_unknown_object_is_404(client: MockClient, param: str) -> None:
    """Table 9.4.3-1: the UIDs do not name a stored Instance (also a wrong study or series)."""
    other = ids("doe-mr-t2-001")[param]
    assert wado(client, "wang-ct-001", **{param: other}).status_code == 404
    assert wado(client, "wang-ct-001", **{param: "1.2.3.4"}).status_code == 404


def test_seed_example_parameter_order(client: MockClient) -> None:
    """The seed's form starts with objectUID; parameters may appear in any order (9.1.2.1)."""
    i = INST["vix-ct-axial-010"]
    r = client.get(f"/wado?objectUID={i['SOPInstanceUID']}&requestType=WADO&studyUID={i['StudyInstanceUID']}"
                   f"&seriesUID={i['SeriesInstanceUID']}")
    assert image(r, "image/jpeg").size == (512, 512)


# ----------------------------------------------------------------------------- media types
@pytest.mark.parametrize("name", ["vix-ct-axial-001", "jane-us-doppler-001", "yamada-cr-001", "doe-sc-palette-001"])
@pytest.mark.parametrize("content_type,accept,media", [
    (None, None, "image/jpeg"), (None, "*/*", "image/jpeg"),  # 9.3: the default is image/jpeg
    ("image/jpeg", None, "image/jpeg"), ("image/png", None, "image/png"), ("image/gif", None, "image/gif"),
    ("image/png;q=0.4,image/gif", None, "image/gif"), (None, "image/png", "image/png")])
def test_rendered_media_types(client: MockClient, name: str, content_type: str | None, accept: str | None,
                              media: str) -> None:
    r = wado(client, name, headers={"Accept": accept} if accept else None, contentType=content_type)
    assert image(r, media).size == (INST[name]["Columns"], INST[name]["Rows"])
    assert r.headers["Content-Location"].startswith("http://localhost/wado?")


@pytest.mark.parametrize("content_type,status", [
    ("application/dicom;transfer-syntax=1.2.840.10008.1.2.1", 400),  # 9.1.2.2.1: forbidden parameters
    ("application/dicom; charset=utf-8", 400),
    ("application/dicom,image/jpeg", 400),  # 8.7.5: DICOM and rendered together
    ("text/html", 406), ("image/jp2x", 406)])
def test_content_type_errors(client: MockClient, content_type: str, status: int) -> None:
    # No Accept header: the contentType values are then all the client accepts (with Accept: */*,
    # 8.3.3.1 would have the server fall back to its default, image/jpeg).
    assert wado(client, "wang-ct-001", headers={"Accept": None}, contentType=content_type).status_code == status


# ----------------------------------------------------------------------------- application/dicom
@pytest.mark.parametrize("name", ["doe-mr-t2-003", "vix-ct-localizer-001", "jane-us-doppler-001", "yamada-cr-001"])
def test_dicom_defaults_to_explicit_vr_little_endian(client: MockClient, name: str) -> None:
    """9.4.2.4: without transferSyntax, Explicit VR Little Endian; pixels unchanged (lossless sources)."""
    for headers, params in (({}, {"contentType": "application/dicom"}), ({"Accept": "application/dicom"}, {})):
        ds = part10(wado(client, name, headers=headers, **params))
        assert ds.file_meta.TransferSyntaxUID == EXPLICIT_LE
        assert ds.SOPInstanceUID == INST[name]["SOPInstanceUID"]
        assert native_frame_hashes(ds) == INST[name]["native_frames_sha256"]


@pytest.mark.parametrize("name,ts", [("doe-mr-t2-001", RLE), ("wang-ct-001", RLE), ("doe-mr-t2-003", "1.2.840.10008.1.2.4.90"),
                                     ("yamada-cr-001", "1.2.840.10008.1.2.4.90"), ("vix-sc-rgb-001", "1.2.840.10008.1.2.4.80")])
def test_transfer_syntax_is_honoured(client: MockClient, name: str, ts: str) -> None:
    ds = part10(wado(client, name, contentType="application/dicom", transferSyntax=ts))
    assert ds.file_meta.TransferSyntaxUID == ts
    assert native_frame_hashes(ds) == INST[name]["native_frames_sha256"]


def test_stored_syntax_is_sent_as_stored(client: MockClient) -> None:
    path = next(p for p in fixtures.instance_files() if p.name == "jane-us-cine-001.dcm")
    r = wado(client, "jane-us-cine-001", contentType="application/dicom", transferSyntax="1.2.840.10008.1.2.4.50")
    assert part10(r)
    assert_kept(path.read_bytes(), r.data)


@pytest.mark.parametrize("value,status", [
    (IMPLICIT_LE, 406),  # 8.7.3: shall not be used with Web Services
    ("1.2.840.10008.1.2.2", 406), ("1.2.840.10008.1.2.4.51", 406),  # valid but not supported (9.4.2.4)
    ("*", 400), ("1.2.840.10008.1.2.5,1.2.840.10008.1.2.1", 400), ("abc", 400)])  # not a (single) UID
def test_transfer_syntax_errors(client: MockClient, value: str, status: int) -> None:
    assert wado(client, "vix-ct-localizer-002", contentType="application/dicom", transferSyntax=value).status_code == status


def test_transfer_syntax_given_twice_is_400(client: MockClient) -> None:
    query = urlencode({"requestType": "WADO", **ids("wang-ct-001"), "contentType": "application/dicom"})
    assert client.get(f"/wado?{query}&transferSyntax={RLE}&transferSyntax={RLE}").status_code == 400


@pytest.mark.parametrize("param", ["windowCenter=40&windowWidth=400", "rows=64&columns=64", "region=0,0,0.5,0.5",
                                   "frameNumber=1"])
def test_rendering_parameters_with_dicom_are_400(client: MockClient, param: str) -> None:
    """9.5.1.2.6: windowing (and the other rendering parameters) are not for application/dicom."""
    query = urlencode({"requestType": "WADO", **ids("jane-us-cine-001"), "contentType": "application/dicom"})
    assert client.get(f"/wado?{query}&{param}").status_code == 400


def test_anonymize(client: MockClient) -> None:
    """9.4.2.3: Individually Identifiable Information removed, a new SOP Instance UID."""
    ds = part10(wado(client, "vix-ct-axial-005", contentType="application/dicom", anonymize="yes"))
    original = INST["vix-ct-axial-005"]
    assert not ds.get("PatientName") and not ds.get("PatientBirthDate") and not ds.get("OtherPatientIDsSequence")
    assert ds.get("PatientID", "") != "VIX-0001"
    assert ds.SOPInstanceUID != original["SOPInstanceUID"]
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert native_frame_hashes(ds) == original["native_frames_sha256"]


@pytest.mark.parametrize("value", ["no", "YES", "true"])
def test_anonymize_other_values_are_400(client: MockClient, value: str) -> None:
    assert wado(client, "vix-ct-axial-005", contentType="application/dicom", anonymize=value).status_code == 400


# ----------------------------------------------------------------------------- rendering parameters
@pytest.fixture(scope="module")
def stored() -> dict[str, pydicom.Dataset]:
    wanted = {"jane-us-cine-001", "vix-ct-axial-001"}
    return {p.name.removesuffix(".dcm"): pydicom.dcmread(p) for p in fixtures.instance_files()
            if p.name.removesuffix(".dcm") in wanted}


@pytest.mark.parametrize("frame", [1, 6, 12])
def test_frame_number_selects_the_frame(client: MockClient, stored, frame: int) -> None:
    """9.5.2.1; window 128/256 is the identity for 8-bit data (PS3.3 C.11.2.1.2.1)."""
    got = png_pixels(wado(client, "jane-us-cine-001", contentType="image/png", frameNumber=str(frame),
                          windowCenter="128", windowWidth="256"))
    decoded = stored["jane-us-cine-001"].pixel_array.astype(np.int32)
    assert np.abs(got - decoded[frame - 1]).max() <= 2  # lossy source: decoders differ by about 1
    assert np.abs(got - decoded[frame % 12]).mean() > np.abs(got - decoded[frame - 1]).mean()


@pytest.mark.parametrize("name,value", [("jane-us-cine-001", "13"), ("jane-us-cine-001", "0"),
                                        ("jane-us-cine-001", "x"), ("wang-ct-001", "1")])
def test_frame_number_errors(client: MockClient, name: str, value: str) -> None:
    """9.5.2.1: 400 for a single-frame Instance or a value not in 1..Number of Frames."""
    assert wado(client, name, frameNumber=value).status_code == 400


@pytest.mark.parametrize("rows,columns,size", [("64", "64", (64, 48)), ("60", "200", (80, 60)),
                                               ("240", "320", (320, 240))])
def test_rows_and_columns_are_maxima(client: MockClient, rows: str, columns: str, size: tuple[int, int]) -> None:
    """9.5.2.5: the size fits within rows x columns keeping the aspect ratio (160x120 source)."""
    assert image(wado(client, "jane-us-doppler-001", contentType="image/png", rows=rows, columns=columns),
                 "image/png").size == size


def test_region_selects_part_of_the_image(client: MockClient) -> None:
    """9.5.1.2.5: normalized region; without rows/columns one pixel per source pixel."""
    full = png_pixels(wado(client, "jane-us-doppler-001", contentType="image/png"))
    part = png_pixels(wado(client, "jane-us-doppler-001", contentType="image/png", region="0.5,0,1,0.5"))
    assert np.array_equal(part, full[0:60, 80:160])
    scaled = wado(client, "jane-us-doppler-001", contentType="image/png", region="0,0,0.5,0.5", rows="30", columns="40")
    assert image(scaled, "image/png").size == (40, 30)


def test_window_center_and_width(client: MockClient, stored) -> None:
    """9.5.1.2.6 with the linear function of PS3.3 C.11.2.1.2.1 on Hounsfield units."""
    ds = stored["vix-ct-axial-001"]
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    c, w = 50.0, 350.0
    expected = np.clip(((hu - (c - 0.5)) / (w - 1) + 0.5) * 255.0, 0, 255)
    got = png_pixels(wado(client, "vix-ct-axial-001", contentType="image/png", windowCenter="50", windowWidth="350"))
    assert np.abs(got - expected).max() <= 1.0
    other = png_pixels(wado(client, "vix-ct-axial-001", contentType="image/png", windowCenter="-600", windowWidth="1500"))
    assert (other != got).mean() > 0.1


@pytest.mark.parametrize("params", [{"windowCenter": "40"}, {"windowWidth": "400"}, {"rows": "64"},
                                    {"windowCenter": "a", "windowWidth": "400"}, {"region": "0,0,0.5"},
                                    {"region": "0.5,0,0.5,1"}, {"region": "0,0,1.5,1"}, {"rows": "0", "columns": "5"},
                                    {"imageQuality": "0"}, {"imageQuality": "101"},
                                    {"windowCenter": "40", "windowWidth": "400", "presentationUID": "1.2",
                                     "presentationSeriesUID": "1.2"},
                                    {"presentationUID": "1.2.3", "presentationSeriesUID": "1.2"},  # 9.5.2.3: unknown
                                    {"presentationUID": "1.2.3"}])
def test_bad_rendering_parameters_are_400(client: MockClient, params: dict[str, str]) -> None:
    assert wado(client, "wang-ct-001", **params).status_code == 400


def test_image_quality(client: MockClient) -> None:
    low = wado(client, "vix-ct-axial-001", imageQuality="5")
    high = wado(client, "vix-ct-axial-001", imageQuality="95")
    image(low, "image/jpeg"), image(high, "image/jpeg")
    assert len(low.data) * 2 < len(high.data)


def test_disabled_and_moved_wado_root(fixture_app) -> None:
    """Seed: EnableWado false removes the service; WadoRoot moves it."""
    off = MockClient(create_app(parse_config({"DicomWeb": {"EnableWado": False}}), store=fixture_app.store, fixtures=False))
    assert wado(off, "wang-ct-001").status_code == 404
    moved = MockClient(create_app(parse_config({"DicomWeb": {"WadoRoot": "/legacy/wado"}}), store=fixture_app.store,
                              fixtures=False))
    image(wado(moved, "wang-ct-001", root="/legacy/wado"), "image/jpeg")
    assert wado(moved, "wang-ct-001").status_code == 404
