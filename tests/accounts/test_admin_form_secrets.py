"""Pasted credentials never come back in the admin's account form, even when it is shown again
with errors."""

from accounts.models import Account

SESSIONID = "5f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_a_form_shown_again_with_errors_does_not_carry_the_pasted_credentials(db, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    form = {"name": "taken", "provider": "jimeng", "region": "cn", "max_concurrency": 1, "proxy": "",
            "state": "active", "cookies_text": SESSIONID}
    assert client.post("/admin/accounts/account/add/", form).status_code == 302
    for broken in ({"name": "taken"}, {"name": "other", "max_concurrency": "many"}):
        resp = client.post("/admin/accounts/account/add/", {**form, **broken})
        page = resp.content.decode()
        assert resp.status_code == 200 and "errorlist" in page
        assert SESSIONID not in page
    assert Account.objects.count() == 1
