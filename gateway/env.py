"""Reading configuration from the environment, and the one-time development secrets file."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def load_env_file(base_dir: Path) -> Path | None:
    """Read `GATEWAY_ENV_FILE` (default `<project>/.env`) into the environment, if it exists.
    Variables already set win, so a service manager or a shell export overrides the file;
    `GATEWAY_ENV_FILE=off` reads nothing (the tests and `make demo` run apart from it)."""
    from dotenv import load_dotenv

    setting = os.environ.get("GATEWAY_ENV_FILE") or str(base_dir / ".env")
    if setting.lower() in {"off", "none", "0"}:
        return None
    path = Path(setting)
    if not path.is_file():
        if "GATEWAY_ENV_FILE" in os.environ:
            raise ImproperlyConfigured(f"GATEWAY_ENV_FILE={setting} does not exist")
        return None
    load_dotenv(path, override=False)
    return path


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = env_str(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_json(name: str, default):
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} must be JSON: {exc}") from None


def development_secrets(path: Path) -> dict[str, str]:
    """Secrets generated once for a development install and kept in an ignored file.

    A fresh clone must start without any configuration, but the keys must survive restarts:
    cookies encrypted with a key that changes on every start would be lost.
    """
    if path.exists():
        data = json.loads(path.read_text())
    else:
        data = {}
    changed = False
    if not data.get("SECRET_KEY"):
        data["SECRET_KEY"] = secrets.token_urlsafe(50)
        changed = True
    if not data.get("COOKIE_ENCRYPTION_KEYS"):
        from cryptography.fernet import Fernet

        data["COOKIE_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
        changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
    return data
