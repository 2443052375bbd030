"""
authsvc settings, read from the environment (12-factor) with embedded defaults
that let a newcomer run the service with no setup: SQLite, a local-memory
cache and eager Celery. See the configuration table in DESIGN.md.

Our own knobs (token lifetimes, cookie attributes, 2FA mode…) are plain
settings here, but the apps read them when used (``tokens/conf.py``), never at
import time, so ``override_settings`` and the pytest ``settings`` fixture work.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS as JSON_LOG_RESERVED_ATTRS

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# A signing key must never fall back to a well-known value in production: the
# dev key is only handed out when DEBUG is explicitly on.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long "
            "random value (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development only."
        )
    SECRET_KEY = "django-insecure-authsvc-dev-key-do-not-use-in-production-0123456789"

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)

INSTALLED_APPS = [
    # Django's admin on our own site: behind the API's door (accounts/admin_site.py).
    "authsvc.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "accounts",
    "tokens",
    "webclient",
]

MIDDLEWARE = [
    # First and last: the request count and latency cover every other middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before anything that can answer on its own (CORS preflight, HTTPS and
    # slash redirects), so every response carries X-Request-ID.
    "authsvc.requestid.RequestIdMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the API docs' static files under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "authsvc.urls"
WSGI_APPLICATION = "authsvc.wsgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Persistent connections, checked before reuse: a refresh must not pay for a
# new TCP + auth handshake, and a dropped connection must not become a 500.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode (README, "Several hosts").
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Never wait on a database that does not answer: the request gets its 503
    # within seconds (DESIGN.md, faults) instead of holding a gunicorn worker
    # until gunicorn kills it. libpq waits forever by default.
    # - connect_timeout (s): connecting, TLS and authentication included;
    # - tcp_user_timeout (ms): a statement sent to a peer that vanished (a
    #   partition, a host powered off) fails once its bytes have gone
    #   unacknowledged that long, not after the kernel's ~15 minutes of
    #   retransmissions; keepalives find such a peer while the connection
    #   waits for an answer or idles between requests.
    # Not statement_timeout: the server enforces it, so it cannot fire when the
    # server or the network is what is gone, and it would cut the purge's and
    # the migrations' legitimately long statements. Options in DATABASE_URL's
    # query string win.
    DATABASES["default"]["OPTIONS"] = {
        "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=5),
        "tcp_user_timeout": env.int("DATABASE_TCP_USER_TIMEOUT", default=5) * 1000,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, rate limits, Celery -----------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            # Several deployments (or test runs) can share one Redis database.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run in-process, so `make run` works alone.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
# With late acknowledgement a task whose worker process dies (the OOM killer,
# SIGKILL of a prefork child) is still acknowledged, and lost, unless it is
# requeued instead. Celery warns of a loop if a task kills its process every
# time; ours hold little memory (one email, or purge batches of
# PURGE_BATCH_SIZE rows), and a redelivered code email sends nothing twice.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A message a worker took and never acknowledged (the whole worker killed or
# its host lost) goes back to the queue only after the visibility timeout:
# kombu's default hour outlives a 10-minute 2FA code, so the email would be
# useless. 300 s is well above what a healthy worker holds a message:
# seconds to send an email, and a retry's countdown, held unacknowledged
# until it is due (at most 20 s for the emails, 120 s for the purge). A
# message held longer is handed out again while still running: harmless for
# the emails (the send is claimed once), and the hourly purge, which on a
# huge backlog may run longer, is safe to run twice (its batches delete rows
# already dead, and two runs at once split them). kombu only looks for such
# messages every unacked_restore_interval × unacked_restore_throttle seconds
# (100 s by default); a throttle of 1 makes that every 10 s (one cheap
# sorted-set query), so they are back within about 5 minutes.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300),
    "unacked_restore_throttle": 1,
}
# Queueing a task (a code email) on a broker that stopped answering fails
# within seconds, and the request gets its 503, instead of waiting forever:
# kombu's Redis transport has no socket timeout of its own. One retry, at
# once, covers a pooled connection that a Redis restart closed; more would
# only hold the request longer (at most about 4 s in all).
CELERY_BROKER_TRANSPORT_OPTIONS.update(socket_connect_timeout=2, socket_timeout=2)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# The worker and beat log through LOGGING below, as the web does (JSON lines
# in production), instead of Celery's own handlers and format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# An email that failed for a reason that may pass (SMTP 4xx, connection
# refused or timed out) is retried three times, after a random wait of up to
# EMAIL_RETRY_BACKOFF × 1, 2, 4 s (accounts/tasks.py).
EMAIL_RETRY_BACKOFF = env.int("EMAIL_RETRY_BACKOFF", default=5)
# The queue every task goes to; installs sharing one Redis give each its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")

# The hourly purge (DESIGN.md, "Operations"). PURGE_SCHEDULE, in seconds,
# replaces the crontab with an interval (tests run a real beat every second).
PURGE_SCHEDULE = env.int("PURGE_SCHEDULE", default=None)
CELERY_BEAT_SCHEDULE = {
    "purge-expired-tokens": {
        "task": "tokens.tasks.purge_expired",
        "schedule": PURGE_SCHEDULE if PURGE_SCHEDULE else crontab(minute=0),
    },
}
# The purges the hourly task and `manage.py purge_tokens` run, as dotted paths
# of functions taking (*, batch_size, dry_run, now, on_progress) and returning
# {kind: count}. Read when used.
PURGE_FUNCTIONS = [
    "tokens.purge.purge_expired",
    "tokens.audit.purge_events",
    "accounts.purge.purge_challenges",
]
# How long the audit trail (AuthEvent) is kept, in seconds (90 days).
AUTH_EVENT_RETENTION = env.int("AUTH_EVENT_RETENTION", default=90 * 24 * 3600)
PURGE_BATCH_SIZE = env.int("PURGE_BATCH_SIZE", default=20000)

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Token lifecycle (seconds). Read through tokens.conf when used.
ACCESS_TOKEN_TTL = env.int("ACCESS_TOKEN_TTL", default=900)
REFRESH_TOKEN_TTL = env.int("REFRESH_TOKEN_TTL", default=7 * 24 * 3600)
SESSION_MAX_AGE = env.int("SESSION_MAX_AGE", default=30 * 24 * 3600)
REFRESH_REUSE_GRACE = env.int("REFRESH_REUSE_GRACE", default=10)
REVOKED_RETENTION = env.int("REVOKED_RETENTION", default=7 * 24 * 3600)
TWO_FACTOR_CODE_TTL = env.int("TWO_FACTOR_CODE_TTL", default=600)
AUTH_2FA = env.str("AUTH_2FA", default="required")
# Seconds since their sign-in within which staff may weaken an account (switch
# off a user's second factor); older, they sign in again first.
ADMIN_REAUTH_MAX_AGE = env.int("ADMIN_REAUTH_MAX_AGE", default=600)

# Rate limits (django-ratelimit syntax: count/period). See authsvc/ratelimits.py.
RATE_LIMITS = {
    # Password guesses for one email: tight per (email, client network), so
    # guesses from elsewhere cannot lock the owner out at hers; and a higher
    # cap per email whatever the network, which bounds a botnet's guesses at
    # one account (1,200 a day) and mails the owner when it trips.
    "login_email_ip": env.str("RATELIMIT_LOGIN_EMAIL_IP", default="10/m"),
    "login_email": env.str("RATELIMIT_LOGIN_EMAIL", default="50/h"),
    "login_ip": env.str("RATELIMIT_LOGIN_IP", default="30/m"),
    "two_factor_ip": env.str("RATELIMIT_2FA_IP", default="30/m"),
    "two_factor_challenge": env.str("RATELIMIT_2FA_CHALLENGE", default="10/m"),
    "resend_ip": env.str("RATELIMIT_RESEND_IP", default="10/m"),
    "reset_email": env.str("RATELIMIT_RESET_EMAIL", default="5/h"),
    "reset_ip": env.str("RATELIMIT_RESET_IP", default="20/h"),
    "register_ip": env.str("RATELIMIT_REGISTER_IP", default="20/h"),
    # Old-password checks behind an access token (password/change, 2fa/enable,
    # 2fa/disable together), per user: a stolen token buys no guessing.
    "password_check_user": env.str("RATELIMIT_PASSWORD_CHECK_USER", default="10/h"),
    # Per-account budgets of the emailed second factor: wrong answers across
    # all challenges (spent: every open challenge ends, no new one until the
    # window is over, the owner is mailed), and code emails, logins and
    # resends together.
    "two_factor_account_failures": env.str("RATELIMIT_2FA_ACCOUNT_FAILURES", default="10/h"),
    "two_factor_account_emails": env.str("RATELIMIT_2FA_ACCOUNT_EMAILS", default="10/h"),
}
# Per-IP limits count networks: an IPv6 client's /64, an IPv4 address.
RATELIMIT_IPV4_PREFIX = env.int("RATELIMIT_IPV4_PREFIX", default=32)
RATELIMIT_IPV6_PREFIX = env.int("RATELIMIT_IPV6_PREFIX", default=64)
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=False)
# Seconds between two emails of a code for one challenge.
TWO_FACTOR_RESEND_COOLDOWN = env.int("TWO_FACTOR_RESEND_COOLDOWN", default=30)
# Open challenges (valid codes) one account may hold; a new login ends the oldest.
TWO_FACTOR_MAX_OPEN_CHALLENGES = env.int("TWO_FACTOR_MAX_OPEN_CHALLENGES", default=3)
# Where the password-reset email points: a page of the front end that posts
# uid, token and the new password to /api/auth/password/reset/confirm/.
PASSWORD_RESET_URL = env.str(
    "PASSWORD_RESET_URL", default="http://127.0.0.1:8000/#/password-reset?uid={uid}&token={token}"
)

# Auth cookies. None for COOKIE_SECURE means "Secure unless DEBUG".
COOKIE_SECURE = env.bool("COOKIE_SECURE", default=None)
COOKIE_SAMESITE = env.str("COOKIE_SAMESITE", default="Lax")
COOKIE_DOMAIN = env.str("COOKIE_DOMAIN", default=None)

# How many reverse proxies in front of us append to X-Forwarded-For. 0 means
# trust only REMOTE_ADDR: a client can write any X-Forwarded-For it likes.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

JWT_LEEWAY = env.int("JWT_LEEWAY", default=5)
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ACCESS_TOKEN_TTL),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=REFRESH_TOKEN_TTL),
    # Seconds of clock skew forgiven between the host that signed a token and
    # the one verifying it: without it, a host a second behind refuses a token
    # "issued in the future" (iat, nbf) and signs a browser out. PyJWT applies
    # it to exp too, so a token lives up to this much longer: harmless at a
    # few seconds, since a revoked session is refused by its database row.
    # simplejwt reads it once, at import (its token backend, tokens/jwt.py).
    "LEEWAY": JWT_LEEWAY,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokens.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["authsvc.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "authsvc.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "authsvc",
    "DESCRIPTION": (
        "Email + password login with an emailed second factor, rotating refresh "
        "tokens with reuse detection, and revocable sessions."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The schema and its page read no credentials: a stale access_token
    # cookie left by the app must not turn them into a 401.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}
# Whether /api/schema/ and /api/docs/ are served; off, they are the JSON 404
# of an unknown path (an install that would rather not publish its API map).
# Read per request (authsvc/views.py).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)

# --- HTTP security --------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"
# A front end on another origin may thread its own request id through, and
# read ours (for its error reports) and how long to wait after a 429 or 503.
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-request-id")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=CORS_ALLOWED_ORIGINS)

_secure_default = not DEBUG
CSRF_COOKIE_SECURE = env.bool("COOKIE_SECURE", default=_secure_default)
CSRF_COOKIE_SAMESITE = COOKIE_SAMESITE
CSRF_COOKIE_DOMAIN = COOKIE_DOMAIN
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_secure_default)
# Load-balancer probes and in-cluster Prometheus scrapes reach the web hosts
# directly, over plain HTTP, not through the TLS-ending proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preload is an opt-in (SECURE_HSTS_PRELOAD=1): leaving the browsers' preload
# list again takes months, so it is not something to switch on by default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Bodies are small JSON documents; refuse anything large early.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# --- Email --------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Seconds an SMTP server may stay silent: one that never answers must fail the
# try (and be retried), not hold a worker forever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="authsvc <no-reply@localhost>")

# --- i18n, static, logging ------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed, content-hashed names (cacheable forever) from `collectstatic`,
    # which the Dockerfile runs; DEBUG serves the source files as they are.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Observability (DESIGN.md) ----------------------------------------------------
# json: one JSON object per line, with the fields the code passes as `extra`
# (event, user_id, session_id, ip…) and the request id; plain: for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
# The bearer token /metrics asks for; unset, /metrics is a 404 like any unknown path.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "authsvc.requestid.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601 in UTC, under "timestamp".
            "timestamp": True,
            # Django hands its request object to django.request and
            # django.security records: its repr carries the query string, which
            # the plain format never printed. The path is in the message.
            "reserved_attrs": [*JSON_LOG_RESERVED_ATTRS, "request"],
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django logs 4xx responses with the request path at WARNING; our 401s
        # are routine and their paths carry no secrets, but keep them quiet.
        "django.request": {"level": "ERROR"},
    },
}
