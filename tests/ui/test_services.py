"""Process-wide services: the prepared-image cache shared by preview and Analyze."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from medgemma_ui.imaging import ImageError
from medgemma_ui.imaging.workers import PreparePool
from medgemma_ui.settings import Settings
from medgemma_ui.ui.services import Services, create_services

EXAMPLES = Path(__file__).resolve().parents[2] / "medgemma_ui" / "templates" / "data" / "examples"


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator[Callable[[], Services]]:
    """Services as the server makes them; their image workers are stopped after the test."""
    made: list[Services] = []

    def make() -> Services:
        base = Settings.from_env({})
        feedback = replace(base.feedback, db_path=tmp_path / "f.sqlite3")
        made.append(create_services(base.with_changes(feedback=feedback)))
        return made[-1]

    yield make
    for services in made:
        services.prepare_pool.close()


async def test_analyze_reuses_the_preview_and_other_windows_are_prepared_anew(
    tmp_path, make_services
):
    services = make_services()
    path = str(EXAMPLES / "ct_head.dcm")
    preview = await services.prepare(path)  # the upload: default window and frame
    # Analyze passes the window and frame the preview resolved to: the same image, no new decode.
    again = await services.prepare(path, window=preview.info.window, frame=preview.info.frame_index)
    assert again is preview
    lung = await services.prepare(path, window="lung", frame=0)
    assert lung is not preview and lung.sha256 != preview.sha256


async def test_cache_is_bounded(tmp_path, make_services):
    services = make_services()
    services.prepared_cache_size = 4
    path = str(EXAMPLES / "ct_head.dcm")
    for window in ("lung", "bone", "brain", "liver", "soft_tissue", "mediastinum"):
        await services.prepare(path, window=window, frame=0)
    assert len(services._prepared) <= 4


async def test_a_changed_file_is_prepared_again(tmp_path, make_services):
    services = make_services()
    target = tmp_path / "upload.jpg"
    target.write_bytes((EXAMPLES / "skin_lesion_synthetic.jpg").read_bytes())
    first = await services.prepare(str(target))
    target.write_bytes((EXAMPLES / "fundus_synthetic.png").read_bytes())
    second = await services.prepare(str(target))
    assert second.sha256 != first.sha256


async def test_a_purged_upload_gets_the_clear_image_error(tmp_path, make_services):
    services = make_services()
    with pytest.raises(ImageError, match="could not be read"):
        await services.prepare(str(tmp_path / "purged-upload.dcm"))


async def test_the_same_bytes_uploaded_again_are_not_decoded_again(tmp_path, make_services):
    """Gradio stores every upload under a new path; the cache goes by content."""
    services = make_services()
    data = (EXAMPLES / "ct_head.dcm").read_bytes()
    first_upload, second_upload = tmp_path / "a" / "ct.dcm", tmp_path / "b" / "ct.dcm"
    for upload in (first_upload, second_upload):
        upload.parent.mkdir()
        upload.write_bytes(data)
    first = await services.prepare(str(first_upload))
    again = await services.prepare(str(second_upload))
    assert again is first
    other = tmp_path / "c.dcm"
    other.write_bytes(data + b"\0")  # one byte more: another file
    assert await services.prepare(str(other)) is not first


async def test_a_new_image_keeps_a_chosen_study_mode_and_suggests_otherwise(
    tmp_path, make_services
):
    """Uploading a chest radiograph suggests the chest template, unless a comparison,
    localisation or series template was chosen on purpose."""
    import gradio as gr

    from medgemma_ui.ui.handlers.preview import preview_new_file

    services = make_services()
    chest = str(EXAMPLES / "chest_xray_pa.dcm")
    suggested = await preview_new_file(chest, "auto", services)
    assert suggested["template"] == "cxr"
    kept = await preview_new_file(chest, "cxr-localize", services)
    assert kept["template"] is gr.skip() or kept["template"] == gr.skip()
    switched = await preview_new_file(chest, "ct", services)
    assert switched["template"] == "cxr"


async def test_a_file_refused_as_too_large_is_not_prepared_again(tmp_path, make_services):
    """A file that hit a limit or the time limit in the preview is refused again at once when
    Analyze (or another upload of the same bytes) asks for it: never run twice."""
    from tests.hardening.bombs import progressive_jpeg

    services = make_services()
    services.prepare_pool.close()
    services.prepare_pool = PreparePool(1, timeout_s=1.0)
    slow = tmp_path / "slow.jpg"
    slow.write_bytes(progressive_jpeg(7000, 240, "RGB"))
    try:
        start = time.perf_counter()
        with pytest.raises(ImageError, match="longer than 1 s") as first:
            await services.prepare(str(slow))
        assert time.perf_counter() - start >= 1.0
        again = tmp_path / "again.jpg"
        again.write_bytes(slow.read_bytes())
        start = time.perf_counter()
        with pytest.raises(ImageError) as second:
            await services.prepare(str(again))
        assert time.perf_counter() - start < 0.5
        assert str(second.value) == str(first.value) and second.value.kind == "too_large"
    finally:
        services.prepare_pool.close()


async def test_the_series_preview_follows_the_chosen_series(tmp_path, make_services):
    """Files of two series: without a choice the preview says which there are; with one it
    shows that series' middle slice and how many of its slices go."""
    from medgemma_ui.ui.handlers.preview import preview_series
    from tests.support.series import write_ct_series

    services = make_services()
    first = write_ct_series(tmp_path / "a", 7)
    second = write_ct_series(tmp_path / "b", 4)
    paths = [str(p) for p in (*first, *second)]
    unchosen = await preview_series(paths, "ct-volume", services)
    assert "hold 2 series" in unchosen["facts_summary"]
    chosen = await preview_series(paths, "ct-volume", services, 2)
    assert chosen["facts_summary"].startswith("Series: CT · 4 slices, 4 will be sent")
    assert chosen["preview"] is not None


async def test_an_image_is_shown_from_one_png_of_the_exact_pixels_sent(tmp_path, make_services):
    import numpy as np
    from PIL import Image

    from medgemma_ui.ui.access import CALLER, Caller

    services = make_services()
    image = await services.prepare(str(EXAMPLES / "chest_xray_pa.dcm"))
    token = CALLER.set(Caller(login="bob", owner="login:bob"))
    try:
        path = await services.shown(image)
        changed = Path(path).stat().st_ctime_ns
        time.sleep(0.01)
        assert await services.shown(image) == path  # written once, then the same file
        # ... touched when handed out again: Gradio's purge ages files by their last change.
        assert Path(path).stat().st_ctime_ns > changed
    finally:
        CALLER.reset(token)
    with Image.open(path) as png:
        assert png.format == "PNG" and np.array_equal(np.asarray(png), np.asarray(image.image))
    assert Path(path).stat().st_mode & 0o777 == 0o600
    assert Path(path).parent.stat().st_mode & 0o777 == 0o700
    assert services.uploads.owner(path) == (True, "bob")  # the file routes serve it to bob only
    assert path in services.given  # purged by Gradio with the uploads
    assert await services.shown(image) != path  # nobody signed in: another file
    Path(path).unlink()  # Gradio's hourly purge
    token = CALLER.set(Caller(login="bob", owner="login:bob"))
    try:
        again = await services.shown(image)
    finally:
        CALLER.reset(token)
    assert again != path and Path(again).is_file()


async def test_preview_then_analyze_writes_the_shown_png_once(tmp_path, monkeypatch):
    from medgemma_ui.ui.handlers.analyze import analyze
    from medgemma_ui.ui.handlers.preview import preview_new_file
    from medgemma_ui.ui.services import Services
    from tests.support.app_runner import settings_for
    from tests.support.model_server import CXR_ANSWER, ModelServer, Script
    from tests.ui.test_binding import analyze_inputs

    writes: list[str] = []
    real_write = Services._write_shown

    def counted(self, image, login):
        writes.append(image.sha256)
        return real_write(self, image, login)

    monkeypatch.setattr(Services, "_write_shown", counted)
    with ModelServer(Script(answers=[CXR_ANSWER])) as model:
        services = create_services(settings_for(model, tmp_path))
        chest = str(EXAMPLES / "chest_xray_pa.dcm")
        try:
            previewed = await preview_new_file(chest, "cxr", services)
            updates = [
                u async for u in analyze(analyze_inputs(file_path=chest, template="cxr"), services)
            ]
        finally:
            services.prepare_pool.close()
    shown = [u["preview"] for u in updates if "preview" in u]
    assert len(shown) == 2 and set(shown) == {previewed["preview"]}
    assert len(writes) == 1
