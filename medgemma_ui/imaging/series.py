"""A series of DICOM slices -> which slices to send, in which order (MedGemma 1.5 volume mode).

A series comes as several files, a ZIP archive of them (unpacked in memory within the limits),
or one multi-frame file.

Only headers are read here (no pixel data): group the files by SeriesInstanceUID, refuse mixed
orientations, sort by InstanceNumber (falling back to the position along the slice normal),
and keep at most `MAX_SLICES` exactly as Google's notebook does. The slices are then prepared
like any image, in the image workers. A single multi-frame file is a series of its frames.

Nothing identifying leaves this module: series are described by modality, description length,
count and a SHA-256 of their UID; instances by a SHA-256 of their SOPInstanceUID.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from medgemma_ui.settings import ImageLimits

from .errors import ImageError
from .sniff import Source, read_source, sniff

# Google-Health/medgemma notebooks/high_dimensional_ct_hugging_face.ipynb ("Sample 85 slices
# uniformly across CT volume"): MAX_SLICE = 85.
MAX_SLICES = 85
_ORIENTATION_TOLERANCE = 1e-3


def select_slices(count: int, most: int = MAX_SLICES) -> list[int]:
    """Indices (0-based, into the sorted series) of the slices sent.

    Exactly Google's notebook: with n > 85 slices it keeps
    `dicom_instances[int(round(i / 85 * (n - 1)))] for i in range(1, 86)` — Python's `round`
    (half to even), and i starts at 1, so the first slice is skipped and the last one kept. We keep
    that quirk on purpose: it is what the model's published recipe sends.
    """
    if count <= most:
        return list(range(count))
    return [round(i / most * (count - 1)) for i in range(1, most + 1)]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Slice:
    """One slice to prepare: a file (or one frame of a multi-frame file) and its place."""

    source: bytes | str
    frame: int | None  # a frame of a multi-frame file; None for a single-frame file
    index: int  # 0-based position in the sorted series
    instance_sha256: str  # SHA-256 of the SOPInstanceUID (with the frame number for frames)


@dataclass(frozen=True)
class SeriesChoice:
    """One series found among the files, as it can be shown to the clinician."""

    number: int  # 1-based, in the order the series are listed
    modality: str
    description: str
    count: int
    uid_sha256: str

    def describe(self) -> str:
        what = self.description or "no description"
        return f"{self.number}) {self.modality or '?'}, {what}, {self.count} image(s)"


@dataclass(frozen=True)
class SeriesPlan:
    """The slices to send, in order, and what was chosen from."""

    slices: tuple[Slice, ...]
    total: int  # slices in the series before selection
    modality: str
    series: SeriesChoice
    choices: tuple[SeriesChoice, ...]


@dataclass
class _Header:
    source: bytes | str
    series_uid: str
    modality: str
    description: str
    instance_uid: str
    instance_number: int | None
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    frames: int


def _number(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


ZIP_MAGIC = b"PK\x03\x04"


def is_archive(source: Source) -> bool:
    """Whether `source` (bytes or a path) is a ZIP archive, by its first bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:4]) == ZIP_MAGIC
    try:
        with open(source, "rb") as file:
            return file.read(4) == ZIP_MAGIC
    except OSError:
        return False


def _unzip(source: Source, limits: ImageLimits) -> list[bytes]:
    """The files of a ZIP archive (folders, hidden files and the macOS resource forks skipped),
    bounded before anything is inflated: at most `max_frames` members, none over `max_bytes`,
    all together under `max_bytes`; a member that inflates past its stated size is refused."""
    data = read_source(source, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [
            m
            for m in archive.infolist()
            if not m.is_dir()
            and not any(part.startswith((".", "__MACOSX")) for part in m.filename.split("/"))
        ]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImageError(
            "This ZIP archive could not be read; pack it again.", kind="corrupt"
        ) from exc
    if len(members) > limits.max_frames:
        raise ImageError(
            f"This archive holds {len(members)} files, over the {limits.max_frames}-image limit.",
            kind="too_large",
        )
    if sum(m.file_size for m in members) > limits.max_bytes:
        raise ImageError(
            f"This archive unpacks to more than {limits.max_bytes // (1024 * 1024)} MB; "
            "send the series in smaller parts.",
            kind="too_large",
        )
    files = []
    try:
        for member in members:
            with archive.open(member) as stream:
                content = stream.read(member.file_size + 1)
            if len(content) > member.file_size:
                raise ImageError(
                    "This archive's contents are larger than it says; it was not unpacked.",
                    kind="too_large",
                )
            files.append(content)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise ImageError("This ZIP archive is damaged; pack it again.", kind="corrupt") from exc
    if not files:
        raise ImageError("This archive holds no files.", kind="bad_request")
    return files


def expand_archives(sources: Sequence[Source], limits: ImageLimits) -> list[Source]:
    """The sources with every ZIP archive replaced by the files inside it."""
    expanded: list[Source] = []
    for source in sources:
        expanded.extend(_unzip(source, limits) if is_archive(source) else [source])
    return expanded


def _header(source: Source, limits: ImageLimits) -> _Header:
    data = read_source(source, limits)
    if sniff(data) != "dicom":
        raise ImageError(
            "A series must be DICOM files; one of the files is not DICOM.", kind="bad_request"
        )
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    except (InvalidDicomError, ValueError, EOFError, OSError) as exc:
        raise ImageError(
            "One file of the series could not be read; export the series again.", kind="corrupt"
        ) from exc
    plain = data if isinstance(source, bytes | bytearray | memoryview) else os.fsdecode(source)
    return _Header(
        source=bytes(plain) if isinstance(plain, bytes | bytearray | memoryview) else plain,
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        modality=str(ds.get("Modality", "") or "").upper(),
        description=str(ds.get("SeriesDescription", "") or "")[:64],
        instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        instance_number=_number(ds.get("InstanceNumber")),
        position=_floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        frames=_number(ds.get("NumberOfFrames")) or 1,
    )


def _group(headers: list[_Header]) -> list[list[_Header]]:
    groups: dict[str, list[_Header]] = {}
    for header in headers:
        groups.setdefault(header.series_uid, []).append(header)
    # Largest series first: the likely choice is listed as 1.
    return sorted(groups.values(), key=lambda g: (-len(g), g[0].series_uid))


def _choice(number: int, group: list[_Header]) -> SeriesChoice:
    first = group[0]
    return SeriesChoice(
        number, first.modality, first.description, len(group), _sha(first.series_uid)
    )


def _check_orientation(group: list[_Header]) -> None:
    known = [h.orientation for h in group if h.orientation is not None]
    if known and any(
        np.max(np.abs(np.subtract(o, known[0]))) > _ORIENTATION_TOLERANCE for o in known
    ):
        raise ImageError(
            "This series mixes slice orientations (for example axial and coronal images); "
            "choose files of one orientation.",
            kind="bad_request",
        )


def _sort_key(header: _Header) -> tuple[int, float]:
    if header.instance_number is not None:
        return (0, float(header.instance_number))
    if header.position is not None and header.orientation is not None:
        row, column = np.array(header.orientation[:3]), np.array(header.orientation[3:])
        return (1, float(np.dot(np.cross(row, column), header.position)))
    return (2, 0.0)


def plan_series(
    sources: Sequence[Source],
    limits: ImageLimits | None = None,
    *,
    choose: int | None = None,
    most: int = MAX_SLICES,
) -> SeriesPlan:
    """Which slices of `sources` to send. `choose` is the 1-based series number when the files
    hold several series; without it, several series are refused with a sentence listing them."""
    limits = limits or ImageLimits()
    sources = expand_archives(sources, limits)
    if not sources:
        raise ImageError("Upload the files of one series.", kind="bad_request")
    if len(sources) > limits.max_frames:
        raise ImageError(
            f"This series has {len(sources)} files, over the {limits.max_frames}-image limit.",
            kind="too_large",
        )
    groups = _group([_header(source, limits) for source in sources])
    choices = tuple(_choice(number, group) for number, group in enumerate(groups, 1))
    if choose is None and len(groups) > 1:
        listed = "; ".join(c.describe() for c in choices)
        raise ImageError(
            f"These files hold {len(groups)} series: {listed}. Choose one series.",
            kind="several_series",
        )
    number = choose or 1
    if not 1 <= number <= len(groups):
        raise ImageError(
            f"There is no series {number}; choose 1 to {len(groups)}.", kind="bad_request"
        )
    group = groups[number - 1]
    _check_orientation(group)
    ordered = sorted(group, key=_sort_key)
    if len(ordered) == 1 and ordered[0].frames > 1:  # one multi-frame file: its frames
        only = ordered[0]
        if only.frames > limits.max_frames:
            raise ImageError(
                f"This file has {only.frames} frames, over the {limits.max_frames}-frame limit.",
                kind="too_large",
            )
        slices = [
            Slice(only.source, frame, frame, _sha(f"{only.instance_uid}#{frame}"))
            for frame in range(only.frames)
        ]
    else:
        slices = [Slice(h.source, None, i, _sha(h.instance_uid)) for i, h in enumerate(ordered)]
    chosen = tuple(slices[i] for i in select_slices(len(slices), most))
    return SeriesPlan(chosen, len(slices), group[0].modality, choices[number - 1], choices)
