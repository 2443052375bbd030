import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

from tokens.keys import keyring
from tokens.verified import verified_access_tokens

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def _isolation(settings):
    """Every test starts with an empty cache and one-step login; 2FA tests opt back in."""
    settings.AUTH_2FA = "off"
    clear_test_cache()
    # The signing keys each process keeps (tokens.keys): read afresh from this test's database.
    keyring.reset()
    # And the access tokens it has verified (tokens.verified).
    verified_access_tokens.clear()


@pytest.fixture(autouse=True, scope="session")
def _no_cache_keys_left_behind():
    yield
    clear_test_cache()


def clear_test_cache() -> None:
    """Delete the suite's cache keys; on Redis only those (``cache.clear()`` would be FLUSHDB)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        backend.clear()
        return
    client = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])
    with client:
        keys = list(client.scan_iter(match=f"{backend.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def api():
    # CSRF checks on, as in a real browser: Django's test client skips them otherwise.
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def make_api():
    return lambda: APIClient(enforce_csrf_checks=True)


STAFF_EMAIL = "staff@example.com"


@pytest.fixture
def staff(make_user):
    """A superuser, to sign in to the admin with (tests/staff.py)."""
    return make_user(email=STAFF_EMAIL, is_staff=True, is_superuser=True)


@pytest.fixture
def make_user(db, django_user_model):
    def make(email: str | None = None, password: str = PASSWORD, **extra):
        email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
        return django_user_model.objects.create_user(email=email, password=password, **extra)

    return make


@pytest.fixture
def user(make_user):
    return make_user(email="alice@example.com")


@pytest.fixture
def login(api):
    """Log a user in through the API; returns the response (tokens in body or cookies)."""

    def do_login(user, transport: str = "body", client=None, **headers):
        client = client or api
        response = client.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD, "transport": transport},
            format="json",
            **headers,
        )
        assert response.status_code == 200, response.content
        return response

    return do_login


@pytest.fixture
def tokens(user, login):
    """A fresh body-transport login of ``user``: {"access", "refresh", ...}."""
    return login(user).json()


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    """Run a request with its after-commit tasks (emails) executed."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run
