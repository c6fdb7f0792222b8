"""Build the bundled example images in medgemma_ui/templates/data/examples/ (run once; the
outputs are committed).

Real DICOM examples are copied from the MIT-licensed pydicom-data wheel with every patient,
institution and date tag removed. Dermatology, fundus and histopathology examples are synthetic
(drawn here from a fixed seed): no freely redistributable real images of those ship in a package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFilter
from pydicom.data import get_testdata_file

ASSETS = Path(__file__).resolve().parents[1] / "medgemma_ui" / "templates" / "data" / "examples"

DICOM_EXAMPLES = {
    "RG1_J2KI.dcm": "chest_xray_pa.dcm",
    "693_J2KR.dcm": "ct_head.dcm",
    "MR2_J2KI.dcm": "mri_shoulder.dcm",
    "US1_J2KI.dcm": "ultrasound.dcm",
}

IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "OtherPatientIDs",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StationName",
    "AccessionNumber",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "StudyID",
    "DeviceSerialNumber",
)


def copy_dicom(name: str, target: str) -> None:
    path = get_testdata_file(name)
    if path is None:
        raise SystemExit(f"{name} is missing: install pydicom-data (make test does).")
    ds = pydicom.dcmread(path)
    for keyword in IDENTIFYING_KEYWORDS:
        if keyword in ds:
            ds.data_element(keyword).value = ""
    ds.remove_private_tags()
    ds.PatientIdentityRemoved = "YES"
    ds.save_as(ASSETS / target, enforce_file_format=True)


def _smooth_noise(rng: np.random.Generator, size: int, blur: float) -> np.ndarray:
    noise = Image.fromarray((rng.random((size, size)) * 255).astype(np.uint8))
    return np.asarray(noise.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255.0


def skin_lesion(rng: np.random.Generator, size: int = 768) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    skin = np.array([224, 178, 150], np.float32)
    texture = _smooth_noise(rng, size, 3)[..., None] * 24 - 12
    base = skin + texture
    angle = np.arctan2(yy - size / 2, xx - size / 2)
    radius = np.hypot(yy - size / 2, xx - size / 2)
    # An asymmetric, irregular border: a few harmonics of the angle.
    edge = size * (0.22 + 0.03 * np.sin(3 * angle + 0.7) + 0.02 * np.sin(7 * angle))
    inside = np.clip((edge - radius) / 6.0, 0, 1)[..., None]
    variegation = _smooth_noise(rng, size, 12)[..., None]
    lesion = np.array([92, 58, 40], np.float32) * (0.6 + 0.8 * variegation)
    img = base * (1 - inside) + lesion * inside
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def fundus(rng: np.random.Generator, size: int = 768) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(yy - size / 2, xx - size / 2) / (size * 0.46)
    shade = np.clip(1.1 - 0.5 * r**2, 0, 1)[..., None]
    img = np.array([200, 80, 30], np.float32) * shade
    disc = np.hypot(yy - size * 0.5, xx - size * 0.68) < size * 0.07
    img[disc] = [245, 205, 140]
    fovea = np.hypot(yy - size * 0.5, xx - size * 0.38) / (size * 0.06)
    img *= (1 - 0.35 * np.exp(-(fovea**2)))[..., None]
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(8):
        x, y = size * 0.68, size * 0.5
        heading = rng.uniform(0, 2 * np.pi)
        width = int(rng.integers(4, 9))
        for _ in range(60):
            heading += rng.normal(0, 0.12)
            nx, ny = x + 6 * np.cos(heading), y + 6 * np.sin(heading)
            draw.line([(x, y), (nx, ny)], fill=(120, 20, 10), width=width)
            x, y = nx, ny
    outside = r > 1.0
    out = np.asarray(canvas).copy()
    out[outside] = 0
    return Image.fromarray(out).filter(ImageFilter.GaussianBlur(1.2))


def histology(rng: np.random.Generator, size: int = 768) -> Image.Image:
    stroma = _smooth_noise(rng, size, 6)[..., None]
    img = np.array([236, 170, 200], np.float32) * (0.85 + 0.2 * stroma)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(900):
        x, y = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(4, 10), rng.uniform(3, 8)
        shade = int(rng.integers(60, 120))
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=(shade, 40, shade + 70))
    return canvas.filter(ImageFilter.GaussianBlur(0.8))


def main() -> None:
    ASSETS.mkdir(parents=True, exist_ok=True)
    for source, target in DICOM_EXAMPLES.items():
        copy_dicom(source, target)
    rng = np.random.default_rng(20261125)
    skin_lesion(rng).save(ASSETS / "skin_lesion_synthetic.jpg", quality=92)
    fundus(rng).save(ASSETS / "fundus_synthetic.png")
    histology(rng).save(ASSETS / "histology_synthetic.png")
    for path in sorted(ASSETS.iterdir()):
        print(f"{path.name}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
