from django.core.management.base import BaseCommand, CommandError

from api.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key. The key is printed once, as the last line; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--models", default="", help="Comma-separated model ids this key may use (default: all).")
        parser.add_argument("--webhook-url", default="", help="Where video events for this key are sent.")

    def handle(self, *args, name, models="", webhook_url="", **options):
        name = name.strip()
        if not name:
            raise CommandError("The key needs a name.")
        allowed = [m.strip() for m in models.split(",") if m.strip()]
        key, raw = ApiKey.issue(name, allowed_models=allowed, webhook_url=webhook_url)
        if key.webhook_secret:
            self.stdout.write(f"Webhook signing secret (Standard Webhooks; pass it to the SDK's webhooks.unwrap): "
                              f"{key.webhook_secret}")
        self.stdout.write(f"Created API key '{key.name}' (prefix {key.prefix}). Store it now; it is not shown again:")
        self.stdout.write(raw)
