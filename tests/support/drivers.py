"""A driver for testing the runner, leasing and the queue without any upstream.

It is registered only by tests/settings.py under the provider `sleepy`, so it never stands in
for a real driver: the real drivers are tested against the fakes under `fakes/`.
Prompts steer it: `sleep:<seconds>` and `fail:<expire|cooldown|exhaust|policy|crash>`.
"""

import io
import re
import time

from PIL import Image

from generation.catalog import IMAGE_COMPOSE, IMAGE_EDIT, IMAGE_GENERATE, ModelSpec
from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    DeadlineExceeded,
    DriverResult,
    OutputFile,
    QuotaExhausted,
    RateLimited,
)

MODELS = [ModelSpec(id="sleepy-image", provider="sleepy", capabilities=frozenset({IMAGE_GENERATE, IMAGE_EDIT, IMAGE_COMPOSE}),
                    owned_by="tests")]


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
