"""Re-encrypt every value stored with COOKIE_ENCRYPTION_KEYS under the first key of that list.

Which values: every concrete field, of every installed model, that is one of the encrypted field
classes of accounts.crypto (EncryptedJSONField and its subclass EncryptedTextField). Today that is
Account.credentials, Account.proxy, ApiKey.webhook_secret and WebhookDelivery.secret; a field
added later is found the same way, so it cannot be forgotten here.

Each row is re-encrypted in its own transaction, all its encrypted fields together, with the row
locked (SELECT … FOR UPDATE; SQLite's IMMEDIATE transactions lock the database), so a row is never
half-rotated and a concurrent write is never overwritten with an older value. A row holding a value
that none of the keys can decrypt is left exactly as it was; every other row is still rotated, and
the command then fails with a CommandError naming each such row (model, primary key and field,
never a value). Running it again once those rows are fixed is safe: rotation is idempotent.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction

from accounts.crypto import EncryptedJSONField, rotate_text


def encrypted_fields():
    """(model, [fields]) for every model with a column written by an encrypted field."""
    found = []
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed or opts.swapped:
            continue
        # local_concrete_fields: a multi-table child does not repeat its parent's columns.
        fields = [f for f in opts.local_concrete_fields if isinstance(f, EncryptedJSONField)]
        if fields:
            found.append((model, fields))
    return found


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


class Command(BaseCommand):
    help = ("Re-encrypt every value stored with COOKIE_ENCRYPTION_KEYS (account credentials and proxies, API key "
            "webhook secrets, webhook deliveries' secrets: every encrypted field of every model) with the first "
            "key. Put the new key first, keep the old ones after it, run this, then drop the old ones. Each row "
            "is rotated in its own transaction; rows no key can decrypt are left as they were and named, and the "
            "command then exits non-zero: keep the old keys until it succeeds.")

    def handle(self, *args, **options):
        failures: list[str] = []
        for model, fields in encrypted_fields():
            rotated = self.rotate_model(model, fields, failures)
            opts = model._meta
            self.stdout.write(f"Re-encrypted the {_join([str(f.verbose_name) for f in fields])} "
                              f"of {rotated} {opts.verbose_name}(s).")
        if failures:
            raise CommandError(
                f"{len(failures)} row(s) could not be decrypted with any of COOKIE_ENCRYPTION_KEYS and were left "
                f"unchanged: {'; '.join(failures)}. Every other row was re-encrypted with the first key. Restore "
                "the key those rows were written with (after the new one in the list) and run this again, or "
                "re-enter or delete those values; do not drop the old keys until this command succeeds.")

    def rotate_model(self, model, fields, failures: list[str]) -> int:
        """Rotate each row of `model` that holds a value; returns how many rows were re-encrypted."""
        opts = model._meta
        using = router.db_for_write(model)
        connection = connections[using]
        qn = connection.ops.quote_name
        table, pk = qn(opts.db_table), qn(opts.pk.column)
        columns = [qn(f.column) for f in fields]
        # Works on the raw tokens: rotation must not need a round trip through plaintext fields.
        holds_value = " OR ".join(f"({c} IS NOT NULL AND {c} <> '')" for c in columns)
        lock = connection.ops.for_update_sql() if connection.features.has_select_for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk} FROM {table} WHERE {holds_value} ORDER BY {pk}")
            pks = [row[0] for row in cursor.fetchall()]
        rotated = 0
        for pk_value in pks:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {pk} = %s {lock}", [pk_value])
                row = cursor.fetchone()
                if row is None:  # deleted meanwhile
                    continue
                new, unreadable = [], []
                for field, token in zip(fields, row):
                    if not token:
                        new.append(token)
                        continue
                    try:
                        new.append(rotate_text(token))
                    except InvalidToken:
                        unreadable.append(field.name)
                if unreadable:
                    failures.append(self.describe(model, pk_value, unreadable))
                    continue
                assignments = ", ".join(f"{c} = %s" for c in columns)
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*new, pk_value])
                rotated += 1
        return rotated

    @staticmethod
    def describe(model, pk_value, field_names: list[str]) -> str:
        """Which row, for an operator: model, primary key, its name if it has one; never a value."""
        text = f"{model._meta.label} pk={pk_value}"
        name_field = next((f for f in model._meta.concrete_fields if f.name == "name"), None)
        if name_field is not None and not isinstance(name_field, EncryptedJSONField):
            name = model._default_manager.filter(pk=pk_value).values_list("name", flat=True).first()
            if name:
                text += f" {name!r}"
        return f"{text} ({_join(field_names)})"
