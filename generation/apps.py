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

        from django.conf import settings

        if getattr(settings, "QCLUSTER_PROCESS", False):
            preload_for_workers()


def preload_for_workers():
    """In the qcluster process, before it forks: import what every job needs, once. Each worker
    (and each worker that replaces a recycled one) then starts with it, instead of paying for
    the imports itself, in its first job or in `warm_up_worker`. Only imports: no driver is
    created, no thread or connection opened, so nothing unsafe crosses the fork."""
    import logging

    from django.conf import settings
    from django.utils.module_loading import import_string
    from PIL import Image

    import django.db.models.sql.compiler  # noqa: F401  (Django imports it on the first query)
    import generation.runner  # noqa: F401
    import videos.runner  # noqa: F401
    from generation import catalog

    catalog.all_models()  # imports every driver's catalog module, and caches the registry
    Image.preinit()  # the image plugins, otherwise imported on the first Image.open of each worker
    for provider, path in settings.GATEWAY_DRIVERS.items():
        try:
            import_string(path)
        except Exception:  # reported again, per worker, by warm_up_worker
            logging.getLogger(__name__).warning("could not import the %s driver", provider, exc_info=True)
    freeze_long_lived()


def freeze_long_lived():
    """Exempt every object that exists now (modules, classes, caches: they live as long as the
    process) from the cyclic garbage collector. A full collection otherwise walks them all again,
    ~40 ms in a worker, in the middle of whichever job triggers it; frozen before a fork they are
    also never written to, so the workers keep sharing their pages."""
    import gc

    gc.collect()
    gc.freeze()


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
    # The cluster's connections persist (settings): the first job need not open this one.
    from django.db import DatabaseError, connections

    try:
        connections["default"].ensure_connection()
    except DatabaseError:
        logging.getLogger(__name__).warning("worker could not connect to the database yet", exc_info=True)
        return
    from generation import runner

    try:
        runner.warm_up(settings.GATEWAY_DRIVERS)
    except Exception:  # only a head start: the first job builds whatever this could not
        logging.getLogger(__name__).warning("worker warm-up failed", exc_info=True)
    freeze_long_lived()
