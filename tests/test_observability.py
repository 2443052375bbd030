"""
Operators can see it (DESIGN.md, "Observability"): JSON log lines with the
event's fields and the request id, ``X-Request-ID`` on every response, and
Prometheus metrics at ``/metrics`` behind ``METRICS_TOKEN`` whose counters
move where things happen and add up across gunicorn workers.

Counters are process-wide and never reset, so every counter test compares a
scrape of ``/metrics`` before and after, and asserts the whole set of
``authsvc_*`` counters that moved: the right one, by the right amount, and
no other.
"""

import copy
import glob
import io
import json
import logging
import logging.config
import os
import re
import runpy
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import requests
import time_machine
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from tests import hosts
from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD, bearer
from tokens.purge import purge_all

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "metrics-token-for-the-observability-tests-0123456789"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
OUR_COUNTERS = ("authsvc_logins", "authsvc_second_factors", "authsvc_refreshes", "authsvc_sessions_revoked",
                "authsvc_rate_limited", "authsvc_purged_rows", "authsvc_emails_failed")


def crash(**kwargs):
    raise RuntimeError("boom")


@pytest.fixture
def client():
    # A server error comes back as a 500 response instead of being raised.
    return APIClient(enforce_csrf_checks=True, raise_request_exception=False)


def post_json(client, path: str, body: dict, **headers):
    return client.post(path, body, format="json", **headers)


# --- JSON log lines ----------------------------------------------------------------------

PRODUCTION_LOGGING_SCRIPT = """
import json, logging, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
client = Client()
answers = {}
registered = client.post("/api/auth/register/", {"email": "ops@example.com", "password": sys.argv[1]},
                         content_type="application/json", secure=True, HTTP_X_REQUEST_ID="client-chosen.id:1_2")
answers["register"] = [registered.status_code, registered.json(), registered["X-Request-ID"]]
login = client.post("/api/auth/login/", {"email": "ops@example.com", "password": sys.argv[1], "transport": "body"},
                    content_type="application/json", secure=True, HTTP_X_REQUEST_ID="not sane")
answers["login"] = [login.status_code, login.json()["session_id"], login["X-Request-ID"]]
logging.getLogger("authsvc.test").info("outside any request", extra={"user_id": 7})
print(json.dumps(answers))
"""


def run_production_settings(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``python <args>`` on ``authsvc.settings`` with DEBUG off, in an environment of only these variables."""
    clean_env = {
        "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "authsvc.settings",
        "DEBUG": "0", "SECRET_KEY": "observability-tests-only-" + "s" * 40, "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": "sqlite:///:memory:", **env,
    }
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean_env, capture_output=True, text=True,
                          timeout=120)


def test_production_log_lines_are_json_with_the_event_fields_and_the_request_id(tmp_path):
    """
    With the production settings as they are (DEBUG off, LOG_FORMAT unset),
    every line is one JSON object: timestamp, level, logger, message, the
    fields the code passes as ``extra`` (an audit event's event, user_id,
    session_id, ip, reason, actor), and the id of the request it was
    written in; none outside a request. No password in any line.
    """
    # STATIC_ROOT exists: whitenoise would warn (a line that is not a log record) about a missing one.
    result = run_production_settings("-c", PRODUCTION_LOGGING_SCRIPT, PASSWORD, AUTH_2FA="off",
                                     ACCOUNT_EMAIL_VERIFICATION="none",
                                     STATIC_ROOT=str(tmp_path))

    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    user_id = answers["register"][1]["id"]
    assert answers["register"] == [201, {"id": user_id, "email": "ops@example.com"}, "client-chosen.id:1_2"]
    status, session_id, login_request_id = answers["login"]
    assert status == 200
    assert GENERATED_ID.fullmatch(login_request_id)

    lines = [json.loads(line) for line in result.stderr.splitlines()]  # each line parses, or this fails
    by_message = {line["message"]: line for line in lines}
    [registered] = [line for line in lines if line.get("event") == "account_created"]
    assert {key: registered[key] for key in ("level", "logger", "user_id", "request_id")} == {
        "level": "INFO", "logger": "authsvc.audit", "user_id": user_id, "request_id": "client-chosen.id:1_2",
    }
    assert datetime.fromisoformat(registered["timestamp"]).utcoffset() == timedelta(0)

    [event] = [line for line in lines if line.get("event") == "login_succeeded"]
    assert {key: event[key] for key in ("level", "logger", "user_id", "session_id", "ip", "reason", "actor",
                                        "request_id")} == {
        "level": "INFO", "logger": "authsvc.audit", "user_id": user_id, "session_id": session_id,
        "ip": "127.0.0.1", "reason": "password", "actor": "user", "request_id": login_request_id,
    }

    outside = by_message["outside any request"]
    assert outside["user_id"] == 7
    assert "request_id" not in outside
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize("env, expected", [
    ({"DEBUG": "0"}, "json"),
    ({"DEBUG": "1"}, "plain"),
    ({"DEBUG": "0", "LOG_FORMAT": "plain"}, "plain"),
    ({"DEBUG": "1", "LOG_FORMAT": "json"}, "json"),
])
def test_log_format_defaults_to_json_unless_debug(env, expected):
    """LOG_FORMAT picks the console handler's formatter; unset, it is json unless DEBUG."""
    result = run_production_settings(
        "-c", "from django.conf import settings; print(settings.LOGGING['handlers']['console']['formatter'])",
        **env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_an_unknown_log_format_stops_startup():
    result = run_production_settings("manage.py", "check", LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "ImproperlyConfigured: LOG_FORMAT must be json or plain, not 'xml'." in result.stderr


@pytest.fixture
def json_log(settings):
    """
    Every record of the test, as the configured json formatter and
    request-id filter write it (built from ``settings.LOGGING``, whatever
    LOG_FORMAT the suite runs with); returns a function giving the lines.
    """
    configurator = logging.config.DictConfigurator(copy.deepcopy(settings.LOGGING))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(configurator.config["formatters"]["json"]))
    handler.addFilter(configurator.configure_filter(configurator.config["filters"]["request_id"]))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_server_error_is_logged_with_its_request_id_and_without_the_request_object(client, json_log, monkeypatch):
    """
    The 500's log line (Django's ``django.request``) carries the request id
    the response shows, and the traceback; Django's request object, whose
    repr holds the query string, is not serialised into the line.
    """
    monkeypatch.setattr("accounts.flows.login.login", crash)

    response = post_json(client, "/api/auth/login/?next=/secret-looking", {"email": "a@example.com", "password": "x"},
                         HTTP_X_REQUEST_ID="trace-500")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert response["X-Request-ID"] == "trace-500"
    [line] = [line for line in json_log() if line["logger"] == "django.request"]
    assert line["level"] == "ERROR"
    assert line["message"] == "Internal Server Error: /api/auth/login/"
    assert line["request_id"] == "trace-500"
    assert "RuntimeError: boom" in line["exc_info"]
    assert "request" not in line
    assert "secret-looking" not in json.dumps(line)


def bad_gateway(request):
    return JsonResponse({"detail": "Upstream failed.", "code": "bad_gateway"}, status=502)


# The URLconf of the test below: a view that answers 502 without raising.
urlpatterns = [path("bad-gateway", bad_gateway)]


@pytest.mark.urls(__name__)
def test_an_error_answer_is_logged_once_with_its_request_id(client, json_log):
    """
    Django logs a 5xx answer that no exception produced once the whole
    middleware chain has returned; it is logged inside the request instead,
    with its id, and only once.
    """
    response = client.get("/bad-gateway", HTTP_X_REQUEST_ID="trace-502")

    assert response.status_code == 502
    assert response.json() == {"detail": "Upstream failed.", "code": "bad_gateway"}
    assert [(line["logger"], line["level"], line["message"], line.get("request_id")) for line in json_log()] == [
        ("django.request", "ERROR", "Bad Gateway: /bad-gateway", "trace-502"),
    ]


# --- X-Request-ID ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["abc", "0", "A" * 128, "a-b_c.d:e", "5f0c3b0e-8f55-4bb0-9d5e-2d1b6a5f2b1c"])
def test_a_sane_client_request_id_is_echoed(client, sent):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert response["X-Request-ID"] == sent


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["", "A" * 129, "has space", "line\nbreak", "quote\"", "semi;colon", "ünï", "a/b"])
def test_an_insane_client_request_id_is_replaced(client, sent):
    """Anything but 1–128 letters, digits, - _ . : is replaced by a new id, never written out."""
    response = client.get("/healthz", HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    assert GENERATED_ID.fullmatch(response["X-Request-ID"])


@pytest.mark.django_db
def test_without_a_client_id_each_request_gets_its_own(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]

    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second)
    assert first != second


LOGIN = {"email": "nobody@example.com", "password": "wrong password"}


def too_many(client, headers):
    post_json(client, "/api/auth/login/", LOGIN)  # uses up the 1/m limit below
    return post_json(client, "/api/auth/login/", LOGIN, **headers)


def server_error(client, headers):
    with mock.patch("accounts.flows.login.login", crash):
        return post_json(client, "/api/auth/login/", LOGIN, **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("send, status, body", [
    pytest.param(lambda client, headers: client.get("/no/such/path", **headers), 404, NOT_FOUND, id="404"),
    pytest.param(lambda client, headers: client.post("/api/auth/login/", "email=x", content_type="text/plain",
                                                     **headers),
                 415, {"detail": 'Unsupported media type "text/plain" in request.', "code": "unsupported_media_type"},
                 id="415"),
    pytest.param(lambda client, headers: client.post("/api/auth/login/", json.dumps({"email": "x" * 70_000}),
                                                     content_type="application/json", **headers),
                 413, {"detail": "The request body is too large.", "code": "request_too_large"}, id="413"),
    pytest.param(too_many, 429, {"detail": "Too many requests. Try again later.", "code": "rate_limited"}, id="429"),
    pytest.param(server_error, 500, {"detail": "Internal server error.", "code": "server_error"}, id="500"),
    pytest.param(lambda client, headers: client.get("/api/auth/me/", **headers),
                 401, {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
                 id="401"),
    # APPEND_SLASH: CommonMiddleware answers before any view runs.
    pytest.param(lambda client, headers: client.get("/api/auth/csrf", **headers), 301, None, id="redirect"),
])
def test_every_response_carries_the_request_id(client, settings, send, status, body):
    """Answers made by the error handlers, the exception handler and other middleware carry it too."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_ip": "1/m"}

    response = send(client, {"HTTP_X_REQUEST_ID": "trace-me"})

    assert response.status_code == status
    if body is None:
        assert response["Location"] == "/api/auth/csrf/"
    else:
        assert response.json() == body
    assert response["X-Request-ID"] == "trace-me"


# --- /metrics ---------------------------------------------------------------------------------


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


def scrape(client, token: str = METRICS_TOKEN) -> dict[str, float]:
    """Every counter sample of /metrics, as ``'name{label="value",…}': value``."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


@pytest.fixture
def counters(client, metrics_token):
    """``moved()``: the authsvc counters that changed since the fixture was set up, and by how much."""
    before = scrape(client)

    def moved() -> dict[str, float]:
        after = scrape(client)
        return {
            name: value - before.get(name, 0) for name, value in after.items()
            if name.startswith(OUR_COUNTERS) and value != before.get(name, 0)
        }

    return SimpleNamespace(moved=moved)


@pytest.mark.parametrize("configured, authorization", [
    ("", None),
    ("", "Bearer "),
    ("", f"Bearer {METRICS_TOKEN}"),
    (METRICS_TOKEN, None),
    (METRICS_TOKEN, "Bearer wrong-token"),
    (METRICS_TOKEN, f"Bearer {METRICS_TOKEN[:-1]}"),
    (METRICS_TOKEN, f"Bearer {METRICS_TOKEN}x"),
    (METRICS_TOKEN, f"Basic {METRICS_TOKEN}"),
    (METRICS_TOKEN, METRICS_TOKEN),
    (METRICS_TOKEN, "Bearer ünïcode"),
])
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.django_db  # a wrong token is audited (tokens.clients)
def test_metrics_is_an_unknown_path_without_the_token(client, settings, configured, authorization, method):
    """
    Without METRICS_TOKEN, or without the right bearer token, /metrics is the
    same JSON 404 as a path that does not exist — same headers, and no CSRF
    403 or 405 for a POST either — so it does not even admit it exists.
    """
    settings.METRICS_TOKEN = configured
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}

    response = getattr(client, method)("/metrics", **headers)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    unknown = getattr(client, method)("/no-such-path", **headers)
    assert {**response.headers, "X-Request-ID": ""} == {**unknown.headers, "X-Request-ID": ""}


def test_metrics_with_the_token_lists_our_counters_and_djangos(client, metrics_token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    families = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert set(OUR_COUNTERS) <= families
    # django-prometheus' request metrics, by view and status.
    assert {"django_http_requests_total_by_method", "django_http_responses_total_by_status_view_method"} <= families


def test_metrics_speaks_openmetrics_to_a_prometheus_server(client, metrics_token):
    """Prometheus asks for OpenMetrics in its Accept header; the answer is in that format."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}",
                          HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.decode().endswith("# EOF\n")


def test_metrics_is_scraped_over_plain_http_while_the_api_is_redirected_to_https(client, metrics_token, settings):
    """Prometheus scrapes a web host directly, inside the cluster, not through the TLS-ending proxy."""
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200
    assert client.get("/api/auth/me/").status_code == 301


def test_a_front_end_on_another_origin_can_send_and_read_the_request_id(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    preflight = client.options("/api/auth/me/", HTTP_ORIGIN="https://app.example.com",
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-request-id")
    answer = client.get("/api/auth/me/", HTTP_ORIGIN="https://app.example.com", HTTP_X_REQUEST_ID="spa-1")

    assert "x-request-id" in preflight["Access-Control-Allow-Headers"]
    assert "X-Request-ID" in answer["Access-Control-Expose-Headers"]
    assert answer["X-Request-ID"] == "spa-1"


def test_metrics_with_the_token_refuses_other_methods(client, metrics_token):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.', "code": "method_not_allowed"}
    assert response["Allow"] == "GET, HEAD"


# --- the counters move where things happen ------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_login_counts_as_failed(client, user, counters):
    response = post_json(client, "/api/auth/login/", {"email": user.email, "password": "wrong password"})

    assert response.status_code == 401
    assert response.json() == {"detail": "Email or password is incorrect.", "code": "invalid_credentials"}
    assert counters.moved() == {'authsvc_logins_total{outcome="failed"}': 1}


@pytest.mark.django_db
def test_a_password_login_counts_as_succeeded(client, user, counters):
    response = post_json(client, "/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": "body"})

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh", "access_expires_at", "refresh_expires_at", "session_id"}
    assert counters.moved() == {'authsvc_logins_total{outcome="succeeded"}': 1}


def start_two_factor_login(client, user, django_capture_on_commit_callbacks) -> tuple[str, str]:
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, "/api/auth/login/",
                             {"email": user.email, "password": PASSWORD, "transport": "body"})
    assert response.status_code == 200
    body = response.json()
    assert body == {"two_factor_required": True, "expires_in": 600, "methods": ["email"], "challenge": body["challenge"]}
    return body["challenge"], code_from_outbox()


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.mark.django_db
def test_a_two_step_login_counts_the_challenge_each_code_and_one_success(client, user, settings, counters,
                                                                         django_capture_on_commit_callbacks):
    """
    Step one counts ``two_factor_required``; each code compared counts in
    second factors (method email); the session it ends with counts one
    succeeded login, as a one-step login does.
    """
    settings.AUTH_2FA = "required"
    challenge, code = start_two_factor_login(client, user, django_capture_on_commit_callbacks)

    refused = post_json(client, "/api/auth/login/2fa/", {"challenge": challenge, "code": wrong(code)})
    accepted = post_json(client, "/api/auth/login/2fa/", {"challenge": challenge, "code": code, "transport": "body"})

    assert refused.status_code == 401
    assert refused.json() == {"detail": "The code is incorrect.", "code": "invalid_code"}
    assert accepted.status_code == 200
    assert "refresh" in accepted.json()
    assert counters.moved() == {
        'authsvc_logins_total{outcome="two_factor_required"}': 1,
        'authsvc_second_factors_total{method="email",outcome="failed"}': 1,
        'authsvc_second_factors_total{method="email",outcome="succeeded"}': 1,
        'authsvc_logins_total{outcome="succeeded"}': 1,
    }


@pytest.mark.django_db
def test_the_wrong_code_that_uses_up_the_last_try_counts_as_locked(client, user, settings, counters,
                                                                   django_capture_on_commit_callbacks):
    """Five wrong codes: four failed and the fifth locked; the refused sixth compares nothing and is not counted."""
    settings.AUTH_2FA = "required"
    challenge, code = start_two_factor_login(client, user, django_capture_on_commit_callbacks)

    answers = [post_json(client, "/api/auth/login/2fa/", {"challenge": challenge, "code": wrong(code)})
               for _ in range(5)]
    sixth = post_json(client, "/api/auth/login/2fa/", {"challenge": challenge, "code": code})

    assert [answer.json()["code"] for answer in answers] == ["invalid_code"] * 5
    assert sixth.status_code == 401
    assert sixth.json() == {"detail": "Too many wrong codes; log in again.", "code": "challenge_locked"}
    assert counters.moved() == {
        'authsvc_logins_total{outcome="two_factor_required"}': 1,
        'authsvc_second_factors_total{method="email",outcome="failed"}': 4,
        'authsvc_second_factors_total{method="email",outcome="locked"}': 1,
    }


def refresh(client, token: str):
    return post_json(client, "/api/auth/refresh/", {"refresh": token})


@pytest.mark.django_db
def test_each_refresh_counts_its_outcome(client, user, login, counters, settings):
    """rotated, grace (the same successor again), reused (and its revocation), revoked, invalid, expired."""
    tokens = login(user).json()

    rotated = refresh(client, tokens["refresh"])
    assert rotated.status_code == 200
    assert counters.moved() == {'authsvc_logins_total{outcome="succeeded"}': 1,
                                'authsvc_refreshes_total{outcome="rotated"}': 1}

    grace = refresh(client, tokens["refresh"])
    assert grace.status_code == 200
    assert grace.json()["refresh"] == rotated.json()["refresh"]

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.REFRESH_REUSE_GRACE + 1)):
        reused = refresh(client, tokens["refresh"])
        revoked = refresh(client, rotated.json()["refresh"])
    assert (reused.status_code, reused.json()) == (401, {
        "detail": "Refresh token was already used; the session has been revoked.", "code": "token_reused"})
    assert (revoked.status_code, revoked.json()) == (401, {"detail": "Token has been revoked.",
                                                           "code": "token_revoked"})

    invalid = refresh(client, "not-a-jwt")
    assert (invalid.status_code, invalid.json()) == (401, {"detail": "Token is invalid.", "code": "token_invalid"})

    later = login(user).json()
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.REFRESH_TOKEN_TTL + 1)):
        expired = refresh(client, later["refresh"])
    assert (expired.status_code, expired.json()) == (401, {"detail": "Token has expired.", "code": "token_expired"})

    assert counters.moved() == {
        'authsvc_refreshes_total{outcome="rotated"}': 1,
        'authsvc_refreshes_total{outcome="grace"}': 1,
        'authsvc_refreshes_total{outcome="reused"}': 1,
        'authsvc_sessions_revoked_total{reason="reuse"}': 1,
        'authsvc_refreshes_total{outcome="revoked"}': 1,
        'authsvc_refreshes_total{outcome="invalid"}': 1,
        'authsvc_refreshes_total{outcome="expired"}': 1,
        'authsvc_logins_total{outcome="succeeded"}': 2,
    }


@pytest.mark.django_db
def test_revocations_count_every_session_by_reason(client, user, login, counters):
    """One for a logout; as many as were revoked for "sign out everywhere"; none when nothing was live."""
    first, second, third = (login(user).json() for _ in range(3))

    logout = post_json(client, "/api/auth/logout/", {"refresh": first["refresh"]})
    everywhere = client.post("/api/auth/logout/all/", **bearer(second["access"]))
    again = post_json(client, "/api/auth/logout/", {"refresh": third["refresh"]})

    assert logout.status_code == 204
    assert (everywhere.status_code, everywhere.json()) == (200, {"revoked": 2})
    assert again.status_code == 204
    assert counters.moved() == {
        'authsvc_logins_total{outcome="succeeded"}': 3,
        'authsvc_sessions_revoked_total{reason="logout"}': 1,
        'authsvc_sessions_revoked_total{reason="logout_all"}': 2,
    }


@pytest.mark.django_db
def test_a_rate_limited_request_counts_its_scope(client, settings, counters):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_ip": "2/m"}
    answers = [post_json(client, "/api/auth/login/", {"email": f"u{i}@example.com", "password": "wrong password"})
               for i in range(3)]

    assert [answer.status_code for answer in answers] == [401, 401, 429]
    assert answers[2].json() == {"detail": "Too many requests. Try again later.", "code": "rate_limited"}
    assert counters.moved() == {
        'authsvc_logins_total{outcome="failed"}': 2,
        'authsvc_rate_limited_total{scope="login_ip"}': 1,
    }


@pytest.mark.django_db
def test_the_purge_counts_deleted_rows_by_kind_and_a_dry_run_counts_nothing(client, user, login, counters, settings):
    login(user)
    later = timezone.now() + timedelta(seconds=settings.SESSION_MAX_AGE + 1)

    would = purge_all(now=later, dry_run=True)
    assert counters.moved() == {'authsvc_logins_total{outcome="succeeded"}': 1}
    deleted = purge_all(now=later)

    assert would == deleted == {"refresh_tokens": 1, "sessions": 1, "auth_events": 0, "two_factor_challenges": 0,
                                  "trusted_devices": 0, "notices": 0, "session_ends": 0, "email_links": 0,
                                  "webauthn_ceremonies": 0}
    assert counters.moved() == {
        'authsvc_logins_total{outcome="succeeded"}': 1,
        'authsvc_purged_rows_total{kind="refresh_tokens"}': 1,
        'authsvc_purged_rows_total{kind="sessions"}': 1,
    }


# --- gunicorn: multiprocess mode ---------------------------------------------------------------


def load_gunicorn_conf() -> dict:
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_conf_wipes_stale_counts_at_start_and_drops_a_dead_workers_live_gauges(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf = load_gunicorn_conf()
    for name in ("counter_11.db", "histogram_11.db", "gauge_livesum_11.db"):
        (tmp_path / name).write_bytes(b"")

    conf["on_starting"](server=None)
    assert sorted(os.listdir(tmp_path)) == []

    for name in ("counter_12.db", "gauge_livesum_12.db", "gauge_liveall_12.db", "gauge_livesum_13.db"):
        (tmp_path / name).write_bytes(b"")
    conf["child_exit"](server=None, worker=SimpleNamespace(pid=12))
    # The dead worker's counts stay in the totals; only its live gauges go.
    assert sorted(os.listdir(tmp_path)) == ["counter_12.db", "gauge_livesum_13.db"]

    conf["on_exit"](server=None)
    assert tmp_path.is_dir(), "an operator's own directory is never removed"


def per_process_count(directory: Path, name: str, labels: dict) -> dict[str, float]:
    """A counter's value in each process's file of a multiprocess directory (what /metrics adds up)."""
    counts = {}
    for path in glob.glob(str(directory / "counter_*.db")):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(path):
            _, sample, sample_labels, _ = json.loads(key)
            if sample == name and sample_labels == labels:
                counts[Path(path).name] = value
    return counts


@pytest.fixture
def gunicorn_host(tmp_path):
    """
    ``gunicorn authsvc.wsgi`` exactly as the Dockerfile starts it (no ``-c``:
    ./gunicorn.conf.py is found by itself), two workers by gunicorn's own
    WEB_CONCURRENCY, production settings on a SQLite file, and no
    PROMETHEUS_MULTIPROC_DIR: the configuration makes one under TMPDIR.
    """
    port = hosts.free_port()
    (tmp_path / "tmp").mkdir()
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path / "tmp"),
        "DJANGO_SETTINGS_MODULE": "authsvc.settings", "DEBUG": "0",
        "SECRET_KEY": "observability-tests-only-" + "g" * 40, "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "tmp"), "METRICS_TOKEN": METRICS_TOKEN, "WEB_CONCURRENCY": "2",
        # Each worker's local-memory cache would count limits apart; not what is tested here.
        "RATELIMIT_ENABLE": "0",
    }
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    log = open(tmp_path / "gunicorn.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "authsvc.wsgi", "--bind", f"127.0.0.1:{port}"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    host = SimpleNamespace(url=f"http://127.0.0.1:{port}", process=process, tmp=tmp_path / "tmp",
                           log=lambda: (tmp_path / "gunicorn.log").read_text(errors="replace")[-4000:])
    try:
        wait_until_healthy(host)
        yield host
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_healthy(host, timeout: float = 60) -> None:
    """
    Until /healthz answers and both workers have booted: each opens its
    counter file when it loads the app, and a worker still booting would
    leave the other to serve every request.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert host.process.poll() is None, host.log()
        try:
            healthy = requests.get(f"{host.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            healthy = False
        if healthy and len(glob.glob(str(host.tmp / "authsvc-metrics-*" / "counter_*.db"))) == 2:
            return
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not become healthy with two workers\n{host.log()}")


def test_metrics_add_up_the_counts_of_every_gunicorn_worker(gunicorn_host):
    """
    20 failed logins over fresh connections, served by both workers: each
    worker counted its own share in its own file, and /metrics — served by
    one of them — reports all 20. The directory made for it is removed when
    gunicorn stops.
    """
    def failed_login(i: int) -> requests.Response:
        return requests.post(f"{gunicorn_host.url}/api/auth/login/",
                             json={"email": f"nobody-{i}@example.com", "password": "wrong password"}, timeout=30)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(failed_login, range(20)))

    assert [(answer.status_code, answer.json()) for answer in answers] == [
        (401, {"detail": "Email or password is incorrect.", "code": "invalid_credentials"})] * 20
    [directory] = glob.glob(str(gunicorn_host.tmp / "authsvc-metrics-*"))
    shares = per_process_count(Path(directory), "authsvc_logins_total", {"outcome": "failed"})
    assert len(shares) == 2 and all(shares.values()), f"both workers should have served some: {shares}"
    assert sum(shares.values()) == 20

    response = requests.get(f"{gunicorn_host.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                            timeout=10)
    assert response.status_code == 200, gunicorn_host.log()
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(response.text) for sample in family.samples}
    assert samples[("authsvc_logins_total", (("outcome", "failed"),))] == 20
    unauthorised = requests.get(f"{gunicorn_host.url}/metrics", timeout=10)
    assert (unauthorised.status_code, unauthorised.json()) == (404, NOT_FOUND)

    gunicorn_host.process.send_signal(signal.SIGTERM)
    gunicorn_host.process.wait(timeout=20)
    assert not Path(directory).exists()


def test_each_answer_counts_once_by_status_view_and_method_even_without_a_view(client, metrics_token, settings):
    """
    The request metrics (authsvc.requestmetrics) count every answer once,
    those that never reach a view too: a 404 and a slash redirect.
    """
    settings.APPEND_SLASH = True
    before, timed_before = scrape(client), csrf_answers_timed(client)

    client.get("/api/auth/csrf/")
    client.get("/api/auth/csrf")  # CommonMiddleware redirects: no view runs
    client.get("/no-such-path")
    client.get("/api/auth/csrf/")

    after = scrape(client)
    # Each scrape is an answer too; only the ones above are compared.
    moved = {name: after[name] - before.get(name, 0) for name in after
             if name.startswith("django_http_responses_total_by_status_view_method")
             and "metrics" not in name and after[name] != before.get(name, 0)}
    assert moved == {
        'django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="csrf"}': 2,
        'django_http_responses_total_by_status_view_method_total{method="GET",status="301",view="<unnamed view>"}': 1,
        'django_http_responses_total_by_status_view_method_total{method="GET",status="404",view="<unnamed view>"}': 1,
    }
    # Every request counted by method (the two later scrapes are GETs too), and each view's answers timed.
    by_method = 'django_http_requests_total_by_method_total{method="GET"}'
    assert after[by_method] - before.get(by_method, 0) == 6
    assert csrf_answers_timed(client) - timed_before == 2


def csrf_answers_timed(client) -> float:
    """How many answers of GET csrf/ the latency histogram holds."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    return next((sample.value for family in text_string_to_metric_families(response.content.decode())
                for sample in family.samples
                if sample.name == "django_http_requests_latency_seconds_by_view_method_count"
                and sample.labels == {"view": "csrf", "method": "GET"}), 0)
