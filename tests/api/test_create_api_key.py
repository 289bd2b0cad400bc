"""`manage.py create_api_key`: what it refuses before a key exists."""

import pytest
from django.core.management import CommandError, call_command

from api.models import ApiKey


def test_models_are_resolved_through_aliases_and_unknown_ones_refused(db, capsys):
    call_command("create_api_key", "limited", "--models", "sleepy-image, sleepy-image")
    assert ApiKey.objects.get(name="limited").allowed_models == ["sleepy-image"]
    with pytest.raises(CommandError) as info:
        call_command("create_api_key", "typo", "--models", "sleepy-image,sleepy-imag")
    assert "sleepy-imag." in str(info.value) and "Known models:" in str(info.value)
    assert not ApiKey.objects.filter(name="typo").exists()


def test_an_alias_is_stored_as_the_model_it_names(db, settings):
    settings.MODEL_ALIASES = {"nap": "sleepy-image"}
    call_command("create_api_key", "aliased", "--models", "nap")
    key = ApiKey.objects.get(name="aliased")
    assert key.allowed_models == ["sleepy-image"] and key.may_use("sleepy-image")


def test_a_webhook_url_deliveries_would_refuse_is_refused(db, settings):
    for url, says in (("http://127.0.0.1:8740/hook", "non-public"), ("ftp://example.com/x", "http and https")):
        with pytest.raises(CommandError) as info:
            call_command("create_api_key", "hooked", "--webhook-url", url)
        assert says in str(info.value) and "SSRF_ALLOWED_HOSTS" in str(info.value)
    assert not ApiKey.objects.exists()
    settings.SSRF_ALLOWED_HOSTS = ["127.0.0.1:8740"]
    call_command("create_api_key", "hooked", "--webhook-url", "http://127.0.0.1:8740/hook")
    assert ApiKey.objects.get(name="hooked").webhook_url == "http://127.0.0.1:8740/hook"
