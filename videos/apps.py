from django.apps import AppConfig


class VideosConfig(AppConfig):
    """Video tasks (the OpenAI Videos API and the seeds' video endpoints)."""

    name = "videos"
    verbose_name = "Video tasks"
