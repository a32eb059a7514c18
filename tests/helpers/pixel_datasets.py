"""Small synthetic image datasets shared by the frame, transcoding and rendering tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid

EVRLE = "1.2.840.10008.1.2.1"


def image_ds(frames: np.ndarray, photometric: str = "MONOCHROME2", *, bits_stored: int | None = None,
             ts: str = EVRLE, planar: int = 0, byteorder: str = "<", extra: Dataset | None = None,
             **attrs: Any) -> Dataset:
    """An image holding ``frames`` ((n, rows, cols[, samples])) as native Pixel Data.

    ``extra`` elements are copied in first, then keyword ``attrs`` are set.
    """
    n, rows, cols = frames.shape[:3]
    spp = frames.shape[3] if frames.ndim == 4 else 1
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    if extra is not None:
        ds.update(extra)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, spp
    ds.PhotometricInterpretation = photometric
    ba = frames.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored = ba, bits_stored or ba
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if frames.dtype.kind == "i" else 0
    data = frames
    if spp > 1:
        ds.PlanarConfiguration = planar
        if planar:
            data = frames.transpose(0, 3, 1, 2)
    if n > 1:
        ds.NumberOfFrames = n
    for key, value in attrs.items():
        setattr(ds, key, value)
    raw = np.ascontiguousarray(data, dtype=frames.dtype.newbyteorder(byteorder)).tobytes()
    ds.add_new(0x7FE00010, "OB" if ba == 8 else "OW", raw)
    return ds
