"""Video status polling: how many `GET /v1/videos/{id}` one machine answers under many
concurrent pollers, against a bare ASGI app served by the same uvicorn (the baseline: what the
client and the server loop cost without Django).

    .venv/bin/python -m bench.videos_poll [--quick] [--web-workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.stack import PY, ROOT, Stack, free_port, percentile, wait_http

HELLO = b'{"id":"video_0","object":"video","status":"in_progress","progress":40}'


async def hello_app(scope, receive, send):
    """The baseline: an ASGI app that answers like the endpoint, with nothing behind it."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(HELLO)).encode())]})
    await send({"type": "http.response.body", "body": HELLO})


async def hammer(base_url: str, path: str, key: str, clients: int, seconds: float,
                 interval: float = 0.0) -> tuple[list[float], int]:
    """`clients` pollers; each waits `interval` between its requests (0: as fast as answered)."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients + 10)
    async with aiohttp.ClientSession(base_url=base_url, connector=connector,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
        async def loop():
            nonlocal errors
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                async with client.get(path) as resp:
                    await resp.read()
                    if resp.status == 200:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1
                if interval:
                    await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

        async def staggered(i):
            if interval:
                await asyncio.sleep(interval * i / clients)  # pollers started over one interval
            await loop()

        await asyncio.gather(*(staggered(i) for i in range(clients)))
    return latencies, errors


def summarise(latencies: list[float], errors: int, seconds: float) -> dict:
    return {"requests": len(latencies), "errors": errors, "req_per_s": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def baseline(clients: int, seconds: float, web_workers: int, interval: float = 0.0) -> dict:
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "uvicorn", "bench.videos_poll:hello_app", "--port", str(port), "--workers",
                             str(web_workers), "--no-access-log", "--log-level", "warning"], cwd=ROOT,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        lat, err = asyncio.run(hammer(f"http://127.0.0.1:{port}", "/v1/videos/video_0", "x", clients, seconds,
                                      interval))
    finally:
        proc.terminate()
        proc.wait()
    return summarise(lat, err, seconds)


def gateway(runs: list[tuple[str, int, float]], seconds: float, web_workers: int) -> dict:
    with Stack(workers=1, fake_delay=1.0, web_workers=web_workers).start(fakes=()) as stack:
        key = stack.setup_pool([])
        video_id = stack.sql(
            "from datetime import timedelta\n"
            "from django.utils import timezone\n"
            "from api.models import ApiKey\n"
            "from videos.models import VideoTask\n"
            "t = VideoTask.objects.create(api_key=ApiKey.objects.get(name='bench'), provider='jimeng',\n"
            "    model='jimeng-video-3.0', prompt='bench', status='running', progress=40, size='1280x720',\n"
            "    deadline_at=timezone.now() + timedelta(hours=1))\n"
            "print(t.openai_id)\n").strip().splitlines()[-1]
        out = {}
        for name, clients, interval in runs:
            lat, err = asyncio.run(hammer(stack.base_url, f"/v1/videos/{video_id}", key, clients, seconds, interval))
            out[name] = summarise(lat, err, seconds)
        return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args(argv)
    seconds = 8 if args.quick else 20
    report = {"when": datetime.now().isoformat(timespec="seconds"), "clients": args.clients,
              "web_workers": args.web_workers, "seconds": seconds}
    pollers = 1000
    runs = [("saturation", args.clients, 0.0), (f"{pollers}_pollers_each_1s", pollers, 1.0)]
    report["baseline_bare_asgi"] = {name: baseline(clients, seconds, args.web_workers, interval)
                                    for name, clients, interval in runs}
    report["gateway_retrieve"] = gateway(runs, seconds, args.web_workers)
    report["ratio_to_baseline"] = {
        name: {"req_per_s": report["gateway_retrieve"][name]["req_per_s"] / report["baseline_bare_asgi"][name]["req_per_s"],
               "p99": report["gateway_retrieve"][name]["p99_ms"] / report["baseline_bare_asgi"][name]["p99_ms"]}
        for name, _c, _i in runs}
    print(json.dumps(report, indent=2), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "videos_poll.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
