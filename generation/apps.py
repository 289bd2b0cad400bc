from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Image jobs: the job model, the worker runner, drivers, waiting, media and housekeeping."""

    name = "generation"
    verbose_name = "Generation jobs"

    def ready(self):
        from django.db.models.signals import post_migrate

        from generation.schedules import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self)
