"""
One 503 for every outage (DESIGN.md, "Production shape, hosts and faults"):
an unreachable PostgreSQL, Redis or broker is 503 ``{"detail", "code":
"service_unavailable"}`` with ``Retry-After`` whichever door the request came
through — a DRF view, a Django view like the admin, a middleware — logged as
one WARNING line; a bug stays a 500 with its traceback.

The rules are checked here with the drivers' own exception classes; the real
outages (cut and blackholed connections under load) are in test_faults.py.
"""

import logging
import sqlite3

import kombu.exceptions
import psycopg
import psycopg.errors
import pytest
import redis.exceptions
from django.db import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from rest_framework.test import APIClient

from authsvc.exceptions import describe_error, unreachable_dependency
from tests.conftest import bearer

UNAVAILABLE = {"detail": "The service is temporarily unavailable. Try again later.", "code": "service_unavailable"}


def wrapped(django_class, driver_error):
    """A driver's exception as Django's database layer re-raises it (``raise … from`` the driver's)."""
    try:
        raise django_class(*driver_error.args) from driver_error
    except django_class as exc:
        return exc


def sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked" if code == sqlite3.SQLITE_BUSY else "no such table: x")
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize("exc, dependency", [
    # libpq's own failures, with no SQLSTATE: refused, reset, timed out.
    (wrapped(OperationalError, psycopg.OperationalError("connection failed: Connection refused")), "database"),
    (wrapped(OperationalError, psycopg.errors.ConnectionTimeout("connection timeout expired")), "database"),
    (wrapped(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")), "database"),
    # The server's: shut down, starting up, out of connections.
    (wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection")), "database"),
    (wrapped(OperationalError, psycopg.errors.CannotConnectNow("the database system is starting up")), "database"),
    (wrapped(OperationalError, psycopg.errors.TooManyConnections("too many clients")), "database"),
    (wrapped(OperationalError, sqlite_error(sqlite3.SQLITE_BUSY)), "database"),
    (redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379."), "redis"),
    (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
    (kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379."), "broker"),
    # Bugs, not outages.
    (wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")), None),
    (wrapped(ProgrammingError, psycopg.errors.UndefinedTable("relation does not exist")), None),
    (wrapped(OperationalError, psycopg.errors.DeadlockDetected("deadlock detected")), None),
    (wrapped(OperationalError, sqlite_error(sqlite3.SQLITE_ERROR)), None),
    (wrapped(InterfaceError, psycopg.InterfaceError("the cursor is closed")), None),
    (redis.exceptions.ResponseError("WRONGTYPE"), None),
    (kombu.exceptions.EncodeError("cannot serialize"), None),
    (ValueError("nope"), None),
    (None, None),
], ids=repr)
def test_which_errors_are_outages(exc, dependency):
    assert unreachable_dependency(exc) == dependency


def test_a_logged_cause_carries_no_credentials():
    error = redis.exceptions.ConnectionError("Error connecting to redis://authsvc:s3cret@redis:6379/0.")
    assert describe_error(error) == (
        "redis.exceptions.ConnectionError: Error connecting to redis://***@redis:6379/0."
    )


@pytest.fixture
def client():
    # A server error comes back as a response instead of being raised into the test.
    return APIClient(raise_request_exception=False)


def assert_unavailable(response):
    assert response.status_code == 503, response.content
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "30"


def assert_one_warning(caplog, text: str):
    """The 503 is one WARNING line without a traceback, and nothing from Django's request logging."""
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname) for r in records] == [("authsvc.exceptions", "WARNING")], caplog.text
    assert text in records[0].getMessage() and records[0].exc_info is None


OUTAGES = [
    wrapped(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")),
    redis.exceptions.ConnectionError("Connection closed by server."),
]


@pytest.mark.django_db
@pytest.mark.parametrize("outage", OUTAGES, ids=lambda exc: type(exc.__cause__ or exc).__module__)
def test_drf_view_answers_503(client, tokens, monkeypatch, caplog, outage):
    """The access token's check needs the database: while it is out, me is a 503 — never a 401 that signs out."""

    def unreachable(raw):
        raise outage

    monkeypatch.setattr("tokens.services.authenticate_access_token", unreachable)
    with caplog.at_level(logging.INFO):
        response = client.get("/api/auth/me/", **bearer(tokens["access"]))
    assert_unavailable(response)
    assert_one_warning(caplog, "GET /api/auth/me/: 503 service_unavailable")


@pytest.mark.django_db
def test_a_bug_stays_a_500_with_its_traceback(client, tokens, monkeypatch, caplog):
    def broken(raw):
        raise wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate key"))

    monkeypatch.setattr("tokens.services.authenticate_access_token", broken)
    with caplog.at_level(logging.INFO):
        response = client.get("/api/auth/me/", **bearer(tokens["access"]))
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.name == "django.request" and record.levelno == logging.ERROR and record.exc_info


@pytest.mark.django_db
def test_admin_answers_503(client, make_user, monkeypatch, caplog):
    """A view outside DRF: staff's session is read from the database, which is out."""
    client.force_login(make_user(is_staff=True, is_superuser=True))

    def unreachable(self, *args, **kwargs):
        raise OUTAGES[0]

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", unreachable)
    with caplog.at_level(logging.INFO):
        response = client.get("/admin/tokens/session/")
    assert_unavailable(response)
    assert_one_warning(caplog, "GET /admin/tokens/session/: 503 service_unavailable, django.db.utils.OperationalError")


class _BrokerDownMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.mark.django_db
def test_a_middleware_outage_answers_503(settings, caplog):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.test_exceptions._BrokerDownMiddleware"]
    with caplog.at_level(logging.INFO):
        response = APIClient(raise_request_exception=False).get("/healthz")
    assert_unavailable(response)
    assert_one_warning(caplog, "GET /healthz: 503 service_unavailable, kombu.exceptions.OperationalError")


@pytest.mark.django_db
def test_healthz_reports_an_outage_in_one_line(client, settings, caplog):
    """/healthz keeps its own body; a probe during an outage is one WARNING line, not a traceback per probe."""
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }}
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "cache": "error"}
    assert response["Retry-After"] == "30"
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname, r.exc_info) for r in records] == [("authsvc.views", "WARNING", None)]
    assert "healthz: cache check failed: redis.exceptions.ConnectionError" in records[0].getMessage()


# --- oversized bodies ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path, body, content_type", [
    pytest.param("/api/auth/login/", '{"email": "%s"}' % ("x" * 70_000), "application/json", id="api"),
    pytest.param("/admin/login/", "username=" + "x" * 70_000, "application/x-www-form-urlencoded", id="admin"),
])
def test_an_oversized_body_is_one_warning_line(client, caplog, path, body, content_type):
    """
    A body over DATA_UPLOAD_MAX_MEMORY_SIZE is the client's mistake, and
    anyone can send one in a loop: a 413 and one WARNING line, not Django's
    ERROR with a full traceback (django.security.RequestDataTooBig) each time.
    """
    with caplog.at_level(logging.INFO):
        response = client.post(path, body, content_type=content_type)

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large.", "code": "request_too_large"}
    assert_one_warning(caplog, f"POST {path}: 413 request_too_large")


@pytest.mark.django_db
@pytest.mark.parametrize(("accept", "status"), [
    (None, 200), ("*/*", 200), ("application/json", 200), ("application/json; indent=4", 200),
    ("text/html, application/json;q=0.9", 200), ("text/html", 406), ("application/xml", 406),
])
def test_the_api_answers_json_to_what_accepts_it_and_406_to_the_rest(api, tokens, accept, status):
    """authsvc.negotiation answers the plain cases at once; the others still go through DRF's negotiation."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    if accept is not None:
        headers["HTTP_ACCEPT"] = accept
    response = api.get("/api/auth/me/", **headers)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    if status == 406:
        assert response.json()["code"] == "not_acceptable"
