"""A generation job and its status timeline (20 -> 42 -> 45 -> 50, or 30).

Status is a pure function of the clock, so polling never advances anything by
itself and concurrent polls always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import protocol as p
from .ledger import Charge


@dataclass
class Item:
    item_id: str   # 19-digit numeric string
    asset: str     # 32-hex CDN object id


@dataclass
class Job:
    history_id: str
    submit_id: str
    session: str
    site: str
    kind: str            # "image" | "blend" | "video"
    model: str
    prompt: str          # as sent upstream
    text: str            # the prompt without blend "##" placeholders
    created: float
    delay: float
    count: int
    width: int
    height: int
    resolution_type: str
    ratio: str | None
    seed: int
    cost: int
    logid: str
    modes: dict = field(default_factory=dict)      # job-level failure markers
    input_uris: list = field(default_factory=list)
    video: dict | None = None
    items: list = field(default_factory=list)
    charge: Charge | None = None
    absent_until: float = 0.0
    settled: bool = False
    refunded: bool = False
    negative_prompt: str = ""

    @property
    def generate_type(self) -> int:
        return {"image": p.GENERATE_TYPE_TEXT2IMG, "blend": p.GENERATE_TYPE_BLEND}.get(
            self.kind, p.GENERATE_TYPE_VIDEO)

    def fail_code(self) -> str:
        for name in ("content_policy", "gen_failed", "partial"):
            if name in self.modes:
                arg = self.modes[name]
                if arg:
                    return arg
                if name == "content_policy" and self.model in p.SEEDANCE_20_FAST:
                    return p.FAIL_CONTENT_SEEDANCE_FAST
                return p.FAIL_CONTENT if name == "content_policy" else p.FAIL_GENERIC
        return ""

    def finish_time(self) -> float:
        return self.created + self.delay

    def queued_until(self) -> float:
        """When the job leaves the queue (status 20) for good; before `created` if it never shows
        as queued."""
        if "missing_history" in self.modes or self.delay <= 0:
            return float("-inf")
        return self.created + p.PHASE_PROCESSING_AT * self.delay

    def timeline(self, now: float) -> tuple[int | None, int]:
        """(status, finished item count) at `now`; status None = not visible yet."""
        if "missing_history" in self.modes or now < self.absent_until:
            return None, 0
        elapsed = now - self.created
        fraction = elapsed / self.delay if self.delay > 0 else float("inf")
        if fraction < p.PHASE_PROCESSING_AT:
            return p.STATUS_QUEUED, 0
        if "never_finish" in self.modes:
            if self.modes["never_finish"] == "42" or fraction < p.PHASE_FINALIZING_AT:
                return p.STATUS_PROCESSING, 0
            return p.STATUS_FINALIZING, 0
        if fraction < 1.0:
            if "unknown_status" in self.modes:
                try:
                    return int(self.modes["unknown_status"] or 99), 0
                except ValueError:
                    return 99, 0
            return (p.STATUS_PROCESSING if fraction < p.PHASE_FINALIZING_AT
                    else p.STATUS_FINALIZING), 0
        if "partial" in self.modes:
            return p.STATUS_FAILED, max(1, self.count // 2)
        if "content_policy" in self.modes or "gen_failed" in self.modes:
            return p.STATUS_FAILED, 0
        return p.STATUS_DONE, self.count

    def size_matches_table(self) -> bool | None:
        """Whether the requested pixels are the README table's entry (None: no ratio given)."""
        if self.kind == "video" or self.ratio is None:
            return None
        return (self.width, self.height) == p.IMAGE_SIZES.get(
            self.resolution_type, {}).get(self.ratio)

    def is_active(self, now: float) -> bool:
        status, _ = self.timeline(now)
        return status not in (p.STATUS_DONE, p.STATUS_FAILED) and "missing_history" not in self.modes

    def public(self, now: float) -> dict:
        status, finished = self.timeline(now)
        return {
            "history_id": self.history_id, "submit_id": self.submit_id, "session": self.session,
            "site": self.site, "kind": self.kind, "model": self.model, "prompt": self.text,
            "status": status, "finished_count": finished, "count": self.count,
            "fail_code": self.fail_code() if status == p.STATUS_FAILED else "",
            "width": self.width, "height": self.height, "resolution_type": self.resolution_type,
            "ratio": self.ratio, "size_matches_table": self.size_matches_table(),
            "cost": self.cost, "refunded": self.refunded,
            "created": round(self.created, 3), "delay": self.delay, "modes": dict(self.modes),
            "input_uris": list(self.input_uris), "video": self.video,
            "item_ids": [item.item_id for item in self.items],
        }
