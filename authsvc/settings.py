"""
authsvc settings, read from the environment (12-factor) with embedded defaults
that let a newcomer run the service with no setup: SQLite, a local-memory
cache and eager Celery. See the configuration table in DESIGN.md.

Our own knobs (token lifetimes, cookie attributes, 2FA mode…) are plain
settings here, but the apps read them when used (``tokens/conf.py``), never at
import time, so ``override_settings`` and the pytest ``settings`` fixture work.

This is the module DJANGO_SETTINGS_MODULE names. Whole sections live beside
it, each reading its own variables: ``settings_celery`` (the cache and
Celery), ``settings_ratelimits``, ``settings_api`` (DRF, the OpenAPI docs) and
``settings_factors`` (TOTP, remembered devices, the new sign-in alert),
``settings_keys`` (the JWT signing keys),
star-imported below; ``settings_database`` and ``settings_logging`` build
DATABASES and LOGGING from values read here.
"""

from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

from authsvc.settings_api import *  # noqa: F403
from authsvc.settings_celery import *  # noqa: F403
from authsvc.settings_database import database_config
from authsvc.settings_factors import *  # noqa: F403
from authsvc.settings_factors import webauthn_origins, webauthn_rp_id
from authsvc.settings_keys import *  # noqa: F403
from authsvc.settings_lifecycle import *  # noqa: F403
from authsvc.settings_logging import logging_config
from authsvc.settings_ratelimits import *  # noqa: F403
from tokens.conf import secure_unless_debug

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
# Former keys, comma-separated, while SECRET_KEY is rotated: they still verify
# Django's signatures and still open the secrets encrypted under them (the
# authenticator apps' secrets, the recovery codes: authsvc/secretbox.py).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
# Passkeys' relying party and exact origins (authsvc/settings_factors.py).
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", default=webauthn_rp_id(ALLOWED_HOSTS))
WEBAUTHN_ORIGINS = env.list("WEBAUTHN_ORIGINS", default=webauthn_origins(WEBAUTHN_RP_ID, debug=DEBUG))

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
    # First: every answer is counted, and its latency covers every other middleware.
    "authsvc.requestmetrics.RequestMetricsMiddleware",
    # Before anything that answers on its own (CORS preflight, redirects): every response has X-Request-ID.
    "authsvc.requestid.RequestIdMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the API docs' static files under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session, auth and messages, skipped by the API (authsvc/browser.py).
    "authsvc.browser.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "authsvc.browser.AuthenticationMiddleware",
    "authsvc.browser.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
# Connection lifetime, health checks and timeouts: authsvc/settings_database.py.
DATABASES = {
    "default": database_config(
        env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env.int("CONN_MAX_AGE", default=60),
        disable_server_side_cursors=env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False),
        connect_timeout=env.int("DATABASE_CONNECT_TIMEOUT", default=5),
        tcp_user_timeout=env.int("DATABASE_TCP_USER_TIMEOUT", default=5),
    ),
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery (REDIS_URL): authsvc/settings_celery.py -------------------

# --- Purge (run hourly by Celery beat, or `manage.py purge_tokens`) -------------
# The purges to run: functions (*, batch_size, dry_run, now, on_progress) → {kind: count}. Read when used.
PURGE_FUNCTIONS = [
    "tokens.purge.purge_expired",
    "tokens.audit.purge_events",
    "tokens.devices.purge_devices",
    "tokens.feed.purge_session_ends",
    "accounts.purge.purge_challenges",
    "accounts.purge.purge_notices",
    "accounts.purge.purge_email_links",
    "accounts.purge.purge_webauthn_ceremonies",
]
# How long the audit trail (AuthEvent) is kept, in seconds (90 days).
AUTH_EVENT_RETENTION = env.int("AUTH_EVENT_RETENTION", default=90 * 24 * 3600)
# Rows per DELETE statement. Read when used through tokens.conf.
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

# Rate limits: authsvc/settings_ratelimits.py.

# Seconds between two emails of a code for one challenge.
TWO_FACTOR_RESEND_COOLDOWN = env.int("TWO_FACTOR_RESEND_COOLDOWN", default=30)
# Open challenges (valid codes) one account may hold; a new login ends the oldest.
TWO_FACTOR_MAX_OPEN_CHALLENGES = env.int("TWO_FACTOR_MAX_OPEN_CHALLENGES", default=3)
# Where the password-reset email points: a front-end page posting to password/reset/confirm/.
PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL", default="http://127.0.0.1:8000/#/password-reset?uid={uid}&token={token}")

# Auth cookies, read when used through tokens.conf. COOKIE_SECURE unset (None)
# means "Secure unless DEBUG": tokens.conf.secure_unless_debug, the one rule,
# which Django's CSRF and session cookies follow too (below).
COOKIE_SECURE = env.bool("COOKIE_SECURE", default=None)
COOKIE_SAMESITE = env.str("COOKIE_SAMESITE", default="Lax")
COOKIE_DOMAIN = env.str("COOKIE_DOMAIN", default=None)

# How many reverse proxies in front of us append to X-Forwarded-For. 0 means
# trust only REMOTE_ADDR: a client can write any X-Forwarded-For it likes.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

JWT_LEEWAY = env.int("JWT_LEEWAY", default=5)
SIMPLE_JWT = {
    # Only the HS256 mode's shared secret (JWT_ALGORITHM=HS256), and how tokens
    # issued before asymmetric keys are verified until they expire: the
    # algorithm and the keys are tokens.keys' (authsvc/settings_keys.py).
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    # No ACCESS_TOKEN_LIFETIME / REFRESH_TOKEN_LIFETIME: those are for
    # simplejwt's own token classes. Ours (tokens/jwt.py) only verify given
    # tokens and sign explicit exp claims, with lifetimes from tokens.conf.
    # Seconds of clock skew forgiven between the host that signed a token and
    # the one verifying it: without it, a host a second behind refuses a token
    # "issued in the future" (iat, nbf) and signs a browser out. PyJWT applies
    # it to exp too, so a token lives up to this much longer: harmless at a
    # few seconds, since a revoked session is refused by its database row.
    # simplejwt reads it once, at import (its token backend, tokens/jwt.py).
    "LEEWAY": JWT_LEEWAY,
}

# DRF and the OpenAPI docs: authsvc/settings_api.py.

# --- HTTP security --------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"
# A front end on another origin may thread its own request id through, and
# read ours (for its error reports) and how long to wait after a 429 or 503.
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-request-id")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=CORS_ALLOWED_ORIGINS)

# Django reads these itself, so the rule is applied here, once; the auth
# cookies apply it when set (a test overriding DEBUG or COOKIE_SECURE changes
# them, not these).
CSRF_COOKIE_SECURE = secure_unless_debug(COOKIE_SECURE, debug=DEBUG)
CSRF_COOKIE_SAMESITE = COOKIE_SAMESITE
CSRF_COOKIE_DOMAIN = COOKIE_DOMAIN
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
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
# json or plain (authsvc/settings_logging.py): JSON lines in production.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# The bearer token /metrics asks for; unset, /metrics is a 404 like any unknown path.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
