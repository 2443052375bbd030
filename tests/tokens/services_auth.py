"""Service credentials for the tests of introspection, the revocation feed and their guard."""

import base64

import pytest

SECRET_A = "introspection-secret-of-resource-a-7f3c9e"
SECRET_B = "introspection-secret-of-resource-b-21d8aa"
CLIENTS = f"resource-a:{SECRET_A},resource-b:{SECRET_B}"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def basic(name: str, secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


AS_A = basic("resource-a", SECRET_A)


@pytest.fixture
def services(settings):
    """Two services configured (``INTROSPECTION_CLIENTS``)."""
    settings.INTROSPECTION_CLIENTS = CLIENTS
    return CLIENTS


def introspect(client, token: str, *, as_json: bool = False, headers: dict | None = None):
    headers = AS_A if headers is None else headers
    if as_json:
        return client.post("/api/auth/introspect/", {"token": token}, format="json", **headers)
    # RFC 7662 §2.1: a form body.
    return client.post("/api/auth/introspect/", f"token={token}", content_type="application/x-www-form-urlencoded",
                       **headers)


def feed(client, since: str | None = None, headers: dict | None = None):
    headers = AS_A if headers is None else headers
    return client.get("/api/auth/revocations/", {} if since is None else {"since": since}, **headers)
