"""Large greyscale JPEG 2000 frames decoded at a reduced resolution, since the model sees 896 px.

A JPEG 2000 codestream is a wavelet pyramid: after `r` of its decomposition levels, what remains
is the level-`r` LL band, an image 2^r times smaller. A decoder can stop there and skip the
finest levels, most of the work. For the reversible 5/3 wavelet of lossless files (and the 9/7
of lossy ones) the LL band is the image low-pass filtered (5/3: taps -1 2 6 2 -1, over 8, per
axis) and decimated by 2, r times, with a DC gain of 1: an anti-aliased downscale in the same
stored-value units as the full image, so the modality LUT and window apply unchanged. The final
LANCZOS resize to 896 continues that downscale where `Image.reduce` would otherwise have
box-averaged the full-resolution image. On the lossless RG1_J2KR chest this level-1 band is
bit-identical to the integer 5/3 analysis of the full-resolution decode (tests/imaging).
One difference from the box average: LL sample i sits on full-resolution pixel 2^r·i, not at the
centre of its 2^r block, so the picture moves by (2^r - 1)/2 full-resolution pixels, under half
a pixel of the 896 output (0.23 px for RG1 at r = 1).

pylibjpeg-openjpeg has no reduce option; Pillow's bundled openjpeg has (`Jpeg2KImageFile.reduce`).
Its quirks, handled here:
- it scales N-bit samples up to its 8- or 16-bit container (`v << (16 - N)`, signed samples
  offset by 2^(N-1) first; Jpeg2KDecode.c `j2ku_gray_i`); that is undone exactly, then
  pydicom's own J2K sign correction is applied, so the values equal pydicom's full decode;
- it rounds the reduced size to nearest where openjpeg uses ceil(size / 2^r), and refuses the
  tile ("broken data stream") when they differ, e.g. 1841 px at r = 2 (460 against 461); such a
  level is stepped down;
- asking for more levels than the codestream has fails, so the level is capped by the COD/COC
  decomposition levels of the main and every tile-part header.

Anything unexpected (a JP2 wrapper, several components, image offsets, a header that disagrees
with the dataset, any Pillow error) returns None, and the caller decodes at full resolution.

Pillow's openjpeg decodes on `OPJ_NUM_THREADS` threads (its own environment variable, read at
each decode; the output does not depend on it). Unless it is set, it is set here to the usable
cores: RG1 at level 1 takes 194 ms on two threads instead of 322 ms on one.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
)

from medgemma_ui.settings import usable_cpus

from .geometry import TARGET

log = logging.getLogger(__name__)

os.environ.setdefault("OPJ_NUM_THREADS", str(usable_cpus()))

# HTJ2K has the same wavelets and headers (only the block coder differs). No HTJ2K file is in the
# test wheels; checked by hand on OpenJPH-encoded copies of RG1 (16-bit), 693 CT (signed) and an
# 8-bit image: levels 0-2 bit-identical to the integer 5/3 LL band, RG1 at level 1 in 58 ms.
SYNTAXES = frozenset({JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K})
_GREY = frozenset({"MONOCHROME1", "MONOCHROME2"})

_SOC, _SIZ, _COD, _COC, _SOT, _SOD, _EOC = 0xFF4F, 0xFF51, 0xFF52, 0xFF53, 0xFF90, 0xFF93, 0xFFD9


@dataclass(frozen=True)
class Codestream:
    """What a single-component J2K codestream's headers say."""

    width: int
    height: int
    precision: int
    signed: bool
    levels: int  # the fewest decomposition levels of any tile


def parse_codestream(data: bytes) -> Codestream | None:
    """SIZ, then the decomposition levels from the COD/COC of the main header and of every
    tile-part header (jumping tile-part to tile-part by Psot). None unless it is a raw
    codestream of one component with no image offset."""
    if len(data) < 47 or struct.unpack_from(">HH", data) != (_SOC, _SIZ):
        return None
    lsiz, _, xsiz, ysiz, xosiz, yosiz, *_, csiz = struct.unpack_from(">HHIIIIIIIIH", data, 4)
    if csiz != 1 or xosiz or yosiz or lsiz != 41:
        return None
    ssiz, xrsiz, yrsiz = data[42], data[43], data[44]
    if (xrsiz, yrsiz) != (1, 1):
        return None
    levels: list[int] = []
    pos = _scan_header(data, 4 + lsiz, _SOT, levels)  # the main header ends at the first SOT
    while pos is not None and pos + 12 <= len(data):
        marker, lsot, _, psot = struct.unpack_from(">HHHI", data, pos)
        if marker != _SOT or lsot != 10 or (psot and psot < 14):
            return None
        if _scan_header(data, pos + 12, _SOD, levels) is None:
            return None
        if psot == 0:  # the last tile-part runs to the end of the codestream
            break
        pos += psot
        if pos + 2 <= len(data) and struct.unpack_from(">H", data, pos)[0] == _EOC:
            break
    else:
        return None
    if not levels:
        return None
    return Codestream(
        width=xsiz,
        height=ysiz,
        precision=(ssiz & 0x7F) + 1,
        signed=bool(ssiz & 0x80),
        levels=min(levels),
    )


def _scan_header(data: bytes, pos: int, end: int, levels: list[int]) -> int | None:
    """Walk the marker segments from `pos` to the `end` marker, noting decomposition levels:
    COD is Lcod(2) Scod(1) SGcod(4) then SPcod, whose first byte is the number of levels; COC
    (fewer than 257 components) is Lcoc(2) Ccoc(1) Scoc(1) then SPcoc, likewise. Returns the
    position of `end`, or None if the segments are malformed."""
    while pos + 4 <= len(data):
        marker, length = struct.unpack_from(">HH", data, pos)
        if marker == end:
            return pos
        if marker < 0xFF30 or length < 2 or pos + 2 + length > len(data):
            return None
        if marker == _COD and length >= 8:
            levels.append(data[pos + 9])
        elif marker == _COC and length >= 5 and data[pos + 4] == 0:
            levels.append(data[pos + 6])
        pos += 2 + length
    return None


def reduce_level(width: int, height: int, levels: int, target: int = TARGET) -> int:
    """The largest r with (longest side >> r) >= target, at most `levels`, and stepped down
    while Pillow's rounded reduced size would differ from openjpeg's ceil."""
    longest = max(width, height)
    r = 0
    while r < levels and (longest >> (r + 1)) >= target:
        r += 1
    while r and (_pillow_size(width, r), _pillow_size(height, r)) != (
        _ceil_shift(width, r),
        _ceil_shift(height, r),
    ):
        r -= 1
    return r


def _pillow_size(n: int, r: int) -> int:
    power = 1 << r
    return int((n + (power >> 1)) / power)  # Jpeg2KImagePlugin.Jpeg2KImageFile.load


def _ceil_shift(n: int, r: int) -> int:
    return -(-n >> r)


def decode_reduced(ds: Dataset, index: int, count: int) -> np.ndarray | None:
    """The frame at the reduced resolution, with the values and dtype pydicom's full decode
    would give; None when this does not apply or anything fails (decode in full then)."""
    ts = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    try:
        if (
            ts not in SYNTAXES
            or int(ds.get("SamplesPerPixel", 1) or 1) != 1
            or str(ds.get("PhotometricInterpretation", "")).strip().upper() not in _GREY
            or max(int(ds.Rows), int(ds.Columns)) < 2 * TARGET
            or int(ds.BitsAllocated) not in (8, 16)
        ):
            return None
        offsets = None
        if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
            offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
        frame = get_frame(ds.PixelData, index, number_of_frames=count, extended_offsets=offsets)
        header = parse_codestream(frame)
        if header is None or (header.width, header.height) != (int(ds.Columns), int(ds.Rows)):
            return None
        level = reduce_level(header.width, header.height, header.levels)
        if level == 0:
            return None
        return decode_codestream(frame, header, level, ds)
    except MemoryError:
        raise  # a full decode would need more
    except Exception as exc:
        log.debug("reduced JPEG 2000 decode not used: %r", exc)
        return None


def decode_codestream(frame: bytes, header: Codestream, level: int, ds: Dataset) -> np.ndarray:
    """Pillow's decode at `level` (0: full resolution), mapped to pydicom's stored values."""
    bits = int(ds.BitsAllocated)
    pixel_representation = int(ds.get("PixelRepresentation", 0) or 0)
    if header.precision > min(bits, 16):
        raise ValueError(f"{header.precision}-bit samples in a {bits}-bit container")
    mode = "I;16" if header.precision > 8 else "L"
    with Image.open(io.BytesIO(frame), formats=["JPEG2000"]) as image:
        if image.mode != mode:
            raise ValueError(f"Pillow opened the codestream as {image.mode}, not {mode}")
        if level:
            image.reduce = level  # type: ignore[method-assign,assignment]  # the J2K plugin's setter
        image.load()
        raw = np.asarray(image)
    shape = (_ceil_shift(header.height, level), _ceil_shift(header.width, level))
    if raw.shape != shape:
        raise ValueError(f"Pillow decoded {raw.shape}, expected {shape}")
    # Undo Pillow's scaling to its container: (v + offset) << shift, offset 2^(N-1) if signed.
    values = raw.astype(np.int32) >> (8 * raw.dtype.itemsize - header.precision)
    if header.signed:
        values -= 1 << (header.precision - 1)
    out = values.astype(f"{'i' if pixel_representation else 'u'}{bits // 8}")
    # pydicom's J2K sign correction (decoders/base.py `_apply_sign_correction`): a codestream
    # whose signedness disagrees with PixelRepresentation is re-read as N-bit values of the
    # dataset's signedness.
    shift = 8 * out.dtype.itemsize - header.precision
    if shift and header.signed != bool(pixel_representation):
        out <<= shift
        out >>= shift
    return out
