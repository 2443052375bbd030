"""
Secrets never land in the database or in the logs in clear: passwords,
2FA codes, challenge secrets, access and refresh tokens, reset tokens.
"""

import logging
import re

import pytest
from django.apps import apps
from django.core import mail

from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "yet another long passphrase 99"


def database_text() -> str:
    """Every value of every row of every model, as one string."""
    parts = []
    for model in apps.get_models():
        for row in model.objects.values():
            parts.extend(str(value) for value in row.values())
    return "\n".join(parts)


def log_text(records) -> str:
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records)


def test_no_secret_in_database_or_logs(api, settings, caplog, capture):
    settings.AUTH_2FA = "required"
    secrets: list[str] = [PASSWORD, NEW_PASSWORD]
    with caplog.at_level(logging.DEBUG):
        assert api.post("/api/auth/register/", {"email": "eve@example.com", "password": PASSWORD},
                        format="json").status_code == 201
        step_one = capture(api.post, "/api/auth/login/", {"email": "eve@example.com", "password": PASSWORD,
                                                          "transport": "body"}, format="json").json()
        code = code_from_outbox()
        # A wrong code first, then the right one.
        api.post("/api/auth/login/2fa/", {"code": "999999" if code != "999999" else "000000",
                                          "challenge": step_one["challenge"]}, format="json")
        tokens = api.post("/api/auth/login/2fa/", {"code": code, "challenge": step_one["challenge"],
                                                   "transport": "body"}, format="json").json()
        rotated = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").json()
        api.get("/api/auth/me/", **bearer(rotated["access"]))
        capture(api.post, "/api/auth/password/reset/", {"email": "eve@example.com"}, format="json")
        uid, reset_token = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[-1].body).groups()
        capture(api.post, "/api/auth/password/reset/confirm/",
                {"uid": uid, "token": reset_token, "new_password": NEW_PASSWORD}, format="json")

    secrets += [code, step_one["challenge"], reset_token, tokens["access"], tokens["refresh"],
                rotated["access"], rotated["refresh"]]
    stored, logged = database_text(), log_text(caplog.records)
    assert caplog.records, "the flow logged nothing: the log check would be vacuous"
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
    # The JWT signatures alone must not appear either.
    for token in (tokens["access"], tokens["refresh"]):
        assert token.rsplit(".", 1)[1] not in stored + logged
