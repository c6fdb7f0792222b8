"""Fullscreen preview zoom and pan (issue 12): assets/zoom.js in Debian's chromium.

Gradio 6.31's Image fullscreen button only pins the #preview block over the viewport (class
`fullscreen`); zoom.js adds wheel zoom about the cursor, drag to pan, two-pointer pinch and
double-click reset, through a CSS transform that never touches the image's pixels or src.

`UPDATE_SCREENSHOTS=1` also writes the zoomed state to docs/screenshots/fullscreen.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_app import EXAMPLES, TIMEOUT_MS, upload
from tests.support.app_runner import running_app, settings_for
from tests.support.model_server import ModelServer, Script

pytestmark = pytest.mark.browser

FULLSCREEN = re.compile(r"\bfullscreen\b")  # Gradio's pseudo-fullscreen class on the block
VIEWPORT = {"width": 1440, "height": 900}
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "fullscreen.png"

# The image's box, its transform as (scale, tx, ty), and what must never change.
STATE_JS = """img => {
  const r = img.getBoundingClientRect();
  const m = new DOMMatrixReadOnly(getComputedStyle(img).transform);
  return {left: r.left, top: r.top, width: r.width, height: r.height,
          scale: m.a, tx: m.e, ty: m.f, src: img.getAttribute("src"),
          naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
          rendering: getComputedStyle(img).imageRendering};
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with (
        ModelServer(Script()) as server,
        running_app(settings_for(server, tmp_path_factory.mktemp("zoom"))) as url,
    ):
        yield url


def open_fullscreen(page: Page, url: str, example: str = "chest_xray_pa.dcm") -> dict:
    page.goto(url)
    upload(page, EXAMPLES / example)
    image = page.locator("#preview img")
    expect(image).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#preview img').complete", timeout=TIMEOUT_MS)
    before = state(page)
    page.locator("#preview").get_by_role("button", name="Fullscreen").click()
    expect(page.locator("#preview")).to_have_class(FULLSCREEN, timeout=TIMEOUT_MS)
    # Gradio's pop-out animation runs first; wait until the image fills the viewport.
    tall = 0.9 * VIEWPORT["height"]
    page.wait_for_function(
        f"document.querySelector('#preview img').getBoundingClientRect().height >= {tall}",
        timeout=TIMEOUT_MS,
    )
    opened = state(page)
    assert opened["scale"] == pytest.approx(1)
    assert (opened["src"], opened["naturalWidth"]) == (before["src"], before["naturalWidth"])
    return opened


def state(page: Page) -> dict:
    return page.locator("#preview img").evaluate(STATE_JS)


def wait_for_scale(page: Page, more_than: float) -> dict:
    page.wait_for_function(
        "new DOMMatrixReadOnly(getComputedStyle(document.querySelector('#preview img'))"
        f".transform).a > {more_than}",
        timeout=TIMEOUT_MS,
    )
    return state(page)


def test_wheel_zooms_about_the_cursor_drag_pans_double_click_resets(page: Page, app_url: str):
    errors: list[Exception] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.set_viewport_size(VIEWPORT)
    fit = open_fullscreen(page, app_url)
    assert fit["width"] == pytest.approx(VIEWPORT["width"], abs=2)
    assert fit["naturalWidth"] == fit["naturalHeight"] == 896

    # Wheel up over a point right of centre: zoom in, that point stays under the cursor.
    cx, cy = 900.0, 300.0
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    zoomed = wait_for_scale(page, 1.5)
    page.wait_for_timeout(200)  # the whole wheel burst has landed
    zoomed = state(page)
    px, py = cx - fit["left"], cy - fit["top"]
    assert zoomed["left"] + zoomed["scale"] * px == pytest.approx(cx, abs=1)
    assert zoomed["top"] + zoomed["scale"] * py == pytest.approx(cy, abs=1)
    assert zoomed["width"] == pytest.approx(fit["width"] * zoomed["scale"], rel=0.01)
    assert zoomed["rendering"] == "pixelated"  # past 1:1 the model's pixels show as squares
    expect(page.locator("#preview")).to_have_attribute("data-zoom", f"×{zoomed['scale']:.1f}")

    # Drag: the image follows the pointer...
    page.mouse.move(720, 450)
    page.mouse.down()
    page.mouse.move(820, 500, steps=5)
    page.mouse.move(920, 550, steps=5)
    page.mouse.up()
    panned = state(page)
    assert panned["scale"] == pytest.approx(zoomed["scale"])
    assert panned["tx"] == pytest.approx(zoomed["tx"] + 200, abs=1)
    assert panned["ty"] == pytest.approx(zoomed["ty"] + 100, abs=1)

    # ...but not past the picture's edge: the square 896² picture is drawn 900 px tall in the
    # middle of the 1440 px wide overlay, and its right edge stops at the screen's right edge.
    page.mouse.move(920, 550)
    page.mouse.down()
    page.mouse.move(20, 550, steps=10)
    page.mouse.up()
    edge = state(page)
    bar = (VIEWPORT["width"] - VIEWPORT["height"]) / 2
    assert edge["left"] + (VIEWPORT["width"] - bar) * edge["scale"] == pytest.approx(
        VIEWPORT["width"], abs=1
    )
    page.mouse.move(20, 550)
    page.mouse.down()
    page.mouse.move(920, 550, steps=10)
    page.mouse.up()
    panned = state(page)

    # Only the view changed: same src, same decoded size.
    assert (panned["src"], panned["naturalWidth"], panned["naturalHeight"]) == (
        fit["src"],
        fit["naturalWidth"],
        fit["naturalHeight"],
    )
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None
    if shot:
        page.screenshot(path=str(shot))

    page.mouse.dblclick(720, 450)
    reset = state(page)
    assert (reset["scale"], reset["tx"], reset["ty"]) == (1, 0, 0)
    assert reset["src"] == fit["src"]

    # Leaving fullscreen keeps the normal preview untouched.
    page.mouse.move(800, 400)
    page.mouse.wheel(0, -300)
    wait_for_scale(page, 1.2)
    page.locator("#preview").get_by_role("button", name="Exit fullscreen mode").click()
    expect(page.locator("#preview")).not_to_have_class(FULLSCREEN)
    assert state(page)["scale"] == 1
    assert not errors


def test_wheel_outside_fullscreen_scrolls_the_page(page: Page, app_url: str):
    page.set_viewport_size(VIEWPORT)
    page.goto(app_url)
    upload(page, EXAMPLES / "chest_xray_pa.dcm")
    image = page.locator("#preview img")
    expect(image).to_be_visible(timeout=TIMEOUT_MS)
    box = image.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 300)
    page.wait_for_function("window.scrollY > 0", timeout=TIMEOUT_MS)
    assert state(page)["scale"] == 1


def test_new_image_resets_the_zoom(page: Page, app_url: str):
    page.set_viewport_size(VIEWPORT)
    fit = open_fullscreen(page, app_url)
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -400)
    wait_for_scale(page, 1.5)

    # Gradio swapping the src of the same <img> (a new window or frame) starts at "fit".
    page.locator("#preview img").evaluate("img => img.setAttribute('src', img.src + '#again')")
    page.wait_for_function(
        "getComputedStyle(document.querySelector('#preview img')).transform === 'none'",
        timeout=TIMEOUT_MS,
    )

    # A new file while fullscreen (the file panel sits under the overlay, so click it by event).
    page.mouse.wheel(0, -400)
    wait_for_scale(page, 1.5)
    page.locator("#upload").get_by_role("button", name="Clear").dispatch_event("click")
    upload(page, EXAMPLES / "mri_shoulder.dcm")
    page.wait_for_function(
        "old => { const img = document.querySelector('#preview img');"
        " return !!img && img.complete && !img.src.startsWith(old); }",
        arg=fit["src"],
        timeout=TIMEOUT_MS,
    )
    expect(page.locator("#preview")).to_have_class(FULLSCREEN)
    after = state(page)
    assert (after["scale"], after["tx"], after["ty"]) == (1, 0, 0)
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -400)
    assert wait_for_scale(page, 1.5)["src"] == after["src"]


def test_two_finger_pinch_zooms_and_pans(browser: Browser, app_url: str):
    context = browser.new_context(viewport=VIEWPORT, has_touch=True)
    try:
        page = context.new_page()
        open_fullscreen(page, app_url)
        cdp = context.new_cdp_session(page)

        def touch(kind: str, points: list[tuple[float, float]]) -> None:
            cdp.send(
                "Input.dispatchTouchEvent",
                {
                    "type": kind,
                    "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
                },
            )

        # Fingers 100 px apart spread to 300 px about (720, 450): a 3× pinch.
        touch("touchStart", [(670, 450), (770, 450)])
        for step in range(1, 11):
            half = 50 + step * 10
            touch("touchMove", [(720 - half, 450), (720 + half, 450)])
        touch("touchEnd", [])
        pinched = state(page)
        assert pinched["scale"] == pytest.approx(3, rel=0.02)
        # The midpoint stayed put: it still shows the image point it showed before the pinch.
        scale = pinched["scale"]
        under = [(720 - pinched["left"]) / scale, (450 - pinched["top"]) / scale]
        assert under == pytest.approx([720, 450], abs=2)

        # One finger pans.
        touch("touchStart", [(720, 450)])
        for step in range(1, 6):
            touch("touchMove", [(720 - 20 * step, 450 - 10 * step)])
        touch("touchEnd", [])
        panned = state(page)
        assert panned["tx"] == pytest.approx(pinched["tx"] - 100, abs=1)
        assert panned["ty"] == pytest.approx(pinched["ty"] - 50, abs=1)
        assert panned["naturalWidth"] == 896
    finally:
        context.close()
