"""A rating is bound to the result on screen and the image it was computed from (issue 12)."""

from __future__ import annotations

import gradio as gr
import pytest

from medgemma_ui.analysis import AnalysisRequest, run_analysis
from medgemma_ui.analysis import Done as AnalysisDone
from medgemma_ui.imaging import prepare
from medgemma_ui.ui.handlers import feedback as feedback_handlers
from medgemma_ui.ui.handlers.result_view import stale_note
from tests.analysis.conftest import make_backend, make_server, png_bytes  # noqa: F401
from tests.support.model_server import CXR_ANSWER


@pytest.fixture
async def result(make_server, make_backend):  # noqa: F811 (fixtures imported above)
    backend = make_backend(make_server([CXR_ANSWER]))
    image = prepare(png_bytes(seed=3))
    request = AnalysisRequest((image,), template_id="cxr")
    async for event in run_analysis(image, request, backend):
        if isinstance(event, AnalysisDone):
            return event.result
    raise AssertionError("no result")


class _Store:
    def __init__(self) -> None:
        self.saved: list = []

    def save(self, record) -> str:
        self.saved.append(record)
        return record.id


class _Services:
    def __init__(self) -> None:
        from medgemma_ui.settings import Settings

        self.settings = Settings.from_env({})
        self.feedback_store = _Store()


async def save(result, shown, services, **changes):
    args = dict(
        record_id=None,
        overall="agree",
        finding_ratings={},
        finding_corrections={},
        added="",
        corrected_impression="",
        comment="",
        reviewer="",
        session_label="",
    )
    args.update(changes)
    return await feedback_handlers.save_feedback(result, shown, services=services, **args)


async def test_a_rating_for_another_image_is_refused(result):
    services = _Services()
    other = prepare(png_bytes(seed=4)).sha256
    with pytest.raises(gr.Error, match="not the one this result was computed from"):
        await save(result, {"sha256": other}, services)
    with pytest.raises(gr.Error, match="not the one this result was computed from"):
        await save(result, None, services)  # the file was cleared or refused
    with pytest.raises(gr.Error, match="no result to rate"):
        await save(None, {"sha256": other}, services)
    assert services.feedback_store.saved == []
    await save(result, {"sha256": result.image_sha256}, services)
    [record] = services.feedback_store.saved
    assert record.image_sha256 == result.image_sha256
    assert record.provenance == result.provenance.to_json()


async def test_accept_reject_modify_and_added_findings_are_kept(result):
    services = _Services()
    findings = feedback_handlers.rateable_findings(result)
    paths = {path: text for _, path, text in findings}
    assert paths["cardiac_size"] == "normal"
    assert paths["pulmonary_findings[0]"] == "No focal consolidation."
    await save(
        result,
        {"sha256": result.image_sha256},
        services,
        finding_ratings={
            "cardiac_size": "accept",
            "pulmonary_findings[0]": "modify",
            "impression": "reject",
            "not_a_finding": "accept",
        },
        finding_corrections={"pulmonary_findings[0]": "Right lower lobe consolidation."},
        added="Small left effusion.\n\n  Rib fracture, 6th left  \n",
    )
    [record] = services.feedback_store.saved
    assert record.finding_ratings == {
        "cardiac_size": "accept",
        "pulmonary_findings[0]": "modify",
        "impression": "reject",
    }
    assert record.finding_corrections == {
        "pulmonary_findings[0]": "Right lower lobe consolidation."
    }
    assert record.added_findings == ["Small left effusion.", "Rib fracture, 6th left"]


async def test_a_changed_template_or_backend_marks_the_result_as_previous(result):
    assert stale_note(result, "cxr", "openai") == ""
    assert stale_note(result, "auto", "openai") == ""
    assert "Previous result" in stale_note(result, "ct", "openai")
    assert "Previous result" in stale_note(result, "cxr", "vertex")
    assert stale_note(None, "ct", "vertex") == ""


def analyze_inputs(**changes):
    """The analyze handler's inputs as the API's defaults give them."""
    inputs = dict(
        file_path=None,
        window="default",
        frame=0,
        backend="openai",
        template="auto",
        prompt="",
        max_tokens=512,
        temperature=0.0,
        structured=True,
        retries=0,
    )
    return {**inputs, **changes}


async def test_an_error_replaces_the_progress_text_with_its_sentence():
    from medgemma_ui.ui.handlers.analyze import analyze

    inputs = analyze_inputs(file_path=None)
    updates = []
    with pytest.raises(gr.Error, match="Upload an image"):
        async for update in analyze(inputs, services=None):  # type: ignore[arg-type]
            updates.append(update)
    assert updates == [
        {
            "status": "**Not analyzed.** Upload an image or DICOM file first, "
            "or pick one of the examples."
        }
    ]


async def test_a_backend_that_is_not_set_up_cannot_be_run_and_names_no_variable(tmp_path):
    from medgemma_ui.backends import BackendRegistry
    from medgemma_ui.settings import Settings
    from medgemma_ui.ui.handlers.analyze import analyze

    services = _Services()
    services.registry = BackendRegistry(Settings.from_env({}).backends)  # type: ignore[attr-defined]
    image = tmp_path / "scan.png"
    image.write_bytes(png_bytes())
    inputs = analyze_inputs(file_path=str(image), backend="vertex")
    with pytest.raises(gr.Error) as info:
        async for _ in analyze(inputs, services=services):  # type: ignore[arg-type]
            pass
    assert "not set up on this server" in str(info.value)
    assert "MEDGEMMA_" not in str(info.value) and "GOOGLE_" not in str(info.value)
