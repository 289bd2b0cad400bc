"""`rotate_cookie_keys` re-encrypts every encrypted field of every model, not only accounts'.

After NEW,OLD + rotation, the gateway must work with NEW alone: accounts' credentials and proxies,
API keys' webhook secrets (read on every authenticated request) and queued deliveries' secrets.
A row no key can decrypt is left untouched and named; every other row is still rotated.
"""

from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.crypto import DecryptionError, EncryptedJSONField, reveal
from accounts.management.commands.rotate_cookie_keys import encrypted_fields
from accounts.models import Account
from api import authentication
from api.models import ApiKey
from tests.conftest import make_account
from videos.models import WebhookDelivery
from videos.webhooks import signed_headers

PROXY = "http://user:proxy-PASSWORD@proxy.example:3128"


def raw_column(model, pk, column):
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def set_raw_column(model, pk, column, value):
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s WHERE id = %s", [value, pk])


def rotate():
    out = StringIO()
    call_command("rotate_cookie_keys", stdout=out)
    return out.getvalue()


@pytest.fixture
def old_rows(db):
    """Rows written with the old key only: an account with a proxy, a hooked key, a pending delivery."""
    account = make_account("acc-a", proxy=PROXY)
    plain = make_account("acc-plain")  # no proxy: an empty column stays empty
    key, raw = ApiKey.issue("hooked", webhook_url="https://example.com/h")
    bare, bare_raw = ApiKey.issue("no hook")
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        event_id="evt_1", event_type="video.completed", url=key.webhook_url, secret=key.webhook_secret,
        payload='{"id":"evt_1","object":"event","created_at":1,"type":"video.completed","data":{"id":"video_1"}}',
        next_attempt_at=now, give_up_at=now + timedelta(hours=24))
    authentication._cache.clear()
    yield {"account": account, "plain": plain, "key": key, "raw": raw, "bare_raw": bare_raw, "delivery": delivery}
    authentication._cache.clear()


def authenticates(client, raw) -> bool:
    authentication._cache.clear()  # look the key up again, decrypting its row under the current keys
    resp = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert resp.status_code in (200, 401), resp.content[:500]
    return resp.status_code == 200


def test_every_encrypted_field_is_found():
    found = {(model._meta.label, f.name) for model, fields in encrypted_fields() for f in fields}
    assert {("accounts.Account", "credentials"), ("accounts.Account", "proxy"),
            ("api.ApiKey", "webhook_secret"), ("videos.WebhookDelivery", "secret")} <= found
    from django.apps import apps

    every = {(m._meta.label, f.name) for m in apps.get_models() for f in m._meta.concrete_fields
             if isinstance(f, EncryptedJSONField)}
    assert every == found


def test_rotation_then_new_key_alone_keeps_everything_working(old_rows, settings, client, django_user_model):
    key, account, delivery = old_rows["key"], old_rows["account"], old_rows["delivery"]
    secret = key.webhook_secret
    assert secret.startswith("whsec_")
    creds = account.get_credentials().cookies
    old_keys = list(settings.COOKIE_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()

    settings.COOKIE_ENCRYPTION_KEYS = [new_key, *old_keys]
    out = rotate()
    assert "Re-encrypted the credentials and proxy of 2 account(s)." in out
    assert "Re-encrypted the webhook secret of 1 API key(s)." in out
    assert "Re-encrypted the secret of 1 webhook delivery(s)." in out
    assert secret not in out and PROXY not in out

    settings.COOKIE_ENCRYPTION_KEYS = [new_key]
    assert authenticates(client, old_rows["raw"]) and authenticates(client, old_rows["bare_raw"])
    key = ApiKey.objects.get(pk=key.pk)
    assert key.webhook_secret == secret
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.secret == secret
    headers = signed_headers(delivery.event_id, delivery.payload, delivery.secret)
    Webhook(secret).verify(delivery.payload, headers)  # raises if the signature does not match
    account = Account.objects.get(pk=account.pk)
    assert account.get_credentials().cookies == creds and account.proxy == PROXY
    plain = Account.objects.get(pk=old_rows["plain"].pk)
    assert plain.proxy == "" and raw_column(Account, plain.pk, "proxy") == ""
    assert ApiKey.objects.get(name="no hook").webhook_secret == ""

    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    for page in ("/admin/api/apikey/", f"/admin/api/apikey/{key.pk}/change/", "/admin/videos/webhookdelivery/",
                 "/admin/accounts/account/"):
        assert client.get(page).status_code == 200, page


def test_without_rotation_the_new_key_alone_fails(old_rows, settings):
    """The failure the command prevents: the old rows need the old key."""
    settings.COOKIE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="ApiKey.webhook_secret"):
        reveal(ApiKey.objects.get(pk=old_rows["key"].pk).webhook_secret)


def test_undecryptable_row_is_named_left_untouched_and_the_rest_rotated(old_rows, settings):
    """Per-row transactions: every readable row is rotated; an unreadable one is kept exactly as it was
    (all its fields, including the readable ones) and the command fails naming it, never its value."""
    key, account, delivery = old_rows["key"], old_rows["account"], old_rows["delivery"]
    secret = key.webhook_secret
    lost_key_text = Fernet.generate_key().decode()
    lost_key = Fernet(lost_key_text)
    # An account whose proxy was written with a key nobody has any more, next to readable credentials.
    broken = make_account("acc-broken")
    lost_token = lost_key.encrypt(PROXY.encode()).decode()
    set_raw_column(Account, broken.pk, "proxy", lost_token)
    broken_creds_before = raw_column(Account, broken.pk, "credentials")
    # And an API key whose webhook secret is unreadable.
    lost_hook, lost_hook_raw = ApiKey.issue("lost hook", webhook_url="https://example.com/lost")
    lost_secret_token = lost_key.encrypt(b"whsec_LOSTSECRET").decode()
    set_raw_column(ApiKey, lost_hook.pk, "webhook_secret", lost_secret_token)

    old_keys = list(settings.COOKIE_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.COOKIE_ENCRYPTION_KEYS = [new_key, *old_keys]
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("rotate_cookie_keys", stdout=out)
    message = str(info.value)
    assert "2 row(s) could not be decrypted" in message
    assert f"accounts.Account pk={broken.pk} 'acc-broken' (proxy)" in message
    assert f"api.ApiKey pk={lost_hook.pk} 'lost hook' (webhook_secret)" in message
    for value in (PROXY, lost_token, "whsec_LOSTSECRET", lost_secret_token, secret):
        assert value not in message and value not in out.getvalue()
    # The unreadable rows are exactly as they were: no field of them was rotated.
    assert raw_column(Account, broken.pk, "proxy") == lost_token
    assert raw_column(Account, broken.pk, "credentials") == broken_creds_before
    assert raw_column(ApiKey, lost_hook.pk, "webhook_secret") == lost_secret_token

    # Every other row was rotated: it reads with the new key alone. (Not through /v1/models here: it
    # reads every account, and acc-broken's credentials rightly still need the old key.)
    settings.COOKIE_ENCRYPTION_KEYS = [new_key]
    authentication._cache.clear()
    assert authentication.lookup(old_rows["raw"]).pk == key.pk
    assert ApiKey.objects.get(pk=key.pk).webhook_secret == secret
    assert WebhookDelivery.objects.get(pk=delivery.pk).secret == secret
    assert Account.objects.get(pk=account.pk).proxy == PROXY

    # Once the lost key is found again, running it again succeeds and finishes the job.
    settings.COOKIE_ENCRYPTION_KEYS = [new_key, *old_keys, lost_key_text]
    rotate()
    settings.COOKIE_ENCRYPTION_KEYS = [new_key]
    assert Account.objects.get(pk=broken.pk).proxy == PROXY
    assert ApiKey.objects.get(pk=lost_hook.pk).webhook_secret == "whsec_LOSTSECRET"
    authentication._cache.clear()
    assert authentication.lookup(lost_hook_raw).pk == lost_hook.pk
