"""Retrieve a 100-instance CT series from a local Orthanc and prepare it, against a plain
sequential WADO-RS download of the same instances.

    .venv/bin/python benchmarks/pacs.py [--slices 100] [--repeat 5] [--source 693_UNCI.dcm]

Starts Debian's Orthanc with its DICOMweb plugin on a loopback port (as the tests do; install
both with scripts/ensure-orthanc.sh) and stores a series built from a real CT of the test data
(512×512 `693_UNCI.dcm` by default). Timed, round-robin so outside load falls on all alike:

- **ours**: QIDO-RS for the instances, WADO-RS retrieval `MEDGEMMA_DICOMWEB_WORKERS` (8) at a
  time into a private folder, the slices the planner will keep prepared in the image workers as
  soon as each file lands (`pacs/prefetch.py`), then the series planned and prepared exactly as
  the analysis does (`analysis.prepare_request`): done when the 85 images to send are ready;
- **ours, no overlap**: the same retrieval, then the preparation (nothing prefetched);
- **plain sequential download**: dicomweb-client's `retrieve_instance` for each instance in turn
  with its defaults (the HTTP session asks for gzip, as requests does; instances as pydicom
  datasets), no preparation at all;
- **sequential download, stored syntax, no gzip**: the same loop with our session (the
  `Accept-Encoding: identity` and `transfer-syntax=*` that ours uses), no preparation.

Prints a markdown table; the target is ours ≤ 0.7 × the plain sequential download.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def ours(client, study: str, series: str, pool, limits, *, overlap: bool) -> int:
    from medgemma_ui.analysis import AnalysisRequest, prepare_request
    from medgemma_ui.imaging import RenderOptions
    from medgemma_ui.pacs.prefetch import PrefetchingPreparer, prefetch_callback

    async def prepare(source, *, window, frame):
        return await pool.prepare(source, RenderOptions(window, frame, limits))

    entries = await asyncio.to_thread(client.checked_instances, study, series, limits.max_frames)
    preparer = PrefetchingPreparer(prepare)
    retrieved = await client.retrieve_series(
        study,
        series,
        max_images=limits.max_frames,
        entries=entries,
        on_instance=prefetch_callback(preparer, entries) if overlap else None,
    )
    try:
        request = AnalysisRequest(tuple(retrieved.sources), template_id="ct-volume")
        prepared = await prepare_request(request, preparer if overlap else prepare, limits)
        return len(prepared.images)
    finally:
        await preparer.aclose()
        retrieved.cleanup()


def plain_sequential(url: str, auth: tuple[str, str], study: str, series: str) -> int:
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    client = DICOMwebClient(url, session=create_session_from_user_pass(*auth))
    uids = [i["00080018"]["Value"][0] for i in client.search_for_instances(study, series)]
    for uid in uids:
        client.retrieve_instance(study, series, uid)
    return len(uids)


def lean_sequential(client, study: str, series: str) -> int:
    entries = client.list_instances(study, series)
    for entry in entries:
        client.fetch_instance(study, series, entry)
    return len(entries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--source", default="693_UNCI.dcm")
    parser.add_argument("--workers", default="", help="retrievals at once (default: 8)")
    args = parser.parse_args()

    from benchmarks.prepare import data_file
    from medgemma_ui.imaging.workers import PreparePool
    from medgemma_ui.pacs.dicomweb import DicomwebClient
    from medgemma_ui.pacs.settings import PacsSettings
    from medgemma_ui.settings import ImageLimits, Settings
    from tests.support.orthanc import USER, Orthanc
    from tests.support.series import write_ct_series

    limits = ImageLimits()
    workers = Settings.from_env({}).server.prepare_workers
    with tempfile.TemporaryDirectory() as folder, Orthanc(Path(folder) / "orthanc") as pacs:
        files = write_ct_series(Path(folder) / "ct", args.slices, source=data_file(args.source))
        pacs.upload(files)
        import pydicom

        first = pydicom.dcmread(files[0], stop_before_pixels=True)
        study, series = str(first.StudyInstanceUID), str(first.SeriesInstanceUID)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        settings = PacsSettings.from_env(
            {
                "MEDGEMMA_DICOMWEB_URL": pacs.dicomweb,
                "MEDGEMMA_DICOMWEB_USER": USER[0],
                "MEDGEMMA_DICOMWEB_PASSWORD": USER[1],
                "MEDGEMMA_DICOMWEB_WORKERS": args.workers,
            }
        )
        client = DicomwebClient(settings)
        pool = PreparePool(workers)
        for future in pool.warm():
            future.result()
        runs: dict[str, list[float]] = {
            "ours": [],
            "ours, no overlap": [],
            "plain sequential download": [],
            "sequential download, stored syntax, no gzip": [],
        }
        try:
            for _ in range(args.repeat):
                for name in runs:
                    started = time.perf_counter()
                    if name == "ours":
                        sent = asyncio.run(ours(client, study, series, pool, limits, overlap=True))
                        assert sent == min(85, args.slices)
                    elif name == "ours, no overlap":
                        asyncio.run(ours(client, study, series, pool, limits, overlap=False))
                    elif name == "plain sequential download":
                        plain_sequential(pacs.dicomweb, USER, study, series)
                    else:
                        lean_sequential(client, study, series)
                    runs[name].append(time.perf_counter() - started)
        finally:
            pool.close()
            client.close()
    baseline = statistics.median(runs["plain sequential download"])
    print(
        f"{args.slices} instances of {args.source} ({size_mb:.0f} MB) from a local Orthanc; "
        f"{settings.workers} retrievals at once, {workers} image worker(s); median of "
        f"{args.repeat}\n"
    )
    print("| | what it does | time (median) | × plain download |")
    print("|---|---|---:|---:|")
    what = {
        "ours": "retrieve + prepare the 85 slices, overlapped",
        "ours, no overlap": "retrieve, then prepare",
        "plain sequential download": "download only",
        "sequential download, stored syntax, no gzip": "download only",
    }
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"| {name} | {what[name]} | {median:.2f} s | {median / baseline:.2f} |")
    print(
        f"\nratio ours / plain sequential download: "
        f"{statistics.median(runs['ours']) / baseline:.2f}× (target ≤ 0.7×)"
    )


if __name__ == "__main__":
    main()
