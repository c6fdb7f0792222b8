"""A CT volume from files to the request body ready: ours against a plain sequential loop.

    .venv/bin/python benchmarks/volume.py [--slices 100] [--repeat 3]

The series is built from the real 512×512 head CT in pydicom-data (`693_UNCI.dcm`): N instances
with their own InstanceNumber, position and pixel values, in shuffled file order. Both sides do
the same work: read every header, sort by InstanceNumber, keep 85 slices as Google's notebook
does, rescale to HU, apply MedGemma 1.5's three windows as RGB, pad and resize to 896² and
encode a JPEG (quality 95, 4:4:4), then build the chat-completions JSON body with each slice
followed by `SLICE k`. Ours: `analysis.prepare_request` with the image workers (one decode per
slice, in parallel). Baseline: pydicom + numpy + Pillow in one loop. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def baseline(files: list[Path], lead: str, query: str) -> bytes:
    import pydicom
    from pydicom.pixels import apply_rescale

    headers = [(pydicom.dcmread(f, stop_before_pixels=True), f) for f in files]
    ordered = [f for ds, f in sorted(headers, key=lambda h: int(h[0].InstanceNumber))]
    n = len(ordered)
    chosen = ordered if n <= 85 else [ordered[round(i / 85 * (n - 1))] for i in range(1, 86)]
    content: list[dict] = [{"type": "text", "text": lead}]
    for k, path in enumerate(chosen, 1):
        ds = pydicom.dcmread(path)
        hu = apply_rescale(ds.pixel_array, ds)
        channels = [
            np.rint((np.clip(hu, lo, hi) - lo) / (hi - lo) * 255).astype(np.uint8)
            for lo, hi in ((-1024, 1024), (-135, 215), (0, 80))
        ]
        image = Image.fromarray(np.stack(channels, axis=-1), "RGB")
        side = max(image.size)
        square = Image.new("RGB", (side, side))
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        square = square.resize((896, 896), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        square.save(buffer, format="JPEG", quality=95, subsampling=0)
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        content += [{"type": "image_url", "image_url": {"url": url}}]
        content += [{"type": "text", "text": f"SLICE {k}"}]
    content.append({"type": "text", "text": query})
    return json.dumps({"messages": [{"role": "user", "content": content}]}).encode()


async def ours(files: list[Path], pool, *, spread: bool = False) -> bytes:
    """One user's series (one owner: the fair share, max(1, workers - 1) workers), or with
    `spread` every slice under its own owner (all the workers: what the pool can do alone)."""
    from itertools import count

    from medgemma_ui.analysis import AnalysisRequest, prepare_request
    from medgemma_ui.backends import GenerationRequest
    from medgemma_ui.backends.http import chat_payload
    from medgemma_ui.imaging import RenderOptions

    numbers = count()

    async def preparer(source, *, window, frame):
        owner = f"slice-{next(numbers)}" if spread else "one-user"
        return await pool.prepare(source, RenderOptions(window, frame), owner=owner)

    request = AnalysisRequest(tuple(files), template_id="ct-volume")
    prepared = await prepare_request(request, preparer)
    template = prepared.template
    content = template.build_content(
        [image.jpeg for image in prepared.images], template.build_prompt()
    )
    payload = chat_payload(GenerationRequest(content), model=None, structured=False)
    return json.dumps(payload).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from benchmarks.prepare import data_file
    from medgemma_ui.imaging.workers import PreparePool
    from medgemma_ui.settings import usable_cpus
    from medgemma_ui.templates import get_template
    from tests.support.series import write_ct_series

    template = get_template("ct-volume")
    with tempfile.TemporaryDirectory() as folder:
        files = write_ct_series(Path(folder), args.slices, source=data_file("693_UNCI.dcm"))
        workers = usable_cpus()
        pool = PreparePool(workers)
        for future in pool.warm():
            future.result()
        try:
            ours_s, spread_s, base_s = [], [], []
            body = b""
            for _ in range(args.repeat):
                started = time.perf_counter()
                body = asyncio.run(ours(files, pool))
                ours_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                asyncio.run(ours(files, pool, spread=True))
                spread_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                base_body = baseline(files, template.lead.strip(), template.build_prompt())
                base_s.append(time.perf_counter() - started)
        finally:
            pool.close()
    ours_t, base_t = statistics.median(ours_s), statistics.median(base_s)
    spread_t = statistics.median(spread_s)
    share = max(1, workers - 1)
    print(f"CT volume: {args.slices} slices 512×512 -> 85 sent; {workers} image worker(s)\n")
    print("| | time (median) | × baseline | request body |")
    print("|---|---|---|---|")
    print(
        f"| ours, one user (fair share: {share} worker(s)) | {ours_t:.2f} s | "
        f"{ours_t / base_t:.2f} | {len(body) / 1e6:.1f} MB |"
    )
    print(f"| ours, all {workers} workers | {spread_t:.2f} s | {spread_t / base_t:.2f} | |")
    print(
        f"| sequential pydicom + Pillow | {base_t:.2f} s | 1.00 | {len(base_body) / 1e6:.1f} MB |"
    )
    print("\n(target ≤ 0.5× the baseline)")


if __name__ == "__main__":
    main()
