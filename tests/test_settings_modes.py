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


def read_settings(env_overrides: dict, tmp_path, *names: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_ENV_FILE", *names)}
    env.update({"DJANGO_SETTINGS_MODULE": "gateway.settings", "GATEWAY_VAR_DIR": str(tmp_path), **env_overrides})
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: str(getattr(settings, n)) for n in {list(names)!r}}}))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_an_env_file_is_read_and_the_environment_wins_over_it(tmp_path):
    example = (ROOT / ".env.example").read_text()
    env_file = tmp_path / "gateway.env"
    env_file.write_text(example.replace("DEFAULT_VIDEO_MODEL=jimeng-video-3.0", "DEFAULT_VIDEO_MODEL=from-the-file")
                        .replace("STREAM_PING_SECONDS=15", "STREAM_PING_SECONDS=9"))
    names = ("DEFAULT_VIDEO_MODEL", "STREAM_PING_SECONDS", "MODEL_ALIASES", "ENV_FILE")
    result = read_settings({"GATEWAY_ENV_FILE": str(env_file)}, tmp_path, *names)
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["DEFAULT_VIDEO_MODEL"] == "from-the-file" and read["STREAM_PING_SECONDS"] == "9.0"
    assert "nano-banana" in read["MODEL_ALIASES"]  # the example's quoted JSON parses
    result = read_settings({"GATEWAY_ENV_FILE": str(env_file), "STREAM_PING_SECONDS": "3"}, tmp_path, *names)
    assert json.loads(result.stdout.strip().splitlines()[-1])["STREAM_PING_SECONDS"] == "3.0"
    result = read_settings({"GATEWAY_ENV_FILE": "off"}, tmp_path, *names)
    assert json.loads(result.stdout.strip().splitlines()[-1])["ENV_FILE"] == "None"
    result = read_settings({"GATEWAY_ENV_FILE": str(tmp_path / "missing.env")}, tmp_path, *names)
    assert result.returncode != 0 and "missing.env does not exist" in result.stderr
