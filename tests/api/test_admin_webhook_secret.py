"""The API key admin gives a key that gains a webhook URL a signing secret, shows it once, never again.

`admin_client` is pytest-django's: a client logged in as a superuser.
"""

from standardwebhooks.webhooks import Webhook

from api.models import ApiKey
from videos.webhooks import signed_headers

PAYLOAD = '{"id":"evt_1","object":"event","created_at":1,"type":"video.completed","data":{"id":"video_1"}}'


def change_form(key: ApiKey, **overrides):
    data = {"name": key.name, "enabled": "on", "expires_at_0": "", "expires_at_1": "",
            "allowed_models": "[]", "webhook_url": key.webhook_url}
    data.update(overrides)
    return data


def assert_signs(secret: str):
    assert secret.startswith("whsec_") and len(secret) > len("whsec_")
    headers = signed_headers("evt_1", PAYLOAD, secret)
    assert "webhook-signature" in headers
    Webhook(secret).verify(PAYLOAD, headers)  # what the SDK's webhooks.unwrap checks


def assert_never_shown(client, key: ApiKey, secret: str):
    for url in ("/admin/api/apikey/", f"/admin/api/apikey/{key.pk}/change/", f"/admin/api/apikey/{key.pk}/history/"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert secret not in resp.content.decode(), url


def test_adding_a_webhook_url_makes_a_secret_shown_once(admin_client):
    key, _raw = ApiKey.issue("plain")
    assert key.webhook_secret == ""
    resp = admin_client.post(f"/admin/api/apikey/{key.pk}/change/",
                             change_form(key, webhook_url="https://example.com/hook"), follow=True)
    assert resp.status_code == 200 and not resp.context.get("errors"), resp.content.decode()[:3000]
    key.refresh_from_db()
    assert key.webhook_url == "https://example.com/hook"
    assert_signs(key.webhook_secret)
    page = resp.content.decode()
    assert page.count(key.webhook_secret) == 1
    assert f"Webhook signing secret for &#x27;plain&#x27;: {key.webhook_secret}" in page and "keep it" in page
    assert_never_shown(admin_client, key, key.webhook_secret)

    # Saving again (URL changed or not) keeps that secret and shows nothing.
    secret = key.webhook_secret
    resp = admin_client.post(f"/admin/api/apikey/{key.pk}/change/",
                             change_form(key, webhook_url="https://example.com/other"), follow=True)
    key.refresh_from_db()
    assert key.webhook_secret == secret and secret not in resp.content.decode()
    assert "Webhook signing secret" not in resp.content.decode()


def test_adding_a_key_with_a_webhook_url_shows_its_secret_once(admin_client):
    resp = admin_client.post("/admin/api/apikey/add/", {
        "name": "new hooked", "enabled": "on", "expires_at_0": "", "expires_at_1": "", "allowed_models": "[]",
        "webhook_url": "https://example.com/hook"}, follow=True)
    assert resp.status_code == 200
    key = ApiKey.objects.get(name="new hooked")
    assert_signs(key.webhook_secret)
    assert resp.content.decode().count(key.webhook_secret) == 1
    assert_never_shown(admin_client, key, key.webhook_secret)


def test_a_key_without_webhook_url_gets_no_secret(admin_client):
    key, _raw = ApiKey.issue("plain")
    admin_client.post(f"/admin/api/apikey/{key.pk}/change/", change_form(key, allowed_models='["x"]'))
    key.refresh_from_db()
    assert key.allowed_models == ["x"] and key.webhook_secret == ""


def test_regenerate_action(admin_client):
    hooked, _ = ApiKey.issue("hooked", webhook_url="https://example.com/a")
    other, _ = ApiKey.issue("other", webhook_url="https://example.com/b")
    bare, _ = ApiKey.issue("bare")
    old = {hooked.pk: hooked.webhook_secret, other.pk: other.webhook_secret}
    resp = admin_client.post("/admin/api/apikey/", {
        "action": "regenerate_webhook_secret", "_selected_action": [hooked.pk, other.pk, bare.pk]}, follow=True)
    assert resp.status_code == 200
    page = resp.content.decode()
    assert "has no webhook URL" in page
    for key in (hooked, other):
        key.refresh_from_db()
        assert key.webhook_secret != old[key.pk]
        assert_signs(key.webhook_secret)
        assert page.count(key.webhook_secret) == 1
        assert old[key.pk] not in page
    bare.refresh_from_db()
    assert bare.webhook_secret == ""
    for key in (hooked, other):
        assert_never_shown(admin_client, key, key.webhook_secret)


def test_action_is_listed(admin_client):
    ApiKey.issue("any")  # the admin hides actions on an empty list
    page = admin_client.get("/admin/api/apikey/").content.decode()
    assert "Regenerate webhook signing secret" in page
