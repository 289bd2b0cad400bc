"""Settings for the gateway. Every value comes from the environment (and `.env`, which the
environment overrides); see .env.example.

`GATEWAY_ENV=production` refuses to start without real secrets; the development default
generates them once into `var/dev-secrets.json` (ignored by git).
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gateway.env import (
    development_secrets,
    env_bool,
    env_float,
    env_int,
    env_json,
    env_list,
    env_str,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = load_env_file(BASE_DIR)
VAR_DIR = Path(env_str("GATEWAY_VAR_DIR", str(BASE_DIR / "var")))

GATEWAY_ENV = env_str("GATEWAY_ENV", "development")
if GATEWAY_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("GATEWAY_ENV must be 'development' or 'production'")
PRODUCTION = GATEWAY_ENV == "production"

# --- secrets -------------------------------------------------------------------------------
SECRET_KEY = env_str("SECRET_KEY")
_cookie_keys = env_str("COOKIE_ENCRYPTION_KEYS")
if PRODUCTION:
    missing = [n for n, v in (("SECRET_KEY", SECRET_KEY), ("COOKIE_ENCRYPTION_KEYS", _cookie_keys)) if not v]
    if missing:
        raise ImproperlyConfigured(
            f"GATEWAY_ENV=production needs {', '.join(missing)} set in the environment "
            "(see .env.example for how to generate them)"
        )
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters in production")
else:
    _dev = development_secrets(VAR_DIR / "dev-secrets.json")
    SECRET_KEY = SECRET_KEY or _dev["SECRET_KEY"]
    _cookie_keys = _cookie_keys or _dev["COOKIE_ENCRYPTION_KEYS"]
# First key encrypts; all of them decrypt (rotation: prepend the new key, run rotate_cookie_keys).
COOKIE_ENCRYPTION_KEYS = [k.strip() for k in _cookie_keys.split(",") if k.strip()]

DEBUG = env_bool("DEBUG", False)
PORT = env_int("PORT", 8000)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"] if not PRODUCTION else [])
PUBLIC_BASE_URL = (env_str("PUBLIC_BASE_URL") or f"http://127.0.0.1:{PORT}").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])

# --- apps ----------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_q",
    "api",
    "accounts",
    "generation",
    "videos",
    "fakes",
]

MIDDLEWARE = [
    "api.middleware.RequestIdMiddleware",
    "api.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.middleware.OpenAIErrorMiddleware",
]
# What the API's own ASGI handler runs (gateway/asgi.py): no sessions, cookies or CSRF there.
API_MIDDLEWARE = [
    "api.middleware.RequestIdMiddleware",
    "api.middleware.RequestSizeLimitMiddleware",
    "api.middleware.OpenAIErrorMiddleware",
]
APPEND_SLASH = False  # a POST to /v1/images/generations/ must not become a redirect

ROOT_URLCONF = "gateway.urls"
ASGI_APPLICATION = "gateway.asgi.application"
WSGI_APPLICATION = "gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _db["ENGINE"].endswith("sqlite3"):
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE + WAL: without them read-then-write transactions fail with "database is locked"
    # under concurrent workers (django-stack.md §3.1).
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run a real web server and cluster in other processes: they need a file, not :memory:.
    _db["TEST"] = {"NAME": env_str("TEST_SQLITE_PATH", str(VAR_DIR / "test-db.sqlite3"))}
# The cluster's processes live long and each uses one connection at a time: keeping it saves a
# reconnect (and SQLite's per-connection setup) on every job, every poll of the ORM broker and
# every acknowledgement. Web requests keep 0: their threads come and go with the requests.
QCLUSTER_PROCESS = sys.argv[1:2] == ["qcluster"]  # this process is `manage.py qcluster` (or forked by it)
if QCLUSTER_PROCESS:
    _db["CONN_MAX_AGE"] = None
    _db["CONN_HEALTH_CHECKS"] = True  # a connection the server dropped is replaced, not reused
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: broker + shared cache ----------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- jobs ----------------------------------------------------------------------------------
IMAGE_JOB_TIMEOUT = env_int("IMAGE_JOB_TIMEOUT", 180)  # seconds from submission to a terminal state
VIDEO_JOB_TIMEOUT = env_int("VIDEO_JOB_TIMEOUT", 1800)
LEASE_GRACE_SECONDS = env_int("LEASE_GRACE_SECONDS", 30)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)  # accounts tried before a job fails
HEARTBEAT_SECONDS = env_float("HEARTBEAT_SECONDS", 5.0)
# A running job whose worker has not beaten for this long is presumed dead.
HEARTBEAT_STALE_SECONDS = env_float("HEARTBEAT_STALE_SECONDS", 30.0)
QUEUED_REDELIVER_SECONDS = env_int("QUEUED_REDELIVER_SECONDS", 60)
WAIT_POLL_SECONDS = env_float("WAIT_POLL_SECONDS", 0.02)  # the web process's one watcher query
# SQLite: between wake-ups (datagrams from the other processes on the machine), a slow poll in
# case one was lost; for the web's watcher and for the workers' queue reader.
WAIT_SAFETY_POLL_SECONDS = env_float("WAIT_SAFETY_POLL_SECONDS", 0.25)
Q_SAFETY_POLL_SECONDS = env_float("Q_SAFETY_POLL_SECONDS", 0.25)
STREAM_PING_SECONDS = env_float("STREAM_PING_SECONDS", 15)  # longest silence on a chat stream (`: ping`)
MAX_QUEUE_BACKLOG = env_int("MAX_QUEUE_BACKLOG", 16)  # queued jobs allowed per provider beyond capacity
MAX_HELD_REQUESTS = env_int("MAX_HELD_REQUESTS", 2000)  # waiting requests one web process holds
CLEANUP_HOURS = env_float("CLEANUP_HOURS", 24)
MEDIA_URL_TTL = env_int("MEDIA_URL_TTL", 3600)
REAPER_MINUTES = env_int("REAPER_MINUTES", 1)

# Cooldown ladder for rate-limit-like failures: base * 2**level, capped.
COOLDOWN_BASE_SECONDS = env_int("COOLDOWN_BASE_SECONDS", 60)
COOLDOWN_MAX_SECONDS = env_int("COOLDOWN_MAX_SECONDS", 3600)
EXHAUSTED_DEFAULT_SECONDS = env_int("EXHAUSTED_DEFAULT_SECONDS", 6 * 3600)

DEFAULT_IMAGE_MODEL = env_str("DEFAULT_IMAGE_MODEL", "gemini-image")
DEFAULT_VIDEO_MODEL = env_str("DEFAULT_VIDEO_MODEL", "jimeng-video-3.0")
MODEL_ALIASES = env_json("MODEL_ALIASES", {
    "imagen-3": "gemini-image",
    "nano-banana": "gemini-image",
    # Seed 000's video model name.
    "doubao-seedance-1-0-lite-i2v-250428": "jimeng-video-3.0",
})

# Models this gateway does not offer: listed nowhere, and a request for one is a 404 that says
# why. Seedance 2.0's generate call needs an `a_bogus` signature that only the site's own
# JavaScript in a browser makes (jimeng-protocol.md §12): the HTTP driver gets ret 1019 "shark
# not pass" for every job. DISABLED_MODELS="" offers them again, should that gate go.
DISABLED_MODELS = frozenset(env_list("DISABLED_MODELS", ["jimeng-video-seedance-2.0",
                                                         "jimeng-video-seedance-2.0-fast"]))

# Video results: how long they stay downloadable, how often clients are told to poll.
VIDEO_RETENTION_HOURS = env_float("VIDEO_RETENTION_HOURS", 24)
VIDEO_POLL_AFTER_MS = env_int("VIDEO_POLL_AFTER_MS", 5000)
# Webhooks: a default endpoint for keys without their own, signed with Standard Webhooks.
WEBHOOK_URL = env_str("WEBHOOK_URL", "")
WEBHOOK_SECRET = env_str("WEBHOOK_SECRET", "")
WEBHOOK_RETRY_HOURS = env_float("WEBHOOK_RETRY_HOURS", 24)
# An SDK retry (x-stainless-retry-count > 0) of an identical request within this window joins
# the original job; an Idempotency-Key header dedupes for IDEMPOTENCY_HOURS.
RETRY_JOIN_SECONDS = env_int("RETRY_JOIN_SECONDS", 900)
IDEMPOTENCY_HOURS = env_float("IDEMPOTENCY_HOURS", 24)

# provider -> driver class. Overridable for an out-of-tree driver.
GATEWAY_DRIVERS = {
    "gemini": "generation.drivers.gemini.driver.GeminiDriver",
    "jimeng": "generation.drivers.jimeng.driver.JimengDriver",
    **env_json("GATEWAY_DRIVERS", {}),
}
# provider -> the list of ModelSpec its driver package offers.
GATEWAY_CATALOGS = {
    "gemini": "generation.drivers.gemini.catalog.MODELS",
    "jimeng": "generation.drivers.jimeng.catalog.MODELS",
    **env_json("GATEWAY_CATALOGS", {}),
}
# Jimeng protocol constants to replace without a code change (names of
# generation/drivers/jimeng/constants.py, e.g. {"APPVR": "8.5.0", "DA_VERSION": "3.3.20"}).
JIMENG_OVERRIDES = env_json("JIMENG_OVERRIDES", {})
# One base URL standing in for every Jimeng host (API, commerce, ImageX, upload, CDN): a fake or a
# relay. Empty: the real hosts.
JIMENG_UPSTREAM_URL = env_str("JIMENG_UPSTREAM_URL", "")

# Gemini web driver. The upstream is the app's base URL (a local fake in tests); overrides replace
# any selector, URL or text pattern of generation/drivers/gemini/selectors.py without a release.
GEMINI_UPSTREAM_URL = env_str("GEMINI_UPSTREAM_URL", "https://gemini.google.com")
GEMINI_OVERRIDES = env_json("GEMINI_OVERRIDES", {})
# Debian's Chromium; Playwright's own browser download is never used.
CHROMIUM_PATH = env_str("CHROMIUM_PATH", "/usr/bin/chromium")
# The machine's Gemini browser service (one Chromium for every worker) exits after this long
# without a job; the next job starts it again (about a second and a half).
GEMINI_BROWSER_IDLE_SECONDS = env_float("GEMINI_BROWSER_IDLE_SECONDS", 900.0)

Q_WORKERS = env_int("Q_WORKERS", 4)
_queue_timeout = max(IMAGE_JOB_TIMEOUT, VIDEO_JOB_TIMEOUT) + LEASE_GRACE_SECONDS
Q_CLUSTER = {
    "name": env_str("Q_NAME", "gateway"),
    "workers": Q_WORKERS,
    "queue_limit": Q_WORKERS,
    "recycle": 50,
    # Domain outcomes live on our own models; django-q2 must neither retry nor re-run a task on
    # its own (django-stack.md §1.4): ack everything, one attempt, and a retry far above timeout.
    "timeout": _queue_timeout,
    "retry": _queue_timeout * 4,
    "max_attempts": 1,
    "ack_failures": True,
    # Our own models record every outcome; django-q2 saving (and pruning) a row per success is
    # only extra writes on the hot path. Failures are still saved by django-q2.
    "save_limit": -1,
    "catch_up": False,
    # How often an idle ORM broker looks for work: the floor of a job's queueing latency
    # (with SQLite the web wakes it instead, and it looks every Q_SAFETY_POLL_SECONDS).
    "poll": env_float("Q_POLL_SECONDS", 0.02),
    "bulk": Q_WORKERS,  # a burst of jobs is claimed in one round, not one poll per job
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "generation.queueing.GatedOrmBroker"

# --- request limits ------------------------------------------------------------------------
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)  # per image
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 12 * 11 * 1024 * 1024)  # whole request
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES  # JSON bodies may carry data: URLs
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# --- media ---------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/files/"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"

# --- DRF -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONObjectParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.AlwaysJSON",
    "UNAUTHENTICATED_USER": None,
}

# --- i18n, logging -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "gateway.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SESSION_COOKIE_SECURE = PRODUCTION and PUBLIC_BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- fetching client-supplied URLs ---------------------------------------------------------
# Hosts (host or host:port) exempt from the SSRF guard's non-public-address check: for tests
# and for operators who deliberately serve inputs from their own network.
SSRF_ALLOWED_HOSTS = env_list("SSRF_ALLOWED_HOSTS", [])
URL_FETCH_TIMEOUT = env_float("URL_FETCH_TIMEOUT", 15.0)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 50_000_000)
