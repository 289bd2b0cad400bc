"""Gemini (Playwright) path: per-job overhead with the warm shared browser against a browser per job,
and memory (PSS) per concurrent job. The fake page takes `FAKE_DELAY` seconds to "generate"; the
overhead is everything else (page load, UI steps, download); the fake's finish lag is set to 0
(FAKE_SETTINGS).

Warm: the driver as a worker runs it, through the machine's browser service. Browser per job: the
same job code (job.run_job) in this process with a Chromium launched for each job and closed after.
Memory: PSS of the browser service's tree (service, node driver, Chromium) and of the worker
cluster, sampled while N jobs run at once; per concurrent job = the service's peak / N, and the
marginal cost of one more job = (peak at N - idle) / N.

    .venv/bin/python -m bench.images_gemini [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.stack import PY, ROOT, Stack, descendants, free_port, percentile, use_django, wait_http

FAKE_DELAY = 1.0
# The fake keeps the turn running 0.25 s after the image shows, like the real app; the driver must
# wait for the turn to end (gemini-web.md §2.3 step 7), so that lag is upstream time. Set to 0 here
# so that end-to-end minus FAKE_DELAY is the gateway's and the driver's own time.
FAKE_SETTINGS = {"finish_lag": 0.0}


def configure_fake(base_url: str) -> None:
    request = urllib.request.Request(base_url + "/_fake/settings", data=json.dumps(FAKE_SETTINGS).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def gemini_export(psid: str) -> str:
    return json.dumps([
        {"domain": ".google.com", "name": "__Secure-1PSID", "value": psid, "path": "/", "secure": True,
         "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800},
        {"domain": ".google.com", "name": "__Secure-1PSIDTS", "value": "sidts-" + psid[-8:], "path": "/",
         "secure": True, "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800},
    ])


def pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- driver alone: warm browser against a browser per job ----------------------------------------

def _setup(fake_url: str) -> None:
    use_django({"GEMINI_UPSTREAM_URL": fake_url,
                "GATEWAY_VAR_DIR": os.environ.get("GATEWAY_VAR_DIR") or tempfile.mkdtemp(prefix="gw-bench-gemini-")},
               "GEMINI_UPSTREAM_URL")


def _task(i: int):
    from accounts.cookies import parse_credentials
    from generation.drivers.base import DriverTask

    creds = parse_credentials(gemini_export(f"g.a000{uuid.uuid4().hex}"), provider="gemini")
    return DriverTask(job_id=str(uuid.uuid4()), kind="generate", model="gemini-image", upstream_model="",
                      params={"prompt": f"bench {i}", "n": 1}, inputs=[], credentials=creds, proxy="",
                      region="", deadline=time.time() + 120)


def warm_runs(count: int, fake_url: str) -> list[float]:
    _setup(fake_url)
    from generation.drivers.gemini.driver import GeminiDriver

    driver = GeminiDriver()
    times = []
    for i in range(count + 1):  # the first run starts the service and its browser: not counted
        started = time.perf_counter()
        driver.run(_task(i))
        if i:
            times.append(time.perf_counter() - started)
    return times


def browser_per_job_runs(count: int, fake_url: str) -> list[float]:
    _setup(fake_url)
    from playwright.async_api import async_playwright

    from generation.drivers.gemini import selectors
    from generation.drivers.gemini.job import run_job

    cfg = selectors.load()

    async def go() -> list[float]:
        times = []
        async with async_playwright() as pw:
            for i in range(count):
                started = time.perf_counter()
                browser = await pw.chromium.launch(executable_path=cfg.chromium_path, headless=cfg.HEADLESS,
                                                   args=list(cfg.EXTRA_LAUNCH_ARGS))
                try:
                    await run_job(browser, task=_task(i), cfg=cfg, cancel=__import__("threading").Event(),
                                  warm=False)
                finally:
                    await browser.close()
                times.append(time.perf_counter() - started)
        return times

    return asyncio.run(go())


def driver_overhead(quick: bool) -> dict:
    count = 5 if quick else 12
    port = free_port()
    fake = subprocess.Popen([PY, "manage.py", "fake_gemini", "--port", str(port), "--delay-seconds",
                             str(FAKE_DELAY), "--image-size", "1024"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/_fake/state")
        url = f"http://127.0.0.1:{port}"
        configure_fake(url)
        warm = warm_runs(count, fake_url=url)
        cold = browser_per_job_runs(count, fake_url=url)
    finally:
        fake.terminate()
        fake.wait()
    out = {}
    for name, runs in (("warm", warm), ("browser_per_job", cold)):
        over = [t - FAKE_DELAY for t in runs]
        out[name] = {"runs": len(runs), "overhead_p50_s": percentile(over, 50), "overhead_p95_s": percentile(over, 95)}
    out["browser_per_job_over_warm_p50"] = out["browser_per_job"]["overhead_p50_s"] / out["warm"]["overhead_p50_s"]
    return out


# --- through the gateway: end-to-end overhead and memory per concurrent job ---------------------

async def fire(stack: Stack, key: str, count: int, concurrency: int) -> list[float]:
    latencies = []
    async with aiohttp.ClientSession(base_url=stack.base_url, headers={"Authorization": f"Bearer {key}"},
                                     timeout=aiohttp.ClientTimeout(total=600)) as client:
        queue = list(range(count))

        async def worker():
            while queue:
                i = queue.pop()
                started = time.perf_counter()
                async with client.post("/v1/images/generations",
                                       json={"model": "gemini-image", "prompt": f"gateway bench {i}"}) as resp:
                    await resp.read()
                    if resp.status == 200:
                        latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def service_pids() -> set[int]:
    """The browser service (started by a worker on its first Gemini job) and its node + Chromium."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"gemini_browser" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    out |= descendants(int(entry))
            except OSError:
                pass
    return out


def gateway_bench(quick: bool) -> dict:
    levels = (1, 2) if quick else (1, 2, 4)
    workers = max(levels)
    out: dict = {}
    with Stack(workers=workers, fake_delay=FAKE_DELAY).start(fakes=("gemini",)) as stack:
        key = stack.setup_pool([{"name": f"g{i}", "provider": "gemini", "max_concurrency": 1,
                                 "credentials": gemini_export(f"g.a000{uuid.uuid4().hex}")} for i in range(workers)])
        cluster = stack.procs["cluster"].pid
        configure_fake(f"http://127.0.0.1:{stack.gemini_port}")
        asyncio.run(fire(stack, key, workers, workers))  # starts the browser service and warms it

        def measure() -> tuple[float, float]:
            browser = service_pids()
            return (sum(pss_mb(p) for p in browser),
                    sum(pss_mb(p) for p in descendants(cluster) - browser))

        idle_service, idle_cluster = measure()
        for level in levels:
            samples: list[tuple[float, float]] = []

            async def run_and_sample():
                async def sample():
                    while True:
                        samples.append(await asyncio.to_thread(measure))
                        await asyncio.sleep(0.25)

                sampler = asyncio.create_task(sample())
                lat = await fire(stack, key, (4 if quick else 8) * level, level)
                sampler.cancel()
                return lat

            lat = asyncio.run(run_and_sample())
            over = [t - FAKE_DELAY for t in lat]
            peak_service = max((s for s, _ in samples), default=idle_service)
            peak_cluster = max((c for _, c in samples), default=idle_cluster)
            out[f"concurrency_{level}"] = {
                "requests": len(lat), "overhead_p50_s": percentile(over, 50), "overhead_p95_s": percentile(over, 95),
                "browser_service_pss_peak_mb": peak_service,
                "pss_per_concurrent_job_mb": peak_service / level,
                "marginal_pss_per_job_mb": (peak_service - idle_service) / level,
                "worker_cluster_pss_peak_mb": peak_cluster,
            }
        out["browser_service_pss_idle_warm_mb"] = idle_service
        out["worker_cluster_pss_idle_mb"] = idle_cluster
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report = {"when": datetime.now().isoformat(timespec="seconds"), "fake_delay_s": FAKE_DELAY, "fake_settings": FAKE_SETTINGS}
    report["gateway"] = gateway_bench(args.quick)
    print("== gateway", json.dumps(report["gateway"], indent=2), flush=True)
    report["driver"] = driver_overhead(args.quick)
    print("== driver", json.dumps(report["driver"], indent=2), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "images_gemini.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
