"""
Passkeys and security keys (DESIGN.md, Part 2, "Second factors", the
``webauthn`` rows; issue 19): registered with the password through a
WebAuthn ceremony whose challenge works once, for its user, until
``WEBAUTHN_TIMEOUT``; checked for the exact RP id and origins; listed,
named and removed; the public key and the counter stored, never anything
secret. Once a user has one, logins ask for it and mail no code; removing
the last app factor brings the emailed code back.

The browser's side is ``tests/accounts/authenticator.py``: a software
authenticator written from the spec, not from py_webauthn, so the server is
checked against a second reading of the standard. The login side
(second factor, passwordless, deletion) is ``test_passkey_login.py``.
"""

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from unittest.mock import ANY

import cbor2
import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import methods
from accounts.models import User, WebAuthnCeremony, WebAuthnCredential
from tests.accounts.authenticator import SoftAuthenticator, b64url, unb64url
from tests.accounts.conftest import code_from_outbox
from tests.accounts.factors import (
    INVALID_PASSWORD,
    RECOVERY_CODE,
    STATUS,
    answer,
    enrol_totp,
    pending_body,
    signed_in,
)
from tests.conftest import PASSWORD
from tokens.models import AuthEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_factor")]

BEGIN = "/api/auth/2fa/webauthn/register/begin/"
FINISH = "/api/auth/2fa/webauthn/register/finish/"
STEP_UP = "/api/auth/2fa/webauthn/step-up/begin/"
PASSKEY_REFUSED = {"detail": "The passkey's answer could not be verified; start again.", "code": "passkey_refused"}
NOT_FOUND = {"detail": "No such passkey.", "code": "not_found"}
RATE_LIMITED = {"detail": "Too many requests. Try again later.", "code": "rate_limited"}
UNAVAILABLE = {"detail": "Two-factor authentication is switched off on this service.",
               "code": "two_factor_unavailable"}
FACTOR_CHANGED = "A sign-in method of your account changed"


def rename_path(passkey_id) -> str:
    return f"/api/auth/2fa/webauthn/{passkey_id}/rename/"


def remove_path(passkey_id) -> str:
    return f"/api/auth/2fa/webauthn/{passkey_id}/remove/"


def creation_options(client: APIClient) -> dict:
    """``2fa/webauthn/register/begin`` with the password: the options to hand to ``navigator.credentials.create()``."""
    response = client.post(BEGIN, {"password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def finish(client: APIClient, credential: dict, name: str | None = None):
    body = {"credential": credential} if name is None else {"credential": credential, "name": name}
    return client.post(FINISH, body, format="json")


@dataclass
class Registered:
    """A user's passkey made through the API: the authenticator holding its private key, and what finish answered."""

    user: User
    client: APIClient
    authenticator: SoftAuthenticator
    id: str
    recovery_codes: list[str]

    @property
    def row(self) -> WebAuthnCredential:
        return WebAuthnCredential.objects.get(pk=self.id)


def register_passkey(user: User, client: APIClient | None = None, authenticator: SoftAuthenticator | None = None,
                     name: str | None = None) -> Registered:
    """Both steps of a registration through the API, as a browser does them."""
    client = client or signed_in(user)
    authenticator = authenticator or SoftAuthenticator()
    response = finish(client, authenticator.create(creation_options(client)), name)
    assert response.status_code == 201, response.content
    body = response.json()
    return Registered(user=user, client=client, authenticator=authenticator, id=body["id"],
                      recovery_codes=body["recovery_codes"])


# --- begin: the password, the switch, the options ----------------------------------------------------------------


def test_begin_needs_the_password(user):
    """A signed-in session alone (a borrowed laptop, a stolen token) cannot add a passkey of the attacker's."""
    refused = signed_in(user).post(BEGIN, {"password": "not the password"}, format="json")

    assert (refused.status_code, refused.json()) == (400, INVALID_PASSWORD)
    assert not WebAuthnCeremony.objects.exists()


@pytest.mark.usefixtures("one_window")
def test_begin_spends_the_password_check_budget(user, settings):
    """Each old-password check behind a token spends ``password_check_user``: no password guessing through begin."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_check_user": "2/h"}
    client = signed_in(user)
    for _ in range(2):
        assert client.post(BEGIN, {"password": "not the password"}, format="json").status_code == 400

    limited = client.post(BEGIN, {"password": PASSWORD}, format="json")

    assert (limited.status_code, limited.json()) == (429, RATE_LIMITED)
    assert int(limited["Retry-After"]) >= 1
    assert not WebAuthnCeremony.objects.exists()


def test_no_passkey_is_registered_when_two_factor_is_off(user, settings):
    """With AUTH_2FA=off no login asks for a second factor: registering one would only mislead."""
    client = signed_in(user)
    authenticator = SoftAuthenticator()
    credential = authenticator.create(creation_options(client))  # begun while 2FA was on
    settings.AUTH_2FA = "off"

    for refused in (client.post(BEGIN, {"password": PASSWORD}, format="json"), finish(client, credential)):
        assert (refused.status_code, refused.json()) == (403, UNAVAILABLE)
    assert not WebAuthnCredential.objects.exists()


def test_creation_options_are_the_standard_json_form(user, settings):
    """
    DESIGN.md: ``{"publicKey": {...}}`` in the standard JSON form
    (``PublicKeyCredential.parseCreationOptionsFromJSON``): our RP id, a
    discoverable credential and user verification both ``preferred``, no
    attestation asked for, ES256 among the algorithms, the timeout in ms.
    """
    settings.WEBAUTHN_TIMEOUT = 120

    response = signed_in(user).post(BEGIN, {"password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"publicKey"}
    options = body["publicKey"]
    assert options["rp"] == {"id": "localhost", "name": ANY}
    assert options["user"] == {"id": ANY, "name": "alice@example.com", "displayName": "alice@example.com"}
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["timeout"] == 120_000
    assert options["excludeCredentials"] == []
    # 256 bits from the CSPRNG, base64url (WebAuthn §13.4.3: at least 16 bytes), and what the ceremony row holds.
    assert len(unb64url(options["challenge"])) == 32
    ceremony = WebAuthnCeremony.objects.get()
    assert (ceremony.challenge, ceremony.purpose, ceremony.user_id) == (options["challenge"], "register", user.pk)


def test_the_user_handle_is_random_and_the_same_for_every_passkey_of_the_user(user, make_user):
    """
    WebAuthn §14.6.1: the user handle is stored on the authenticator and may
    be shown to anyone holding it: never the account's id or address. One
    handle per account, so a discoverable credential names its account.
    """
    first = register_passkey(user)
    handle = unb64url(first.authenticator.user_handle)
    second = creation_options(first.client)["publicKey"]
    bob = creation_options(signed_in(make_user(email="bob@example.com")))["publicKey"]

    assert len(handle) == 32
    assert handle not in {str(user.pk).encode(), user.pk.to_bytes(8, "big"), user.email.encode(), b""}
    assert user.email.encode() not in handle and str(user.pk).encode() != handle
    assert unb64url(second["user"]["id"]) == handle
    assert unb64url(bob["user"]["id"]) != handle
    assert first.row.user_handle == first.authenticator.user_handle


def test_begin_excludes_the_users_own_passkeys(user, make_user):
    """WebAuthn §5.4 excludeCredentials: an authenticator that holds one of the user's keys is not registered twice."""
    mine = register_passkey(user)
    register_passkey(make_user(email="bob@example.com"))

    options = creation_options(mine.client)["publicKey"]

    assert options["excludeCredentials"] == [{"id": mine.authenticator.id, "type": "public-key",
                                              "transports": ["internal"]}]


# --- finish ---------------------------------------------------------------------------------------------------


def test_finish_registers_the_passkey_with_ten_recovery_codes(user, capture):
    """
    The first app factor: 201 ``{id, name, recovery_codes}`` (ten, shown
    once, as for TOTP), then ``GET 2fa`` lists it and logins offer it first
    and no longer the emailed code; audited, one notice mailed.
    """
    client = signed_in(user)
    authenticator = SoftAuthenticator()
    credential = authenticator.create(creation_options(client))

    response = capture(finish, client, credential, "  My phone  ")

    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body == {"id": ANY, "name": "My phone", "recovery_codes": ANY}
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10 and all(RECOVERY_CODE.match(code) for code in codes)
    key = WebAuthnCredential.objects.get()
    assert (str(key.pk), key.user_id, key.credential_id, key.sign_count) == (body["id"], user.pk, authenticator.id, 0)
    assert client.get(STATUS).json() == {
        "methods": ["webauthn", "recovery"], "recovery_codes_left": 10,
        "webauthn": [{"id": body["id"], "name": "My phone", "created_at": ANY, "last_used_at": None}],
    }
    (added,) = AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_ADDED)
    assert (added.user_id, added.reason, added.actor) == (user.pk, "webauthn", "user")
    assert [m.subject for m in mail.outbox] == [FACTOR_CHANGED]
    assert "A passkey was added to your account" in mail.outbox[0].body


def test_a_second_passkey_gets_no_new_recovery_codes_and_a_default_name(user):
    """Recovery codes as for TOTP: new ones only if the user had none left, so the first ones stay valid."""
    first = register_passkey(user)

    second = finish(first.client, SoftAuthenticator().create(creation_options(first.client)))

    assert second.status_code == 201
    assert second.json() == {"id": ANY, "name": "Passkey 2", "recovery_codes": []}
    assert first.row.name == "Passkey 1"
    listed = first.client.get(STATUS).json()
    assert [key["name"] for key in listed["webauthn"]] == ["Passkey 1", "Passkey 2"]
    assert listed["recovery_codes_left"] == 10
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_ADDED, reason="webauthn").count() == 2


def test_a_security_key_without_user_verification_registers_as_a_second_factor(user):
    """User verification is ``preferred`` at registration: a key with only a touch is a second factor."""
    registered = register_passkey(user, authenticator=SoftAuthenticator(user_verification=False))
    assert registered.row.credential_id == registered.authenticator.id


def test_the_row_holds_the_public_key_and_the_counter_and_nothing_secret(user):
    """
    Issue 19: no private key material exists server-side, by construction.
    The stored key is the authenticator's COSE public key (RFC 9053), and no
    column of the passkey's row or of its ceremony holds the private scalar
    in any encoding.
    """
    registered = register_passkey(user)
    authenticator = registered.authenticator

    assert cbor2.loads(bytes(registered.row.public_key)) == cbor2.loads(authenticator.cose_public_key())
    scalar = authenticator.key.private_numbers().private_value.to_bytes(32, "big")
    forms = [scalar, scalar.hex().encode(), scalar.hex().upper().encode(), base64.b64encode(scalar),
             b64url(scalar).encode(), str(authenticator.key.private_numbers().private_value).encode()]
    for table in (WebAuthnCredential._meta.db_table, WebAuthnCeremony._meta.db_table):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (a model's own table name)
            rows = cursor.fetchall()
        assert rows
        for value in (value for row in rows for value in row):
            stored = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
            assert not any(form in stored for form in forms), (table, value)


def test_the_challenge_works_once(user):
    """Replaying a registration's answer (a proxy that saw it) finds its ceremony spent: 400, nothing more stored."""
    client = signed_in(user)
    credential = SoftAuthenticator().create(creation_options(client))
    assert finish(client, credential).status_code == 201

    replay = finish(client, credential, "again")

    assert (replay.status_code, replay.json()) == (400, PASSKEY_REFUSED)
    assert WebAuthnCredential.objects.count() == 1
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_ADDED).count() == 1


def test_the_challenge_works_once_even_once_its_key_is_gone(user):
    """
    The ceremony's single use on its own: with the first key removed, its
    id is free again, yet the old answer (seen by a proxy, say) registers
    nothing — it would put back a key the user took away.
    """
    client = signed_in(user)
    credential = SoftAuthenticator().create(creation_options(client))
    registered = finish(client, credential).json()
    assert client.post(remove_path(registered["id"]), {"password": PASSWORD}, format="json").status_code == 204

    replay = finish(client, credential)

    assert (replay.status_code, replay.json()) == (400, PASSKEY_REFUSED)
    assert not WebAuthnCredential.objects.exists()


def test_the_ceremony_is_bound_to_its_user(user, make_user):
    """Another account's session cannot finish alice's ceremony (and so cannot plant its key on either account)."""
    alice = signed_in(user)
    credential = SoftAuthenticator().create(creation_options(alice))
    bob_user = make_user(email="bob@example.com")
    bob = signed_in(bob_user)
    creation_options(bob)  # bob has an open ceremony of his own: it is not his

    refused = finish(bob, credential)

    assert (refused.status_code, refused.json()) == (400, PASSKEY_REFUSED)
    assert not WebAuthnCredential.objects.exists()
    # Not spent by bob's try: alice's own answer still registers it, as hers.
    assert finish(alice, credential).status_code == 201
    assert WebAuthnCredential.objects.get().user_id == user.pk


@pytest.mark.parametrize("seconds, accepted", [(59, True), (61, False)])
def test_the_ceremony_expires_after_webauthn_timeout(user, settings, seconds, accepted):
    settings.WEBAUTHN_TIMEOUT = 60
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client = signed_in(user)
        credential = SoftAuthenticator().create(creation_options(client))
        clock.shift(timedelta(seconds=seconds))

        response = finish(client, credential)

    if accepted:
        assert response.status_code == 201, response.content
    else:
        assert (response.status_code, response.json()) == (400, PASSKEY_REFUSED)
        assert not WebAuthnCredential.objects.exists()


@pytest.mark.parametrize("origin, rp_id", [
    ("https://evil.example", None),
    ("http://localhost", None),         # the scheme is part of the origin
    ("https://localhost:8443", None),   # and so is the port
    ("https://sub.localhost", None),
    (None, "evil.example"),
    (None, "sub.localhost"),
], ids=["other-site", "http", "other-port", "subdomain", "other-rp-id", "sub-rp-id"])
def test_a_credential_made_for_another_origin_or_rp_id_is_refused(user, origin, rp_id):
    """WebAuthn §7.1 steps 9 and 13: the exact WEBAUTHN_ORIGINS, the SHA-256 of WEBAUTHN_RP_ID in authenticatorData."""
    client = signed_in(user)
    credential = SoftAuthenticator().create(creation_options(client), origin=origin, rp_id=rp_id)

    refused = finish(client, credential)

    assert (refused.status_code, refused.json()) == (400, PASSKEY_REFUSED)
    assert not WebAuthnCredential.objects.exists()
    assert client.get(STATUS).json()["methods"] == ["email"]


def test_a_refused_answer_spends_its_ceremony(user):
    """As every ceremony is: a refusal is no free retry on the same challenge (a new begin is)."""
    client = signed_in(user)
    options = creation_options(client)
    authenticator = SoftAuthenticator()

    refused = finish(client, authenticator.create(options, origin="https://evil.example"))
    again = finish(client, authenticator.create(options))

    assert (refused.status_code, again.status_code) == (400, 400)
    assert finish(client, authenticator.create(creation_options(client))).status_code == 201


def test_another_configured_origin_is_accepted(user, settings):
    """WEBAUTHN_ORIGINS is a list: each of its exact origins passes."""
    settings.WEBAUTHN_ORIGINS = ["https://localhost", "https://app.localhost:8443"]
    client = signed_in(user)

    response = finish(client, SoftAuthenticator().create(creation_options(client), origin="https://app.localhost:8443"))

    assert response.status_code == 201, response.content


def with_challenge(options: dict, challenge: str) -> dict:
    return {"publicKey": {**options["publicKey"], "challenge": challenge}}


@pytest.mark.parametrize("which", ["superseded", "never-issued", "step-up"])
def test_a_credential_for_another_challenge_is_refused(user, which):
    """
    The answer must sign the open registration ceremony's challenge: not an
    older one (a new begin ends it), not one we never issued, not another
    ceremony's (a step-up's).
    """
    client = signed_in(user)
    options = creation_options(client)
    if which == "superseded":
        signed = options
        creation_options(client)
    elif which == "never-issued":
        signed = with_challenge(options, b64url(uuid.uuid4().bytes * 2))
    else:
        register_passkey(user, client)
        step_up = client.post(STEP_UP, {}, format="json")
        assert step_up.status_code == 200, step_up.content
        signed = with_challenge(creation_options(client), step_up.json()["publicKey"]["challenge"])
    before = WebAuthnCredential.objects.count()

    refused = finish(client, SoftAuthenticator().create(signed))

    assert (refused.status_code, refused.json()) == (400, PASSKEY_REFUSED)
    assert WebAuthnCredential.objects.count() == before


@pytest.mark.parametrize("credential", ["not json", {}, {"response": {}}, [1, 2]],
                         ids=["text", "empty", "no-client-data", "list"])
def test_a_malformed_credential_is_refused(user, credential):
    client = signed_in(user)
    creation_options(client)

    refused = finish(client, credential)

    assert refused.status_code == 400
    assert not WebAuthnCredential.objects.exists()


def test_the_same_credential_is_not_registered_twice(user, make_user):
    """
    An authenticator that ignored excludeCredentials, or someone replaying
    alice's key id at bob's account: a credential id names one key of one
    account, so a passwordless sign-in with it names one account.
    """
    mine = register_passkey(user)

    again = finish(mine.client, mine.authenticator.create(creation_options(mine.client)))
    bob = signed_in(make_user(email="bob@example.com"))
    copied = SoftAuthenticator(credential_id=mine.authenticator.credential_id)
    elsewhere = finish(bob, copied.create(creation_options(bob)))

    for refused in (again, elsewhere):
        assert (refused.status_code, refused.json()) == (400, PASSKEY_REFUSED)
    key = WebAuthnCredential.objects.get()
    assert (key.user_id, bytes(key.public_key)) == (user.pk, bytes(mine.row.public_key))
    assert cbor2.loads(bytes(key.public_key)) == cbor2.loads(mine.authenticator.cose_public_key())


# --- list, rename, remove ------------------------------------------------------------------------------------------


def test_rename(user):
    registered = register_passkey(user)

    response = registered.client.post(rename_path(registered.id), {"name": " Work key "}, format="json")

    assert response.status_code == 204, response.content
    assert [key["name"] for key in registered.client.get(STATUS).json()["webauthn"]] == ["Work key"]


@pytest.mark.parametrize("whose", ["another-users", "unknown"])
def test_rename_of_a_passkey_not_ones_own_is_404(user, make_user, whose):
    """DESIGN.md: an unknown or foreign passkey id is 404, the same answer (no telling other users' ids apart)."""
    alices = register_passkey(user)
    bob = signed_in(make_user(email="bob@example.com"))
    passkey_id = alices.id if whose == "another-users" else uuid.uuid4()

    refused = bob.post(rename_path(passkey_id), {"name": "mine now"}, format="json")

    assert (refused.status_code, refused.json()) == (404, NOT_FOUND)
    assert alices.row.name == "Passkey 1"


def test_remove_needs_the_password(user):
    registered = register_passkey(user)

    refused = registered.client.post(remove_path(registered.id), {"password": "not the password"}, format="json")

    assert (refused.status_code, refused.json()) == (400, INVALID_PASSWORD)
    assert WebAuthnCredential.objects.filter(pk=registered.id).exists()


@pytest.mark.usefixtures("one_window")
def test_remove_spends_the_password_check_budget(user, settings):
    registered = register_passkey(user)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_check_user": "1/h"}
    assert registered.client.post(remove_path(registered.id), {"password": "wrong"}, format="json").status_code == 400

    limited = registered.client.post(remove_path(registered.id), {"password": PASSWORD}, format="json")

    assert (limited.status_code, limited.json()) == (429, RATE_LIMITED)
    assert WebAuthnCredential.objects.filter(pk=registered.id).exists()


@pytest.mark.parametrize("whose", ["another-users", "unknown"])
def test_remove_of_a_passkey_not_ones_own_is_404(user, make_user, whose):
    alices = register_passkey(user)
    bob = signed_in(make_user(email="bob@example.com"))
    passkey_id = alices.id if whose == "another-users" else uuid.uuid4()

    refused = bob.post(remove_path(passkey_id), {"password": PASSWORD}, format="json")

    assert (refused.status_code, refused.json()) == (404, NOT_FOUND)
    assert WebAuthnCredential.objects.filter(pk=alices.id).exists()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_REMOVED).exists()


@pytest.mark.parametrize("mode", ["required", "optional"])
def test_removing_the_last_app_factor_brings_the_emailed_code_back(user, api, password_step, settings, capture,
                                                                  mode):
    """DESIGN.md: removing the last app factor brings the emailed code back — in optional mode too."""
    settings.AUTH_2FA = mode
    registered = register_passkey(user)

    removed = capture(registered.client.post, remove_path(registered.id), {"password": PASSWORD}, format="json")

    assert removed.status_code == 204, removed.content
    assert not WebAuthnCredential.objects.exists()
    assert registered.client.get(STATUS).json() == {"methods": ["email", "recovery"], "recovery_codes_left": 10,
                                                    "webauthn": []}
    (event,) = AuthEvent.objects.filter(kind=AuthEvent.Kind.FACTOR_REMOVED)
    assert (event.user_id, event.reason, event.actor) == (user.pk, "webauthn", "user")
    assert [m.subject for m in mail.outbox] == [FACTOR_CHANGED]
    assert "A passkey was removed from your account" in mail.outbox[0].body
    mail.outbox.clear()

    pending = password_step(user)

    assert pending == pending_body(["email", "recovery"])
    assert answer(api, pending["challenge"], code_from_outbox()).status_code == 200


def test_removing_one_of_two_passkeys_keeps_the_passkey_asked_for(user, password_step):
    first = register_passkey(user)
    second = register_passkey(user, first.client)

    removed = first.client.post(remove_path(first.id), {"password": PASSWORD}, format="json")

    assert removed.status_code == 204
    status = first.client.get(STATUS).json()
    assert status["methods"] == ["webauthn", "recovery"]
    assert [key["id"] for key in status["webauthn"]] == [second.id]
    assert password_step(user) == pending_body(["webauthn", "recovery"])
    assert mail.outbox == []


def test_removing_the_passkey_of_a_user_with_an_app_keeps_the_app(clock, user, password_step):
    """The authenticator app is still an app factor: no emailed code comes back."""
    enrolled = enrol_totp(user)
    registered = register_passkey(user, enrolled.client)
    assert enrolled.client.get(STATUS).json()["methods"] == ["webauthn", "totp", "recovery"]

    assert registered.client.post(remove_path(registered.id), {"password": PASSWORD}, format="json").status_code == 204

    assert enrolled.client.get(STATUS).json()["methods"] == ["totp", "recovery"]
    assert password_step(user) == pending_body(["totp", "recovery"])
    assert mail.outbox == []


# --- the factor model ------------------------------------------------------------------------------------------


def test_a_passkey_is_an_app_factor_first_in_the_order(user):
    """DESIGN.md's order: webauthn, totp, email (only without an app factor), recovery."""
    assert methods.methods_for(user) == ["email"]
    assert not methods.has_app_factor(user)

    register_passkey(user)

    assert methods.has_app_factor(user)
    assert methods.methods_for(user) == ["webauthn", "recovery"]


@pytest.mark.parametrize("available, answer_, expected", [
    (["webauthn", "totp", "recovery"], "123456", "totp"),
    (["webauthn", "totp", "recovery"], {"id": "a credential"}, "webauthn"),
    (["webauthn", "recovery"], "abcde-fghij", "recovery"),
    (["webauthn", "recovery"], {"id": "a credential"}, "webauthn"),
    (["totp", "recovery"], "123456", "totp"),
])
def test_an_answer_without_a_method_goes_to_the_first_method_that_takes_it(available, answer_, expected):
    """A typed code is never a passkey's answer: a client that sends an app's code without ``method`` keeps working."""
    assert methods.default_for(available, answer_) == expected


def test_the_listing_never_shows_a_key_or_a_counter(user):
    register_passkey(user)

    (listed,) = signed_in(user).get(STATUS).json()["webauthn"]

    assert set(listed) == {"id", "name", "created_at", "last_used_at"}
    assert json.dumps(listed).find(WebAuthnCredential.objects.get().credential_id) == -1
