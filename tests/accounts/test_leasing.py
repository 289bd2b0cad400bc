"""Leasing under real concurrency: separate OS processes against the configured database
(the suite runs once on SQLite and once on PostgreSQL)."""

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import leasing, standing
from accounts.models import Account, AccountLease, AccountState
from tests.conftest import ROOT, database_url_for_children, make_account


def run_workers(count: int, iterations: int, hold: float, provider: str = "sleepy", *,
                admitters: int = 0) -> list[dict]:
    """`count` processes leasing in a loop, and `admitters` more admitting jobs as the web does."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url_for_children()}
    modes = ["lease"] * count + ["admit"] * admitters
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.lease_worker", provider, str(iterations),
                               str(hold), mode], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for mode in modes]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.slow
def test_processes_never_exceed_max_concurrency(transactional_db):
    a = make_account("pool-a", max_concurrency=2)
    b = make_account("pool-b", max_concurrency=1)
    results = run_workers(count=6, iterations=60, hold=0.002)

    errors = [e for r in results for e in r["errors"]]
    assert errors == []  # no "database is locked", no failed release
    assert sum(r["won"] for r in results) > 60  # the processes really contended and mostly won
    limits = {a.pk: 2, b.pk: 1}
    for r in results:
        for account_id, seen in r["max_seen"].items():
            assert seen <= limits[int(account_id)]
    # Everything came back.
    assert list(Account.objects.order_by("name").values_list("active_leases", flat=True)) == [0, 0]
    assert not AccountLease.objects.filter(released_at__isnull=True).exists()


@pytest.mark.slow
def test_admissions_and_many_leasing_processes_never_deadlock(transactional_db):
    # A burst: many workers racing for slots across several accounts while the web admits jobs.
    # On PostgreSQL a lost race used to leave a row lock behind in the worker's transaction, and
    # an admission locked every account row of the provider, in its own order: deadlocks, which
    # failed admissions with a 500 and workers' claims with an exception.
    for i in range(6):
        make_account(f"burst-{i}", max_concurrency=4)
    results = run_workers(count=10, iterations=80, hold=0.0, admitters=3)

    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    assert sum(r["won"] for r in results) > 400
    assert not Account.objects.exclude(active_leases=0).exists()
    assert not AccountLease.objects.filter(released_at__isnull=True).exists()


def test_a_lost_race_for_a_slot_leaves_no_account_locked(transactional_db):
    # PostgreSQL keeps the row an UPDATE re-checked and then skipped locked until the transaction
    # ends; a worker that went on to the next account in that transaction held both.
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises every writing transaction)")
    first, second = make_account("race-first"), make_account("race-second")
    rival = connections.create_connection("default")
    rival.set_autocommit(False)
    with rival.cursor() as cursor:  # another worker has taken the first account's slot, not yet committed
        cursor.execute("UPDATE accounts_account SET active_leases = 1 WHERE id = %s", [first.pk])
    seen = {}

    def while_holding_the_lease(account_id):
        probe = connections.create_connection("default")
        try:
            with probe.cursor() as cursor:
                cursor.execute("SELECT id FROM accounts_account WHERE id = %s FOR UPDATE NOWAIT", [first.pk])
            seen["first"] = "free"
        except OperationalError:
            seen["first"] = "locked"
        finally:
            probe.close()

    def worker():
        try:
            seen["lease"] = leasing.acquire("sleepy", "race", 60, bind=while_holding_the_lease)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.3)  # the worker's UPDATE now waits for the first account's row
    rival.commit()
    rival.close()
    thread.join(10)
    assert seen["lease"].account_id == second.pk
    assert seen["first"] == "free"


def test_least_busy_then_least_recently_used(transactional_db):
    a = make_account("lru-a", max_concurrency=2)
    b = make_account("lru-b", max_concurrency=2)
    first = leasing.acquire("sleepy", "j1", 60)
    second = leasing.acquire("sleepy", "j2", 60)
    assert {first.account_id, second.account_id} == {a.pk, b.pk}  # spread, not stacked
    leasing.release(first.token)
    third = leasing.acquire("sleepy", "j3", 60)
    assert third.account_id == first.account_id  # the idle one
    assert leasing.acquire("sleepy", "j4", 60) is not None
    assert leasing.acquire("sleepy", "j5", 60) is not None  # 4 slots in all
    assert leasing.acquire("sleepy", "j6", 60) is None
    assert sorted(Account.objects.values_list("active_leases", flat=True)) == [2, 2]


def test_full_pool_returns_none_and_release_is_idempotent(transactional_db):
    make_account("solo", max_concurrency=1)
    lease = leasing.acquire("sleepy", "j1", 60)
    assert leasing.acquire("sleepy", "j2", 60) is None
    assert leasing.release(lease.token) is True
    assert leasing.release(lease.token) is False
    assert Account.objects.get(name="solo").active_leases == 0


def test_expired_lease_is_reaped(transactional_db):
    acc = make_account("reap", max_concurrency=1)
    lease = leasing.acquire("sleepy", "j1", 60)
    AccountLease.objects.filter(token=lease.token).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leasing.reap_expired() == 1
    assert Account.objects.get(pk=acc.pk).active_leases == 0
    assert leasing.release(lease.token) is False  # the worker's late release changes nothing


def test_unusable_states_are_skipped(transactional_db):
    for state in (AccountState.EXPIRED, AccountState.DISABLED):
        make_account(f"s-{state}", state=state)
    make_account("cooling", state=AccountState.COOLING, state_until=timezone.now() + timedelta(minutes=5))
    assert leasing.acquire("sleepy", "j", 60) is None


def test_cooldown_ladder_grows_and_caps(transactional_db, settings):
    settings.COOLDOWN_BASE_SECONDS = 10
    settings.COOLDOWN_MAX_SECONDS = 35
    acc = make_account("ladder")
    delays = [standing.cool_down(acc.pk, "rate_limited", "429").total_seconds() for _ in range(4)]
    assert delays == [10, 20, 35, 35]
    acc.refresh_from_db()
    assert acc.state == AccountState.COOLING and acc.state_reason == "rate_limited"


def test_recovered_account_serves_one_probation_job(transactional_db):
    acc = make_account("probe", max_concurrency=3, state=AccountState.COOLING,
                       state_until=timezone.now() - timedelta(seconds=1), cooldown_level=2)
    first = leasing.acquire("sleepy", "j1", 60)
    assert first is not None and first.account_id == acc.pk
    acc.refresh_from_db()
    assert acc.state == AccountState.ACTIVE and acc.probation
    assert leasing.acquire("sleepy", "j2", 60) is None  # one job alone while on probation
    leasing.release(first.token)
    standing.record_success(acc.pk)
    acc.refresh_from_db()
    assert not acc.probation and acc.cooldown_level == 0
    assert len([leasing.acquire("sleepy", f"k{i}", 60) for i in range(3)]) == 3


def test_expire_and_exhaust(transactional_db):
    acc = make_account("states")
    standing.expire(acc.pk, "login_failed", "sessionid=SECRET123 rejected")
    acc.refresh_from_db()
    assert acc.state == AccountState.EXPIRED and "SECRET123" not in acc.last_error
    until = timezone.now() + timedelta(hours=3)
    standing.exhaust(acc.pk, "no_credits", "out of credits", until=until)
    acc.refresh_from_db()
    assert acc.state == AccountState.EXHAUSTED and abs((acc.state_until - until).total_seconds()) < 1


def test_only_the_writes_happen_under_the_write_gate(transactional_db):
    """Other writers wait for whatever runs under the gate: the candidates are read and the
    statements compiled before it, so under it run the slot's UPDATE, the lease and `bind`."""
    make_account("gated-a", max_concurrency=2)
    make_account("gated-b", max_concurrency=2)
    under_gate = []

    @contextmanager
    def gate():
        with CaptureQueriesContext(connection) as queries:
            yield
        under_gate.extend(q["sql"].split()[0].upper() for q in queries.captured_queries)

    bound = []
    lease = leasing.acquire("sleepy", "j1", 60, gate=gate, bind=bound.append)
    assert lease is not None and bound == [lease.account_id]
    writes = [s for s in under_gate if s not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
    assert writes == ["UPDATE", "INSERT"]  # no SELECT: nothing read while others wait


def test_a_lease_freed_by_the_reaper_is_not_freed_twice_but_the_success_is_kept(transactional_db):
    acc = make_account("late", max_concurrency=2)
    lease = leasing.acquire("sleepy", "j1", 60)
    leasing.acquire("sleepy", "j2", 60)
    give_back = leasing.release_ahead(lease.token, acc.pk, succeeded=True)
    leasing.release(lease.token)  # the reaper, between the compile and the run
    with transaction.atomic():
        assert give_back() is False
    acc.refresh_from_db()
    assert acc.active_leases == 1 and acc.jobs_succeeded == 1  # j2 still holds its slot
