"""MedGemma 1.5 study modes against a recording loopback server: a CT series (85 of 100 slices in
InstanceNumber order, each followed by `SLICE k`, the query last), prior before current, and
localisation boxes mapped back to the original pixels."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from medgemma_ui.analysis import AnalysisRequest, analyze, analyze_to_result
from medgemma_ui.boxes import from_pixels, iou, to_pixels
from medgemma_ui.imaging import ImageError, prepare
from medgemma_ui.imaging.series import plan_series, select_slices
from medgemma_ui.templates import get_template
from tests.analysis.conftest import png_bytes
from tests.support.series import slice_number, write_ct_series

CT_ANSWER = json.dumps(
    {
        "body_region": "abdomen",
        "contrast_enhanced": False,
        "findings": [],
        "incidental_findings": [],
        "impression": "No acute abnormality.",
    }
)
COMPARE_ANSWER = json.dumps(
    {
        "overall_change": "improved",
        "changes": [{"finding": "right basal consolidation", "change": "improved"}],
        "current_findings": ["minor right basal atelectasis"],
        "impression": "Improving right basal consolidation.",
    }
)


def content_of(body: dict) -> list:
    """The one user turn as ("image", jpeg bytes) and ("text", text) items."""
    (message,) = body["messages"]
    items = []
    for part in message["content"]:
        if part["type"] == "image_url":
            url = part["image_url"]["url"]
            items.append(("image", base64.b64decode(url.split(",", 1)[1])))
        else:
            items.append(("text", part["text"]))
    return items


def test_slice_selection_is_google_notebooks_formula():
    assert select_slices(85) == list(range(85))
    chosen = select_slices(100)
    assert len(chosen) == 85 and chosen == sorted(set(chosen))
    assert chosen[0] == 1 and chosen[-1] == 99  # i starts at 1: slice 0 is skipped (the quirk)
    assert chosen[:5] == [1, 2, 3, 5, 6] and chosen[42] == 50  # 99·i/85 rounded, by hand
    assert select_slices(200)[:3] == [2, 5, 7]


async def test_a_ct_series_is_sent_as_85_slices_in_order_with_the_query_last(
    make_server, make_backend, tmp_path: Path
):
    files = write_ct_series(tmp_path / "series", 100)
    server = make_server([CT_ANSWER])
    request = AnalysisRequest(tuple(files), template_id="auto", parse_retries=0)

    result = await analyze_to_result(request, make_backend(server))

    template = get_template("ct-volume")
    assert result.template_id == "ct-volume" and result.valid
    items = content_of(server.requests[0].body)
    assert items[0] == ("text", template.lead.strip())
    slices = items[1:-1]
    assert len(slices) == 170
    assert [kind for kind, _ in slices] == ["image", "text"] * 85
    assert [text for kind, text in slices if kind == "text"] == [f"SLICE {k}" for k in range(1, 86)]
    kind, query = items[-1]
    assert kind == "text" and query == template.build_prompt()
    assert query.startswith("Based on the visual evidence in the slices provided above")
    # The images are the selected slices, in InstanceNumber order, through the 1.5 windows.
    by_number = {slice_number(f): f for f in files}
    expected = [prepare(by_number[i + 1], window="medgemma").jpeg for i in select_slices(100)]
    sent = [data for kind, data in slices if kind == "image"]
    assert sent == expected
    provenance = result.provenance
    assert provenance.series_slices == 100 and provenance.window == "medgemma"
    assert [item["slice_index"] for item in provenance.inputs] == select_slices(100)
    assert list(provenance.image_sha256) == [hashlib.sha256(j).hexdigest() for j in sent]
    assert all(len(item["instance_sha256"]) == 64 for item in provenance.inputs)
    assert provenance.lead == template.lead.strip()


async def test_a_series_without_instance_numbers_is_sorted_along_the_normal(tmp_path: Path):
    files = write_ct_series(tmp_path / "s", 12, with_numbers=False, seed=3)
    plan = plan_series(files)
    assert [slice_number(Path(s.source)) for s in plan.slices] == list(range(1, 13))


def test_several_series_are_listed_and_one_can_be_chosen(tmp_path: Path):
    first = write_ct_series(tmp_path / "a", 6)
    second = write_ct_series(tmp_path / "b", 4)
    with pytest.raises(ImageError, match=r"hold 2 series: 1\) CT, .*6 image\(s\); 2\) CT"):
        plan_series([*first, *second])
    chosen = plan_series([*first, *second], choose=2)
    assert chosen.total == 4 and {Path(s.source) for s in chosen.slices} == set(second)


def test_mixed_orientations_are_refused_with_a_sentence(tmp_path: Path):
    axial = write_ct_series(tmp_path / "a", 3, series_uid="1.2.3.4")
    coronal = write_ct_series(
        tmp_path / "c", 3, series_uid="1.2.3.4", orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    )
    with pytest.raises(ImageError, match="mixes slice orientations"):
        plan_series([*axial, *coronal])


async def test_a_multi_frame_mr_file_is_a_series_of_its_frames(make_server, make_backend):
    from medgemma_ui.templates import templates_dir

    path = templates_dir() / "examples" / "mri_volume_multiframe.dcm"
    server = make_server([CT_ANSWER])
    request = AnalysisRequest((path,), template_id="mri-volume", parse_retries=0)
    result = await analyze_to_result(request, make_backend(server))
    items = content_of(server.requests[0].body)
    assert [t for k, t in items if k == "text"][1:-1] == [f"SLICE {k}" for k in range(1, 11)]
    assert [item["frame_index"] for item in result.provenance.inputs] == list(range(10))


async def test_prior_is_sent_before_current_and_the_result_is_bound_to_the_current(
    make_server, make_backend
):
    prior, current = png_bytes(seed=1), png_bytes(seed=2)
    server = make_server([COMPARE_ANSWER])
    request = AnalysisRequest((prior, current), template_id="cxr-compare", parse_retries=0)

    events = [e async for e in analyze(request, make_backend(server))]

    result = events[-1].result
    items = content_of(server.requests[0].body)
    assert [kind for kind, _ in items] == ["image", "image", "text"]
    assert items[0][1] == prepare(prior).jpeg and items[1][1] == prepare(current).jpeg
    assert items[2][1] == get_template("cxr-compare").build_prompt()
    assert [i["role"] for i in result.provenance.inputs] == ["prior", "current"]
    assert result.image_sha256 == prepare(current).sha256
    assert result.valid and result.parsed["overall_change"] == "improved"


def test_the_compare_template_refuses_one_image():
    with pytest.raises(ValueError, match="prior image and the current one"):
        AnalysisRequest((png_bytes(),), template_id="cxr-compare")


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("width", "height"), [(600, 900), (900, 600), (700, 700), (1955, 1841), (333, 1000)]
)
def test_boxes_map_back_to_original_pixels_within_a_pixel(width: int, height: int):
    # A box drawn on the original image, expressed as the model would see it on the sent square,
    # comes back to where it was drawn.
    drawn = (0.1 * width, 0.2 * height, 0.6 * width, 0.9 * height)
    box_2d = from_pixels(drawn, (width, height))
    back = to_pixels(box_2d, (width, height))
    assert max(abs(a - b) for a, b in zip(back, drawn, strict=True)) <= 1.0
    # And the whole square's corners land on the image's corners (the padding is undone).
    assert to_pixels((0, 0, 1000, 1000), (width, height)) == (0.0, 0.0, width, height)


def test_the_padding_is_measured_on_the_jpeg_that_was_sent():
    # A white rectangle on a portrait image: where it appears on the sent 896² JPEG, read off the
    # pixels, maps back to where it was drawn.
    width, height = 600, 900
    image = Image.new("L", (width, height), 0)
    image.paste(255, (150, 300, 450, 600))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    sent = prepare(buffer.getvalue()).image.convert("L")
    columns = [x for x in range(896) if sent.getpixel((x, 448)) > 128]
    rows = [y for y in range(896) if sent.getpixel((448, y)) > 128]
    box_2d = [v / 896 * 1000 for v in (rows[0], columns[0], rows[-1] + 1, columns[-1] + 1)]
    x0, y0, x1, y1 = to_pixels(box_2d, (width, height))
    assert abs(x0 - 150) <= 1 and abs(y0 - 300) <= 1 and abs(x1 - 450) <= 1 and abs(y1 - 600) <= 1


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3, abs=1e-4)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


async def test_localisation_asks_for_the_target_and_returns_boxes_in_pixels(
    make_server, make_backend
):
    answer = (
        "<unused94>thought\nThe patient's left lung is on the image's right.<unused95>"
        '```json\n[{"box_2d": [100, 500, 900, 950], "label": "left lung"}]\n```'
    )
    server = make_server([answer])
    image = _png(600, 900)
    request = AnalysisRequest(
        (image,), template_id="cxr-localize", target="left lung", parse_retries=0
    )

    result = await analyze_to_result(request, make_backend(server))

    items = content_of(server.requests[0].body)
    assert [kind for kind, _ in items] == ["image", "text"]
    assert "Locate the left lung on this chest X-ray" in items[1][1]
    assert "{target}" not in items[1][1] and "patient's left" in items[1][1]
    assert result.valid
    (box,) = result.boxes
    assert box.label == "left lung" and box.box_2d == (100, 500, 900, 950)
    assert box.xyxy == to_pixels((100, 500, 900, 950), (600, 900))
    line = result.to_json()
    assert line["boxes"] == [box.to_json()]
    assert line["provenance"]["target"] == "left lung"
    assert "thought" in result.raw  # the raw answer keeps the thinking


def test_localisation_needs_a_target():
    with pytest.raises(ValueError, match="should locate"):
        AnalysisRequest((_png(10, 10),), template_id="cxr-localize")


async def test_a_server_image_limit_is_one_sentence_naming_the_setting_and_the_size(
    make_server, make_backend, tmp_path: Path
):
    from medgemma_ui.backends import BackendError

    files = write_ct_series(tmp_path / "series", 20)
    server = make_server(
        [CT_ANSWER],
        statuses=[400],
        error_message="At most 1 image(s) may be provided in one request.",
    )
    request = AnalysisRequest(tuple(files), template_id="ct-volume", parse_retries=0)
    with pytest.raises(BackendError) as caught:
        await analyze_to_result(request, make_backend(server))
    message = str(caught.value)
    assert caught.value.kind == "too_many_images"
    assert "--limit-mm-per-prompt" in message and "This request held 20 images" in message
    assert message.endswith("MB).") and "\n" not in message


async def test_the_request_size_is_in_the_provenance(make_server, make_backend, tmp_path: Path):
    files = write_ct_series(tmp_path / "series", 5)
    server = make_server([CT_ANSWER])
    request = AnalysisRequest(tuple(files), template_id="ct-volume", parse_retries=0)
    result = await analyze_to_result(request, make_backend(server))
    body = server.requests[0].raw.decode()
    sent_content = json.dumps(server.requests[0].body["messages"][0]["content"])
    assert result.provenance.request_bytes > 0
    # The content's own size (images as data URIs, texts), within the JSON punctuation around it.
    assert 0.95 < result.provenance.request_bytes / len(sent_content) < 1.0
    assert len(body) > result.provenance.request_bytes


def _zip(files: list[Path], target: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, f"series/{path.name}")
        archive.writestr("__MACOSX/._junk", b"resource fork")
    return target


async def test_a_zip_of_a_series_is_the_series(make_server, make_backend, tmp_path: Path):
    files = write_ct_series(tmp_path / "series", 30)
    archive = _zip(files, tmp_path / "series.zip")
    server = make_server([CT_ANSWER])
    backend = make_backend(server)
    from_zip = await analyze_to_result(AnalysisRequest((archive,), parse_retries=0), backend)
    from_files = await analyze_to_result(AnalysisRequest(tuple(files), parse_retries=0), backend)
    assert from_zip.template_id == "ct-volume" and from_zip.provenance.series_slices == 30
    assert from_zip.provenance.image_sha256 == from_files.provenance.image_sha256


def test_an_archive_over_the_limits_is_refused_before_unpacking(tmp_path: Path):
    from medgemma_ui.settings import ImageLimits

    files = write_ct_series(tmp_path / "series", 6)
    archive = _zip(files, tmp_path / "series.zip")
    with pytest.raises(ImageError, match="holds 6 files, over the 5-image limit"):
        plan_series([archive], ImageLimits(max_frames=5))
    small = ImageLimits(max_bytes=archive.stat().st_size + 10)  # the zip fits, its contents do not
    with pytest.raises(ImageError, match="unpacks to more than"):
        plan_series([archive], small)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(ImageError, match=r"could not be read|damaged"):
        plan_series([broken])


async def test_each_slice_is_prepared_once(make_server, make_backend, tmp_path: Path):
    from medgemma_ui.analysis import thread_preparer

    files = write_ct_series(tmp_path / "series", 100)
    calls: list[tuple] = []
    inner = thread_preparer()

    async def counting(source, *, window, frame):
        calls.append((str(source), window, frame))
        return await inner(source, window=window, frame=frame)

    server = make_server([CT_ANSWER])
    request = AnalysisRequest(tuple(files), template_id="ct-volume", parse_retries=0)
    await analyze_to_result(request, make_backend(server), preparer=counting)
    assert len(calls) == 85 and len(set(calls)) == 85


async def test_prepared_images_without_a_series_template_get_a_sentence(make_backend, make_server):
    images = (prepare(png_bytes(seed=1)), prepare(png_bytes(seed=2)))
    with pytest.raises(ImageError, match="No template reads a series of PNG images"):
        await analyze_to_result(AnalysisRequest(images), make_backend(make_server([CT_ANSWER])))
