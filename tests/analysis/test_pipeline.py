"""`run_analysis` and `analyze_to_result`: the real `openai` backend against a loopback server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from medgemma_ui.analysis import (
    AnalysisRequest,
    AnalysisResult,
    Done,
    Prepared,
    Progress,
    Token,
    analyze,
    analyze_to_result,
    run_analysis,
)
from medgemma_ui.findings import parse_findings
from medgemma_ui.imaging import ImageError, PreparedImage, prepare
from medgemma_ui.templates import get_template
from tests.analysis.conftest import CONFIGURED_MODEL, SERVER_MODEL, png_bytes
from tests.support.model_server import CXR_ANSWER

CXR = get_template("cxr")
GOOD = json.loads(CXR_ANSWER)
PROSE = (
    "The chest radiograph shows clear lungs bilaterally. The cardiomediastinal silhouette is "
    "within normal limits and there is no pleural effusion. Impression: no acute findings."
)
TRUNCATED = '{"cardiac_size": "normal", "pulmonary_findings": ["No focal consolidation.", "Mild'
TIMING_KEYS = {"first_token", "generate", "parse", "total"}
PNG = png_bytes()


def cxr_request(*images, **choices) -> AnalysisRequest:
    return AnalysisRequest(images or (PNG,), template_id="cxr", **choices)


async def collect(image: PreparedImage, request: AnalysisRequest, backend) -> list:
    return [event async for event in run_analysis(image, request, backend)]


def sent_prompt(body: dict) -> str:
    (message,) = body["messages"]
    image_part, text_part = message["content"]
    assert image_part["type"] == "image_url"
    assert text_part["type"] == "text"
    return text_part["text"]


def sent_jpeg(body: dict) -> bytes:
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :])


async def test_events_and_result_fields(make_server, make_backend, prepared):
    server = make_server([CXR_ANSWER], first_token_delay_s=0.05, token_size=5)
    backend = make_backend(server)
    options = cxr_request(max_tokens=300, temperature=0.2)

    events = await collect(prepared, options, backend)

    assert isinstance(events[-1], Done)
    assert sum(isinstance(e, Done) for e in events) == 1
    tokens = [e for e in events if isinstance(e, Token)]
    assert len(tokens) == -(-len(CXR_ANSWER) // 5)  # one event per streamed piece
    assert all(t.attempt == 1 for t in tokens)
    assert "".join(t.text for t in tokens) == CXR_ANSWER
    assert not any(isinstance(e, Progress) for e in events)

    result = events[-1].result
    assert isinstance(result, AnalysisResult)
    assert (result.template_id, result.template_version) == ("cxr", CXR.version)
    assert result.backend == "openai"
    assert result.model == SERVER_MODEL  # what the server says it ran, not the configured name
    assert result.raw == CXR_ANSWER
    assert result.raw_answers == [CXR_ANSWER]
    assert result.parsed == GOOD
    assert result.valid is True
    assert result.errors == []
    assert result.retries == 0
    assert result.structured_output is True
    assert result.image_sha256 == prepared.sha256
    assert result.image_jpeg == prepared.jpeg
    assert result.image_info == prepared.info
    assert set(result.timings_ms) == TIMING_KEYS
    t = result.timings_ms
    assert t["first_token"] >= 40  # the server waited 50 ms before its first token
    assert t["first_token"] <= t["total"]
    assert t["generate"] <= t["total"]
    assert t["parse"] <= t["total"]
    assert result.generation == {
        "max_tokens": 300,
        "temperature": 0.2,
        "parse_retries": 1,
        "structured_output_requested": True,
        "structured_output_used": True,
        "prompt_edited": False,
    }

    (request,) = server.requests
    body = request.body
    assert body["model"] == CONFIGURED_MODEL
    assert body["stream"] is True
    assert body["max_tokens"] == 300
    assert body["temperature"] == 0.2
    assert sent_prompt(body) == CXR.build_prompt()
    assert result.attempts[0].prompt == CXR.build_prompt()
    assert sent_jpeg(body) == prepared.jpeg
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == CXR.schema

    line = result.to_json()
    assert json.loads(json.dumps(line)) == line
    assert line["parsed"] == GOOD
    assert line["valid"] is True
    assert line["model"] == SERVER_MODEL
    assert line["structured_output"] is True
    assert set(line["timings_ms"]) == TIMING_KEYS


async def test_structured_output_off_sends_no_schema(make_server, make_backend, prepared):
    server = make_server([CXR_ANSWER])
    backend = make_backend(server)
    options = cxr_request(structured_output=False)

    result = (await collect(prepared, options, backend))[-1].result

    (request,) = server.requests
    assert "response_format" not in request.body
    assert "json_schema" not in json.dumps(request.body)
    assert result.valid
    assert result.structured_output is False
    assert result.generation["structured_output_requested"] is False
    assert result.generation["structured_output_used"] is False


async def test_structured_output_switched_off_in_backend_settings(
    make_server, make_backend, prepared
):
    """MEDGEMMA_STRUCTURED_OUTPUT=false: the backend sends no schema, and the result says so."""
    server = make_server([CXR_ANSWER])
    backend = make_backend(server, structured_output=False)
    options = cxr_request(structured_output=True)

    result = (await collect(prepared, options, backend))[-1].result

    (request,) = server.requests
    assert "response_format" not in request.body
    assert result.structured_output is False
    assert result.generation["structured_output_requested"] is True
    assert result.generation["structured_output_used"] is False


@pytest.mark.parametrize("bad", [PROSE, TRUNCATED], ids=["prose", "truncated"])
async def test_bad_then_good_answer_is_retried_with_errors_stated(
    make_server, make_backend, prepared, bad
):
    server = make_server([bad, CXR_ANSWER])
    backend = make_backend(server)
    options = cxr_request(parse_retries=1)

    events = await collect(prepared, options, backend)
    result = events[-1].result

    assert len(server.requests) == 2
    first, second = (sent_prompt(r.body) for r in server.requests)
    assert first == CXR.build_prompt()
    expected_errors = parse_findings(bad, CXR.schema).errors
    assert expected_errors
    assert result.attempts[0].findings.errors == expected_errors
    assert second.startswith(CXR.build_prompt())
    assert "Your previous answer could not be used because:" in second
    for error in expected_errors[:3]:
        assert f"- {error}" in second
    assert f"Previous answer:\n{bad.strip()}" in second
    assert second == CXR.build_retry_prompt(bad, expected_errors)
    # Both requests carry the same image and schema.
    assert sent_jpeg(server.requests[1].body) == prepared.jpeg
    assert server.requests[1].body["response_format"]["json_schema"]["schema"] == CXR.schema

    assert result.valid is True
    assert result.parsed == GOOD
    assert result.errors == []
    assert result.retries == 1
    assert result.raw_answers == [bad, CXR_ANSWER]
    assert result.raw == CXR_ANSWER
    assert [a.number for a in result.attempts] == [1, 2]
    assert result.to_json()["raw_answers"] == [bad, CXR_ANSWER]

    # Tokens of the first answer, then a "retrying" progress event, then the second answer.
    kinds = [(type(e).__name__, getattr(e, "attempt", None)) for e in events]
    retry_at = next(i for i, e in enumerate(events) if isinstance(e, Progress))
    assert events[retry_at].stage == "retrying"
    assert all(k == ("Token", 1) for k in kinds[:retry_at])
    assert all(k == ("Token", 2) for k in kinds[retry_at + 1 : -1])
    assert "".join(e.text for e in events if isinstance(e, Token) and e.attempt == 1) == bad


async def test_no_retries_gives_one_request_and_an_invalid_result(
    make_server, make_backend, prepared
):
    server = make_server([PROSE, CXR_ANSWER])
    backend = make_backend(server)
    options = cxr_request(parse_retries=0)

    events = await collect(prepared, options, backend)
    result = events[-1].result

    assert len(server.requests) == 1
    assert not any(isinstance(e, Progress) for e in events)
    assert result.valid is False
    assert result.parsed is None  # prose holds no object; nothing is invented
    assert result.errors
    assert result.errors == parse_findings(PROSE, CXR.schema).errors
    assert result.retries == 0
    assert result.raw == PROSE
    line = result.to_json()
    assert line["valid"] is False
    assert line["errors"] == result.errors


async def test_two_retries_all_bad_gives_three_requests(make_server, make_backend, prepared):
    bad_answers = [PROSE, TRUNCATED, '```json\n{"cardiac_size": "huge"}\n```']
    server = make_server(bad_answers)
    backend = make_backend(server)
    options = cxr_request(parse_retries=2)

    events = await collect(prepared, options, backend)
    result = events[-1].result

    assert len(server.requests) == 3
    assert [e.stage for e in events if isinstance(e, Progress)] == ["retrying", "retrying"]
    prompts = [sent_prompt(r.body) for r in server.requests]
    assert f"Previous answer:\n{PROSE}" in prompts[1]
    assert f"Previous answer:\n{TRUNCATED}" in prompts[2]
    assert PROSE not in prompts[2]  # each retry quotes only the answer before it
    assert result.valid is False
    assert result.retries == 2
    assert result.raw_answers == bad_answers
    assert result.errors == parse_findings(bad_answers[2], CXR.schema).errors
    assert any("cardiac_size" in e for e in result.errors)


async def test_edited_prompt_is_sent_verbatim_and_starts_the_retry(
    make_server, make_backend, prepared
):
    edited = "  Look only at the heart.\nAnswer with the JSON object described earlier.  "
    server = make_server([PROSE, CXR_ANSWER])
    backend = make_backend(server)
    options = cxr_request(prompt=edited, parse_retries=1)

    result = (await collect(prepared, options, backend))[-1].result

    first, second = (sent_prompt(r.body) for r in server.requests)
    assert first == edited
    assert second.startswith(edited)
    assert CXR.role.strip() not in second  # the template's own text is not smuggled back in
    assert "Your previous answer could not be used because:" in second
    assert f"Previous answer:\n{PROSE}" in second
    assert result.generation["prompt_edited"] is True
    assert result.attempts[0].prompt == edited
    assert result.valid and result.retries == 1


async def test_analyze_to_result_from_path_bytes_and_prepared(
    make_server, make_backend, tmp_path: Path
):
    server = make_server([CXR_ANSWER])
    backend = make_backend(server)
    data = png_bytes(seed=3, size=(80, 40))
    path = tmp_path / "no-extension"
    path.write_bytes(data)
    expected = prepare(data)

    from_path = await analyze_to_result(cxr_request(path), backend)
    from_bytes = await analyze_to_result(cxr_request(data), backend)
    from_prepared = await analyze_to_result(cxr_request(expected), backend)

    for result in (from_path, from_bytes, from_prepared):
        assert result.valid and result.parsed == GOOD
        assert result.image_sha256 == expected.sha256
    for result in (from_path, from_bytes):
        assert set(result.timings_ms) == TIMING_KEYS | {"prepare"}
        assert result.timings_ms["prepare"] > 0
        assert next(iter(result.timings_ms)) == "prepare"
    assert set(from_prepared.timings_ms) == TIMING_KEYS
    assert len(server.requests) == 3
    assert {sent_jpeg(r.body) for r in server.requests} == {expected.jpeg}


async def test_analyze_to_result_rejects_a_text_file_before_any_request(
    make_server, make_backend, tmp_path: Path
):
    server = make_server([CXR_ANSWER])
    backend = make_backend(server)
    path = tmp_path / "scan.png"
    path.write_text("Patient notes: chest X-ray requested.\n", encoding="utf-8")

    with pytest.raises(ImageError) as caught:
        await analyze_to_result(cxr_request(path), backend)

    assert "text" in str(caught.value).lower()
    assert server.requests == []


async def test_a_failed_retry_keeps_the_first_answer(make_server, make_backend, prepared):
    server = make_server([PROSE], statuses=[200, 400])
    backend = make_backend(server)
    options = cxr_request(parse_retries=1)

    events = await collect(prepared, options, backend)
    result = events[-1].result

    assert len(server.requests) == 2
    assert any(isinstance(e, Progress) and e.stage == "retry_failed" for e in events)
    assert result.raw == PROSE and result.raw_answers == [PROSE]
    assert result.valid is False
    assert result.retry_error
    assert result.to_json()["errors"][-1] == result.retry_error


def test_blank_edited_prompt_counts_as_not_edited():
    assert cxr_request(prompt="  \n").prompt is None
    assert cxr_request(prompt=get_template("ct").build_prompt()).prompt is None


def test_a_request_is_built_the_same_way_from_defaults_and_choices():
    from medgemma_ui.settings import GenerationDefaults

    defaults = GenerationDefaults(max_tokens=300, temperature=0.4, parse_retries=2)
    plain = AnalysisRequest.build([PNG], defaults)
    assert (plain.template_id, plain.prompt, plain.window, plain.frame) == (
        "auto",
        None,
        None,
        None,
    )
    assert (plain.max_tokens, plain.temperature, plain.parse_retries) == (300, 0.4, 2)
    assert plain.structured_output is True
    chosen = AnalysisRequest.build(
        [PNG],
        defaults,
        template="ct",
        max_tokens=64.0,
        retries=0,
        structured=True,
        structured_allowed=False,
    )
    assert (chosen.template_id, chosen.max_tokens, chosen.parse_retries) == ("ct", 64, 0)
    assert chosen.structured_output is False  # the server switched it off
    with pytest.raises(KeyError, match="valid ids"):
        AnalysisRequest.build([PNG], defaults, template="xray")
    with pytest.raises(ValueError, match="max_tokens"):
        AnalysisRequest.build([PNG], defaults, max_tokens=5000)
    with pytest.raises(ValueError, match="image"):
        AnalysisRequest.build([], defaults)


async def test_analyze_shows_the_prepared_image_before_the_model_answers(make_server, make_backend):
    server = make_server([CXR_ANSWER])
    events = [e async for e in analyze(cxr_request(), make_backend(server))]
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Progress", "Prepared"] and kinds[-1] == "Done"
    assert isinstance(events[1], Prepared)
    (image,) = events[1].images
    assert image.jpeg == prepare(PNG).jpeg and events[1].template.id == "cxr"
    assert sent_jpeg(server.requests[0].body) == image.jpeg
    assert next(iter(events[-1].result.timings_ms)) == "prepare"


async def test_the_template_window_is_used_when_none_is_chosen(
    make_server, make_backend, tmp_path: Path
):
    """A template's `default_window` decides what is sent when the caller chose none and the
    image offers it; a chosen window wins; a template without one keeps the image's default."""
    import shutil

    from medgemma_ui.templates import templates_dir, use_templates_dir

    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder)
    ct_toml = folder / "ct.toml"
    ct_toml.write_text(
        ct_toml.read_text().replace('default_window = "medgemma"', 'default_window = "bone"')
    )
    ct = folder / "examples" / "ct_head.dcm"
    server = make_server([CXR_ANSWER])
    backend = make_backend(server)
    sent = {}
    use_templates_dir(folder)
    try:
        for template_id, window in (("ct", None), ("ct", "lung"), ("mri", None)):
            request = AnalysisRequest(
                (ct,), template_id=template_id, window=window, parse_retries=0
            )
            used = (await analyze_to_result(request, backend)).provenance.window
            sent[(template_id, window)] = used
            assert sent_jpeg(server.requests[-1].body) == prepare(ct, window=used).jpeg
    finally:
        use_templates_dir(None)
    assert sent == {("ct", None): "bone", ("ct", "lung"): "lung", ("mri", None): "medgemma"}


def test_a_prompt_over_the_cap_is_refused_before_anything_is_sent():
    from medgemma_ui.analysis import MAX_PROMPT_CHARS

    with pytest.raises(ValueError, match="at most 20,000 are sent"):
        cxr_request(prompt="x" * (MAX_PROMPT_CHARS + 1))
    assert cxr_request(prompt="x" * MAX_PROMPT_CHARS).prompt is not None
