"""`python -m medgemma_ui analyze` end to end: a real subprocess against a loopback model server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medgemma_ui.__main__ import main
from medgemma_ui.templates import template_ids
from tests.analysis.conftest import SERVER_MODEL, png_bytes
from tests.support.model_server import CXR_ANSWER, ModelServer, Script, free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "medgemma_ui" / "templates" / "data" / "examples"
GOOD = json.loads(CXR_ANSWER)
LINE_KEYS = {"input", "template", "backend", "raw", "parsed", "valid", "errors", "timings_ms"}
PROSE = "The lungs are clear and the heart is of normal size. No acute abnormality."


def cli_env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDGEMMA_")}
    env.update(
        MEDGEMMA_OPENAI_BASE_URL=base_url,
        MEDGEMMA_OPENAI_MODEL="medgemma-cli",
        MEDGEMMA_CONNECT_TIMEOUT_S="5",
        MEDGEMMA_FIRST_TOKEN_TIMEOUT_S="20",
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return env


def analyze(*args: str, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "analyze", *args],
        cwd=REPO,
        env=cli_env(base_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def server():
    with ModelServer(Script(answers=[CXR_ANSWER], model=SERVER_MODEL)) as running:
        yield running


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """19 readable images (DICOM, PNG, JPEG; some nested) and one truncated DICOM."""
    root = tmp_path_factory.mktemp("batch")
    names = ("chest_xray_pa.dcm", "ct_head.dcm", "mri_shoulder.dcm", "ultrasound.dcm")
    names += ("skin_lesion_synthetic.jpg", "fundus_synthetic.png", "histology_synthetic.png")
    examples = [EXAMPLES / name for name in names]
    for example in examples:
        shutil.copy(example, root / example.name)
    nested = root / "more"
    nested.mkdir()
    for i in range(12):
        (nested / f"generated_{i:02}.png").write_bytes(png_bytes(seed=i, size=(40 + i, 30)))
    broken = root / "broken.dcm"
    broken.write_bytes((EXAMPLES / "chest_xray_pa.dcm").read_bytes()[:4000])
    (root / ".DS_Store").write_bytes(b"\0junk")  # hidden: skipped, not counted
    return root, broken


def test_folder_of_twenty_gives_twenty_lines_and_one_error(server, folder):
    root, broken = folder

    proc = analyze(
        str(root), "--template", "cxr", "--backend", "openai", "--concurrency", "4",
        base_url=server.base_url,
    )  # fmt: skip

    assert "Traceback" not in proc.stderr
    lines = json_lines(proc.stdout)
    assert len(lines) == 20
    for line in lines:
        assert set(line) >= LINE_KEYS, line
        assert line["template"] == "cxr"
        assert line["backend"] == "openai"
    expected_inputs = {str(p) for p in root.rglob("*") if p.is_file() and p.name != ".DS_Store"}
    assert {line["input"] for line in lines} == expected_inputs

    by_input = {line["input"]: line for line in lines}
    bad = by_input.pop(str(broken))
    assert bad["valid"] is False
    assert bad["raw"] is None and bad["parsed"] is None
    assert bad["error_kind"] == "image"
    assert len(bad["errors"]) == 1 and "damaged or incomplete" in bad["errors"][0]
    assert "4000" not in bad["errors"][0] and str(broken) not in bad["errors"][0]

    for line in by_input.values():
        assert line["valid"] is True, line
        assert line["errors"] == []
        assert line["raw"] == CXR_ANSWER
        assert line["parsed"] == GOOD
        assert line["model"] == SERVER_MODEL
        assert line["retries"] == 0
        assert set(line["timings_ms"]) == {"prepare", "first_token", "generate", "parse", "total"}
        assert len(line["image_sha256"]) == 64

    # Every readable image was sent once, and each request holds a different image.
    assert len(server.requests) == 19
    urls = {r.body["messages"][0]["content"][0]["image_url"]["url"] for r in server.requests}
    assert len(urls) == 19
    # File names never leave the machine.
    sent = json.dumps([r.body for r in server.requests])
    assert "generated_" not in sent and "chest_xray" not in sent

    assert proc.stderr.strip().splitlines()[-1] == "20 inputs: 19 valid, 0 invalid, 1 failed"
    assert proc.returncode == 1  # at least one input failed


def test_out_file_invalid_answers_and_exit_zero(server, folder, tmp_path):
    root, _ = folder
    server.script.answers = [PROSE, CXR_ANSWER]  # first request answered badly, then well
    first, second = root / "fundus_synthetic.png", root / "skin_lesion_synthetic.jpg"
    out = tmp_path / "results.jsonl"

    proc = analyze(
        str(first), str(second), "--template", "cxr", "--backend", "openai",
        "--retries", "0", "--concurrency", "1", "--no-structured-output", "--out", str(out),
        base_url=server.base_url,
    )  # fmt: skip

    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = json_lines(out.read_text(encoding="utf-8"))
    assert [line["input"] for line in lines] == [str(first), str(second)]
    assert lines[0]["valid"] is False and lines[0]["errors"] and lines[0]["raw"] == PROSE
    assert lines[1]["valid"] is True and lines[1]["parsed"] == GOOD
    assert all(line["structured_output"] is False for line in lines)
    assert len(server.requests) == 2  # --retries 0: no second request for the bad answer
    assert all("response_format" not in r.body for r in server.requests)
    assert proc.stderr.strip().splitlines()[-1] == "2 inputs: 1 valid, 1 invalid, 0 failed"
    assert proc.returncode == 0  # an invalid answer is a result, not a failure


def test_unknown_template_exits_2_listing_the_ids(server, folder):
    root, _ = folder

    proc = analyze(str(root), "--template", "xray", "--backend", "openai", base_url=server.base_url)

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "'xray'" in proc.stderr
    for template_id in template_ids():
        assert template_id in proc.stderr
    assert server.requests == []


@pytest.mark.parametrize(
    ("option", "env", "message"),
    [
        (("--retries", "5"), {}, "parse_retries must be between 0 and 2"),
        (("--max-tokens", "5000"), {}, "max_tokens must be between 1 and 1024"),
        ((), {"MEDGEMMA_TEMPERATURE": "9"}, "MEDGEMMA_TEMPERATURE must be between"),
    ],
    ids=["retries", "max-tokens", "bad-env"],
)
def test_bad_option_or_setting_exits_2_without_traceback(
    server, folder, monkeypatch, capsys, option, env, message
):
    """In-process (the subprocess tests above cover the wiring); exits before any request."""
    root, _ = folder
    for key, value in {**cli_env(server.base_url), **env}.items():
        monkeypatch.setenv(key, value)

    code = main(["analyze", str(root), "--template", "cxr", *option])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err
    assert server.requests == []


def test_unreachable_backend_gives_an_error_line_per_input(folder):
    root, _ = folder
    inputs = [root / "ct_head.dcm", root / "more" / "generated_00.png", root / "ultrasound.dcm"]
    closed = f"http://127.0.0.1:{free_port()}/v1"

    proc = analyze(*map(str, inputs), "--template", "cxr", "--backend", "openai", base_url=closed)

    assert "Traceback" not in proc.stderr
    lines = json_lines(proc.stdout)
    assert sorted(line["input"] for line in lines) == sorted(map(str, inputs))
    for line in lines:
        assert set(line) >= LINE_KEYS
        assert line["valid"] is False
        assert line["error_kind"] == "network"
        assert line["errors"] and "connect" in line["errors"][0].lower()
    assert proc.stderr.strip().splitlines()[-1] == "3 inputs: 0 valid, 0 invalid, 3 failed"
    assert proc.returncode == 1


def sent_jpeg_sha256(body: dict) -> list[str]:
    import base64
    import hashlib

    urls = [
        part["image_url"]["url"]
        for part in body["messages"][0]["content"]
        if part["type"] == "image_url"
    ]
    return [hashlib.sha256(base64.b64decode(url.split(",", 1)[1])).hexdigest() for url in urls]


def test_each_line_carries_the_provenance_of_what_the_server_received(server):
    from medgemma_ui import __version__
    from medgemma_ui.templates import get_template

    result = analyze(
        str(EXAMPLES / "mri_shoulder.dcm"),
        "--template",
        "mri",
        "--backend",
        "openai",
        "--frame",
        "0",
        "--retries",
        "0",
        base_url=server.base_url,
    )
    [line] = json_lines(result.stdout)
    provenance = line["provenance"]
    [request] = server.requests
    assert provenance["image_sha256"] == sent_jpeg_sha256(request.body)
    assert provenance["image_sha256"] == [line["image_sha256"]]
    sent_prompt = request.body["messages"][0]["content"][1]["text"]
    assert provenance["prompt"] == sent_prompt == get_template("mri").build_prompt()
    assert provenance["prompt_sha256"] == hashlib.sha256(sent_prompt.encode()).hexdigest()
    assert provenance["template"] == "mri" and provenance["backend"] == "openai"
    assert provenance["model"] == SERVER_MODEL
    assert provenance["frame_index"] == 0 and provenance["prompt_edited"] is False
    assert provenance["max_tokens"] == request.body["max_tokens"]
    assert provenance["temperature"] == request.body["temperature"] == 0
    assert provenance["retries"] == 0 and provenance["app_version"] == __version__


# --- MedGemma 1.5 study modes -----------------------------------------------------------------


def _texts(body: dict) -> list[str]:
    return [p["text"] for p in body["messages"][0]["content"] if p["type"] == "text"]


def test_a_study_folder_is_one_request_and_one_line(tmp_path: Path):
    from tests.support.series import write_ct_series

    folder = tmp_path / "study"
    write_ct_series(folder, 90)
    answer = json.dumps(
        {
            "body_region": "head",
            "contrast_enhanced": False,
            "findings": [],
            "incidental_findings": [],
            "impression": "Normal.",
        }
    )
    with ModelServer(Script(answers=[answer], model=SERVER_MODEL)) as running:
        proc = analyze("--study", str(folder), "--retries", "0", base_url=running.base_url)
        requests = list(running.requests)
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["input"] == str(folder) and line["template"] == "ct-volume" and line["valid"]
    assert line["provenance"]["series_slices"] == 90
    assert len(line["provenance"]["image_sha256"]) == 85
    (request,) = requests
    texts = _texts(request.body)
    assert texts[1:-1] == [f"SLICE {k}" for k in range(1, 86)]


def test_prior_and_current_are_one_request(tmp_path: Path):
    prior, current = tmp_path / "prior.png", tmp_path / "current.png"
    prior.write_bytes(png_bytes(seed=5))
    current.write_bytes(png_bytes(seed=6))
    answer = json.dumps(
        {"overall_change": "unchanged", "changes": [], "current_findings": [], "impression": "-"}
    )
    with ModelServer(Script(answers=[answer], model=SERVER_MODEL)) as running:
        proc = analyze(str(current), "--prior", str(prior), base_url=running.base_url)
        (request,) = running.requests
    (line,) = json_lines(proc.stdout)
    assert line["template"] == "cxr-compare" and line["valid"], line
    assert line["input"] == str(current) and line["prior"] == str(prior)
    kinds = [p["type"] for p in request.body["messages"][0]["content"]]
    assert kinds == ["image_url", "image_url", "text"]
    assert [i["role"] for i in line["provenance"]["inputs"]] == ["prior", "current"]


def test_a_target_gives_boxes_in_original_pixels(tmp_path: Path):
    from PIL import Image

    image = tmp_path / "portrait.png"
    Image.new("L", (600, 900), 100).save(image)
    answer = '[{"box_2d": [0, 0, 1000, 1000], "label": "left lung"}]'
    with ModelServer(Script(answers=[answer], model=SERVER_MODEL)) as running:
        proc = analyze(
            str(image), "--target", "left lung", "--no-structured-output",
            base_url=running.base_url,
        )  # fmt: skip
    (line,) = json_lines(proc.stdout)
    assert line["template"] == "cxr-localize" and line["valid"], line
    assert line["boxes"] == [
        {"label": "left lung", "box_2d": [0.0, 0.0, 1000.0, 1000.0], "xyxy": [0, 0, 600, 900]}
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--study", "x", "y.png"), "Give --study alone"),
        (("a.png", "b.png", "--prior", "p.png"), "exactly one current image"),
        (("a.png", "--template", "cxr-localize"), "should locate"),
        ((), "Give images or folders"),
    ],
)
def test_wrong_mode_combinations_exit_2_with_a_sentence(arguments, message):
    proc = analyze(*arguments, base_url="http://127.0.0.1:9/v1")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
