"""The interface between the job runner and an upstream driver.

A driver takes plain data and returns plain data: no ORM calls (the Playwright driver could not
make them, django-stack.md §2.2) and no knowledge of leases, retries or HTTP clients of ours.
It reports failures by raising a DriverError subclass that says what the account should suffer
and what the client should see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol


@dataclass
class DriverTask:
    job_id: str
    kind: str                 # generate | edit | compose | video ...
    model: str                # public model id
    upstream_model: str       # the upstream's name for it
    params: dict[str, Any]
    inputs: list[Path]        # absolute paths of input images, in order
    credentials: Any          # accounts.cookies.Credentials
    proxy: str
    region: str
    deadline: float           # time.time() by which the driver must have returned
    account_name: str = ""


@dataclass
class OutputFile:
    data: bytes
    mime: str
    width: int | None = None
    height: int | None = None
    kind: str = "image"


@dataclass
class DriverResult:
    files: list[OutputFile]
    credentials: Any = None   # refreshed credentials to write back (rotated cookies), or None
    meta: dict[str, Any] = field(default_factory=dict)
    # The upstream exchanges (redacted), produced when asked for: a successful job's log is
    # seldom read, and rendering it is a noticeable part of a driver's CPU.
    read_log: Callable[[], list[dict[str, Any]]] = field(default=list, repr=False)

    @property
    def upstream_log(self) -> list[dict[str, Any]]:
        return self.read_log()


@dataclass
class Artifact:
    kind: str                 # screenshot | html | console | upstream
    name: str
    data: bytes


class Driver(Protocol):
    provider: str

    def run(self, task: DriverTask) -> DriverResult: ...


class DriverError(Exception):
    """A failed attempt. Subclasses decide the account's fate and the client's error."""

    status = 502
    code = "upstream_error"
    # None | "cooldown" | "expire" | "exhaust"
    account_action: str | None = None
    # Whether another account could succeed where this one failed.
    failover = True

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None, until=None, param: str | None = None,
                 upstream_log: list | None = None, artifacts: list[Artifact] | None = None,
                 credentials: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.retry_after = retry_after
        self.until = until
        self.param = param
        self.upstream_log = upstream_log or []
        self.artifacts = artifacts or []
        self.credentials = credentials

    def __reduce__(self):
        # Errors cross a process boundary (the Gemini browser service answers with them); the
        # default reduce would call __init__ with positional args only and lose every field.
        return _rebuild_error, (type(self), self.args, self.__dict__)


def _rebuild_error(cls, args, state):
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class CredentialsRejected(DriverError):
    """Signed out / login error: the account is expired and the job moves on."""

    status = 503
    code = "account_expired"
    account_action = "expire"


class CredentialsUnreadable(CredentialsRejected):
    """The account's stored credentials (or proxy) cannot be decrypted with COOKIE_ENCRYPTION_KEYS:
    no upstream call is made; the account is set aside as a signed-out one is, with the reason for
    the operator, and the job moves on."""


def account_secrets(account) -> tuple[Any, str]:
    """(credentials, proxy) of an account, decrypted, for a DriverTask; CredentialsUnreadable
    (a DriverError, handled as any other) when a key that wrote them is gone."""
    from accounts.crypto import DecryptionError

    try:
        return account.get_credentials(), account.get_proxy()
    except DecryptionError as exc:
        raise CredentialsUnreadable(str(exc)) from None


class RateLimited(DriverError):
    """Rate limit, anti-bot challenge, system busy: cool the account down and move on."""

    status = 503
    code = "upstream_rate_limited"
    account_action = "cooldown"


class QuotaExhausted(DriverError):
    """Out of credits or daily quota: out until the reset time; the job moves on."""

    status = 503
    code = "quota_exhausted"
    account_action = "exhaust"


class ContentPolicy(DriverError):
    """The upstream refused the prompt or image. Another account would refuse it too."""

    status = 400
    code = "content_policy_violation"
    failover = False


class InvalidInput(DriverError):
    """The upstream rejected the request's parameters or images."""

    status = 400
    code = "invalid_value"
    failover = False


class GenerationBlocked(DriverError):
    """A gate only an operator can fix (client version, region, model not on this site)."""

    status = 502
    code = "generation_blocked"
    failover = True


class UpstreamFailure(DriverError):
    """The upstream broke in a way that may not recur on another account or attempt."""

    status = 502
    code = "upstream_error"
    failover = True


class UpstreamUnavailable(UpstreamFailure):
    """The upstream (or the account's proxy) could not be reached at all: refused, timed out,
    name not found. The message says so in plain words; the exception's own text, with hosts,
    ports and URLs, stays in the upstream log and the worker's log."""

    code = "upstream_unavailable"


class DeadlineExceeded(DriverError):
    status = 504
    code = "timeout"
    failover = False


# --- videos ------------------------------------------------------------------------------------
# Video jobs last minutes, and a crashed worker must resume them without paying twice, so a
# video driver splits the work: submit once, then poll and download by the upstream id.

@dataclass
class VideoPoll:
    state: str                 # "queued" | "running" | "succeeded" | "failed"
    progress: int = 0          # 0–100
    poll_after: float = 5.0    # seconds the upstream suggests before the next poll
    error: DriverError | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class VideoDriver(Protocol):
    provider: str

    def submit_video(self, task: DriverTask, submit_id: str) -> str:
        """Start the generation; return the upstream's id for it. `submit_id` is ours, stored first."""

    def find_video(self, task: DriverTask, submit_id: str) -> str | None:
        """The upstream id of an earlier submission with this submit_id, or None if it never arrived."""

    def poll_video(self, task: DriverTask, upstream_id: str) -> VideoPoll: ...

    def download_video(self, task: DriverTask, upstream_id: str) -> OutputFile:
        """The finished MP4 (the best quality the upstream offers)."""
