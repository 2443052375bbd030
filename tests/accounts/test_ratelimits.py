"""Rate limits (django-ratelimit on the shared cache): 429 + Retry-After, keyed by IP, email, challenge."""

import logging

import pytest
from django.core import mail

from authsvc.ratelimits import ip_key
from tests.conftest import PASSWORD

# Every limit counted here is a fixed window: see one_window.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_window")]


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
    assert settings.RATE_LIMITS["login_email_ip"] == "10/m"
    assert settings.RATE_LIMITS["login_email"] == "50/h"
    assert settings.RATE_LIMITS["login_ip"] == "30/m"
    assert settings.RATE_LIMITS["two_factor_ip"] == "30/m"
    assert settings.RATE_LIMITS["reset_email"] == "5/h"
    assert (settings.RATELIMIT_IPV4_PREFIX, settings.RATELIMIT_IPV6_PREFIX) == (32, 64)


# --- password guesses per account: aimed at no one ------------------------------------------------

ATTEMPTS_SUBJECT = "Someone is trying to sign in to your account"


def test_login_tight_limit_is_per_email_and_ip(api, user):
    """Ten tries a minute for one email from one address, whatever the email's case."""
    for _ in range(10):
        assert post_login(api, REMOTE_ADDR="203.0.113.7").status_code == 401
    assert_limited(post_login(api, email="ALICE@example.com", password=PASSWORD, REMOTE_ADDR="203.0.113.7"))
    # Another account from the same address is not affected.
    assert post_login(api, email="bob@example.com", REMOTE_ADDR="203.0.113.7").status_code == 401


def test_rotating_addresses_do_not_lock_the_owner_out_until_the_per_email_cap(api, user, limits, capture):
    """
    Ten wrong passwords for her email from addresses that are not hers used
    to lock the owner out too. The tight limit is per (email, address); what
    every address shares is a higher per-email cap, and when that trips the
    owner is told, once (OWASP Authentication Cheat Sheet, "Account Lockout":
    a lockout an attacker can aim is a denial of service).
    """
    limits(login_email="20/h")
    for i in range(10):
        assert post_login(api, REMOTE_ADDR=f"198.51.100.{i}").status_code == 401
    assert post_login(api, password=PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200

    for i in range(9):
        assert post_login(api, REMOTE_ADDR=f"198.51.100.{20 + i}").status_code == 401
    tripped = capture(post_login, api, password=PASSWORD, REMOTE_ADDR="192.0.2.10")
    assert_limited(tripped, window=3600)
    assert_limited(capture(post_login, api, REMOTE_ADDR="198.51.100.99"), window=3600)

    assert [(m.subject, m.to) for m in mail.outbox] == [(ATTEMPTS_SUBJECT, ["alice@example.com"])]
    assert PASSWORD not in mail.outbox[0].body


def test_the_per_email_cap_answers_alike_for_unknown_emails(api, user, limits, capture):
    """The client cannot tell a known email by the cap's answer; only the owner of a real account is mailed."""
    limits(login_email="2/h")
    answers = {}
    for email in ("alice@example.com", "nobody@example.com"):
        for i in range(2):
            assert post_login(api, email=email, REMOTE_ADDR=f"198.51.100.{i}").status_code == 401
        refused = capture(post_login, api, email=email, REMOTE_ADDR="198.51.100.9")
        answers[email] = (refused.status_code, refused.json())
    assert answers["alice@example.com"] == answers["nobody@example.com"]
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


# --- per-IP limits count networks ---------------------------------------------------------------


@pytest.mark.parametrize("ip, key", [
    ("192.0.2.1", "192.0.2.1/32"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    # What a dual-stack socket reports for an IPv4 client: counted as that IPv4 address, or every
    # IPv4 client would share ::/64.
    ("::ffff:192.0.2.1", "192.0.2.1/32"),
    (None, None),
])
def test_ip_key(ip, key):
    assert ip_key(ip) == key


def test_ip_key_prefixes_are_settings(settings):
    settings.RATELIMIT_IPV6_PREFIX = 48
    settings.RATELIMIT_IPV4_PREFIX = 24
    assert ip_key("2001:db8:1:2::1") == ip_key("2001:db8:1:3::1") == "2001:db8:1::/48"
    assert ip_key("192.0.2.1") == ip_key("192.0.2.200") == "192.0.2.0/24"


def send_empty(path):
    return lambda api, ip: api.post(path, {}, format="json", REMOTE_ADDR=ip)


@pytest.mark.parametrize("scope, send", [
    ("login_ip", send_empty("/api/auth/login/")),
    ("two_factor_ip", send_empty("/api/auth/login/2fa/")),
    ("resend_ip", send_empty("/api/auth/login/2fa/resend/")),
    ("reset_ip", send_empty("/api/auth/password/reset/")),
    ("reset_ip", send_empty("/api/auth/password/reset/confirm/")),
    ("register_ip", send_empty("/api/auth/register/")),
])
def test_every_per_ip_limit_counts_an_ipv6_client_by_its_64(api, limits, scope, send):
    """
    An IPv6 host is handed a whole /64 (RFC 4291 §2.5.4, RFC 6177): counting
    single addresses would give one client 2**64 fresh counters. Two
    addresses in one /64 share a counter, the next /64 has its own; IPv4
    addresses still count one by one.
    """
    limits(**{scope: "2/m"})
    assert send(api, "2001:db8:1:2::1").status_code != 429
    assert send(api, "2001:db8:1:2:abcd:ef01:2345:6789").status_code != 429
    assert send(api, "2001:db8:1:2::ffff").status_code == 429
    assert send(api, "2001:db8:1:3::1").status_code != 429

    assert send(api, "192.0.2.1").status_code != 429
    assert send(api, "192.0.2.1").status_code != 429
    assert send(api, "192.0.2.1").status_code == 429
    assert send(api, "192.0.2.2").status_code != 429


def test_the_email_and_ip_limit_counts_an_ipv6_client_by_its_64(api, user, limits):
    limits(login_email_ip="2/m")
    post_login(api, REMOTE_ADDR="2001:db8:1:2::1")
    post_login(api, REMOTE_ADDR="2001:db8:1:2::2")
    assert_limited(post_login(api, password=PASSWORD, REMOTE_ADDR="2001:db8:1:2::3"))
    assert post_login(api, password=PASSWORD, REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


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
