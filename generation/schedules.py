"""The housekeeping schedules, created idempotently after every migrate."""

from django.conf import settings

SCHEDULES = {
    "gateway-reaper": ("generation.housekeeping.reap", "REAPER_MINUTES"),
    "gateway-cleanup": ("generation.housekeeping.cleanup", None),
    "gateway-webhooks": ("videos.webhooks.dispatch_due", "REAPER_MINUTES"),
}


def ensure_schedules(sender=None, **kwargs):
    from django_q.models import Schedule

    for name, (func, minutes_setting) in SCHEDULES.items():
        minutes = getattr(settings, minutes_setting) if minutes_setting else 30
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": max(1, minutes), "repeats": -1},
        )
