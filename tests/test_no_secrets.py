"""
Secrets never land in the database or in the logs in clear: passwords,
2FA codes, challenge secrets, access and refresh tokens, reset tokens, the
TOTP secret and its codes, recovery codes.
"""

import base64
import logging
import re

import pyotp
import pytest
from django.apps import apps
from django.core import mail
from django.utils import timezone

from tests.accounts.conftest import code_from_outbox
from tests.accounts.factors import still_clock
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


def contains_code(text: str, code: str) -> bool:
    """
    ``code`` (six digits) in ``text`` as a token of its own: inside a hex
    digest or a UUID six digits turn up by chance; a code written out is
    never glued to other letters or digits.
    """
    return re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", text) is not None


def test_no_secret_in_database_or_logs(api, settings, caplog, capture):
    settings.AUTH_2FA = "required"
    secrets: list[str] = [PASSWORD, NEW_PASSWORD]
    with caplog.at_level(logging.DEBUG), still_clock() as clock:
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

        # An authenticator app: set up, confirmed, then a login with one of its
        # codes and one with a recovery code, and the recovery codes replaced.
        me = bearer(rotated["access"])
        setup = api.post("/api/auth/2fa/totp/setup/", {"password": PASSWORD}, format="json", **me).json()
        app = pyotp.TOTP(setup["secret"])
        confirming = app.at(timezone.now())
        first_codes = capture(api.post, "/api/auth/2fa/totp/confirm/", {"code": confirming}, format="json",
                              **me).json()["recovery_codes"]
        clock.shift(30)
        app_code = app.at(timezone.now())
        app_codes = [confirming, app_code]
        for proof, method in ((app_code, "totp"), (first_codes[0], "recovery"),
                              (first_codes[1].replace("-", ""), "recovery")):
            pending = capture(api.post, "/api/auth/login/", {"email": "eve@example.com", "password": PASSWORD,
                                                             "transport": "body"}, format="json").json()
            assert pending["methods"] == ["totp", "recovery"]
            done = capture(api.post, "/api/auth/login/2fa/", {"code": proof, "method": method, "transport": "body",
                                                              "challenge": pending["challenge"]}, format="json")
            assert done.status_code == 200, done.content
            secrets += [pending["challenge"], done.json()["access"], done.json()["refresh"]]
        second_codes = capture(api.post, "/api/auth/2fa/recovery-codes/", {"password": PASSWORD}, format="json",
                               **me).json()["recovery_codes"]
        assert len(first_codes) == len(second_codes) == 10
        # A wrong disable: the code it sends is the app's next one, still a secret.
        clock.shift(30)
        app_codes.append(app.at(timezone.now()))
        assert api.post("/api/auth/2fa/totp/disable/", {"password": "wrong", "code": app_codes[-1]}, format="json",
                        **me).status_code == 400
        capture(api.post, "/api/auth/password/reset/", {"email": "eve@example.com"}, format="json")
        uid, reset_token = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[-1].body).groups()
        capture(api.post, "/api/auth/password/reset/confirm/",
                {"uid": uid, "token": reset_token, "new_password": NEW_PASSWORD}, format="json")

    secrets += [code, step_one["challenge"], reset_token, tokens["access"], tokens["refresh"],
                rotated["access"], rotated["refresh"], setup["secret"], setup["otpauth_uri"]]
    for recovery_code in first_codes + second_codes:
        secrets += [recovery_code, recovery_code.replace("-", ""), recovery_code.upper(),
                    recovery_code.replace("-", "").upper()]
    stored, logged = database_text(), log_text(caplog.records)
    assert caplog.records, "the flow logged nothing: the log check would be vacuous"
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
    # The TOTP secret in any spelling: lower case, and its raw bytes as hex.
    raw = base64.b32decode(setup["secret"])
    for spelling in (setup["secret"].lower(), raw.hex()):
        assert spelling not in stored + logged
    for app_code in app_codes:
        assert not contains_code(stored, app_code), app_code
        assert not contains_code(logged, app_code), app_code
    # The JWT signatures alone must not appear either.
    for token in (tokens["access"], tokens["refresh"]):
        assert token.rsplit(".", 1)[1] not in stored + logged
