from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Upstream accounts: encrypted credentials, state machine, and the lease pool."""

    name = "accounts"
    verbose_name = "Upstream accounts"
