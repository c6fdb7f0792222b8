"""Decompression bombs and slow files, built on the fly (issue 13): small uploads that a decoder
would turn into gigabytes or minutes if it believed them.

- `deflated_dicom(inflated)`: a *Deflated Explicit VR Little Endian* DICOM whose 64×64 image
  dataset carries `inflated` bytes of Pixel Data (zeros deflate about 1000:1).
- `j2k_dicom(claimed, tile=None)`: a JPEG 2000 DICOM whose header says 64×64 and whose codestream
  SIZ says `claimed`×`claimed` (optionally cut into `tile`-pixel tiles, which openjpeg allocates
  up front).
- `progressive_jpeg(size, scans, mode)`: a flat progressive JPEG with its AC scans repeated until
  it has `scans` scans: each repeat is a few dozen bytes, and libjpeg passes over every block of
  the image once per scan.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _file(transfer_syntax: str, body: bytes) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    pydicom.filewriter.write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue() + body


def _image(rows: int = 64, cols: int = 64) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def _explicit_le(ds: Dataset) -> bytes:
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(out, ds)
    return out.getvalue()


def deflated_dicom(inflated: int) -> bytes:
    """About `inflated` / 1000 bytes on disk. Built in a fraction of a second: with a full flush
    after every 1 MB of zeros, each MB deflates to the same bytes, which are repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = compressor.compress(_explicit_le(_image()))
    head += compressor.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, inflated))
    megabyte = bytes(1 << 20)
    first = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(megabyte) + compressor.flush(zlib.Z_FULL_FLUSH) == repeat
    whole, rest = divmod(inflated, 1 << 20)
    body = head + first + repeat * (whole - 2) + compressor.compress(bytes(rest))
    return _file(DeflatedExplicitVRLittleEndian, body + compressor.flush())


def j2k_dicom(claimed: int, tile: int | None = None, *, header: int = 64, seed: int = 0) -> bytes:
    """`header`: the Rows and Columns the DICOM header gives (64, or `claimed` for a bomb that
    agrees with its header and lies only in its tiling)."""
    codestream = io.BytesIO()
    noise = np.random.default_rng(seed).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(codestream, "JPEG2000", no_jp2=True)
    data = bytearray(codestream.getvalue())
    assert data[:4] == b"\xff\x4f\xff\x51"
    struct.pack_into(">II", data, 8, claimed, claimed)  # Xsiz, Ysiz
    if tile:
        struct.pack_into(">II", data, 24, tile, tile)  # XTsiz, YTsiz
    ds = _image(header, header)
    ds.PixelData = encapsulate([bytes(data)])
    ds["PixelData"].VR = "OB"
    return _file(JPEG2000Lossless, _explicit_le(ds))


def _scans(data: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, SOS header) of each scan of a JPEG."""
    pos, found = 2, []
    while pos < len(data) and data[pos + 1] != 0xD9:
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if data[pos + 1] == 0xDA:
            end = _NEXT_MARKER.search(data, pos + 2 + length)
            assert end is not None
            found.append((pos, end.start(), data[pos + 4 : pos + 2 + length]))
            pos = end.start()
        else:
            pos += 2 + length
    return found


def progressive_jpeg(size: int, scans: int, mode: str = "L") -> bytes:
    """A flat `size`×`size` progressive JPEG with (at least) `scans` scans."""
    out = io.BytesIO()
    colour = 128 if mode == "L" else (120, 60, 200)
    Image.new(mode, (size, size), colour).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    found = _scans(data)
    # AC first scans of one component (Ns = 1, Ss > 0, Ah = 0): all end-of-band runs when flat.
    ac = [(s, e) for s, e, head in found if head[0] == 1 and head[-3] > 0 and head[-1] >> 4 == 0]
    piece = b"".join(data[s:e] for s, e in ac)
    repeats = max(0, -(-(scans - len(found)) // len(ac)))
    end = found[-1][1]
    return data[:end] + piece * repeats + data[end:]
