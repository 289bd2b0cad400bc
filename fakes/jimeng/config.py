"""Tunable behaviour of the fake; every field can be changed at runtime (/_fake/config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class FakeConfig:
    # Generation time of a job, in seconds (per-prompt override: [delay:S]).
    delay_seconds: float = 3.0
    # Credits a session owns the first time it is seen (gift bucket, no expiry).
    initial_credits: int = 100
    # What the daily claim (credit_receive) grants; per-session override via /_fake/credits.
    daily_credits: int = 60
    image_cost: int = 4
    video_cost_per_second: int = 2
    # Check the MD5 `Sign` header of §2.5 on API-host calls.
    check_sign: bool = True
    # Bind a sessionid to the first site it is used on; other sites answer 3000.
    strict_region: bool = True
    # HK/JP/SG share the SG host, which answers /passport/account/info/v2 with 404 (§4.9).
    intl_account_info_404: bool = True
    # Seedance 2.0 generate: without a_bogus -> 1019; with one -> 4013 unless this is set.
    seedance_a_bogus_ok: bool = False
    # Lifetime of signed CDN URLs, from the moment a response carrying them is built.
    url_ttl_seconds: int = 86400
    # Lifetime of get_upload_token STS keys.
    sts_ttl_seconds: int = 7200
    # queue_info.polling_config; None -> a quarter of the job's generation time.
    poll_interval_seconds: float | None = None
    poll_timeout_seconds: int = 86400
    # Format of large_images (png, jpeg or webp).
    image_format: str = "png"
    # Fraction of a video's generation time during which its history record is absent.
    video_absent_fraction: float = 0.1
    # Sleep of the `slow` failure when no ARG is given (> the gateways' 45 s timeout).
    slow_seconds: float = 50.0
    # Refuse a generate with 5001 "credit prededuct failed" beyond this many unfinished
    # jobs per session (None: unlimited).
    max_active_jobs: int | None = None
    # Answer a repeated submit_id with the existing record instead of a new job.
    dedupe_submit_id: bool = False
    # Public base of generated URLs; None -> the Host the request came in on.
    public_url: str | None = None

    def update(self, **changes) -> "FakeConfig":
        known = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(known)}")
            setattr(self, key, value)
        return self

    def as_dict(self) -> dict:
        return asdict(self)
