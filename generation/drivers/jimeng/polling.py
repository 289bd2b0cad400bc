"""Waiting for a submitted job: adaptive polling of get_history_by_ids (jimeng-protocol.md §4.6, §6).

The pace follows what the upstream says about the job: back off while it sits in the queue, poll
at the base pace while it renders, poll fast once its forecast finish time is near, and land one
poll on that time itself rather than up to an interval after it. The
upstream's `polling_config.interval_seconds` caps every wait and its `timeout_seconds` the total.
A record that is missing right after submit is tolerated for a grace period (the history store
is eventually consistent). The loop ends on success (50), failure (30), enough finished results, a result count that stopped
moving, or the deadline; results that finished are returned even when the rest failed.

`clock` and `sleep` are injectable so tests run in virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from generation.drivers.base import DeadlineExceeded, UpstreamFailure

from . import config
from .client import JimengClient


@dataclass
class PollOutcome:
    history_id: str
    status: int | None
    results: list[Any]
    record: dict = field(default_factory=dict)
    fail_code: str = ""
    reason: str = ""          # success | failed | enough | stable | timeout
    polls: int = 0

    @property
    def failed(self) -> bool:
        return self.reason == "failed"


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def record_status(record: dict) -> int | None:
    status = _int(record.get("status"))
    if status is None:
        status = _int((record.get("task") or {}).get("status"))
    return status


def find_record(data: Any, history_id: str) -> dict | None:
    """The job's record in a get_history_by_ids answer; None while the upstream does not know it.

    Primary shape: `data` keyed by the requested id (§4.6). Other gateways also accept a
    `history_list` / `history_records` list, so those are read too.
    """
    if not isinstance(data, dict):
        return None
    record = data.get(history_id)
    if isinstance(record, dict):
        return record
    for key in ("history_list", "history_records"):
        rows = data.get(key)
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, dict) and str(row.get("history_record_id") or "") in ("", history_id):
                    return row
    return None


def polling_config(record: dict | None) -> dict:
    queue = (record or {}).get("queue_info") or {}
    return queue.get("polling_config") or {}


def is_queued(record: dict) -> bool:
    if record_status(record) != config.get("STATUS_QUEUED"):
        return False
    queue = record.get("queue_info") or {}
    idx = _int(queue.get("queue_idx"), 0)
    return idx > 0 or _int(queue.get("queue_length"), 0) > 0


class Poller:
    """Polls one history record until it ends, for images or (later) videos."""

    def __init__(self, client: JimengClient, extract: Callable[[dict], list], *, kind: str = "image",
                 want: int | None = None, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.client = client
        self.extract = extract
        self.kind = kind
        self.want = want
        self.clock = clock or client.clock
        self.sleep = sleep or client.sleep

    # --- one poll ------------------------------------------------------------------------------
    def fetch(self, history_id: str) -> dict | None:
        body: dict[str, Any] = {"history_ids": [history_id]}
        if self.kind == "image":
            body["image_info"] = config.get("POLL_IMAGE_INFO")
        data = self.client.api(config.get("PATH_HISTORY"), body,
                               log_body={"history_ids": [history_id]})
        return find_record(data, history_id)

    # --- the loop -------------------------------------------------------------------------------
    def wait(self, history_id: str, *, submitted: dict | None = None, submitted_at: float | None = None) -> PollOutcome:
        video = self.kind == "video"
        started = submitted_at if submitted_at is not None else self.clock()
        # The upstream started its clock before it answered the submit, so a forecast counted from
        # now never puts a poll ahead of the upstream's own forecast finish.
        answered = self.clock()
        hint = polling_config(submitted)
        stop_at, by_deadline = self._stop_at(started, hint)
        min_iv = float(config.get("POLL_MIN_INTERVAL"))
        base_iv = float(config.get("POLL_BASE_INTERVAL"))
        max_iv = float(config.get("POLL_MAX_INTERVAL"))
        # The upstream's suggested interval is the longest we ever wait between polls.
        suggested = _float(hint.get("interval_seconds"))
        if suggested and suggested > 0:
            max_iv = min(max_iv, suggested)
            base_iv, min_iv = min(base_iv, max_iv), min(min_iv, max_iv)
        grace = float(config.get("POLL_MISSING_GRACE_VIDEO" if video else "POLL_MISSING_GRACE"))
        tolerance = int(config.get("POLL_ERROR_TOLERANCE"))
        stable_rounds = int(config.get("POLL_STABLE_ROUNDS"))

        outcome = PollOutcome(history_id=history_id, status=record_status(submitted or {}), results=[])
        queued_iv = base_iv
        last_count, stable, failures = -1, 0, 0
        self._sleep_until(min(stop_at, self.clock() + float(
            config.get("POLL_FIRST_DELAY_VIDEO" if video else "POLL_FIRST_DELAY"))))

        while self.clock() < stop_at:
            try:
                record = self.fetch(history_id)
                failures = 0
            except DeadlineExceeded:
                break
            except UpstreamFailure:
                # A dropped poll says nothing about the job; give up only when they keep failing.
                failures += 1
                if failures > tolerance:
                    raise
                self._sleep_until(min(stop_at, self.clock() + base_iv))
                continue
            outcome.polls += 1
            if record is None:
                if self.clock() - started > grace:
                    raise UpstreamFailure(f"Jimeng lost track of job {history_id}: its history record is "
                                          "missing.", upstream_log=self.client.log)
                self._sleep_until(min(stop_at, self.clock() + min_iv))
                continue

            status = record_status(record)
            results = self.extract(record)
            outcome.status, outcome.record, outcome.results = status, record, results
            outcome.fail_code = str(record.get("fail_code") or "")
            done = self._verdict(status, results, last_count, stable, stable_rounds)
            if done:
                outcome.reason = done
                return outcome
            stable = stable + 1 if results and len(results) == last_count else 0
            last_count = len(results)

            if is_queued(record):
                queued_iv = min(max_iv, queued_iv * float(config.get("POLL_QUEUE_BACKOFF")))
                interval = queued_iv
            else:
                interval = self._processing_interval(record, answered, min_iv, base_iv)
            self._sleep_until(min(stop_at, self.clock() + interval))

        outcome.reason = "timeout"
        if outcome.results:
            return outcome
        if by_deadline:
            raise DeadlineExceeded(
                f"Jimeng job {history_id} did not finish before the job's deadline "
                f"(last status {outcome.status}).", upstream_log=self.client.log)
        raise UpstreamFailure(f"Jimeng job {history_id} did not finish within the upstream's polling "
                              f"timeout (last status {outcome.status}).", upstream_log=self.client.log)

    def _verdict(self, status, results, last_count, stable, stable_rounds) -> str:
        if status == config.get("STATUS_SUCCESS"):
            return "success"
        if status == config.get("STATUS_FAILED"):
            return "failed"
        if status in config.get("STATUS_MAYBE_DONE") and results:
            return "success"
        if self.want and len(results) >= self.want:
            return "enough"
        # The count has not moved for `stable_rounds` polls (this one included): take what exists.
        if results and len(results) == last_count and stable + 1 >= stable_rounds:
            return "stable"
        return ""

    def _stop_at(self, started: float, hint: dict) -> tuple[float, bool]:
        """When to give up, and whether that moment is the job's deadline (not the upstream's)."""
        stop, by_deadline = float("inf"), True
        if self.client.deadline is not None:
            stop = self.client.deadline - float(config.get("POLL_DEADLINE_RESERVE"))
        timeout = _float(hint.get("timeout_seconds"))
        if timeout and timeout > 0 and started + timeout < stop:
            stop, by_deadline = started + timeout, False
        return stop, by_deadline

    def _processing_interval(self, record: dict, answered: float, min_iv: float, base_iv: float) -> float:
        """Base pace, quicker as the forecast finish approaches, fastest once it has passed.

        A job that ends on its forecast is seen at once: the poll before it is brought forward to
        the forecast time (one poll more at most) instead of falling on the pace's grid, which
        would leave it up to one interval late.
        """
        queue_cost = _float(record.get("forecast_queue_cost"), 0.0) or 0.0
        gen_cost = _float(record.get("forecast_generate_cost"))
        if not gen_cost:
            return base_iv
        left = answered + queue_cost + gen_cost - self.clock()
        if left <= 0:
            return min_iv
        return min(left, max(min_iv, min(base_iv, left / 2)))

    def _sleep_until(self, when: float) -> None:
        delay = when - self.clock()
        if delay > 0:
            self.sleep(delay)
