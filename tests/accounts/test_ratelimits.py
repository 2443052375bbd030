"""Rate limits (django-ratelimit on the shared cache): 429 + Retry-After, keyed by IP, email, challenge."""

import logging

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    def set_limits(**rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return set_limits


def post_login(api, email="alice@example.com", password="wrong password", **extra):
    return api.post("/api/auth/login/", {"email": email, "password": password}, format="json", **extra)


def assert_limited(response, window: int = 60):
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many requests. Try again later.", "code": "rate_limited"}
    assert 1 <= int(response["Retry-After"]) <= window


def test_defaults_match_the_design(settings):
    assert settings.RATE_LIMITS["login_email"] == "10/m"
    assert settings.RATE_LIMITS["login_ip"] == "30/m"
    assert settings.RATE_LIMITS["two_factor_ip"] == "30/m"
    assert settings.RATE_LIMITS["reset_email"] == "5/h"


def test_login_per_email_limit_whatever_the_ip(api, user):
    for i in range(10):
        assert post_login(api, REMOTE_ADDR=f"198.51.100.{i}").status_code == 401
    limited = post_login(api, email="ALICE@example.com", password=PASSWORD, REMOTE_ADDR="198.51.100.99")
    assert_limited(limited)
    # Another account is not affected.
    assert post_login(api, email="bob@example.com", REMOTE_ADDR="198.51.100.99").status_code == 401


def test_login_per_ip_limit_whatever_the_email(api, limits):
    limits(login_ip="3/m")
    for i in range(3):
        assert post_login(api, email=f"u{i}@example.com").status_code == 401
    assert_limited(post_login(api, email="fresh@example.com"))
    assert post_login(api, email="fresh@example.com", REMOTE_ADDR="192.0.2.1").status_code == 401


def test_rotating_x_forwarded_for_does_not_escape_the_ip_limit(api, limits, settings):
    """With no trusted proxy, X-Forwarded-For is the client's own words and is ignored."""
    limits(login_ip="3/m")
    for i in range(3):
        post_login(api, email=f"u{i}@example.com", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert_limited(post_login(api, email="z@example.com", HTTP_X_FORWARDED_FOR="10.9.9.9"))


def test_behind_one_trusted_proxy_only_the_proxys_entry_counts(api, limits, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    limits(login_ip="3/m")
    proxy = {"REMOTE_ADDR": "10.1.1.1"}
    for i in range(3):
        # The client prepends junk; our proxy appends the address it saw.
        post_login(api, email=f"u{i}@example.com", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.5", **proxy)
    assert_limited(post_login(api, email="z@example.com", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5", **proxy))
    other_client = post_login(api, email="z@example.com", HTTP_X_FORWARDED_FOR="203.0.113.6", **proxy)
    assert other_client.status_code == 401


def test_password_reset_per_email_limit(api, user, limits):
    for _ in range(5):
        assert api.post("/api/auth/password/reset/", {"email": "alice@example.com"}, format="json").status_code == 202
    assert_limited(api.post("/api/auth/password/reset/", {"email": "alice@example.com"}, format="json"), window=3600)


def test_two_factor_per_ip_and_per_challenge_limits(api, limits, settings):
    limits(two_factor_ip="2/m")
    for _ in range(2):
        api.post("/api/auth/login/2fa/", {"code": "123456", "challenge": "x"}, format="json")
    assert_limited(api.post("/api/auth/login/2fa/", {"code": "123456", "challenge": "x"}, format="json"))

    limits(two_factor_ip="100/m", two_factor_challenge="2/m")
    for i in range(2):
        api.post("/api/auth/login/2fa/", {"code": "123456", "challenge": "y"}, format="json", REMOTE_ADDR=f"192.0.2.{i}")
    assert_limited(api.post("/api/auth/login/2fa/", {"code": "123456", "challenge": "y"}, format="json",
                            REMOTE_ADDR="192.0.2.50"))


CLOSED_PORT_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def test_unreachable_cache_fails_closed_with_503_not_500(api, user, settings, caplog):
    """
    Decision (authsvc/ratelimits.py): no cache, no unlimited guessing — the
    one 503 service_unavailable of every outage (DESIGN.md), logged once at
    WARNING with its cause.
    """
    settings.CACHES = CLOSED_PORT_CACHE
    with caplog.at_level(logging.WARNING):
        response = post_login(api, password=PASSWORD)
    assert response.status_code == 503
    assert response.json() == {"detail": "Rate limiting is unavailable; try again shortly.",
                               "code": "service_unavailable"}
    assert response["Retry-After"] == "30"
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.WARNING and record.name == "authsvc.exceptions"
    assert "503 service_unavailable, redis.exceptions.ConnectionError" in record.getMessage()


def test_unreachable_cache_with_fail_open_lets_logins_through(api, user, settings, caplog):
    """The operator's choice: no limits while the cache is down, and an ERROR line for each unlimited request."""
    settings.CACHES = CLOSED_PORT_CACHE
    settings.RATELIMIT_FAIL_OPEN = True
    with caplog.at_level(logging.ERROR, logger="authsvc.ratelimits"):
        response = post_login(api, password=PASSWORD)
    assert response.status_code == 200
    assert "rate limit cache unavailable (scope login_ip), letting the request through" in caplog.text
