"""Decoded-size limits that cannot be lied to: what a decoder will really produce, read from the
compressed data itself before any decoder sees it.

`ImageLimits` is checked against the DICOM header (Rows, Columns, NumberOfFrames) and the raster
header, but a decoder believes its own stream, not the header around it. Each of these was an
upload of a few kilobytes or megabytes that a decoder turned into gigabytes or minutes
(docs/dicom.md §8):

- *Deflated Explicit VR Little Endian*: pydicom inflates the whole dataset with one
  `zlib.decompress` before reading a tag. The dataset is inflated here first through a bounded
  stream that keeps nothing, and refused past `inflated_limit` (three bytes per allowed pixel,
  16-bit grey or 8-bit RGB at the pixel limit, plus 16 MB of header).
- *JPEG 2000*: openjpeg allocates what the codestream's SIZ marker says, whatever the DICOM
  header says (a 64×64 header over a SIZ of 60000×60000 reached 7.3 GB). SIZ must agree with the
  header (size and components) and stay within the pixel limit, with at most `MAX_J2K_TILES`
  tiles (openjpeg allocates a tile-coding structure per tile up front).
- *JPEG* (baseline, extended, progressive, lossless) and *JPEG-LS*: the frame header (SOF) must
  agree with the DICOM header, and every JPEG may have at most `MAX_JPEG_SCANS` scans: libjpeg
  passes over the whole coefficient buffer once per scan, so a progressive JPEG of a few MB with
  tens of thousands of empty scans ran for minutes while under the pixel limit.

Each refusal is one `ImageError` sentence. These checks are the first line; the image workers'
address-space limit (`workers.py`) stops whatever a decoder still gets wrong.
"""

from __future__ import annotations

import re
import struct
import zlib

from medgemma_ui.settings import ImageLimits

from .errors import ImageError

# Real progressive JPEGs have 6-12 scans (libjpeg's and jpegtran's scripts), rarely a few dozen;
# a scan per coefficient and component with refinements stays under this.
MAX_JPEG_SCANS = 256
# Tiles of a JPEG 2000 codestream (a 60-megapixel image in 128 px tiles has 3,700).
MAX_J2K_TILES = 4096
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"
_HEADER_ALLOWANCE = 16 * 1024 * 1024

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are not SOFs
_SOF55 = 0xF7  # JPEG-LS
# A marker after entropy-coded data: 0xFF followed by anything but a stuffed zero, a restart
# marker or another fill byte (JPEG); in JPEG-LS, anything with the high bit set.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JLS_NEXT_MARKER = re.compile(rb"\xff[\x80-\xfe]")
_J2K_SOC_SIZ = b"\xff\x4f\xff\x51"


def _corrupt(what: str) -> ImageError:
    return ImageError(
        f"This {what} is damaged (its structure is not what its header says), so it could not "
        "be decoded; export the image again.",
        kind="corrupt",
    )


def _mismatch(what: str, stream: tuple[int, int, int], header: tuple[int, int, int]) -> ImageError:
    sw, sh, sc = stream
    hw, hh, hc = header
    return ImageError(
        f"This DICOM's {what} data says {sw} × {sh} pixels with {sc} component(s), but its "
        f"header says {hw} × {hh} with {hc}; the file is damaged or forged, so it was not "
        "decoded: export the image again.",
        kind="corrupt",
    )


def _over_pixels(width: int, height: int, limits: ImageLimits, what: str) -> ImageError:
    return ImageError(
        f"This {what} is {width} × {height} pixels ({width * height / 1e6:.1f} megapixels) "
        f"inside, over the {limits.max_pixels / 1e6:g}-megapixel limit; upload a smaller export.",
        kind="too_large",
    )


# ---------------------------------------------------------------------------------------------
# Deflated DICOM


def inflated_limit(limits: ImageLimits) -> int:
    """The largest inflated dataset accepted: 3 bytes per allowed pixel (16-bit grey or 8-bit
    RGB at the pixel limit) plus 16 MB of header, and never more than the file-size limit."""
    return min(limits.max_bytes, 3 * limits.max_pixels + _HEADER_ALLOWANCE)


# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)


def file_meta_end(data: bytes) -> tuple[int, str] | None:
    """(offset where the dataset starts, transfer syntax UID) of a DICOM file with file meta
    (group 0002, always Explicit VR Little Endian), after the 128-byte preamble and `DICM` when
    there is one; None when there is no group 0002 at the start."""
    pos = 132 if data[128:132] == b"DICM" else 0
    syntax = ""
    found = False
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                return None
            (length,) = struct.unpack_from("<I", data, pos + 8)
            value_at = pos + 12
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            value_at = pos + 8
        if length == 0xFFFFFFFF or value_at + length > len(data):
            return None
        if element == 0x0010:
            syntax = data[value_at : value_at + length].rstrip(b"\0 ").decode("ascii", "replace")
        pos = value_at + length
        found = True
    return (pos, syntax) if found else None


def check_deflated(data: bytes, limits: ImageLimits) -> None:
    """Refuse a *Deflated Explicit VR Little Endian* file whose dataset inflates past
    `inflated_limit`, inflating it in 1 MB steps and keeping none of it."""
    meta = file_meta_end(data)
    if meta is None or meta[1] != DEFLATED_SYNTAX:
        return
    limit = inflated_limit(limits)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    pending = memoryview(data)[meta[0] :]
    try:
        while pending:
            # Feed at most 64 KB at a time so no single call can produce much past the limit.
            chunk, pending = pending[: 1 << 16], pending[1 << 16 :]
            out = inflater.decompress(chunk, 1 << 20)
            while True:
                total += len(out)
                if total > limit:
                    raise ImageError(
                        "This DICOM's deflated data expands to more than "
                        f"{limit // (1024 * 1024)} MB, far more than an image within the "
                        "limits needs, so it was not read; export it uncompressed instead.",
                        kind="too_large",
                    )
                if not inflater.unconsumed_tail:
                    break
                out = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
            if inflater.eof:
                break
    except zlib.error as exc:
        raise ImageError(
            "This DICOM's deflated data is damaged and cannot be read; export the file again.",
            kind="corrupt",
        ) from exc


# ---------------------------------------------------------------------------------------------
# JPEG and JPEG-LS


def jpeg_images(data: bytes, what: str = "JPEG image") -> list[tuple[int, int, int, int, int]]:
    """(marker, width, height, components, scans) of each JPEG image in `data` (one, or several
    concatenated as in MPO files), by walking the marker segments and skipping entropy-coded
    data; counting stops past `MAX_JPEG_SCANS`. Raises ImageError when the structure is broken
    before the first frame header."""
    images: list[tuple[int, int, int, int, int]] = []
    pos = 0
    while pos + 4 <= len(data) and data[pos : pos + 2] == b"\xff\xd8":
        pos, image = _walk_jpeg(data, pos + 2)
        if image is None:
            break
        images.append(image)
        while pos < len(data) and data[pos] != 0xFF:  # padding after EOI
            pos += 1
    if not images:
        raise _corrupt(what)
    return images


def _walk_jpeg(data: bytes, pos: int) -> tuple[int, tuple[int, int, int, int, int] | None]:
    sof: tuple[int, int, int, int] | None = None
    scans = 0
    next_marker = _JPEG_NEXT_MARKER
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            break  # garbage where a marker should be: the decoder stops here too
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            pos += 2
            break
        if marker in (0x01, *range(0xD0, 0xD8)):  # TEM, RSTn: no length
            pos += 2
            continue
        if pos + 4 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            break
        segment = data[pos + 4 : pos + 2 + length]
        if (marker in _JPEG_SOF or marker == _SOF55) and sof is None and len(segment) >= 6:
            _, height, width, components = struct.unpack_from(">BHHB", segment)
            sof = (marker, width, height, components)
            if marker == _SOF55:
                next_marker = _JLS_NEXT_MARKER
        pos += 2 + length
        if marker == 0xDA:  # SOS: skip the entropy-coded data that follows
            scans += 1
            if scans > MAX_JPEG_SCANS:  # enough to refuse it: the rest is not read
                break
            found = next_marker.search(data, pos)
            pos = found.start() if found else len(data)
    if sof is None:
        return pos, None
    return pos, (*sof, scans)


def check_jpeg(
    data: bytes,
    limits: ImageLimits,
    *,
    header: tuple[int, int, int] | None = None,
    what: str = "JPEG image",
) -> None:
    """Refuse a JPEG or JPEG-LS stream with more than `MAX_JPEG_SCANS` scans, with a frame over
    the pixel limit, with no height (DNL, which no installed decoder reads) or, for a DICOM frame,
    whose first frame header disagrees with `header` (columns, rows, samples per pixel)."""
    for index, (_marker, width, height, components, scans) in enumerate(jpeg_images(data, what)):
        if scans > MAX_JPEG_SCANS:
            raise ImageError(
                f"This {what} is split into more than {MAX_JPEG_SCANS} scans, where real images "
                "have a few dozen at most, so it was not decoded; save or export it again as a "
                "baseline (non-progressive) JPEG or as PNG.",
                kind="too_large",
            )
        if index == 0 and header is not None and (width, height, components) != header:
            raise _mismatch("JPEG", (width, height, components), header)
        if width == 0 or height == 0:
            raise _corrupt(what)
        if width * height > limits.max_pixels:
            raise _over_pixels(width, height, limits, what)


# ---------------------------------------------------------------------------------------------
# JPEG 2000


def j2k_codestream(data: bytes) -> bytes:
    """The raw codestream: `data` itself, or the `jp2c` box of a JP2 file (which some DICOM
    writers wrongly store)."""
    if data.startswith(_J2K_SOC_SIZ):
        return data
    pos = 0
    while pos + 8 <= len(data):
        length, box = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1 and pos + 16 <= len(data):
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:
            length = len(data) - pos
        if box == b"jp2c":
            return data[pos + header : pos + length]
        if length < header:
            break
        pos += length
    raise _corrupt("JPEG 2000 data")


def check_j2k(
    data: bytes,
    limits: ImageLimits,
    *,
    header: tuple[int, int, int] | None = None,
    what: str = "JPEG 2000 image",
) -> None:
    """Refuse a JPEG 2000 codestream whose SIZ marker claims more than the pixel limit or more
    than `MAX_J2K_TILES` tiles, or, for a DICOM frame, disagrees with `header`."""
    stream = j2k_codestream(data)
    if len(stream) < 42 or not stream.startswith(_J2K_SOC_SIZ):
        raise _corrupt(what)
    (_, _, xsiz, ysiz, xosiz, yosiz, xtsiz, ytsiz, xtosiz, ytosiz, csiz) = struct.unpack_from(
        ">HHIIIIIIIIH", stream, 4
    )
    width, height = xsiz - xosiz, ysiz - yosiz
    if width <= 0 or height <= 0 or not xtsiz or not ytsiz or xtosiz > xosiz or ytosiz > yosiz:
        raise _corrupt(what)
    if header is not None and (width, height, csiz) != header:
        raise _mismatch("JPEG 2000", (width, height, csiz), header)
    if width * height > limits.max_pixels:
        raise _over_pixels(width, height, limits, what)
    tiles = -(-(xsiz - xtosiz) // xtsiz) * -(-(ysiz - ytosiz) // ytsiz)
    if tiles > MAX_J2K_TILES:
        raise ImageError(
            f"This {what} is cut into {tiles} tiles (the limit is {MAX_J2K_TILES}), so it was "
            "not decoded; export it again with larger tiles or uncompressed.",
            kind="too_large",
        )
