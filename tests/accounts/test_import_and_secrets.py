"""Importing accounts, and secrets never showing: not in the database row, health, admin or logs."""

import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.crypto import DecryptionError
from accounts.models import Account

PSID = "g.a000PSIDSECRETVALUE0123456789"
SESSIONID = "abcdef0123456789abcdef0123456789"


def cookie_editor_json(psid=PSID):
    return json.dumps([
        {"domain": ".google.com", "name": "__Secure-1PSID", "value": psid, "path": "/", "secure": True,
         "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800, "hostOnly": False},
        {"domain": ".google.com", "name": "__Secure-1PSIDTS", "value": "sidts-SECRET", "path": "/",
         "secure": True, "httpOnly": True, "sameSite": "unspecified", "expirationDate": 4102444800},
    ])


@pytest.fixture
def seed_dir(tmp_path):
    (tmp_path / "account-a").mkdir()
    (tmp_path / "account-a" / "cookies.json").write_text(cookie_editor_json())
    (tmp_path / "account-b").mkdir()
    (tmp_path / "account-b" / "cookies.txt").write_text(
        "# Netscape HTTP Cookie File\n"
        f"#HttpOnly_.google.com\tTRUE\t/\tTRUE\t4102444800\t__Secure-1PSID\t{PSID}B\n")
    (tmp_path / "dreamina.txt").write_text(f"us-{SESSIONID}\n")
    return tmp_path


def run_import(*args):
    from io import StringIO

    out = StringIO()
    try:
        call_command("import_cookies", *args, stdout=out)
        return 0, out.getvalue()
    except CommandError as exc:
        return 1, out.getvalue() + str(exc)


def test_import_seed_layout(db, seed_dir):
    code, out = run_import(str(seed_dir))
    assert code == 0, out
    assert "Imported 3 account(s): 3 created, 0 updated, 0 rejected." in out
    accounts = {a.name: a for a in Account.objects.all()}
    assert accounts["account-a"].provider == "gemini" and accounts["account-b"].provider == "gemini"
    assert accounts["dreamina"].provider == "jimeng" and accounts["dreamina"].region == "us"
    assert accounts["dreamina"].get_credentials().sessionid() == SESSIONID
    for secret in (PSID, SESSIONID, "sidts-SECRET"):
        assert secret not in out


def test_reimport_replaces_credentials_and_reactivates(db, tmp_path):
    path = tmp_path / "acc.json"
    path.write_text(cookie_editor_json())
    run_import(str(path), "--name", "acc", "--max-concurrency", "3")
    Account.objects.filter(name="acc").update(state="expired", state_reason="login_failed")
    path.write_text(cookie_editor_json("g.a000NEWVALUE999999999999"))
    code, out = run_import(str(path), "--name", "acc")
    assert code == 0 and "updated acc" in out
    acc = Account.objects.get(name="acc")
    assert acc.state == "active" and acc.max_concurrency == 3
    assert any(c["value"] == "g.a000NEWVALUE999999999999" for c in acc.get_credentials().cookies)


def test_rejected_input_fails_the_command(db, tmp_path):
    (tmp_path / "good.json").write_text(cookie_editor_json())
    (tmp_path / "bad.txt").write_text(".google.com\tTRUE\t/\tTRUE\tnot-a-number\tNID\tx\n")
    code, out = run_import(str(tmp_path))
    assert code == 1
    assert "REJECTED bad" in out and "line 1" in out
    assert Account.objects.filter(name="good").exists()


def test_raw_row_holds_no_cookie_value(db, seed_dir):
    run_import(str(seed_dir))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_account")
        rows = repr(cursor.fetchall())
    for secret in (PSID, SESSIONID, "sidts-SECRET"):
        assert secret not in rows


def test_wrong_key_fails_loudly_where_the_secret_is_used(db, seed_dir, settings):
    run_import(str(seed_dir))
    from cryptography.fernet import Fernet

    settings.COOKIE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    account = Account.objects.get(name="account-a")  # the row loads (tests/accounts/test_unreadable_secrets.py)
    with pytest.raises(DecryptionError) as info:
        account.get_credentials()
    assert "COOKIE_ENCRYPTION_KEYS" in str(info.value)


def test_key_rotation_keeps_old_rows_readable(db, seed_dir, settings):
    run_import(str(seed_dir))
    from cryptography.fernet import Fernet

    settings.COOKIE_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.COOKIE_ENCRYPTION_KEYS]
    call_command("rotate_cookie_keys")
    settings.COOKIE_ENCRYPTION_KEYS = settings.COOKIE_ENCRYPTION_KEYS[:1]
    assert Account.objects.get(name="account-a").get_credentials().provider == "gemini"


def test_health_and_admin_show_no_secret(db, seed_dir, client, django_user_model):
    run_import(str(seed_dir))
    Account.objects.filter(name="account-a").update(last_error="upstream said sessionid=abc")
    public = client.get("/v1/health")
    assert public.status_code == 200
    assert public.json()["accounts_total"] == 3
    assert "account-a" not in public.content.decode() and "upstream said" not in public.content.decode()
    from api.models import ApiKey

    _key, raw = ApiKey.issue("health")
    health = client.get("/v1/health", HTTP_AUTHORIZATION=f"Bearer {raw}")  # names only for a key holder
    assert health.status_code == 200
    body = health.json()
    assert body["accounts_total"] == 3
    assert {"status", "concurrent_tasks", "max_concurrent", "accounts_available"} <= set(body)
    account = next(a for a in body["accounts"] if a["account_id"] == "account-a")
    assert {"provider", "state", "enabled", "active_tasks", "cooldown_remaining", "last_error"} <= set(account)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    pages = [health.content.decode(), client.get("/admin/accounts/account/").content.decode()]
    for acc in Account.objects.all():
        pages.append(client.get(f"/admin/accounts/account/{acc.pk}/change/").content.decode())
    for page in pages:
        for secret in (PSID, SESSIONID, "sidts-SECRET"):
            assert secret not in page
    assert "__Secure-1PSID" in pages[2]  # the names are shown, to tell what was imported


def test_admin_upload_form_uses_the_parser(db, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    resp = client.post("/admin/accounts/account/add/", {
        "name": "pasted", "provider": "gemini", "region": "", "max_concurrency": 2, "proxy": "",
        "state": "active", "cookies_text": cookie_editor_json(),
    })
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert Account.objects.get(name="pasted").get_credentials().provider == "gemini"
    resp = client.post("/admin/accounts/account/add/", {
        "name": "broken", "provider": "gemini", "max_concurrency": 1, "state": "active",
        "cookies_text": '[{"name": "NID", "value": "x", "domain": ".google.com"}]',
    })
    assert resp.status_code == 200 and "__Secure-1PSID" in resp.content.decode()
    assert not Account.objects.filter(name="broken").exists()


def test_logs_redact_secrets():
    logger = logging.getLogger("gateway.test")
    from gateway.logging import RedactSecretsFilter

    record = logger.makeRecord("gateway.test", logging.INFO, __file__, 1,
                               "Cookie: sessionid=%s; __Secure-1PSID=%s key sk-gw-abcdefghijkl", (SESSIONID, PSID),
                               None)
    RedactSecretsFilter().filter(record)
    text = record.getMessage()
    assert SESSIONID not in text and PSID not in text and "sk-gw-abcdefghijkl" not in text
