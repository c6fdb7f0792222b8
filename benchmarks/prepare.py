"""Time `medgemma_ui.imaging.prepare` against two baselines on real DICOM files; peak RSS.

    .venv/bin/python benchmarks/prepare.py [--repeat N]

Baselines, each ending in the same pad -> 896 resize -> JPEG q95 4:4:4 as ours:
  highdicom: `Image.from_dataset(ds).get_frame(k+1, apply_voi_transform=True,
             voi_output_range=(0, 255))` (the reference our tests compare against);
  dicom2jpg: `dicom2jpg.io2img(BytesIO)` (0.1.10, installed --no-deps).
Every timing starts from the file's bytes in memory. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medgemma_ui.imaging import prepare  # noqa: E402

warnings.simplefilter("ignore")

CASES = [
    ("693_UNCI.dcm", "CT 512², uncompressed, MedGemma 3-window RGB (default)"),
    ("693_UNCI.dcm", 'same CT, its own single window (`window="file"`, grey like the baselines)'),
    ("RG1_UNCI.dcm", "CR chest 1841×1955 MONOCHROME1, uncompressed"),
    ("RG1_J2KR.dcm", "same chest, JPEG 2000 lossless"),
    ("color3d_jpeg_baseline.dcm", "US 120 frames 640×480 JPEG, middle frame"),
    ("MR_small.dcm", "MR 64²"),
    ("US1_UNCR.dcm", "US colour 640×480, uncompressed"),
    ("examples_palette.dcm", "US palette colour 800×350"),
]


def data_file(name: str) -> Path:
    import data_store
    import pydicom

    for directory in (
        Path(data_store.__file__).parent / "data",
        Path(pydicom.__file__).parent / "data" / "test_files",
    ):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(name)


def _finish(pixels: np.ndarray) -> bytes:
    """The straightforward tail: pad to a square, LANCZOS/BICUBIC to 896, JPEG q95 4:4:4."""
    h, w = pixels.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, *pixels.shape[2:]), np.uint8)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = pixels
    image = Image.fromarray(square).convert("RGB")
    method = Image.Resampling.LANCZOS if side > 896 else Image.Resampling.BICUBIC
    buffer = io.BytesIO()
    image.resize((896, 896), method).save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue()


def highdicom_baseline(data: bytes) -> bytes:
    import highdicom
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    image = highdicom.Image.from_dataset(ds, copy=False)
    if int(ds.SamplesPerPixel) == 1 and ds.PhotometricInterpretation != "PALETTE COLOR":
        frame = image.get_frame(
            frames // 2 + 1, apply_voi_transform=True, voi_output_range=(0.0, 255.0)
        )
    else:
        frame = image.get_frame(frames // 2 + 1)
        if frame.dtype != np.uint8:
            frame = frame / 256.0
    return _finish(np.clip(np.rint(frame), 0, 255).astype(np.uint8))


def dicom2jpg_baseline(data: bytes) -> bytes | None:
    import dicom2jpg

    pixels = dicom2jpg.io2img(io.BytesIO(data))
    if pixels is None:
        return None
    if pixels.ndim == 4:  # colour multi-frame slips through its check: every frame was decoded
        pixels = pixels[len(pixels) // 2]
    return _finish(pixels)


def ours(data: bytes) -> bytes:
    return prepare(data).jpeg


def ours_file_window(data: bytes) -> bytes:
    return prepare(data, window="file").jpeg


def medians_ms(fns: list[Callable[[bytes], object]], data: bytes, repeat: int) -> list[float]:
    """Median wall time of each function, run round-robin so that load from other processes
    on the machine falls on all of them alike."""
    for fn in fns:
        fn(data)  # warm-up (imports, plugin discovery)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            fn(data)
            times[i].append((time.perf_counter() - started) * 1000)
    return [statistics.median(t) for t in times]


def synthetic_radiograph(path: Path) -> None:
    """3000×3000 16-bit MONOCHROME1 DX with a window, written uncompressed."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:3000, 0:3000]
    pixels = (2000 + 1500 * np.sin(x / 300.0) * np.cos(y / 400.0)).astype(np.uint16)
    pixels += rng.integers(0, 200, pixels.shape, dtype=np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Rows = ds.Columns = 3000
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.WindowCenter, ds.WindowWidth = 2100, 3600
    ds.PixelData = pixels.tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


RSS_CHILD = """
import io, json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {root!r})
sys.argv = ["bench"]
import benchmarks.prepare as b
data = open({path!r}, "rb").read()
fn = getattr(b, {fn!r})
def hwm():  # this process's own peak RSS (ru_maxrss would include the parent's before exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = hwm()
t = time.perf_counter(); fn(data); ms = (time.perf_counter() - t) * 1000
print(json.dumps({{"before_mb": before, "peak_mb": hwm(), "ms": ms}}))
"""


def peak_rss(fn_name: str, path: Path) -> dict[str, float]:
    code = RSS_CHILD.format(root=str(ROOT), path=str(path), fn=fn_name)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per file (median)")
    args = parser.parse_args()

    print(f"Load average before: {os.getloadavg()[0]:.1f} (2-core machine; other jobs may run)")
    print()
    print("| File | What | prepare (ms) | highdicom + Pillow (ms) | × | dicom2jpg (ms) | × |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, what in CASES:
        data = data_file(name).read_bytes()
        slow = "J2K" in name or "color3d" in name  # dicom2jpg decodes all 120 frames: ~4 s
        repeat = max(3, args.repeat // 3) if slow else args.repeat
        mine = ours_file_window if "single window" in what else ours
        ours_ms, hd_ms, d2j_ms = medians_ms(
            [mine, highdicom_baseline, dicom2jpg_baseline], data, repeat
        )
        d2j_note = " (decodes all frames)" if "color3d" in name else ""
        print(
            f"| {name} | {what} | {ours_ms:.1f} | {hd_ms:.1f} | {hd_ms / ours_ms:.1f} "
            f"| {d2j_ms:.1f}{d2j_note} | {d2j_ms / ours_ms:.1f} |",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dx3000.dcm"
        synthetic_radiograph(path)
        data = path.read_bytes()
        ours_ms, hd_ms, d2j_ms = medians_ms([ours, highdicom_baseline, dicom2jpg_baseline], data, 5)
        print(
            f"| synthetic DX | 3000×3000 16-bit MONOCHROME1 | {ours_ms:.1f} | {hd_ms:.1f} "
            f"| {hd_ms / ours_ms:.1f} | {d2j_ms:.1f} | {d2j_ms / ours_ms:.1f} |"
        )
        print()
        print(f"Load average after timings: {os.getloadavg()[0]:.1f}")
        print()
        print(
            "Peak RSS (VmHWM), one fresh process per pipeline, 3000×3000 16-bit radiograph "
            "(18 MB file):"
        )
        print()
        print("| Pipeline | RSS after imports (MB) | peak RSS (MB) | growth (MB) |")
        print("|---|---:|---:|---:|")
        for label, fn in (
            ("prepare", "ours"),
            ("highdicom + Pillow", "highdicom_baseline"),
            ("dicom2jpg", "dicom2jpg_baseline"),
        ):
            rss = peak_rss(fn, path)
            print(
                f"| {label} | {rss['before_mb']:.0f} | {rss['peak_mb']:.0f} "
                f"| {rss['peak_mb'] - rss['before_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
