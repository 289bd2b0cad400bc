from django.apps import AppConfig


class FakesConfig(AppConfig):
    """Faithful local fakes of the upstream sites, runnable as standalone servers."""

    name = "fakes"
    verbose_name = "Upstream fakes"
