from django.core.management.base import BaseCommand, CommandError

from api.models import ApiKey
from generation import catalog
from generation.ssrf import UnresolvedHost, UnsafeURL, check_public


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
        allowed = self.model_ids(models)
        if webhook_url:
            self.check_webhook(webhook_url)
        key, raw = ApiKey.issue(name, allowed_models=allowed, webhook_url=webhook_url)
        if key.webhook_secret:
            self.stdout.write(f"Webhook signing secret (Standard Webhooks; pass it to the SDK's webhooks.unwrap): "
                              f"{key.webhook_secret}")
        self.stdout.write(f"Created API key '{key.name}' (prefix {key.prefix}). Store it now; it is not shown again:")
        self.stdout.write(raw)

    @staticmethod
    def model_ids(models: str) -> list[str]:
        """The ids the key may use, aliases resolved (a key is checked against the resolved id,
        so an alias stored as given would never match); an unknown name is refused, not stored
        as a key that can use nothing."""
        ids, unknown = [], []
        for name in (m.strip() for m in models.split(",")):
            if not name:
                continue
            spec = catalog.resolve(name)
            if spec is None:
                unknown.append(name)
            elif spec.id not in ids:
                ids.append(spec.id)
        if unknown:
            known = ", ".join(sorted(catalog.all_models()))
            raise CommandError(f"Unknown model(s): {', '.join(unknown)}. Known models: {known}.")
        return ids

    def check_webhook(self, url: str) -> None:
        try:
            check_public(url)
        except UnresolvedHost as exc:  # maybe only from here: say so, keep it
            self.stderr.write(f"Warning: webhook URL: {exc}; deliveries will fail until it resolves.")
        except UnsafeURL as exc:
            raise CommandError(f"Webhook URL refused: {exc}. Deliveries only go to public addresses; "
                               "add its host to SSRF_ALLOWED_HOSTS to allow a private one.") from None
