"""
Test settings: the real settings, with a test-only signing key when none is
given and a cheaper Argon2 (same algorithm and code path, fewer rounds) so
the suite's hundreds of logins stay fast.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-authsvc-suite-only-not-for-production-" + "x" * 16)

from authsvc.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The test client speaks plain HTTP; HTTPS redirection is checked by the deploy test.
SECURE_SSL_REDIRECT = False
# Tasks run in-process in tests; the tests that exercise a real worker on
# Redis switch this off for themselves (tests/accounts/test_celery_email.py).
CELERY_TASK_ALWAYS_EAGER = True
# No collectstatic before the suite: static files as in development, not
# from the manifest that production's whitenoise storage reads.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# ...and whitenoise looks them up per request instead of indexing a STATIC_ROOT that is not there.
WHITENOISE_AUTOREFRESH = True
# The suite's cache keys carry a prefix of their own, so emptying the cache
# between tests (tests/conftest.py) deletes only them: on Redis, never the
# rest of REDIS_URL's database, nor the keys of a second suite running at once.
CACHES["default"]["KEY_PREFIX"] = f"authsvc-test-{os.getpid()}"  # noqa: F405
