from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Image jobs: the job model, the worker runner, drivers, waiting, media and housekeeping."""

    name = "generation"
    verbose_name = "Generation jobs"

    def ready(self):
        from django.db.models.signals import post_migrate

        from generation.schedules import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self)

        from django_q.signals import post_spawn

        post_spawn.connect(warm_up_worker, dispatch_uid="gateway-warm-up-worker")


def warm_up_worker(sender=None, proc_name=None, **kwargs):
    """Import every driver in a new worker process before it takes a job, so the first job in
    each worker does not pay for importing botocore, Playwright and friends. Nothing starts here
    (no browser, no threads): that stays lazy, inside the job."""
    import logging

    from django.conf import settings

    from generation.drivers import get_driver

    for provider in settings.GATEWAY_DRIVERS:
        try:
            get_driver(provider)
        except Exception:  # a broken driver must not stop the worker serving the others
            logging.getLogger(__name__).warning("could not load the %s driver", provider, exc_info=True)
