from django.core.management.base import BaseCommand

from api.models import ApiKey


class Command(BaseCommand):
    help = "First-run setup: create and print a first API key if there is none yet."

    def handle(self, *args, **options):
        if ApiKey.objects.exists():
            self.stdout.write("API keys exist already; create more with: python manage.py create_api_key NAME")
            return
        key, raw = ApiKey.issue("first key")
        self.stdout.write("")
        self.stdout.write("First run: created an API key. Store it now; it is not shown again:")
        self.stdout.write("")
        self.stdout.write(f"    {raw}")
        self.stdout.write("")
