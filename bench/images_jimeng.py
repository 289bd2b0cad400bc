"""Jimeng image path: gateway overhead, throughput against pool capacity, held waits, memory.

Every figure is a ratio against a baseline measured in the same run:
- overhead: end-to-end latency through the gateway minus the same driver calling the same fake
  directly (no HTTP server, no queue, no database) at the same concurrency, one process per
  concurrent call as the gateway's workers; also minus the fake's generation time alone (the
  issue's definition, which counts the driver's own time as overhead); and where a request's
  time goes (admission, queue to worker, in the worker, answer after the job ended); at 1 and
  32 clients with a 1 s generation, and at 1 client with a 3 s one, which ends between polls;
- bursts: the same overhead when every request is one of a burst of 32 sent at once (the worst
  case, repeated), against the direct driver given the same bursts, and the CPU time each side's
  processes spend per request (web, worker cluster, fake; driver, fake);
- throughput: completed jobs per second against the pool's capacity
  (accounts × concurrency ÷ the fake's generation time);
- held waits: how late each of N simultaneously held requests is answered after its job ended
  (the job's finished_at in the database), and the web process's peak RSS.

    .venv/bin/python -m bench.images_jimeng [--quick] [--only overhead|bursts|throughput|held]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.stack import (Stack, children, cpu_seconds, descendants, host_cpu, peak_rss_mb, percentile,
                         python_loop_seconds, rss_mb, steal_pct, threads, use_django)

BODY = {"model": "jimeng-4.0", "ratio": "1:1", "resolution": "1k"}


def jimeng_accounts(count: int, concurrency: int) -> list[dict]:
    return [{"name": f"bench-{i}", "provider": "jimeng", "max_concurrency": concurrency,
             "credentials": uuid.uuid4().hex + uuid.uuid4().hex[:8]} for i in range(count)]


# --- baseline: the driver alone ------------------------------------------------------------------

_driver = None


def _setup_direct(stack: Stack) -> None:
    global _driver
    use_django({k: stack.env[k] for k in ("JIMENG_UPSTREAM_URL", "GATEWAY_VAR_DIR", "SECRET_KEY",
                                          "COOKIE_ENCRYPTION_KEYS")}, "JIMENG_UPSTREAM_URL")
    from generation.drivers.jimeng.driver import JimengDriver

    _driver = _driver or JimengDriver()


def _direct_one(i: int) -> float:
    from accounts.cookies import parse_credentials
    from generation.drivers.base import DriverTask

    creds = parse_credentials(uuid.uuid4().hex + uuid.uuid4().hex[:8], provider="jimeng")
    task = DriverTask(job_id=str(uuid.uuid4()), kind="generate", model="jimeng-4.0", upstream_model="",
                      params={"prompt": f"baseline {i}", "n": 1, "ratio": "1:1", "resolution": "1k"},
                      inputs=[], credentials=creds, proxy="", region="cn", deadline=time.time() + 300)
    started = time.perf_counter()
    _driver.run(task)
    return time.perf_counter() - started


def _direct_client(plan: tuple[int, int, float, float]) -> list[float]:
    """One closed-loop client: wait `offset` seconds, then `calls` calls back to back; the
    latencies of those sent at least `settle` seconds after the clients started."""
    client, calls, offset, settle = plan
    time.sleep(offset)
    out, sent_at = [], offset
    for i in range(calls):
        latency = _direct_one(client * 1000 + i)
        if sent_at >= settle:
            out.append(latency)
        sent_at += latency
    return out


def direct_pool(stack: Stack, concurrency: int) -> ProcessPoolExecutor:
    """The same driver against the same fake, with no gateway around it: what the gateway adds
    nothing to. One process per concurrent call, as the gateway's workers."""
    _setup_direct(stack)
    return ProcessPoolExecutor(concurrency, mp_context=multiprocessing.get_context("fork"))


def direct_latencies(pool: ProcessPoolExecutor, concurrency: int, count: int, spread: float = 0.0) -> list[float]:
    """`concurrency` closed-loop clients making `count` calls in all; client k starts
    k × spread / concurrency seconds late (spread 0: all at once)."""
    calls = count // concurrency + (1 if spread else 0)  # spread: the first round is ramp-up, not counted
    plans = [(k, calls, k * spread / concurrency, spread) for k in range(concurrency)]
    return [t for times in pool.map(_direct_client, plans) for t in times]


# --- through the gateway -------------------------------------------------------------------------

def client_session(stack: Stack, key: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=stack.base_url, headers={"Authorization": f"Bearer {key}"},
                                 connector=aiohttp.TCPConnector(limit=connections + 10),
                                 timeout=aiohttp.ClientTimeout(total=900))


async def post(client: aiohttp.ClientSession, body: dict) -> tuple[int, dict]:
    async with client.post("/v1/images/generations", json=body) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


async def gateway_latencies(stack: Stack, key: str, concurrency: int, count: int,
                            sent: dict | None = None, spread: float = 0.0) -> tuple[list[float], int, int]:
    """`concurrency` closed-loop clients sending `count` requests in all; client k starts
    k × spread / concurrency seconds late (spread 0: all at once). With a spread, requests sent
    before every client has started (the ramp-up) are sent on top and not counted."""
    latencies, errors = [], []
    async with client_session(stack, key, concurrency) as client:
        queue = list(range(count + (concurrency if spread else 0)))
        began = time.perf_counter()

        async def worker(k):
            await asyncio.sleep(k * spread / concurrency)
            while queue:
                i = queue.pop()
                started, sent_at = time.perf_counter(), time.time()
                status, headers = await post(client, {**BODY, "prompt": f"bench {i}"})
                if started - began < spread:
                    continue
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                    if sent is not None:
                        sent[headers["x-gateway-job-id"].removeprefix("gen_")] = (sent_at, time.time())
                else:
                    errors.append(status)

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    server_errors = sum(1 for e in errors if e >= 500)
    return latencies, len(errors), server_errors


def job_times(stack: Stack, ids: list[str]) -> dict[str, dict[str, float]]:
    """created / enqueued / started / finished of each job, as epoch seconds, from the database."""
    out = stack.sql(
        "import json, uuid\n"
        "from generation.models import Generation\n"
        f"ids = {json.dumps(ids)}\n"
        "rows = Generation.objects.filter(pk__in=[uuid.UUID(i) for i in ids]).values(\n"
        "    'id', 'created_at', 'enqueued_at', 'started_at', 'finished_at')\n"
        "print(json.dumps({r.pop('id').hex: {k: v.timestamp() for k, v in r.items() if v} for r in rows}))\n")
    return json.loads(out.strip().splitlines()[-1])


def stages(stack: Stack, sent: dict) -> dict:
    """Where a request's time goes: p50 and p95 of each leg, in ms (the worker's leg includes the driver)."""
    times = job_times(stack, list(sent))
    legs = {"to_created": [], "created_to_enqueued": [], "enqueued_to_started": [], "in_worker": [],
            "finished_to_answered": []}
    for job_id, (sent_at, answered_at) in sent.items():
        t = times.get(job_id, {})
        if len(t) < 4:
            continue
        legs["to_created"].append(t["created_at"] - sent_at)
        legs["created_to_enqueued"].append(t["enqueued_at"] - t["created_at"])
        legs["enqueued_to_started"].append(t["started_at"] - t["enqueued_at"])
        legs["in_worker"].append(t["finished_at"] - t["started_at"])
        legs["finished_to_answered"].append(answered_at - t["finished_at"])
    return {f"{name}_p50_ms": percentile(v, 50) * 1000 for name, v in legs.items()} | {
        f"{name}_p95_ms": percentile(v, 95) * 1000 for name, v in legs.items()}


def figures(via: list[float], base: list[float], fake_delay: float, refused: int, server_errors: int) -> dict:
    """Gateway latencies `via` against the direct driver's `base`, both over the fake's delay."""
    return {
        "fake_delay_s": fake_delay,
        # The issue's own definition: end-to-end minus the fake's generation time (it counts the
        # driver's own HTTP and, under load, its CPU contention as overhead).
        "over_fake_delay_p50_ms": (percentile(via, 50) - fake_delay) * 1000,
        "over_fake_delay_p95_ms": (percentile(via, 95) - fake_delay) * 1000,
        "refused": refused, "5xx": server_errors,
        "direct_p50_s": percentile(base, 50), "direct_p95_s": percentile(base, 95),
        "gateway_p50_s": percentile(via, 50), "gateway_p95_s": percentile(via, 95),
        "overhead_p50_ms": (percentile(via, 50) - percentile(base, 50)) * 1000,
        "overhead_p95_ms": (percentile(via, 95) - percentile(base, 95)) * 1000,
        "ratio_p50": percentile(via, 50) / percentile(base, 50),
        "ratio_p95": percentile(via, 95) / percentile(base, 95),
    }


# The 32-client figure is taken twice. In lockstep every client sends its first request at the
# same moment: the first cycles are bursts of 32 requests within ~20 ms, the worst case. The
# fake's time never varies, but the answers within a burst are hundreds of ms apart, so the
# clients then drift (measured: by the third cycle one cycle's sends span ~0.5 s); the figure
# mixes bursts with that drift and moves from run to run. Spread, client k starts k/32 of a
# generation time late, so requests arrive evenly, as they do from independent clients against
# an upstream whose times vary; 32 requests are still in flight at all times.
RUNS = [("1", 1, 0.0), ("32", 32, 0.0), ("32_spread", 32, 1.0)]


def _overhead_run(stack: Stack, key: str, concurrency: int, spread: float, count: int) -> dict:
    spread *= stack.fake_delay
    host_before = host_cpu()
    with direct_pool(stack, concurrency) as pool:
        direct_latencies(pool, concurrency, concurrency)  # unmeasured: process start-up
        base = direct_latencies(pool, concurrency, count, spread)
    # One unmeasured round first: what is measured is the steady state, not process start-up.
    asyncio.run(gateway_latencies(stack, key, concurrency, concurrency))
    sent: dict = {}
    via, refused, server_errors = asyncio.run(gateway_latencies(stack, key, concurrency, count, sent, spread))
    return {
        "requests": count, "clients": concurrency, "start_spread_s": spread,
        **figures(via, base, stack.fake_delay, refused, server_errors),
        "stages": stages(stack, sent),
        "host_steal_pct": steal_pct(host_before, host_cpu()),
    }


def overhead(quick: bool) -> dict:
    results = {}
    with Stack(workers=32, fake_delay=1.0).start() as stack:
        key = stack.setup_pool(jimeng_accounts(8, 4))  # 32 slots: no request waits for an account
        for name, concurrency, spread in RUNS:
            count = (8 if quick else 24) if concurrency == 1 else (32 if quick else 128)
            results[name] = _overhead_run(stack, key, concurrency, spread, count)
        results["web_peak_rss_mb"] = max(peak_rss_mb(p) for p in stack.web_pids())
        results["worker_peak_rss_mb"] = max(peak_rss_mb(p) for p in stack.worker_pids())
    # The 1 s generation ends just as the driver's first poll (1 s after the submit) arrives. A
    # 3 s one, the fake's default, ends between two polls of the pace the fake suggests (T/4): what
    # the figure then adds is how late the driver sees a job end on its forecast.
    with Stack(workers=4, fake_delay=3.0).start() as stack:
        key = stack.setup_pool(jimeng_accounts(1, 4))
        results["1_generation_3s"] = _overhead_run(stack, key, 1, 0.0, 4 if quick else 12)
    return results


# Pure bursts: every request of a burst is sent at the same moment, all 32 are answered, a pause,
# then the next burst. Unlike the lockstep run, whose clients drift apart after the first cycles,
# every measured request here is one of a burst of 32: the worst case alone, and a figure that
# moves little from run to run. The direct driver gets the same bursts, as the baseline. Each burst
# opens its 32 connections afresh, as 32 independent clients would: each latency includes its
# connect.
BURSTS, BURST_SIZE, BURST_PAUSE = 10, 32, 0.5


def bursts(quick: bool) -> dict:
    count = 3 if quick else BURSTS
    requests = count * BURST_SIZE
    with Stack(workers=BURST_SIZE, fake_delay=1.0).start() as stack:
        key = stack.setup_pool(jimeng_accounts(8, 4))  # 32 slots: no request waits for an account
        base: list[float] = []
        with direct_pool(stack, BURST_SIZE) as pool:
            direct_latencies(pool, BURST_SIZE, BURST_SIZE)  # unmeasured: process start-up
            stack_pids = {proc.pid for proc in stack.procs.values()}
            drivers = [pid for pid in children(os.getpid()) if pid not in stack_pids]
            fake = descendants(stack.procs["fake_jimeng"].pid)
            before = cpu_seconds(drivers), cpu_seconds(fake)
            for _ in range(count):
                base += direct_latencies(pool, BURST_SIZE, BURST_SIZE)
                time.sleep(BURST_PAUSE)
            direct_cpu = {"driver": cpu_seconds(drivers) - before[0], "fake": cpu_seconds(fake) - before[1]}
        asyncio.run(gateway_latencies(stack, key, BURST_SIZE, BURST_SIZE))  # unmeasured: warm-up
        via: list[float] = []
        sent: dict = {}
        refused = server_errors = 0
        cpu_before = stack.cpu_by_role()
        for _ in range(count):
            time.sleep(BURST_PAUSE)
            latencies, errors, fives = asyncio.run(gateway_latencies(stack, key, BURST_SIZE, BURST_SIZE, sent))
            via += latencies
            refused, server_errors = refused + errors, server_errors + fives
        gateway_cpu = {role: spent - cpu_before[role] for role, spent in stack.cpu_by_role().items()}
        return {
            "bursts": count, "burst_size": BURST_SIZE, "requests": requests,
            **figures(via, base, stack.fake_delay, refused, server_errors),
            "stages": stages(stack, sent),
            # Where the CPU goes: on a machine of few cores a burst's latency is mostly its turn
            # at the CPU, shared with the fake upstream. Per request, in ms of CPU time.
            "cpu_ms_per_request": {role: spent / requests * 1000 for role, spent in gateway_cpu.items()},
            "direct_cpu_ms_per_request": {role: spent / requests * 1000 for role, spent in direct_cpu.items()},
        }


async def sustained(stack: Stack, key: str, clients: int, seconds: float) -> tuple[list[float], int, int]:
    """Closed loop: each client sends its next request when the last one is answered."""
    done, errors = [], []
    stop_at = time.monotonic() + seconds
    async with client_session(stack, key, clients) as client:
        async def loop(n):
            i = 0
            while time.monotonic() < stop_at:
                status, _headers = await post(client, {**BODY, "prompt": f"load {n}-{i}"})
                i += 1
                if status == 200:
                    done.append(time.monotonic())
                else:
                    errors.append(status)

        await asyncio.gather(*(loop(n) for n in range(clients)))
    return done, len(errors), sum(1 for e in errors if e >= 500)


def throughput(quick: bool) -> dict:
    accounts, per_account, delay = 4, 2, 2.0
    slots = accounts * per_account
    capacity = slots / delay
    seconds = 30 if quick else 60
    with Stack(workers=slots, fake_delay=delay).start() as stack:
        key = stack.setup_pool(jimeng_accounts(accounts, per_account))
        started = time.monotonic()
        done, refused, server_errors = asyncio.run(sustained(stack, key, 3 * slots, seconds))
        # Count the steady state only: skip the first delay (nothing can finish earlier).
        window_start, window_end = started + delay * 2, started + seconds
        in_window = [t for t in done if window_start <= t <= window_end]
        rate = len(in_window) / (window_end - window_start)
        return {"slots": slots, "fake_delay_s": delay, "capacity_per_s": capacity, "clients": 3 * slots,
                "completed": len(done), "refused": refused, "5xx": server_errors, "throughput_per_s": rate,
                "fraction_of_capacity": rate / capacity,
                "web_peak_rss_mb": max(peak_rss_mb(p) for p in stack.web_pids()),
                "worker_peak_rss_mb": max(peak_rss_mb(p) for p in stack.worker_pids())}


async def hold_many(stack: Stack, key: str, count: int, sampler) -> list[tuple[str, float]]:
    answered: list[tuple[str, float]] = []
    errors: list[int] = []
    async with client_session(stack, key, count) as client:
        async def one(i):
            status, headers = await post(client, {**BODY, "prompt": f"held {i}"})
            if status == 200:
                answered.append((headers["x-gateway-job-id"], time.time()))
            else:
                errors.append(status)

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        sampler_task = asyncio.create_task(sampler())
        await asyncio.gather(*tasks)
        sampler_task.cancel()
    return answered, errors


def held_waits(quick: bool) -> dict:
    count = 300 if quick else 1000
    accounts, per_account, delay = 16, 2, 1.0
    with Stack(workers=accounts * per_account, fake_delay=delay).start() as stack:
        key = stack.setup_pool(jimeng_accounts(accounts, per_account))
        web_pid = stack.web_pids()[0]
        peak_open = {"held": 0, "rss": 0.0, "threads": 0}

        async def sampler():
            while True:
                out = await asyncio.to_thread(
                    lambda: os.popen(f"ss -Htn state established '( sport = :{stack.port} )' | wc -l").read())
                peak_open["held"] = max(peak_open["held"], int(out.strip() or 0))
                peak_open["rss"] = max(peak_open["rss"], rss_mb(web_pid))
                peak_open["threads"] = max(peak_open["threads"], threads(web_pid))
                await asyncio.sleep(0.5)

        answered, errors = asyncio.run(hold_many(stack, key, count, sampler))
        ids = [job_id.removeprefix("gen_") for job_id, _t in answered]
        finished = json.loads(stack.sql(
            "import json, sys, uuid\n"
            "from generation.models import Generation\n"
            f"ids = {json.dumps(ids)}\n"
            "rows = Generation.objects.filter(pk__in=[uuid.UUID(i) for i in ids]).values_list('id', 'finished_at')\n"
            "print(json.dumps({r[0].hex: r[1].timestamp() for r in rows}))\n").strip().splitlines()[-1])
        late = [t - finished[job_id.removeprefix("gen_")] for job_id, t in answered]
        return {"requests": count, "answered": len(answered), "errors": len(errors),
                "5xx": sum(1 for e in errors if e >= 500), "peak_open_connections": peak_open["held"],
                "late_p50_ms": percentile(late, 50) * 1000, "late_p99_ms": percentile(late, 99) * 1000,
                "late_max_ms": max(late) * 1000 if late else float("nan"),
                "web_peak_rss_mb": peak_rss_mb(web_pid), "web_rss_sampled_max_mb": peak_open["rss"],
                "web_threads_max": peak_open["threads"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--only", choices=["overhead", "bursts", "throughput", "held"])
    args = parser.parse_args(argv)
    # The machine's speed and how much of it other guests took: figures from runs on a slower or
    # busier host are not comparable, and both change from machine to machine of one kind.
    report = {"when": datetime.now().isoformat(timespec="seconds"),
              "database": "postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite",
              "python_loop_s": python_loop_seconds()}
    print(f"== machine: the pure-Python loop took {report['python_loop_s']} s", flush=True)
    parts = {"overhead": overhead, "bursts": bursts, "throughput": throughput, "held": held_waits}
    for name, fn in parts.items():
        if args.only in (None, name):
            host_before = host_cpu()
            report[name] = fn(args.quick)
            report[name]["host_steal_pct"] = steal_pct(host_before, host_cpu())
            print(f"== {name}", json.dumps(report[name], indent=2), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "images_jimeng.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
