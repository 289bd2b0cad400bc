from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts.crypto import rotate_text
from accounts.models import Account


class Command(BaseCommand):
    help = ("Re-encrypt every stored credential with the first of COOKIE_ENCRYPTION_KEYS. Put the new key "
            "first, keep the old ones after it, run this, then drop the old ones.")

    def handle(self, *args, **options):
        # Works on the raw tokens: rotation must not need a round trip through plaintext fields.
        table = connection.ops.quote_name(Account._meta.db_table)
        rotated = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, credentials, proxy FROM {table}")
            for pk, creds, proxy in cursor.fetchall():
                new_creds = rotate_text(creds) if creds else creds
                new_proxy = rotate_text(proxy) if proxy else proxy
                cursor.execute(f"UPDATE {table} SET credentials = %s, proxy = %s WHERE id = %s",
                               [new_creds, new_proxy, pk])
                rotated += 1
        self.stdout.write(f"Re-encrypted the credentials of {rotated} account(s).")
