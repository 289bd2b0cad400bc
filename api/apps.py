from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The OpenAI-compatible surface: API keys, the error envelope, models and health."""

    name = "api"
    verbose_name = "API"
