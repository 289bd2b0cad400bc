"""The housekeeping schedules, created idempotently after every migrate."""

from django.conf import settings

# name -> (function, minutes between runs; None: daily at the Jimeng credit-claim time)
SCHEDULES = {
    "gateway-reaper": ("generation.housekeeping.reap", "REAPER_MINUTES"),
    "gateway-cleanup": ("generation.housekeeping.cleanup", 30),
    "gateway-webhooks": ("videos.webhooks.dispatch_due", "REAPER_MINUTES"),
    "gateway-jimeng-credit-claim": ("generation.drivers.jimeng.credits.claim_all", None),
}


def ensure_schedules(sender=None, **kwargs):
    from django_q.models import Schedule

    for name, (func, every) in SCHEDULES.items():
        if every is None:
            from generation.drivers.jimeng.errors import next_claim_time

            existing = Schedule.objects.filter(name=name).first()
            defaults = {"func": func, "schedule_type": Schedule.DAILY, "repeats": -1}
            if existing is None:  # keep a running schedule's own next_run
                defaults["next_run"] = next_claim_time()
            Schedule.objects.update_or_create(name=name, defaults=defaults)
            continue
        minutes = getattr(settings, every) if isinstance(every, str) else every
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": max(1, minutes), "repeats": -1},
        )
