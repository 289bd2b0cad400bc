"""A stored secret that no COOKIE_ENCRYPTION_KEYS key decrypts (a key lost or changed).

Its row still loads: the admin's lists, /v1/health and authentication keep working; whatever
needs the value gets a DecryptionError naming the field; the job moves to another account; the
token is never overwritten, so restoring the old key makes it readable again."""

import openai
import pytest
import requests
from cryptography.fernet import Fernet

from accounts.crypto import DecryptionError, Unreadable, reveal
from accounts.models import Account
from api.models import ApiKey
from generation.models import Generation
from tests.accounts.test_key_rotation import raw_column, set_raw_column
from tests.conftest import make_account

PROXY = "http://user:proxy-PASSWORD@proxy.example:3128"


def foreign_token(value: str = '{"x": 1}') -> str:
    return Fernet(Fernet.generate_key()).encrypt(value.encode()).decode()


def test_the_row_loads_the_secret_refuses_and_saving_keeps_the_token(db, settings):
    account = make_account("lost-key", proxy=PROXY)
    old_keys = list(settings.COOKIE_ENCRYPTION_KEYS)
    stored = raw_column(Account, account.pk, "credentials"), raw_column(Account, account.pk, "proxy")
    settings.COOKIE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    loaded = Account.objects.get(pk=account.pk)
    assert isinstance(loaded.credentials, Unreadable) and "proxy-PASSWORD" not in repr(loaded.proxy)
    with pytest.raises(DecryptionError, match="Account.credentials.*COOKIE_ENCRYPTION_KEYS"):
        loaded.get_credentials()
    with pytest.raises(DecryptionError, match="Account.proxy"):
        loaded.get_proxy()
    loaded.max_concurrency = 3
    loaded.save()  # a full save: every column written back
    assert (raw_column(Account, account.pk, "credentials"), raw_column(Account, account.pk, "proxy")) == stored

    settings.COOKIE_ENCRYPTION_KEYS = old_keys
    again = Account.objects.get(pk=account.pk)
    assert again.get_proxy() == PROXY and again.get_credentials().sessionid() and again.max_concurrency == 3


def test_an_api_key_with_an_unreadable_webhook_secret_still_authenticates(live_gateway, transactional_db):
    key, raw = ApiKey.issue("hooked", webhook_url="https://example.com/h")
    set_raw_column(ApiKey, key.pk, "webhook_secret", foreign_token("whsec_x"))
    with pytest.raises(DecryptionError, match="ApiKey.webhook_secret"):
        reveal(ApiKey.objects.get(pk=key.pk).webhook_secret)
    resp = requests.get(live_gateway.base_url + "/v1/models", headers={"Authorization": f"Bearer {raw}"})
    assert resp.status_code == 200


@pytest.mark.slow
def test_a_job_on_an_unreadable_account_moves_on_and_the_operator_is_told(live_gateway, api_key, client,
                                                                          django_user_model):
    bad = make_account("bad-key", max_concurrency=1)
    set_raw_column(Account, bad.pk, "credentials", foreign_token())
    sdk = openai.OpenAI(api_key=api_key, base_url=live_gateway.base_url + "/v1", max_retries=0, timeout=60)
    with pytest.raises(openai.APIStatusError) as info:
        sdk.images.generate(model="sleepy-image", prompt="only the unreadable account")
    assert info.value.status_code == 503 and info.value.code == "account_expired"
    bad.refresh_from_db()
    assert bad.state == "expired" and "COOKIE_ENCRYPTION_KEYS" in bad.last_error

    good = make_account("good-key", max_concurrency=1)
    from django.utils import timezone

    # The picker prefers the least recently used account: make it the unreadable one, so the job
    # must fail over.
    Account.objects.filter(pk=good.pk).update(last_used_at=timezone.now())
    Account.objects.filter(pk=bad.pk).update(state="active", last_used_at=None)
    resp = sdk.images.generate(model="sleepy-image", prompt="fails over")
    assert resp.data[0].url
    job = Generation.objects.order_by("-created_at").first()
    assert job.result_meta["account"] == "good-key" and len(job.tried_accounts) == 2
    bad.refresh_from_db()
    assert bad.state == "expired"
    good.refresh_from_db()
    assert good.state == "active"

    health = requests.get(live_gateway.base_url + "/v1/health", headers={"Authorization": f"Bearer {api_key}"})
    assert health.status_code == 200 and {a["account_id"] for a in health.json()["accounts"]} == {"bad-key",
                                                                                                "good-key"}
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    for page in ("/admin/accounts/account/", f"/admin/accounts/account/{bad.pk}/change/"):
        assert client.get(page).status_code == 200, page


def test_a_delivery_that_cannot_be_signed_fails_at_once_naming_the_cause(db):
    from datetime import timedelta

    from django.utils import timezone

    from videos.models import WebhookDelivery
    from videos.webhooks import deliver

    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        event_id="evt_1", event_type="video.completed", url="https://example.com/h", secret="whsec_x",
        payload="{}", next_attempt_at=now, give_up_at=now + timedelta(hours=24))
    set_raw_column(WebhookDelivery, delivery.pk, "secret", foreign_token("whsec_x"))
    assert deliver(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "WebhookDelivery.secret" in delivery.last_error and "COOKIE_ENCRYPTION_KEYS" in delivery.last_error
