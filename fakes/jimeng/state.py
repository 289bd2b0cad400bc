"""All mutable state of one fake instance, behind a single re-entrant lock.

Handlers take `state.lock` around any read-modify-write; rendering of bytes
happens outside it.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field

from . import media
from . import protocol as p
from .cdn import UrlSigner
from .config import FakeConfig
from .failures import FailureQueue
from .gallery import RenderedImages
from .jobs import Job
from .ledger import CreditLedger
from .uploads import UploadRegistry

INVALID_SESSION_PREFIXES = ("expired-", "invalid-")


@dataclass
class Session:
    sessionid: str
    ledger: CreditLedger
    user_id: int
    site: str | None = None
    invalid: bool = False
    submissions: int = 0
    generate_requests: int = 0
    history: list = field(default_factory=list)

    def public(self, now: float) -> dict:
        return {"site": self.site, "invalid": self.invalid, "user_id": self.user_id,
                "submissions": self.submissions, "generate_requests": self.generate_requests,
                "credits": self.ledger.snapshot(now)}


class FakeState:
    def __init__(self, config: FakeConfig | None = None):
        self.lock = threading.RLock()
        self.config = config or FakeConfig()
        self.failures = FailureQueue()
        self.signer = UrlSigner(secrets.token_bytes(32))
        self.images = RenderedImages(media.render_image, offload=True)
        self.reset()

    def reset(self):
        self.images.clear()
        with self.lock:
            self.clock_offset = 0.0
            self.sessions: dict[str, Session] = {}
            self.jobs: dict[str, Job] = {}
            self.jobs_by_submit: dict[str, Job] = {}
            # Jobs that are or may yet be queued, oldest first: a queue position looks at these,
            # not at every job the fake ever made (a long benchmark makes thousands).
            self.queue: list[Job] = []
            self._queue_seen_at = float("-inf")
            self.assets: dict[str, tuple[str, int]] = {}  # asset -> (history_id, index)
            self.uploads = UploadRegistry()
            self.by_prompt: collections.Counter = collections.Counter()
            self.requests: collections.Counter = collections.Counter()
            self.request_log: collections.deque = collections.deque(maxlen=500)
            self._next_history = 10 ** 13 + secrets.randbelow(8 * 10 ** 12)
            self.failures.clear()

    # --- clock and ids -----------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def new_history_id(self) -> str:
        with self.lock:
            self._next_history += 1 + secrets.randbelow(97)
            return str(self._next_history)

    @staticmethod
    def new_item_id() -> str:
        return str(7 * 10 ** 18 + secrets.randbelow(10 ** 18))

    # --- sessions ----------------------------------------------------------

    def session(self, sessionid: str) -> Session:
        with self.lock:
            found = self.sessions.get(sessionid)
            if found is None:
                digest = hashlib.sha256(sessionid.encode()).hexdigest()
                found = Session(sessionid, CreditLedger(gift=self.config.initial_credits),
                                user_id=10 ** 15 + int(digest[:15], 16) % (9 * 10 ** 15))
                self.sessions[sessionid] = found
            return found

    def is_invalid(self, sessionid: str | None) -> bool:
        if not sessionid:
            return True
        if sessionid.lower().startswith(INVALID_SESSION_PREFIXES):
            return True
        with self.lock:
            found = self.sessions.get(sessionid)
            return bool(found and found.invalid)

    # --- jobs --------------------------------------------------------------

    def add_job(self, job: Job):
        with self.lock:
            self.jobs[job.history_id] = job
            self.jobs_by_submit[job.submit_id] = job
            self.queue.append(job)
            for index, item in enumerate(job.items):
                self.assets[item.asset] = (job.history_id, index)
            session = self.session(job.session)
            session.submissions += 1
            self.by_prompt[job.text] += 1

    def settle(self, job: Job, now: float):
        """Refund a job that failed without producing anything (once)."""
        with self.lock:
            if job.settled:
                return
            status, finished = job.timeline(now)
            if status == p.STATUS_FAILED:
                if job.charge is not None and finished == 0:
                    self.session(job.session).ledger.refund(
                        now, job.charge, f"refund {job.history_id} fail_code {job.fail_code()}")
                    job.refunded = True
                job.settled = True
            elif status == p.STATUS_DONE:
                job.settled = True

    def queue_position(self, job: Job, now: float) -> tuple[int, int]:
        """1-based place of `job` among all jobs still queued (status 20), and their number."""
        with self.lock:
            if now < self._queue_seen_at:  # the clock went back: jobs may be queued again
                self.queue = list(self.jobs.values())
            self._queue_seen_at = now
            self.queue = [j for j in self.queue if now < j.queued_until()]
            queued = [j for j in self.queue if j.timeline(now)[0] == p.STATUS_QUEUED]
        queued.sort(key=lambda j: j.created)
        position = next((i + 1 for i, j in enumerate(queued) if j is job), 0)
        return position, len(queued)

    def active_jobs(self, sessionid: str, now: float) -> int:
        with self.lock:
            return sum(1 for j in self.jobs.values() if j.session == sessionid and j.is_active(now))

    def polling_config(self, delay: float) -> dict:
        interval = self.config.poll_interval_seconds
        if interval is None:
            interval = max(0.05, round(delay / 4, 2))
        if float(interval).is_integer():
            interval = int(interval)
        return {"interval_seconds": interval, "timeout_seconds": self.config.poll_timeout_seconds}

    # --- bookkeeping ---------------------------------------------------------

    def log(self, entry: dict):
        with self.lock:
            self.requests[entry.get("endpoint") or "other"] += 1
            self.request_log.append(entry)

    def snapshot(self) -> dict:
        now = self.now()
        with self.lock:
            for job in self.jobs.values():
                self.settle(job, now)
            by_session = {sid: s.submissions for sid, s in self.sessions.items() if s.submissions}
            return {
                "config": self.config.as_dict(),
                "clock": {"now": round(now, 3), "offset_seconds": self.clock_offset},
                "submissions": {"total": len(self.jobs), "by_session": by_session,
                                "by_prompt": dict(self.by_prompt)},
                "requests": dict(self.requests),
                "sessions": {sid: s.public(now) for sid, s in self.sessions.items()},
                "jobs": [job.public(now) for job in self.jobs.values()],
                "uploads": self.uploads.snapshot(),
                "failures": self.failures.snapshot(),
                "request_log": list(self.request_log)[-100:],
            }
