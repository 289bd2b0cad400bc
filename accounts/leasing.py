"""Leasing account slots, correct across processes and machines.

Each acquisition is one conditional UPDATE (`active_leases < limit` and a usable state). SQLite
serialises it under its IMMEDIATE write lock; PostgreSQL re-checks the WHERE clause after
waiting on the row lock. Either way two workers can never both take the last slot.

On PostgreSQL a transaction never waits for an account row while holding another: an UPDATE
that loses a race keeps the row it re-checked locked, so each try after a lost race runs in a
fresh transaction, and admissions serialise on an advisory lock rather than on the account rows.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, router, transaction
from django.db.models import Case, F, Q, Subquery, Value, When
from django.utils import timezone

from accounts import standing
from accounts.models import Account, AccountLease, AccountState
from gateway import prepared

RECOVERING = (AccountState.COOLING, AccountState.EXHAUSTED)


@dataclass(frozen=True)
class Lease:
    token: str
    account_id: int
    holder: str


def usable_q(now) -> Q:
    """Accounts that may take one more job right now."""
    has_slot = Q(probation=False, active_leases__lt=F("max_concurrency")) | Q(probation=True, active_leases__lt=1)
    active = Q(state=AccountState.ACTIVE) & has_slot
    # A cooldown that has run out: the account comes back on probation, one job at a time.
    recovered = Q(state__in=RECOVERING, state_until__lte=now, active_leases=0, max_concurrency__gt=0)
    return (active | recovered) & Q(credentials__isnull=False)


def acquire(provider: str, holder: str, ttl_seconds: float, *, regions=None, exclude_ids=(),
            only_ids=None, bind=None, gate=None) -> Lease | None:
    """Take a slot on the least busy, then least recently used, usable account; None if none is free.

    `bind(account_id)`, when given, runs in the same transaction once a slot is won, so the caller
    can record what the slot is for without a transaction of its own; if it raises, the slot is
    not taken and the exception propagates. Called inside a transaction, the lease joins it
    (and a lost race's row stays locked until that transaction ends: the workers call it outside one).
    `gate`, a context manager factory, is entered around the transaction (the SQLite write gate);
    the statements are compiled before it, so others wait for the writes only.
    """
    now = timezone.now()
    shape = _shape(provider, regions, exclude_ids, only_ids)
    if _any_free(*shape).bind(now=now).run_returning() is None:
        return None  # nothing to wait for the write lock for
    take_slot = _slot_taker(shape, now)
    for _ in range(MAX_TRIES):
        with (gate or nullcontext)(), transaction.atomic(savepoint=False):
            pk = take_slot()
            if pk is _RACED:
                continue  # ends this transaction, and with it the lock the lost race left behind
            if pk is None:
                return None
            token = uuid.uuid4()
            _lease_writer().bind(token=token, account_id=pk, holder=holder, acquired=now,
                                 expires=now + timedelta(seconds=ttl_seconds)).run()
            if bind is not None:
                bind(pk)
            return Lease(token=str(token), account_id=pk, holder=holder)
    return None


@functools.lru_cache(maxsize=1)
def _lease_writer() -> prepared.Template:
    """The new lease's INSERT, compiled once per process: it runs while holding the write lock."""
    field = AccountLease._meta.get_field
    fields = {"token": field("token"), "account_id": field("account").target_field, "holder": field("holder"),
              "acquired": field("acquired_at"), "expires": field("expires_at")}

    def build(token, account_id, holder, acquired, expires):
        lease = AccountLease(token=token, account_id=account_id, holder=holder, acquired_at=acquired,
                             expires_at=expires)
        return prepared.insert([lease])[0]
    return prepared.Template(build, fields)


def _ordered(shape: tuple, now):
    """The shape's usable accounts in the order slots are taken: least busy, then least recently used."""
    provider, regions, exclude_ids, only_ids = shape
    candidates = _narrowed(Account.objects.filter(provider=provider).filter(usable_q(now)),
                           regions=regions, exclude_ids=exclude_ids, only_ids=only_ids)
    return candidates.order_by("active_leases", F("last_used_at").asc(nulls_first=True), "pk")


def _narrowed(accounts, *, regions=None, exclude_ids=(), only_ids=None):
    """`accounts` limited to the regions a model is served in, without the excluded ones, and
    (when given) only among `only_ids`."""
    if regions:
        accounts = accounts.filter(region__in=regions)
    if exclude_ids:
        accounts = accounts.exclude(pk__in=list(exclude_ids))
    if only_ids is not None:
        accounts = accounts.filter(pk__in=list(only_ids))
    return accounts


def _shape(provider, regions, exclude_ids, only_ids) -> tuple:
    """What an acquisition's statements depend on besides the time: the key of their templates."""
    return (provider, tuple(sorted(regions or ())), tuple(sorted(exclude_ids or ())),
            None if only_ids is None else tuple(sorted(only_ids)))


_NOW = {"now": Account._meta.get_field("last_used_at")}


# Compiling an acquisition's statements is most of its cost (~3 ms of Python against ~0.1 ms of
# SQL), and each process sees few shapes (a provider, a model's regions, the accounts a job
# already tried), so each shape is compiled once and only the time is bound per call.
@functools.lru_cache(maxsize=256)
def _any_free(*shape) -> prepared.Template:
    return prepared.Template(lambda now: prepared.exists(_ordered(shape, now)), _NOW)


def _take(now) -> dict:
    return dict(
        active_leases=F("active_leases") + 1,
        last_used_at=now,
        # SET expressions all read the old row, so `state` below still sees the cooldown.
        probation=Case(When(state__in=RECOVERING, then=Value(True)), default=F("probation")),
        state=Case(When(state__in=RECOVERING, then=Value(AccountState.ACTIVE)), default=F("state")),
    )


@functools.lru_cache(maxsize=256)
def _pick(*shape) -> prepared.Template:
    """One statement that takes a slot on the first usable candidate and returns its pk."""
    def build(now):
        first = Subquery(_ordered(shape, now).values("pk")[:1])
        return prepared.update(Account.objects.filter(usable_q(now)).filter(pk=first), returning="pk", **_take(now))
    return prepared.Template(build, _NOW)


def warm_up(provider: str, regions=None) -> None:
    """Build the statements of an acquisition for `regions`, and of a release, once without
    running a write: a new worker does this before its first job rather than during it (the
    first build in a process also fills Django's query caches, ~10 ms)."""
    shape = _shape(provider, regions, (), None)
    _any_free(*shape)
    if prepared.supports_update_returning(router.db_for_write(Account)):  # as _slot_taker decides
        _pick(*shape)
    _lease_writer()
    _reservation_reader()
    _freer()
    for succeeded in (False, True):
        _giver(succeeded)


def reserve(provider: str, holder: str, ttl_seconds: float, *, token, regions=None) -> Lease | None:
    """Take a slot for a job being admitted, inside the admission's transaction (which holds the
    write lock), with one statement; None when no slot is free now. Never waits or retries: a
    job admitted without a slot has its worker lease one as usual. The lease's token is the
    caller's (the job's id), so the worker that claims the job finds it (`reserved`).

    Taking the slot here, in the admission's batch, spares each worker a transaction of its own
    at the moment a burst of jobs all start at once."""
    if not prepared.supports_update_returning(router.db_for_write(Account)):
        return None  # the slot would take a read and a write: left to the worker, as before
    now = timezone.now()
    pk = _pick(*_shape(provider, regions, (), None)).bind(now=now).run_returning()
    if pk is None:
        return None
    _lease_writer().bind(token=token, account_id=pk, holder=holder, acquired=now,
                         expires=now + timedelta(seconds=ttl_seconds)).run()
    return Lease(token=str(token), account_id=pk, holder=holder)


def reserved(token, holder: str, *, gate=None) -> Lease | None:
    """The live slot `reserve` took under `token` for `holder`, None when there is none. A slot
    whose account stopped being active since (expired, disabled, cooling) is given back (in a
    transaction entered within `gate`, as in `acquire`)."""
    row = _reservation_reader().bind(token=token).run_all()
    if not row:
        return None
    account_id, state = row[0]
    if state != AccountState.ACTIVE:
        with (gate or nullcontext)():
            release(str(token), account_id=account_id)
        return None
    return Lease(token=str(token), account_id=account_id, holder=holder)


@functools.lru_cache(maxsize=1)
def _reservation_reader() -> prepared.Template:
    def build(token):
        return prepared.select(AccountLease.objects.filter(token=token, released_at__isnull=True)
                               .values_list("account_id", "account__state"))
    return prepared.Template(build, {"token": AccountLease._meta.get_field("token")})


MAX_TRIES = 20
_RACED = object()  # a try lost its race for a slot while others were still free


def _slot_taker(shape: tuple, now):
    """A function taking one slot on the first candidate it can: that account's pk, None when
    nothing is free, or _RACED.

    Each try is one conditional UPDATE, so two workers can never both take the last slot. Where
    the database can return the row it wrote, one statement picks the first candidate and takes
    its slot, bound here, before the caller's write lock. PostgreSQL re-checks the condition on
    the row it locked: a lost race writes nothing but keeps that row locked until the
    transaction ends, so the caller picks again in a new transaction (waiting for the next row
    while holding this one could deadlock with a worker doing the opposite). Elsewhere the
    candidates are read, then tried in turn.
    """
    if prepared.supports_update_returning(router.db_for_write(Account)):
        pick = _pick(*shape).bind(now=now)
        any_free = _any_free(*shape).bind(now=now)

        def take_slot():
            pk = pick.run_returning()
            if pk is None and any_free.run_returning() is not None:
                return _RACED
            return pk
        return take_slot

    ordered = _ordered(shape, now)
    usable = Account.objects.filter(usable_q(now))
    take = _take(now)

    def take_slot():
        for pk in list(ordered.values_list("pk", flat=True)[:MAX_TRIES]):
            if usable.filter(pk=pk).update(**take):
                return pk
        return None
    return take_slot


WAIT_MAX_SLEEP = 1.0


def wait_for_lease(provider: str, holder: str, deadline: float, grace: float, *, regions=None, exclude_ids=(),
                   only_ids=None, bind=None, gate=None) -> Lease | None:
    """A lease, waiting while the pool is busy; None at the deadline or when no account could ever
    serve (all excluded, expired or disabled, or cooling past the deadline)."""
    ttl = lease_ttl(deadline, grace)
    sleep = 0.05
    while time.time() < deadline:
        lease = acquire(provider, holder, ttl, regions=regions, exclude_ids=exclude_ids, only_ids=only_ids,
                        bind=bind, gate=gate)
        if lease is not None:
            return lease
        if not could_serve_before(provider, deadline, regions=regions, exclude_ids=exclude_ids, only_ids=only_ids):
            return None
        time.sleep(min(sleep, max(0.0, deadline - time.time())))
        sleep = min(sleep * 2, WAIT_MAX_SLEEP)
    return None


def lease_ttl(deadline: float, grace: float) -> float:
    """How long a lease for a job ending at `deadline` lives before the reaper frees it."""
    return max(1.0, deadline - time.time()) + grace


def could_serve_before(provider: str, deadline: float, *, regions=None, exclude_ids=(), only_ids=None) -> bool:
    qs = _narrowed(Account.objects.filter(provider=provider, credentials__isnull=False, max_concurrency__gt=0),
                   regions=regions, exclude_ids=exclude_ids, only_ids=only_ids)
    limit = timezone.now() + timedelta(seconds=max(0.0, deadline - time.time()))
    return qs.filter(Q(state=AccountState.ACTIVE) | Q(state__in=RECOVERING, state_until__lte=limit)).exists()


def release(token: str, *, account_id: int | None = None, succeeded: bool = False) -> bool:
    """Give the slot back. Releasing twice (or after the reaper did) is harmless.

    A caller that knows the lease's account saves a read; `succeeded` records the job's success
    on that account in the same statement as the freed slot, or alone if the slot was already
    freed.
    """
    with transaction.atomic(savepoint=False):
        if account_id is None:
            lease = AccountLease.objects.filter(token=token).values("account_id").first()
            if lease is None:
                return False
            account_id = lease["account_id"]
        return release_ahead(token, account_id, succeeded=succeeded)()


def release_ahead(token: str, account_id: int, *, succeeded: bool = False):
    """`release`, its statements ready now: a function to call later, in a transaction (under
    the SQLite write gate, where compiling would keep other writers waiting)."""
    now = timezone.now()
    free = _freer().bind(token=token, now=now)
    give_back = _giver(succeeded).bind(account_id=account_id, **({"now": now} if succeeded else {}))

    def run() -> bool:
        if free.run():
            give_back.run()
            return True
        if succeeded:  # the reaper freed the slot first; the success still counts
            standing.record_success(account_id)
        return False
    return run


# A release is the same two statements for every job: compiled once per process, bound per call.
@functools.lru_cache(maxsize=1)
def _freer() -> prepared.Template:
    def build(token, now):
        return prepared.update(AccountLease.objects.filter(token=token, released_at__isnull=True), released_at=now)
    return prepared.Template(build, {"token": AccountLease._meta.get_field("token"),
                                     "now": AccountLease._meta.get_field("released_at")})


@functools.lru_cache(maxsize=2)
def _giver(succeeded: bool) -> prepared.Template:
    one_less = Case(When(active_leases__gt=0, then=F("active_leases") - 1), default=Value(0))
    fields = {"account_id": Account._meta.pk}
    if succeeded:
        fields["now"] = Account._meta.get_field("last_success_at")

        def build(account_id, now):
            return prepared.update(Account.objects.filter(pk=account_id), **standing.success_update(now),
                                   active_leases=one_less)
    else:
        def build(account_id):
            return prepared.update(Account.objects.filter(pk=account_id), active_leases=one_less)
    return prepared.Template(build, fields)


def release_holder(holder: str) -> int:
    """Free every live lease of one job (used when a job is ended from outside its worker)."""
    tokens = AccountLease.objects.filter(holder=holder, released_at__isnull=True).values_list("token", flat=True)
    return sum(release(str(t)) for t in list(tokens))


def reap_expired() -> int:
    """Free leases whose worker died: they outlived their job's deadline plus grace."""
    tokens = AccountLease.objects.filter(released_at__isnull=True, expires_at__lt=timezone.now()).values_list(
        "token", flat=True
    )
    return sum(release(str(t)) for t in list(tokens))


def lock_provider(provider: str) -> None:
    """Serialise admissions of one provider until the current transaction ends, so that two
    requests cannot both count the queue and both enqueue.

    SQLite already serialises writing transactions (IMMEDIATE), so there is nothing to do. On
    PostgreSQL it is a transaction-level advisory lock: locking the provider's account rows
    instead would make every admission wait for, and deadlock with, workers taking and giving
    back slots on those rows.
    """
    if connection.vendor == "sqlite":
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_admission_key(provider)])
        return
    list(Account.objects.select_for_update().filter(provider=provider).order_by("pk").values_list("pk", flat=True))


def _admission_key(provider: str) -> int:
    """A stable signed 64-bit advisory lock key for one provider's admissions."""
    digest = hashlib.blake2b(f"gateway.admission:{provider}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def pool_capacity(provider: str, *, regions=None) -> tuple[int, int]:
    """(total slots of accounts usable now or soon, slots in use) for admission control."""
    total = used = 0
    rows = _capacity_reader(provider, tuple(sorted(regions or ()))).bind(now=timezone.now()).run_all()
    for limit, leases, probation in rows:
        total += 1 if probation else limit
        used += leases
    return total, used


# Admissions read the pool's size under the write lock (inside a batch's transaction): compiled
# once per pool, like an acquisition's statements.
@functools.lru_cache(maxsize=64)
def _capacity_reader(provider: str, regions: tuple) -> prepared.Template:
    def build(now):
        qs = _narrowed(Account.objects.filter(provider=provider, credentials__isnull=False).filter(
            Q(state=AccountState.ACTIVE) | Q(state__in=RECOVERING, state_until__lte=now)
        ), regions=regions)
        return prepared.select(qs.values_list("max_concurrency", "active_leases", "probation"))
    return prepared.Template(build, _NOW)


def soonest_recovery(provider: str, *, regions=None):
    """When the first cooling or exhausted account of this provider comes back, or None."""
    qs = _narrowed(Account.objects.filter(provider=provider, state__in=RECOVERING, state_until__isnull=False),
                   regions=regions)
    return qs.order_by("state_until").values_list("state_until", flat=True).first()
