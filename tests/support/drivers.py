"""A driver for testing the runner, leasing and the queue without any upstream.

It is registered only by tests/settings.py under the provider `sleepy`, so it never stands in
for a real driver: the real drivers are tested against the fakes under `fakes/`.
Prompts steer it: `sleep:<seconds>` and `fail:<expire|cooldown|exhaust|policy|crash>`.
"""

import io
import json
import re
import time
from pathlib import Path

from PIL import Image

from generation.catalog import IMAGE_COMPOSE, IMAGE_EDIT, IMAGE_GENERATE, VIDEO_GENERATE, ModelSpec
from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    DeadlineExceeded,
    DriverResult,
    OutputFile,
    VideoPoll,
    QuotaExhausted,
    RateLimited,
)

MODELS = [
    ModelSpec(id="sleepy-image", provider="sleepy", capabilities=frozenset({IMAGE_GENERATE, IMAGE_EDIT, IMAGE_COMPOSE}),
              owned_by="tests"),
    ModelSpec(id="sleepy-video", provider="sleepy", capabilities=frozenset({VIDEO_GENERATE}), owned_by="tests"),
]


class SleepyDriver:
    provider = "sleepy"

    def run(self, task):
        prompt = task.params.get("prompt", "")
        sleep = re.search(r"sleep:([\d.]+)", prompt)
        if sleep:
            wanted = float(sleep.group(1))
            allowed = max(0.0, task.deadline - time.time())
            time.sleep(min(wanted, allowed))
            if wanted > allowed:
                raise DeadlineExceeded("the job's deadline passed while generating")
        failure = re.search(r"fail:(\w+)", prompt)
        if failure:
            kind = failure.group(1)
            errors = {"expire": CredentialsRejected, "cooldown": RateLimited, "exhaust": QuotaExhausted,
                      "policy": ContentPolicy}
            if kind == "crash":
                raise RuntimeError(f"driver crashed with cookie sessionid={task.credentials.sessionid()}")
            if kind == "expire_first" and task.account_name.startswith("bad"):
                raise CredentialsRejected("signed out")
            if kind in errors:
                raise errors[kind](f"simulated {kind}")
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "PNG")
        return DriverResult(files=[OutputFile(data=buf.getvalue(), mime="image/png")],
                            meta={"account": task.account_name})


# --- videos: submissions are recorded in a file so tests can count them across processes ------

def _ledger_path():
    from django.conf import settings

    return Path(settings.MEDIA_ROOT) / "sleepy-video-submissions.jsonl"


def _ledger() -> dict:
    path = _ledger_path()
    if not path.exists():
        return {}
    return {entry["submit_id"]: entry for entry in map(json.loads, path.read_text().splitlines())}


def submissions_for(prompt_fragment: str) -> int:
    return sum(1 for entry in _ledger().values() if prompt_fragment in entry["prompt"])


def tiny_mp4(frames: int = 8, size=(64, 48)) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=8)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            image = Image.new("RGB", size, (i * 30 % 255, 80, 160))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


class SleepyVideoDriver(SleepyDriver):
    """Video generation that takes `video:<seconds>` (default 1) and can `fail:video`."""

    def submit_video(self, task, submit_id):
        prompt = task.params.get("prompt", "")
        if "fail:submit" in prompt:
            raise RateLimited("simulated busy upstream")
        path = _ledger_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(json.dumps({"submit_id": submit_id, "prompt": prompt, "at": time.time(),
                                     "account": task.account_name}) + "\n")
        return f"up-{submit_id}"

    def find_video(self, task, submit_id):
        return f"up-{submit_id}" if submit_id in _ledger() else None

    def poll_video(self, task, upstream_id):
        entry = _ledger()[upstream_id[3:]]
        match = re.search(r"video:([\d.]+)", entry["prompt"])
        duration = float(match.group(1)) if match else 1.0
        elapsed = time.time() - entry["at"]
        if elapsed >= duration:
            if "fail:video" in entry["prompt"]:
                return VideoPoll(state="failed", error=ContentPolicy("simulated refusal of the video"))
            return VideoPoll(state="succeeded", progress=100)
        return VideoPoll(state="running", progress=int(100 * elapsed / duration), poll_after=0.1)

    def download_video(self, task, upstream_id):
        return OutputFile(data=tiny_mp4(), mime="video/mp4", width=64, height=48, kind="video")
