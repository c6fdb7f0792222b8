"""The import contracts in pyproject.toml ([tool.importlinter]) hold, and they would catch a
provider importing another provider or a lower layer importing the UI or the analysis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_are_kept() -> None:
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout


def test_the_contracts_catch_a_provider_importing_another_and_imaging_importing_analysis(
    tmp_path: Path,
) -> None:
    shutil.copytree(REPO / "medgemma_ui", tmp_path / "medgemma_ui")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    providers = tmp_path / "medgemma_ui" / "backends" / "providers"
    with (providers / "vertex.py").open("a") as module:
        module.write("\nfrom medgemma_ui.backends.providers import openai_compat  # noqa\n")
    with (tmp_path / "medgemma_ui" / "imaging" / "encode.py").open("a") as module:
        module.write("\nimport medgemma_ui.analysis  # noqa\n")

    proc = lint_imports(tmp_path)

    assert proc.returncode != 0
    assert "No backend provider imports another BROKEN" in proc.stdout
    assert "medgemma_ui.backends.providers.vertex -> " in proc.stdout
    assert "never import the UI, the CLI or the analysis pipeline BROKEN" in " ".join(
        proc.stdout.split()
    )
    assert "medgemma_ui.imaging.encode -> medgemma_ui.analysis" in proc.stdout
