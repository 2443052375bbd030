"""
Service credentials are guarded like user ones (issue 17, point 6;
DESIGN.md, "Observability"; ``tokens.clients``): wrong ones are rate
limited per client network — 10 a minute, then 429 with ``Retry-After``
for every request from there, the right credentials too, until the window
passes — and audited; secrets are compared in constant time over every
configured client; nothing of them reaches a log or the audit trail.
"""

import base64
import hmac
import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.tokens.services_auth import AS_A, SECRET_A, SECRET_B, basic, services  # noqa: F401
from tokens import clients
from tokens.models import AuthEvent

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "metrics-token-of-the-service-credential-tests-5b1e"
LIMIT = 10


@pytest.fixture
def guarded(settings, services):
    settings.METRICS_TOKEN = METRICS_TOKEN
    with time_machine.travel(timezone.now(), tick=False) as clock:  # one rate-limit window
        yield clock


DOORS = {
    "introspection": ("post", "/api/auth/introspect/", AS_A, basic("resource-a", "a wrong guess")),
    "revocations": ("get", "/api/auth/revocations/", AS_A, basic("resource-a", "a wrong guess")),
    "metrics": ("get", "/metrics", {"HTTP_AUTHORIZATION": f"Bearer {METRICS_TOKEN}"},
                {"HTTP_AUTHORIZATION": "Bearer a wrong guess"}),
}
REFUSED = {"introspection": 401, "revocations": 401, "metrics": 404}


def knock(client, door: str, *, right: bool, ip: str = "203.0.113.7"):
    method, path, good, bad = DOORS[door]
    data = {"token": "not a token"} if method == "post" else {}
    return getattr(client, method)(path, data, format="json" if method == "post" else None,
                                   REMOTE_ADDR=ip, **(good if right else bad))


@pytest.mark.parametrize("door", DOORS)
def test_wrong_credentials_are_limited_per_network_then_the_right_ones_too(api, guarded, door):
    for _ in range(LIMIT):
        assert knock(api, door, right=False).status_code == REFUSED[door]

    refused, right = knock(api, door, right=False), knock(api, door, right=True)
    elsewhere = knock(api, door, right=True, ip="198.51.100.9")

    for response in (refused, right):
        assert response.status_code == 429
        assert response.json() == {"detail": "Too many requests. Try again later.", "code": "rate_limited"}
        assert 0 < int(response["Retry-After"]) <= 60
    assert elsewhere.status_code == 200
    guarded.shift(timedelta(seconds=61))
    assert knock(api, door, right=True).status_code == 200


def test_the_doors_share_one_budget(api, guarded):
    for door in ("introspection", "revocations", "metrics", "introspection", "revocations") * 2:
        knock(api, door, right=False)

    assert knock(api, "metrics", right=True).status_code == 429


@pytest.mark.parametrize("door", DOORS)
def test_right_credentials_spend_nothing(api, guarded, door):
    for _ in range(3 * LIMIT):
        assert knock(api, door, right=True).status_code == 200

    assert knock(api, door, right=False).status_code == REFUSED[door]


@pytest.mark.parametrize("door", DOORS)
def test_no_credentials_at_all_are_no_guess(api, guarded, door):
    """A request without an Authorization header guesses nothing, and is neither counted nor audited."""
    method, path, _, _ = DOORS[door]
    for _ in range(2 * LIMIT):
        getattr(api, method)(path)

    assert knock(api, door, right=True).status_code == 200
    assert not AuthEvent.objects.exists()


@pytest.mark.parametrize("door, headers, actor", [
    ("introspection", basic("resource-b", SECRET_A), "resource-b"),
    ("revocations", basic("someone", SECRET_B), ""),
    ("metrics", {"HTTP_AUTHORIZATION": "Bearer a wrong guess"}, ""),
])
def test_each_refused_credential_is_audited_without_the_secret(api, guarded, door, headers, actor):
    """The door, the network and a configured name claimed; never what was sent as a secret, nor an unknown name."""
    method, path, _, _ = DOORS[door]
    getattr(api, method)(path, REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="guesser/1.0", **headers)

    event = AuthEvent.objects.get()
    assert (event.kind, event.reason, event.ip, event.user_agent, event.actor, event.user_id) == (
        "service_credentials_refused", door, "203.0.113.7", "guesser/1.0", actor, None)


def test_the_secrets_are_compared_in_constant_time_over_every_client(api, guarded, settings, monkeypatch):
    """
    ``hmac.compare_digest`` over SHA-256 digests, name and secret of every
    configured client, however early the right one or a known name comes:
    the time taken says nothing about which names exist or how much of a
    guess was right.
    """
    settings.INTROSPECTION_CLIENTS += ",resource-c:third-secret-4410"
    compared, compare_digest = [], hmac.compare_digest

    def counting(a, b):
        compared.append((len(a), len(b)))
        return compare_digest(a, b)

    monkeypatch.setattr(clients.hmac, "compare_digest", counting)
    for headers in (AS_A, basic("resource-a", "wrong"), basic("nobody", "x"), basic("resource-c", "y" * 500)):
        compared.clear()
        api.get("/api/auth/revocations/", **headers)
        assert compared == [(32, 32)] * 6


def test_no_service_secret_reaches_the_logs_or_the_database(api, guarded, caplog):
    sent = [SECRET_A, "a-wrong-secret-guess-9d2f", METRICS_TOKEN, "a-wrong-metrics-token-77c1"]
    with caplog.at_level(logging.DEBUG):
        api.get("/api/auth/revocations/", **AS_A)
        api.get("/api/auth/revocations/", **basic("resource-a", sent[1]))
        api.post("/api/auth/introspect/", {"token": "x"}, format="json", **basic(sent[1], sent[0]))
        api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {sent[3]}")
        for _ in range(LIMIT):
            api.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {sent[3]}")

    logs = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    trail = "\n".join(str(row) for row in AuthEvent.objects.values())
    assert AuthEvent.objects.count() >= 3 and caplog.records
    for secret in sent:
        for form in (secret, base64.b64encode(secret.encode()).decode()[:16]):
            assert form not in logs
            assert form not in trail
