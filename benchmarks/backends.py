"""Backend adapter benchmark (loopback only, no internet).

1. 16 concurrent requests through each HTTP backend adapter (hf-endpoint, vertex with a loopback
   OAuth server, openai) to a loopback server that waits 2 s before answering: wall time vs 2 s
   (target <= 1.2x).
2. Our layer's per-request overhead: building the request (data URI + JSON body of an 896x896
   JPEG) and parsing a 500-token SSE stream into events (target < 20 ms).

Run: .venv/bin/python benchmarks/backends.py
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgemma_ui.backends import BackendRegistry, BackendSettings, Completion, GenerationRequest
from medgemma_ui.backends.http import chat_payload, parse_sse
from medgemma_ui.backends.providers.hf_endpoint import HFEndpointConfig
from medgemma_ui.backends.providers.openai_compat import OpenAIConfig
from medgemma_ui.backends.providers.vertex import VertexConfig
from tests.support.model_server import ModelServer, Reply, chat_stream, chunk

LATENCY_S = 2.0
CONCURRENCY = 16
RESOURCE = "projects/bench/locations/us-central1/endpoints/42"


def make_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 896 * 896 * 3).reshape(896, 896, 3)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def service_account_file(folder: Path, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "bench",
        "private_key_id": "k",
        "private_key": pem,
        "client_email": "bench@bench.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path = folder / "sa.json"
    path.write_text(json.dumps(info))
    return path


async def concurrent(registry: BackendRegistry, name: str, request: GenerationRequest) -> float:
    backend = registry.get(name)

    async def one() -> Completion:
        last = None
        async for event in backend.stream(request):
            last = event
        assert isinstance(last, Completion) and last.text, last
        return last

    await one()  # warm: imports, connection pool, token
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def lines_of(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


async def overhead_ms(request_jpeg: bytes, repeats: int = 30) -> list[float]:
    events = [chunk(f"tok{i} ") for i in range(500)] + [chunk(None, "length")]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        request = GenerationRequest(
            (request_jpeg, "Describe the findings as JSON."), max_tokens=512
        )
        payload = chat_payload(request, model="medgemma", structured=True)
        json.dumps(payload).encode()
        parts = [
            e.text async for e in parse_sse(lines_of(body), label="bench") if hasattr(e, "text")
        ]
        assert len(parts) == 500
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def serve(urls: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    """The loopback server runs in its own process so it does not share our GIL."""
    server = ModelServer(openai=False).start()
    counter = itertools.count(1)
    server.route(
        "/token",
        [lambda r: Reply(json={"access_token": f"ya29.b{next(counter)}", "expires_in": 3600})],
    )
    words = [f"w{i} " for i in range(20)]
    server.route("/v1/chat/completions", [chat_stream(words, first_delay=LATENCY_S)])
    choice = {"message": {"content": "ok"}, "finish_reason": "stop"}
    answer = {"predictions": [{"choices": [choice]}]}
    server.route(f"/v1/{RESOURCE}:predict", [Reply(json=answer, delay=LATENCY_S)])
    server.route(
        f"/v1beta1/{RESOURCE}/chat/completions", [chat_stream(words, first_delay=LATENCY_S)]
    )
    urls.put(server.url)
    stop.wait(600)
    server.stop()


async def main() -> None:
    jpeg = make_jpeg()
    request = GenerationRequest((jpeg, "Describe this chest X-ray."), max_tokens=64)
    urls: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=serve, args=(urls, stop), daemon=True)
    proc.start()
    tmp = Path(tempfile.mkdtemp())
    try:
        url = urls.get(timeout=60)
        key = str(service_account_file(tmp, f"{url}/token"))
        base = BackendSettings(
            configs=(
                HFEndpointConfig(url=url, token="hf_benchbench"),
                OpenAIConfig(base_url=url),
            )
        )
        predict = VertexConfig(endpoint=f"{url}/v1/{RESOURCE}", credentials_file=key)
        dedicated = VertexConfig(endpoint=RESOURCE, dedicated_dns=url, credentials_file=key)
        cases = [
            ("hf-endpoint (TGI, stream)", "hf-endpoint", base),
            ("openai (SSE)", "openai", base),
            ("vertex (:predict)", "vertex", BackendSettings(configs=(predict,))),
            ("vertex (dedicated, stream)", "vertex", BackendSettings(configs=(dedicated,))),
        ]
        rows = []
        for label, name, settings in cases:
            registry = BackendRegistry(settings)
            wall = await concurrent(registry, name, request)
            await registry.aclose()
            rows.append((label, wall))
        samples = await overhead_ms(jpeg)
    finally:
        stop.set()
        proc.join(timeout=10)

    print(
        f"JPEG {len(jpeg) / 1024:.0f} KB; server latency {LATENCY_S:.1f} s; "
        f"{CONCURRENCY} concurrent requests\n"
    )
    print(f"| adapter | wall time | ratio to {LATENCY_S:.0f} s | target <= 1.2x |")
    print("|---|---|---|---|")
    for label, wall in rows:
        ratio = wall / LATENCY_S
        print(f"| {label} | {wall:.2f} s | {ratio:.2f}x | {'ok' if ratio <= 1.2 else 'MISSED'} |")
    median = statistics.median(samples)
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
    print(
        "\n| our layer per request (build request + parse 500-token SSE) | median | p95 | target |"
    )
    print("|---|---|---|---|")
    print(
        f"| GenerationRequest + JSON body + parse_sse | {median:.1f} ms | {p95:.1f} ms | < 20 ms |"
    )


if __name__ == "__main__":
    asyncio.run(main())
