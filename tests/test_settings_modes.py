"""Production refuses to start without real secrets; development makes its own once."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def run_check(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "COOKIE_ENCRYPTION_KEYS")}
    env.update({"DJANGO_SETTINGS_MODULE": "gateway.settings", "GATEWAY_VAR_DIR": str(tmp_path),
                "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env_overrides})
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)


def test_production_without_secrets_refuses_to_start(tmp_path):
    result = run_check({"GATEWAY_ENV": "production"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "COOKIE_ENCRYPTION_KEYS" in result.stderr
    assert not (tmp_path / "dev-secrets.json").exists()


def test_production_with_secrets_starts(tmp_path):
    from cryptography.fernet import Fernet

    result = run_check({"GATEWAY_ENV": "production", "SECRET_KEY": "p" * 50, "ALLOWED_HOSTS": "gw.example.com",
                        "COOKIE_ENCRYPTION_KEYS": Fernet.generate_key().decode()}, tmp_path)
    assert result.returncode == 0, result.stderr


def test_development_generates_secrets_once(tmp_path):
    assert run_check({"GATEWAY_ENV": "development"}, tmp_path).returncode == 0
    first = json.loads((tmp_path / "dev-secrets.json").read_text())
    assert run_check({"GATEWAY_ENV": "development"}, tmp_path).returncode == 0
    assert json.loads((tmp_path / "dev-secrets.json").read_text()) == first
    assert oct((tmp_path / "dev-secrets.json").stat().st_mode & 0o777) == "0o600"
