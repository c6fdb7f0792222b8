"""Capture the main states of the app with Debian's chromium into docs/screenshots/.

Run: make screenshots   (starts the app against a loopback model server; no network)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.support.app_runner import running_app, settings_for  # noqa: E402
from tests.support.model_server import ModelServer, Script  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
EXAMPLES = ROOT / "medgemma_ui" / "templates" / "data" / "examples"
ANSWER = (
    '{"cardiac_size": "normal", "pulmonary_findings": ["Mild left basal atelectasis."], '
    '"pleural_findings": [], "bone_findings": ["Degenerative changes of the thoracic spine."], '
    '"impression": "No acute cardiopulmonary abnormality; mild left basal atelectasis."}'
)


CT_ANSWER = (
    '{"body_region": "head", "contrast_enhanced": false, "findings": [{"location": "left '
    'frontoparietal", "description": "Crescentic extra-axial collection with mass effect."}], '
    '"incidental_findings": [], "impression": "Findings suggest a subdural collection; urgent '
    'clinical correlation."}'
)


DERM_ANSWER = (
    '{"lesion_description": "Solitary pigmented macule with two shades of brown.", '
    '"features": {"asymmetry": true, "border": "irregular", "colour": "light and dark brown", '
    '"diameter_mm": 7, "evolution": "not assessable from one image"}, '
    '"differential_diagnosis": ["Dysplastic naevus", "Early melanoma"], '
    '"concern_level": "moderate", "recommendation": "Dermoscopy and review by a dermatologist."}'
)


VOLUME_ANSWER = (
    '{"body_region": "head", "contrast_enhanced": false, "findings": [{"location": "left '
    'frontal lobe, slices 14-19", "description": "Hypodense area without mass effect."}], '
    '"incidental_findings": ["Mucosal thickening of the left maxillary sinus."], '
    '"impression": "Left frontal hypodensity, possibly an old infarct; compare with priors."}'
)
COMPARE_ANSWER = (
    '{"overall_change": "improved", "changes": [{"finding": "left basal opacity", "change": '
    '"improved"}, {"finding": "small left pleural effusion", "change": "resolved"}], '
    '"current_findings": ["Mild left basal atelectasis."], "impression": "Improving left '
    'basal changes; the effusion has resolved."}'
)
BOX_ANSWER = (
    "<unused94>thought\nThe patient's left lung is on the right of the image.<unused95>"
    '{"boxes": [{"box_2d": [190, 520, 800, 880], "label": "left lung"}]}'
)


def answer_for(body: dict) -> str:
    """A scripted answer that fits the template asked for (no model runs here)."""
    texts = [p["text"] for p in body["messages"][0]["content"] if p["type"] == "text"]
    prompt = texts[-1]
    if any(text.startswith("SLICE") for text in texts):
        return VOLUME_ANSWER
    if '"overall_change"' in prompt:
        return COMPARE_ANSWER
    if '"boxes"' in prompt:
        return BOX_ANSWER
    if '"body_region"' in prompt:
        return CT_ANSWER
    if '"lesion_description"' in prompt:
        return DERM_ANSWER
    return ANSWER


def analyse(page: Page, url: str, image: Path, template: str | None = None) -> None:
    page.goto(url)
    page.locator("#upload input[type=file]").set_input_files(str(image))
    expect(page.locator("#preview img")).to_be_visible(timeout=20_000)
    if template:
        page.locator("#template input").click()
        page.get_by_role("option", name=template).click()
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#validity")).to_contain_text("Valid", timeout=20_000)
    page.wait_for_timeout(500)


def choose(page: Page, template: str) -> None:
    page.locator("#template input").click()
    page.get_by_role("option", name=template, exact=True).click()


def studies(page: Page, url: str, tmp: Path) -> None:
    """The three MedGemma 1.5 study modes: a CT volume, prior versus current, a box."""
    from PIL import Image, ImageOps

    from benchmarks.prepare import data_file
    from tests.support.series import write_ct_series

    series = write_ct_series(tmp / "series", 40, source=data_file("693_UNCI.dcm"))
    page.goto(url)
    choose(page, "CT volume (MedGemma 1.5)")
    page.locator("#study-files input[type=file]").set_input_files([str(f) for f in series])
    expect(page.locator("#facts-summary")).to_contain_text("will be sent", timeout=30_000)
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#validity")).to_contain_text("Valid", timeout=60_000)
    page.wait_for_timeout(800)
    page.evaluate("window.scrollTo(0, document.querySelector('#sent-strip').offsetTop - 300)")
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / "volume.png", full_page=False)

    from medgemma_ui.imaging import prepare

    current = prepare(EXAMPLES / "chest_xray_pa.dcm").image
    prior = ImageOps.autocontrast(current.convert("L"), cutoff=4).convert("RGB")
    prior_path, current_path = tmp / "prior.png", tmp / "current.png"
    prior.save(prior_path)
    current.save(current_path)
    page.goto(url)
    choose(page, "Chest X-ray: prior vs current")
    page.locator("#upload input[type=file]").set_input_files(str(current_path))
    expect(page.locator("#preview img")).to_be_visible(timeout=20_000)
    page.locator("#prior-upload input[type=file]").set_input_files(str(prior_path))
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#validity")).to_contain_text("Valid", timeout=30_000)
    page.wait_for_timeout(800)
    page.evaluate("window.scrollTo(0, document.querySelector('#compare-view').offsetTop - 200)")
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / "compare.png", full_page=False)

    page.goto(url)
    choose(page, "Chest X-ray: locate anatomy")
    target = page.locator("#target input")
    target.fill("left lung")
    target.press("Enter")
    page.locator("#upload input[type=file]").set_input_files(str(EXAMPLES / "chest_xray_pa.dcm"))
    expect(page.locator("#preview img")).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Analyze").click()
    expect(page.locator("#validity")).to_contain_text("Valid", timeout=30_000)
    page.wait_for_timeout(800)
    page.evaluate("window.scrollTo(0, document.querySelector('#boxes-view').offsetTop - 200)")
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / "localize.png", full_page=False)
    Image.open(OUT / "localize.png").load()


def top(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["y"] + page.evaluate("window.scrollY")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        ModelServer(Script(responder=answer_for, token_delay_s=0.005)) as server,
        tempfile.TemporaryDirectory() as tmp,
        running_app(settings_for(server, Path(tmp))) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.wait_for_timeout(800)
        page.screenshot(path=OUT / "empty.png", full_page=False)

        # What a clinician sees without scrolling at 1440 × 900: the image and the report.
        analyse(page, url, EXAMPLES / "chest_xray_pa.dcm")
        page.locator("#workspace").scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, document.querySelector('#workspace').offsetTop - 8)")
        page.wait_for_timeout(300)
        page.screenshot(path=OUT / "result.png", full_page=False)
        print(
            f"desktop: preview top {top(page, '#preview'):.0f} px, "
            f"report top {top(page, '#report'):.0f} px"
        )

        notes = Path(tmp) / "notes.txt"
        notes.write_text("Discharge letter.\n" * 40)
        page.goto(url)
        page.locator("#upload input[type=file]").set_input_files(str(notes))
        expect(page.locator("#facts-summary")).to_contain_text("cannot be used", timeout=20_000)
        page.wait_for_timeout(300)
        page.screenshot(path=OUT / "error.png", full_page=False)

        dark = browser.new_page(viewport={"width": 1440, "height": 900})
        analyse(dark, url + "?__theme=dark", EXAMPLES / "ct_head.dcm")
        dark.evaluate("window.scrollTo(0, document.querySelector('#workspace').offsetTop - 8)")
        dark.wait_for_timeout(300)
        dark.screenshot(path=OUT / "dark.png", full_page=False)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        analyse(phone, url, EXAMPLES / "skin_lesion_synthetic.jpg", template="Dermatology")
        phone.screenshot(path=OUT / "phone.png", full_page=True)
        upload_top, analyze_top = top(phone, "#upload"), top(phone, "#analyze")
        screens = (analyze_top - upload_top) / 844
        below = analyze_top - upload_top
        print(f"phone: Analyze is {below:.0f} px below the upload ({screens:.2f} screens)")
        studies(browser.new_page(viewport={"width": 1440, "height": 900}), url, Path(tmp))
        browser.close()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
