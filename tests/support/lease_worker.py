"""Run as a separate OS process by the leasing tests: acquire and release in a tight loop, or
(mode "admit") do what the web does to admit a job: lock the provider, count the pool, commit.

Prints one JSON line: how many leases it won, the most live leases it ever saw on the account
while holding one, and every error it hit (a "database is locked" or a deadlock would show up here).
"""

import json
import os
import sys
import time


def admit(provider: str, iterations: int, hold: float) -> None:
    from django.db import transaction

    from accounts import leasing

    errors = []
    for _ in range(iterations):
        try:
            with transaction.atomic():
                leasing.lock_provider(provider)
                leasing.pool_capacity(provider)
                time.sleep(hold)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"won": 0, "max_seen": {}, "errors": errors}))


def main(provider: str, iterations: int, hold: float, mode: str = "lease") -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from accounts import leasing
    from accounts.models import AccountLease

    if mode == "admit":
        return admit(provider, iterations, hold)
    won = 0
    max_seen = {}
    errors = []
    for i in range(iterations):
        try:
            lease = leasing.acquire(provider, f"proc-{os.getpid()}-{i}", 60)
            if lease is None:
                continue
            won += 1
            live = AccountLease.objects.filter(account_id=lease.account_id, released_at__isnull=True).count()
            max_seen[lease.account_id] = max(max_seen.get(lease.account_id, 0), live)
            time.sleep(hold)
            if not leasing.release(lease.token):
                errors.append("release returned False")
            leasing.release(lease.token)  # releasing twice must be harmless
        except Exception as exc:  # reported, not raised: the test asserts there were none
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"won": won, "max_seen": max_seen, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:5])
