"""The Compare tab and the agreement dashboard in Debian's chromium.

`UPDATE_SCREENSHOTS=1` also writes docs/screenshots/blinded.png (a blinded comparison after the
vote) and docs/screenshots/dashboard.png (the agreement dashboard on a seeded session)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from medgemma_ui.feedback import FeedbackRecord, FeedbackStore
from medgemma_ui.feedback.comparison import Arm, ComparisonVote
from medgemma_ui.imaging import prepare
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import ModelServer, Script

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
EXAMPLE = ROOT / "medgemma_ui" / "templates" / "data" / "examples" / "chest_xray_pa.dcm"
PROMPT_B = "Read this chest radiograph as a thoracic radiologist would, and answer as JSON."
ANSWER_A = (
    '{"cardiac_size": "normal", "pulmonary_findings": ["No focal consolidation."], '
    '"pleural_findings": [], "bone_findings": [], '
    '"impression": "No acute cardiopulmonary abnormality."}'
)
ANSWER_B = (
    '{"cardiac_size": "normal", "pulmonary_findings": ["Mild left basal atelectasis."], '
    '"pleural_findings": ["Small left pleural effusion."], '
    '"bone_findings": ["Degenerative changes of the thoracic spine."], '
    '"impression": "Small left effusion with basal atelectasis; no pneumothorax."}'
)


def answer_for(body: dict) -> str:
    prompt = body["messages"][0]["content"][-1]["text"]
    return ANSWER_B if PROMPT_B in prompt else ANSWER_A


def shoot(page: Page, name: str) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(SHOTS / name))


def test_a_blinded_comparison_hides_the_arms_until_the_vote(page: Page, tmp_path: Path) -> None:
    with ModelServer(Script(responder=answer_for, token_delay_s=0.002)) as server:
        settings = settings_for(server, tmp_path)
        prepared = prepare(EXAMPLE)
        arms = (
            Arm("Template prompt", "openai", "cxr"),
            Arm("Radiologist prompt", "openai", "cxr", PROMPT_B),
        )
        with FeedbackStore(settings.feedback.db_path) as store:
            store.create_comparison(
                "Chest prompt pilot", arms, [(prepared.jpeg, prepared.info.to_json())] * 2
            )
        with running_app(settings) as url:
            page.set_viewport_size({"width": 1440, "height": 900})
            page.goto(url)
            page.get_by_role("tab", name="Compare").click()
            expect(page.locator("#compare-session input")).to_have_value(
                "Chest prompt pilot (2 images)", timeout=20_000
            )
            page.locator("#compare-reviewer input, #compare-reviewer textarea").fill("Dr Okafor")
            page.locator("#compare-next").click()
            expect(page.locator("#compare-status")).to_contain_text(
                "Which answer is better?", timeout=30_000
            )
            left = page.locator("#compare-left").inner_text()
            right = page.locator("#compare-right").inner_text()
            assert {("effusion" in left.lower()), ("effusion" in right.lower())} == {True, False}
            body = page.locator("body").inner_text()
            for secret in ("Template prompt", "Radiologist prompt", "medgemma-test"):
                assert secret not in body
            effusion_side = "Left" if "effusion" in left.lower() else "Right"
            page.get_by_label(f"{effusion_side} is better").check()
            page.locator("#compare-comment textarea, #compare-comment input").fill(
                "Sees the small effusion."
            )
            page.locator("#compare-submit").click()
            reveal = page.locator("#compare-reveal")
            expect(reveal).to_contain_text("Vote saved", timeout=20_000)
            expect(reveal).to_contain_text("Radiologist prompt")
            expect(reveal).to_contain_text("Template prompt")
            expect(page.locator("#compare-submit")).to_be_disabled()
            page.evaluate("window.scrollTo(0, 0)")
            if os.environ.get("UPDATE_SCREENSHOTS") == "1":
                page.screenshot(path=str(SHOTS / "blinded.png"), full_page=True)
        with FeedbackStore(settings.feedback.db_path) as store:
            [vote] = list(store.iter_votes())
    assert vote.vote == "b" and vote.reviewer == "Dr Okafor"  # the radiologist prompt won
    assert vote.provenance_b["prompt"] == PROMPT_B


def seed(store: FeedbackStore) -> None:
    """A small session: three clinicians on the same answers, two templates and backends, two
    days, corrected boxes and blinded votes."""
    start = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
    reviewers = ("Dr Okafor", "Dr Lindqvist", "Dr Tanaka")
    overall = ("agree", "partly_agree", "disagree")
    n = 0
    for i in range(12):
        template, backend = (("cxr", "openai"), ("ct", "vertex"))[i % 2]
        image = hashlib.sha256(f"image {i}".encode()).hexdigest()
        for r, reviewer in enumerate(reviewers):
            n += 1
            verdicts = ("accept", "accept", "modify", "reject")
            ratings = {f"findings[{k}]": verdicts[(i + r * (k + i % 3)) % 4] for k in range(3)}
            store.import_records(
                [
                    FeedbackRecord(
                        id=hashlib.md5(f"{i}-{r}".encode()).hexdigest(),
                        created_at=(start + timedelta(days=i // 6, minutes=n)).isoformat(),
                        reviewer=reviewer,
                        session_label="2025-03 chest pilot",
                        image_sha256=image,
                        template_id=template,
                        backend=backend,
                        model="google/medgemma-4b-it" if backend == "openai" else "medgemma-27b",
                        raw_answers=[f"answer {i}"],
                        parsed={"findings": ["a", "b", "c"]},
                        valid=True,
                        overall_rating=overall[(i + (r if i % 3 == 0 else 0)) % 3],
                        finding_ratings=ratings,
                        finding_corrections={
                            p: "corrected text" for p, v in ratings.items() if v == "modify"
                        },
                    )
                ]
            )
    for i, iou in enumerate((0.82, 0.64, 0.71, 0.45, 0.9, 0.77)):
        box = {
            "label": "nodule",
            "model_xyxy": [10, 10, 60, 60],
            "corrected_xyxy": [12, 14, 66, 61],
        }
        store.import_records(
            [
                FeedbackRecord(
                    id=hashlib.md5(f"box {i}".encode()).hexdigest(),
                    created_at=(start + timedelta(hours=i)).isoformat(),
                    reviewer="Dr Tanaka",
                    image_sha256=hashlib.sha256(f"box {i}".encode()).hexdigest(),
                    template_id="cxr-localize",
                    backend="openai",
                    finding_ratings={"boxes[0]": "modify"},
                    finding_corrections={"boxes[0]": json.dumps(box | {"iou": iou})},
                )
            ]
        )
    arms = [Arm(label, "openai", "cxr").to_json() for label in ("4B", "27B", "4B + new prompt")]
    for i in range(30):
        a, b = (arms[0], arms[1]) if i % 3 else (arms[0], arms[2])
        store.save_vote(
            ComparisonVote(
                image_sha256=hashlib.sha256(f"vote {i}".encode()).hexdigest(),
                arm_a=a,
                arm_b=b,
                left_arm="ab"[i % 2],
                vote=("b", "b", "a", "both_good", "b")[i % 5],
                session_label="2025-03 chest pilot",
            )
        )


def test_the_agreement_dashboard_plots_a_session(page: Page, tmp_path: Path) -> None:
    with ModelServer(Script()) as server:
        settings = settings_for(server, tmp_path)
        settings = settings.with_changes(
            feedback=replace(settings.feedback, session_label="2025-03 chest pilot")
        )
        with FeedbackStore(settings.feedback.db_path) as store:
            seed(store)
        with running_app(settings) as url:
            page.set_viewport_size({"width": 1440, "height": 900})
            page.goto(url)
            page.get_by_role("tab", name="Review feedback").click()
            page.locator("#show-agreement").click()
            summary = page.locator("#agreement-summary")
            expect(summary).to_contain_text("findings reviewed", timeout=30_000)
            expect(summary).to_contain_text("Krippendorff's α")
            expect(summary).to_contain_text("30 blinded comparison votes")
            expect(summary).to_contain_text("6 corrected boxes")
            for plot in ("#finding-shares", "#rater-agreement", "#agreement-trend", "#box-iou"):
                expect(page.locator(plot)).to_be_visible()
            expect(page.locator("#win-rates .js-plotly-plot")).to_be_visible(timeout=20_000)
            expect(page.locator("#win-table")).to_contain_text("95% CI")
            page.wait_for_timeout(800)  # the plots' own transitions
            page.locator("#agreement-title").scroll_into_view_if_needed()
            page.evaluate(
                "window.scrollTo(0, window.scrollY + "
                "document.querySelector('#agreement-title').getBoundingClientRect().top - 8)"
            )
            page.wait_for_timeout(300)
            shoot(page, "dashboard.png")
            text = page.locator("body").inner_text()
    assert str(tmp_path) not in text and "MEDGEMMA_" not in text
