"""`python -m medgemma_ui prepare` end to end in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .helpers import data_file

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "prepare", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_jpeg_and_prints_info(tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    result = _run(str(data_file("color3d_jpeg_baseline.dcm")), "-o", str(out), "--frame", "3")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["frame_index"] == 3 and info["frame_count"] == 120
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (896, 896)


def test_cli_window_option(tmp_path: Path) -> None:
    result = _run(str(data_file("693_UNCI.dcm")), "-o", str(tmp_path / "o.jpg"), "--window", "lung")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["window"] == "lung"


def test_cli_bad_input_exits_non_zero_with_one_sentence(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    out = tmp_path / "o.jpg"
    result = _run(str(text), "-o", str(out))
    assert result.returncode == 2
    assert "text, not an image" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()
    unknown = _run(str(data_file("MR_small.dcm")), "-o", str(out), "--window", "nope")
    assert unknown.returncode == 2 and "Unknown window 'nope'" in unknown.stderr
