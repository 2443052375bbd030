"""
Project-level behaviour (DESIGN.md, "HTTP API" and "Configuration"): health,
OpenAPI schema and docs, production settings, the CSRF endpoint, JSON 404s.

The suite runs ``tests.settings``; what only the production settings decide
(a required SECRET_KEY, the deploy checks, the hasher order) is checked in a
subprocess that loads ``authsvc.settings`` from a clean environment.
"""

import json
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.hashers import identify_hasher
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import OperationalError
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, clear_test_cache

REPO_ROOT = Path(__file__).resolve().parent.parent
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def client():
    # A server error comes back as a 500 response instead of being raised.
    return APIClient(enforce_csrf_checks=True, raise_request_exception=False)


# --- /healthz -------------------------------------------------------------------


class _UnreachableDatabase:
    def cursor(self):
        raise OperationalError("connection refused")


@pytest.mark.django_db
def test_healthz_is_ok_when_database_and_cache_answer(client):
    """/healthz is 200 and names each dependency when the database and the cache both answer."""
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    # A proxy must never answer a health probe from its cache.
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_is_503_when_the_cache_is_unreachable(client, monkeypatch):
    """An unreachable cache makes /healthz 503 with cache "error", not a 500."""
    # Nothing listens on port 1: the connection is refused at once.
    down = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})
    monkeypatch.setattr("authsvc.views.cache", down)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "cache": "error"}


def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    """An unreachable database makes /healthz 503 with database "error", not a 500."""
    monkeypatch.setattr("authsvc.views.connection", _UnreachableDatabase())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "error", "cache": "ok"}


# --- OpenAPI schema and docs -------------------------------------------------------


def auth_routes() -> dict[str, set[str]]:
    """Every route under /api/auth/ in the URLconf, as OpenAPI path → the HTTP methods its view implements."""
    routes = {}

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/auth/"):
                view = pattern.callback.view_class
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
                routes[path] = {method for method in HTTP_METHODS if hasattr(view, method)}

    walk(get_resolver().url_patterns, "")
    return routes


# POST endpoints that take no input at all.
BODYLESS = {("/api/auth/logout/all/", "post"), ("/api/auth/login/passkey/begin/", "post"),
            ("/api/auth/2fa/webauthn/step-up/begin/", "post")}


def resolve(document: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def describes_json(document: dict, schema: dict) -> bool:
    """The schema names the fields of an object, of an array's items, or of each alternative of a oneOf/anyOf."""
    schema = resolve(document, schema)
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        return all(describes_json(document, alternative) for alternative in alternatives)
    if schema.get("type") == "array":
        schema = resolve(document, schema["items"])
    return bool(schema.get("properties"))


@pytest.mark.parametrize(
    "query, headers",
    [
        pytest.param("?format=json", {}, id="format=json"),
        pytest.param("", {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}, id="Accept header"),
    ],
)
def test_schema_documents_every_auth_endpoint(client, query, headers):
    """/api/schema/ is an OpenAPI 3 document with every /api/auth/ operation, its JSON body and its 2xx answer."""
    response = client.get("/api/schema/" + query, **headers)

    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    routes = auth_routes()
    # The URLconf walk itself must see the endpoints this service is known for.
    assert {
        "/api/auth/register/", "/api/auth/login/", "/api/auth/me/", "/api/auth/refresh/",
        "/api/auth/logout/", "/api/auth/logout/all/", "/api/auth/sessions/",
        "/api/auth/sessions/{session_id}/", "/api/auth/csrf/",
    } <= set(routes)
    for path, methods in routes.items():
        assert path in document["paths"], path
        assert set(document["paths"][path]) == methods, path
        for method in methods:
            operation = document["paths"][path][method]
            where = f"{method.upper()} {path}"
            if method in ("post", "put", "patch") and (path, method) not in BODYLESS:
                content = operation["requestBody"]["content"]
                # Bodies must be JSON (anything else is 415), so that is all the schema offers;
                # but introspection, whose RFC 7662 §2.1 request is a form, takes that too.
                forms = {"application/x-www-form-urlencoded"} if path == "/api/auth/introspect/" else set()
                assert set(content) == {"application/json", *forms}, where
                assert describes_json(document, content["application/json"]["schema"]), where
            successes = {code: answer for code, answer in operation["responses"].items() if code.startswith("2")}
            assert successes, where
            # 204 (and a bare 202 "accepted") carry no body; 200 and 201 do.
            for code, answer in successes.items():
                if code in ("200", "201"):
                    assert describes_json(document, answer["content"]["application/json"]["schema"]), where


def test_docs_page_is_served(client):
    """/api/docs/ is the Swagger UI page, pointing at /api/schema/ and served from our own static files."""
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "SwaggerUIBundle" in page
    assert "/api/schema/" in page
    # SWAGGER_UI_DIST = "SIDECAR": no third-party CDN on the login service's pages.
    assert "drf_spectacular_sidecar" in page


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_a_stale_access_cookie_does_not_lock_out_the_docs(client, path):
    """The docs read no credentials: an expired or garbage access_token cookie left by the app is no 401."""
    client.cookies["access_token"] = "not.a.jwt"

    response = client.get(path)

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_docs_can_be_hidden(client, settings, path):
    """API_DOCS_PUBLIC=0: the schema and its page are the JSON 404 of an unknown path (read per request)."""
    settings.API_DOCS_PUBLIC = False

    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}

    settings.API_DOCS_PUBLIC = True
    assert client.get(path).status_code == 200


def test_the_docs_are_public_by_default():
    """Today's behaviour: the service's own API reference is part of what it serves (DESIGN.md)."""
    assert django_settings.API_DOCS_PUBLIC is True


# --- cache headers ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_authenticated_get_is_never_cached(client, tokens):
    """
    An answer that carries account data (who is logged in, from where) must
    not be kept by a shared cache or the browser's back/forward store:
    ``Cache-Control: no-store`` (RFC 9111 §5.2.2.5), as token answers have.
    """
    authenticated = set()
    for path, methods in auth_routes().items():
        if "get" not in methods or "{" in path:
            continue
        if client.get(path).status_code != 401:
            continue  # public (csrf)
        authenticated.add(path)
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store", path
        assert response["Pragma"] == "no-cache", path
    assert {"/api/auth/me/", "/api/auth/sessions/"} <= authenticated


# --- Production settings, in a clean environment ---------------------------------


def run_in_project(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the project's Python with only these environment variables (and PATH): none of the suite's."""
    clean_env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "sqlite:///:memory:", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=clean_env, capture_output=True, text=True, timeout=120
    )


def production_secret_key() -> str:
    return secrets.token_urlsafe(50)  # 67 characters, as the error message advises


def test_missing_secret_key_stops_production_startup():
    """With DEBUG off, a missing SECRET_KEY stops the process instead of falling back to a known key."""
    result = run_in_project("manage.py", "check", DEBUG="0")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_missing_secret_key_is_allowed_in_debug():
    """Only DEBUG=1 may run without a SECRET_KEY (a dev-only key): the refusal above is about the key."""
    result = run_in_project("manage.py", "check", DEBUG="1")

    assert result.returncode == 0, result.stderr


def test_production_settings_pass_the_deploy_checks():
    """DEBUG off with a strong key and a host: `check --deploy` reports no warning at all."""
    result = run_in_project(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY=production_secret_key(), ALLOWED_HOSTS="example.com",
    )

    assert result.returncode == 0, result.stderr + result.stdout


@pytest.fixture(scope="module")
def production_hashers() -> list[str]:
    """PASSWORD_HASHERS as authsvc.settings sets it (the suite prepends a cheap test hasher)."""
    result = run_in_project(
        "-c", "import json; from authsvc import settings; print(json.dumps(settings.PASSWORD_HASHERS))",
        DEBUG="0", SECRET_KEY=production_secret_key(),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_hashes_passwords_with_argon2_first(production_hashers):
    """Argon2 is the first password hasher in production: new passwords are hashed with it."""
    assert production_hashers[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.django_db
def test_registered_password_is_stored_as_argon2(api, settings, django_user_model, production_hashers):
    """A password set through POST /api/auth/register/ is stored as an Argon2 hash, with the production hashers."""
    settings.PASSWORD_HASHERS = production_hashers

    response = api.post("/api/auth/register/", {"email": "new@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 201, response.content
    user = django_user_model.objects.get(email="new@example.com")
    assert response.json() == {"id": user.pk, "email": "new@example.com"}
    assert user.password.startswith("argon2$argon2id$")
    assert type(identify_hasher(user.password)).__name__ == "Argon2PasswordHasher"
    assert user.check_password(PASSWORD)


# --- CSRF endpoint -------------------------------------------------------------------


def test_csrf_endpoint_sets_the_cookie_and_returns_the_token(client):
    """GET /api/auth/csrf/ sets the csrftoken cookie and returns a token for the X-CSRFToken header."""
    response = client.get("/api/auth/csrf/")

    assert response.status_code == 200
    assert set(response.json()) == {"csrf_token"}
    assert response.json()["csrf_token"]
    cookie = response.cookies["csrftoken"]
    assert cookie.value
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_csrf_token_passes_the_double_submit_check(api, user, login):
    """The returned token, sent as X-CSRFToken with the cookie, lets a cookie-authenticated POST through."""
    login(user, transport="cookie")
    refused = api.post("/api/auth/logout/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"

    token = api.get("/api/auth/csrf/").json()["csrf_token"]
    response = api.post("/api/auth/logout/", {}, format="json", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 204


# --- 404 --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth/nope/", "/api/auth/sessions/not-a-uuid/", "/nope"])
def test_unknown_path_is_a_json_404(client, path):
    """An unknown path is a JSON 404 with code not_found, not Django's HTML page."""
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.skipif(not isinstance(caches["default"], RedisCache), reason="needs REDIS_URL")
def test_emptying_the_cache_between_tests_leaves_other_redis_keys_alone():
    """The suite may run against a Redis database that holds other data: it must not FLUSHDB it."""
    client = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])
    outsider = f"not-the-suites-{uuid.uuid4().hex}"
    with client:
        client.set(outsider, "keep", ex=60)
        caches["default"].set("ours", 1)

        clear_test_cache()

        assert client.get(outsider) == b"keep"
        assert caches["default"].get("ours") is None
        client.delete(outsider)


MAX_MODULE_LINES = 300


def test_no_module_is_over_300_lines():
    """
    Issue 12: a module past 300 lines is doing more than one job; split it by
    job (as accounts/flows/ is) before it grows further. Tests and migrations
    are exempt.
    """
    root = Path(__file__).resolve().parent.parent
    too_long = {
        str(path.relative_to(root)): lines
        for package in ("authsvc", "accounts", "tokens", "webclient", "bench")
        for path in (root / package).rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
