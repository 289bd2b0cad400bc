"""The Gemini web driver: image generation and editing in gemini.google.com with exported cookies.

`GeminiDriver.run()` is called by the job runner in a django-q2 worker's main thread. The browser
work itself happens in the machine's browser service (service.py): the driver hands it the job's
plain data over a local socket and blocks for the outcome, so the runner's ORM calls before and
after stay legal and one warm Chromium serves every worker. Each job gets a fresh browser context
holding only its account's cookies (and proxy), which is closed on every path.
"""

from __future__ import annotations

import time

from generation.drivers.base import DeadlineExceeded, DriverResult, UpstreamFailure

from . import client
from . import selectors as selector_module

# How long past the deadline run() waits for the service before giving up on the job. The flow
# stops DEADLINE_MARGIN seconds before the deadline and the service cancels a job JOB_GRACE after
# it, so this is only a backstop.
RUN_GRACE = 8.0


class GeminiDriver:
    provider = "gemini"

    def run(self, task) -> DriverResult:
        cfg = selector_module.load()  # settings are read here, in the worker, and travel with the job
        conn = client.connect()
        # Closing the connection on any way out (a django-q2 SIGALRM included) is what tells the
        # service to drop the job and close its browser context.
        with conn:
            conn.send({"kind": "run", "task": task, "cfg": cfg})
            if not conn.poll(max(0.0, task.deadline - time.time()) + RUN_GRACE):
                raise DeadlineExceeded("The browser service did not finish the job by its deadline.")
            try:
                outcome, value = conn.recv()
            except (EOFError, OSError):
                raise UpstreamFailure("The browser service stopped while running this job.",
                                      code="browser_crashed") from None
        if outcome == "ok":
            return value
        raise value
