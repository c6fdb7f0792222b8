"""Bundled example images, one per template (sources and licences in assets/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "assets" / "examples"

# (file, template id, caption)
EXAMPLES = (
    ("chest_xray_pa.dcm", "cxr", "Chest X-ray, DICOM"),
    ("ct_head.dcm", "ct", "Head CT, DICOM"),
    ("mri_shoulder.dcm", "mri", "Shoulder MRI, DICOM"),
    ("skin_lesion_synthetic.jpg", "derm", "Skin lesion (synthetic)"),
    ("fundus_synthetic.png", "fundus", "Fundus (synthetic)"),
    ("histology_synthetic.png", "pathology", "Histology (synthetic)"),
    ("ultrasound.dcm", "general", "Ultrasound, DICOM"),
)


def render(refs: dict[str, Any]) -> Any:  # gr.Examples (a function in Gradio 6) or None
    rows = [
        [str(EXAMPLES_DIR / name), template]
        for name, template, _ in EXAMPLES
        if (EXAMPLES_DIR / name).exists()
    ]
    if not rows:
        return None
    return gr.Examples(
        examples=rows,
        inputs=[refs["upload"], refs["template"]],
        label="Examples (real DICOM from pydicom-data; dermatology, fundus, histology synthetic)",
        example_labels=[caption for name, _, caption in EXAMPLES if (EXAMPLES_DIR / name).exists()],
        examples_per_page=len(rows),
        cache_examples=False,
    )
