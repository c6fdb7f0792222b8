"""The study modes through the running app's API (gradio_client): a series of files, a prior and
a current image, and a localisation whose box is corrected in the rating."""

from __future__ import annotations

import json
import sqlite3

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from medgemma_ui.ui.handlers.result_view import RESULT_OUTPUTS
from tests.analysis.test_studies import COMPARE_ANSWER, CT_ANSWER
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import ModelServer, Script
from tests.support.series import write_ct_series

OUTPUTS = ("preview", *(name for name in RESULT_OUTPUTS if name != "result_state"))
BOX_ANSWER = '{"boxes": [{"box_2d": [100, 500, 900, 950], "label": "left lung"}]}'


def answer_for(body: dict) -> str:
    texts = [p["text"] for p in body["messages"][0]["content"] if p["type"] == "text"]
    if any(t.startswith("SLICE") for t in texts):
        return CT_ANSWER
    if "prior chest X-ray" in texts[-1]:
        return COMPARE_ANSWER
    return BOX_ANSWER


@pytest.fixture(scope="module")
def model_server():
    with ModelServer(Script(responder=answer_for)) as server:
        yield server


@pytest.fixture(scope="module")
def app(model_server, tmp_path_factory):
    settings = settings_for(model_server, tmp_path_factory.mktemp("studies"))
    with running_app(settings) as url:
        yield Client(url, verbose=False, analytics_enabled=False), settings.feedback.db_path


def named(outputs) -> dict:
    assert len(outputs) == len(OUTPUTS)
    return dict(zip(OUTPUTS, outputs, strict=True))


def test_a_series_of_files_is_one_request_and_the_strip_shows_what_was_sent(
    app, model_server, tmp_path
):
    client, _ = app
    files = write_ct_series(tmp_path / "series", 30)
    before = len(model_server.requests)
    out = named(
        client.predict(
            file_path=None,
            template="ct-volume",
            backend="openai",
            study_paths=[handle_file(str(f)) for f in files],
            api_name="/analyze",
        )
    )
    assert len(model_server.requests) == before + 1
    assert out["provenance"]["template"] == "ct-volume"
    assert out["provenance"]["series_slices"] == 30
    strip = out["sent_strip"]["value"]
    assert [item["caption"] for item in strip] == [f"SLICE {k}" for k in range(1, 31)]
    assert "Valid findings" in out["validity"]


def test_prior_and_current_are_shown_side_by_side(app, model_server, tmp_path):
    client, _ = app
    prior, current = tmp_path / "prior.png", tmp_path / "current.png"
    Image.new("L", (300, 400), 60).save(prior)
    Image.new("L", (300, 400), 200).save(current)
    out = named(
        client.predict(
            file_path=handle_file(str(current)),
            template="cxr-compare",
            backend="openai",
            prior_path=handle_file(str(prior)),
            api_name="/analyze",
        )
    )
    body = model_server.requests[-1].body
    kinds = [p["type"] for p in body["messages"][0]["content"]]
    assert kinds == ["image_url", "image_url", "text"]
    assert [i["role"] for i in out["provenance"]["inputs"]] == ["prior", "current"]
    pair = out["compare_view"]["value"]
    assert pair is not None and len(pair) == 2
    assert out["report"] and "improved" in out["report"].lower()


def test_a_compare_without_its_prior_is_refused_with_a_sentence(app, tmp_path):
    client, _ = app
    current = tmp_path / "current.png"
    Image.new("L", (50, 50), 1).save(current)
    with pytest.raises(Exception, match="prior image too"):
        client.predict(
            file_path=handle_file(str(current)),
            template="cxr-compare",
            backend="openai",
            api_name="/analyze",
        )


def test_a_localisation_draws_the_box_and_a_corrected_box_is_rated_with_its_overlap(
    app, model_server, tmp_path
):
    client, database = app
    image = tmp_path / "portrait.png"
    Image.new("L", (600, 900), 90).save(image)
    out = named(
        client.predict(
            file_path=handle_file(str(image)),
            template="cxr-localize",
            backend="openai",
            target="left lung",
            api_name="/analyze",
        )
    )
    prompt = model_server.requests[-1].body["messages"][0]["content"][-1]["text"]
    assert "Locate the left lung" in prompt
    drawn = out["boxes_view"]["value"]
    assert drawn is not None and drawn["annotations"][0]["label"] == "left lung"
    model_box = [float(v) for v in out["box_correction"]["value"].split(",")]
    assert len(model_box) == 4
    corrected = [model_box[0] + 20, model_box[1], model_box[2], model_box[3]]
    client.predict(
        overall="partly_agree",
        box_correction=", ".join(str(v) for v in corrected),
        api_name="/save_feedback",
    )
    with sqlite3.connect(database) as db:
        (row,) = db.execute(
            "SELECT finding_corrections_json FROM feedback ORDER BY rowid DESC LIMIT 1"
        ).fetchall()
    box = json.loads(json.loads(row[0])["boxes[0]"])
    assert box["label"] == "left lung" and box["corrected_xyxy"] == corrected
    assert box["model_xyxy"] == model_box and 0.8 < box["iou"] < 1.0


def test_files_of_two_series_ask_which_and_the_choice_is_sent(app, tmp_path):
    client, _ = app
    first = write_ct_series(tmp_path / "a", 7)
    second = write_ct_series(tmp_path / "b", 4)
    paths = [handle_file(str(f)) for f in (*first, *second)]
    with pytest.raises(Exception, match=r"hold 2 series: 1\) CT"):
        client.predict(
            file_path=None, template="ct-volume", backend="openai", study_paths=paths,
            api_name="/analyze",
        )  # fmt: skip
    chosen = client.predict(
        file_path=None, template="ct-volume", backend="openai", study_paths=paths,
        series=2, api_name="/analyze",
    )  # fmt: skip
    out = named(chosen)
    assert out["provenance"]["series_slices"] == 4


def test_a_prompt_over_the_cap_is_refused_with_a_sentence(app, model_server, tmp_path):
    client, _ = app
    image = tmp_path / "scan.png"
    Image.new("L", (64, 64), 5).save(image)
    before = len(model_server.requests)
    with pytest.raises(Exception, match="at most 20,000 are sent"):
        client.predict(
            file_path=handle_file(str(image)),
            template="cxr",
            backend="openai",
            prompt="Describe. " * 3000,
            api_name="/analyze",
        )
    assert len(model_server.requests) == before  # nothing was forwarded
