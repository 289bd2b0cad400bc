"""Upstream polls per completed video, and how late completion is seen, against the seed's fixed
1 s polling measured on the same fake in the same run.

    .venv/bin/python -m bench.videos_upstream [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from bench.stack import Stack, percentile, use_django

MODEL = "jimeng-video-3.0"


def fake_state(stack: Stack) -> dict:
    return requests.get(f"http://127.0.0.1:{stack.jimeng_port}/_fake/state", timeout=10).json()


def through_gateway(stack: Stack, key: str, count: int) -> dict:
    before = fake_state(stack)["requests"].get("history", 0)
    headers = {"Authorization": f"Bearer {key}"}
    ids = [requests.post(f"{stack.base_url}/v1/videos", headers=headers,
                         data={"model": MODEL, "prompt": f"gateway video {i}", "seconds": "5"}).json()["id"]
           for i in range(count)]
    pending = set(ids)
    while pending:
        for video_id in list(pending):
            state = requests.get(f"{stack.base_url}/v1/videos/{video_id}", headers=headers).json()["status"]
            if state in ("completed", "failed"):
                pending.discard(video_id)
        time.sleep(0.5)
    state = fake_state(stack)
    polls = state["requests"].get("history", 0) - before
    finish = {job["prompt"]: job["created"] + job["delay"] for job in state["jobs"] if job["kind"] == "video"}
    completed = json.loads(stack.sql(
        "import json\nfrom videos.models import VideoTask\n"
        "print(json.dumps({t.prompt: t.completed_at.timestamp() for t in VideoTask.objects.filter(status='succeeded')}))"
    ).strip().splitlines()[-1])
    late = [completed[p] - finish[p] for p in completed if p in finish]
    return {"videos": count, "completed": len(completed), "upstream_polls": polls,
            "polls_per_video": polls / count, "late_p50_s": percentile(late, 50), "late_max_s": max(late)}


def fixed_one_second(stack: Stack, count: int) -> dict:
    """The seed's strategy on the same fake: submit, then look every second until it is done."""
    use_django({k: stack.env[k] for k in ("JIMENG_UPSTREAM_URL", "GATEWAY_VAR_DIR", "SECRET_KEY",
                                          "COOKIE_ENCRYPTION_KEYS")}, "JIMENG_UPSTREAM_URL")
    from accounts.cookies import parse_credentials
    from generation.drivers.base import DriverTask
    from generation.drivers.jimeng.driver import JimengDriver

    driver = JimengDriver()

    def one(i: int) -> tuple[int, float, str]:
        creds = parse_credentials(uuid.uuid4().hex + uuid.uuid4().hex[:8], provider="jimeng")
        prompt = f"fixed video {i}"
        task = DriverTask(job_id=str(uuid.uuid4()), kind="video", model=MODEL, upstream_model="",
                          params={"prompt": prompt, "seconds": 5, "ratio": "16:9", "resolution": "720p"},
                          inputs=[], credentials=creds, proxy="", region="cn", deadline=time.time() + 600)
        upstream = driver.submit_video(task, uuid.uuid4().hex)
        polls = 0
        while True:
            time.sleep(1.0)
            polls += 1
            if driver.poll_video(task, upstream).state in ("succeeded", "failed"):
                return polls, time.time(), prompt

    with ThreadPoolExecutor(count) as pool:
        runs = list(pool.map(one, range(count)))
    finish = {job["prompt"]: job["created"] + job["delay"] for job in fake_state(stack)["jobs"]}
    late = [seen - finish[prompt] for _polls, seen, prompt in runs]
    polls = [p for p, _seen, _prompt in runs]
    return {"videos": count, "polls_per_video": sum(polls) / count, "late_p50_s": percentile(late, 50),
            "late_max_s": max(late)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    delay, count = (10.0, 2) if args.quick else (30.0, 4)
    report = {"when": datetime.now().isoformat(timespec="seconds"), "fake_delay_s": delay}
    with Stack(workers=count, fake_delay=delay).start() as stack:
        key = stack.setup_pool([{"name": f"v{i}", "provider": "jimeng", "max_concurrency": 1,
                                 "credentials": uuid.uuid4().hex + uuid.uuid4().hex[:8]} for i in range(count)])
        report["gateway"] = through_gateway(stack, key, count)
        report["seed_fixed_1s"] = fixed_one_second(stack, count)
    report["polls_ratio"] = report["gateway"]["polls_per_video"] / report["seed_fixed_1s"]["polls_per_video"]
    print(json.dumps(report, indent=2), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "videos_upstream.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
