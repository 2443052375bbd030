"""
Attacks on the keys (DESIGN.md, Part 2; RFC 8725 "JWT Best Current
Practices" §2.1, §3.1, §3.10, §3.12): whatever the header says, a token is
checked with the key its ``kid`` names, by that key's algorithm alone, and
with our ``iss`` and ``aud`` — an algorithm it picks, a key it carries or a
URL it points at is never used. Each forgery is refused on /me and on
refresh with the one outward error, 401 ``token_invalid``.
"""

import base64
import hashlib
import hmac
import http.server
import json
import threading
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import bearer
from tests.tokens.signing import sign_as_authsvc
from tokens import keys
from tokens.conf import conf
from tokens.keys import keyring
from tokens.models import SigningKey

pytestmark = pytest.mark.django_db

REFUSED = {
    "access": {"detail": "Access token is invalid or expired.", "code": "token_invalid"},
    "refresh": {"detail": "Token is invalid.", "code": "token_invalid"},
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict, claims: dict, sign) -> str:
    """A JWS built by hand (PyJWT itself refuses to make some of these), ``sign`` over the signing input."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def present(api, kind: str, token: str):
    if kind == "access":
        return api.get("/api/auth/me/", **bearer(token))
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def assert_refused(api, kind: str, token: str) -> None:
    response = present(api, kind, token)
    assert (response.status_code, response.json()) == (401, REFUSED[kind])


@pytest.fixture(params=["access", "refresh"])
def kind(request):
    return request.param


@pytest.fixture
def genuine(tokens, kind):
    """The token of ``kind`` authsvc issued, its claims, and the key that signed it."""
    key = keyring.active()
    return tokens[kind], claims_of(tokens[kind]), key


@pytest.fixture
def attacker_key():
    return ec.generate_private_key(ec.SECP256R1())


def attacker_jwk(private_key, kid: str) -> dict:
    return {**keys.public_jwk(kid, "ES256", private_key.public_key())}


def public_key_encodings(key) -> dict[str, bytes]:
    pem = key.verifying_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"pem": pem, "pem-stripped": pem.strip(), "jwk": json.dumps(key.public_jwk).encode(),
            "jwk-sorted": json.dumps(key.public_jwk, sort_keys=True, separators=(",", ":")).encode()}


@pytest.mark.parametrize("encoding", ["pem", "pem-stripped", "jwk", "jwk-sorted"])
def test_alg_confusion_hs256_keyed_with_the_public_key(api, genuine, kind, encoding):
    """RFC 8725 §2.1: the public key is no HMAC secret; the real kid does not make HS256 acceptable."""
    _, claims, key = genuine
    secret = public_key_encodings(key)[encoding]
    forged = compact({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, claims,
                     lambda data: hmac.new(secret, data, hashlib.sha256).digest())
    assert_refused(api, kind, forged)
    assert present(api, kind, genuine[0]).status_code == 200  # the refusal is about the forgery


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
@pytest.mark.parametrize("with_kid", [True, False], ids=["kid", "no-kid"])
def test_alg_none(api, genuine, kind, alg, with_kid):
    _, claims, key = genuine
    header = {"alg": alg, "typ": "JWT", **({"kid": key.kid} if with_kid else {})}
    assert_refused(api, kind, compact(header, claims, lambda data: b""))


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"keys": [self.server.jwk]}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def attacker_server(attacker_key):
    """An attacker's JWKS host: it serves the attacker's key and records every request it gets."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    server.requests, server.jwk = [], attacker_jwk(attacker_key, "attacker")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "jwk+jku", "x5c"])
@pytest.mark.parametrize("named", ["real kid", "attacker kid"])
def test_a_key_carried_or_pointed_at_by_the_header_is_never_used(api, genuine, kind, attacker_key, attacker_server,
                                                                 header, named):
    """RFC 8725 §3.10: jwk/jku/x5u/x5c name the attacker's key; nothing is fetched, nothing is trusted."""
    _, claims, key = genuine
    kid = key.kid if named == "real kid" else "attacker"
    url = f"http://127.0.0.1:{attacker_server.server_port}/jwks.json"
    extra = {"jwk": {"jwk": attacker_jwk(attacker_key, kid)}, "jku": {"jku": url}, "x5u": {"x5u": url},
             "jwk+jku": {"jwk": attacker_jwk(attacker_key, kid), "jku": url},
             "x5c": {"x5c": [base64.b64encode(b"not a certificate").decode()]}}[header]
    forged = jwt.encode(claims, attacker_key, algorithm="ES256", headers={"kid": kid, **extra})

    assert_refused(api, kind, forged)
    assert attacker_server.requests == []


def test_a_foreign_key_header_is_refused_even_on_a_token_authsvc_signed(api, genuine, kind):
    """A token that names a key elsewhere is no token of ours, even with our own signature under it."""
    _, claims, _ = genuine
    assert_refused(api, kind, sign_as_authsvc(claims, jku="https://authsvc.example/.well-known/jwks.json"))


def test_unknown_kid(api, genuine, kind, attacker_key):
    _, claims, _ = genuine
    assert_refused(api, kind, jwt.encode(claims, attacker_key, algorithm="ES256", headers={"kid": "no-such-key"}))


@pytest.mark.parametrize("kid", [123, ["a"], {"k": 1}, "", "k" * 65], ids=["int", "list", "object", "empty", "long"])
def test_a_kid_that_is_not_a_short_string(api, genuine, kind, kid):
    _, claims, key = genuine
    es256 = jwt.get_algorithm_by_name("ES256")
    header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
    assert_refused(api, kind, compact(header, claims, lambda data: es256.sign(data, key.signing_key)))


@pytest.mark.parametrize("change", [
    {"aud": "another-service"}, {"aud": ["another-service"]}, {"iss": "https://evil.example"},
    {"aud": None}, {"iss": None}, {"aud": None, "iss": None},
], ids=["wrong aud", "wrong aud list", "wrong iss", "missing aud", "missing iss", "missing both"])
def test_audience_and_issuer_are_checked(api, genuine, kind, change):
    """Signed by the active key, yet meant for someone else (or for no one in particular): refused."""
    _, claims, _ = genuine
    forged = {k: v for k, v in {**claims, **change}.items() if v is not None}
    assert_refused(api, kind, sign_as_authsvc(forged))


def test_our_audience_among_others_is_accepted(api, genuine, kind):
    """RFC 7519 §4.1.3: aud may be a list; ours in it is enough (the control for the refusals above)."""
    _, claims, _ = genuine
    token = sign_as_authsvc({**claims, "aud": ["another-service", conf.jwt_audience]})
    assert present(api, kind, token).status_code == 200


def test_a_token_signed_by_a_retired_key(api, user, login, kind):
    issued = login(user).json()[kind]
    retired = keyring.active()
    keys.rotate(at_once=True)
    since = SigningKey.objects.get(kid=retired.kid).retiring_since
    keys.advance(now=since + conf.refresh_ttl + timedelta(seconds=conf.leeway + conf.keyring_max_age))
    assert SigningKey.objects.get(kid=retired.kid).state == SigningKey.State.RETIRED

    assert_refused(api, kind, issued)
    # Re-signed by the retired key's private part with today's claims: still refused.
    assert_refused(api, kind, jwt.encode(claims_of(issued), retired.signing_key, algorithm="ES256",
                                         headers={"kid": retired.kid}))


def test_a_kid_naming_a_key_of_another_algorithm(api, user, login, kind, settings):
    """Each key verifies with its own algorithm: an EdDSA signature under the ES256 key's kid is refused."""
    es256 = keyring.active()
    issued = login(user).json()[kind]
    settings.JWT_ALGORITHM = "EdDSA"
    eddsa = keyring.active()
    assert (es256.algorithm, eddsa.algorithm) == ("ES256", "EdDSA")
    claims = claims_of(issued)

    assert_refused(api, kind, jwt.encode(claims, eddsa.signing_key, algorithm="EdDSA", headers={"kid": es256.kid}))
    assert_refused(api, kind, jwt.encode(claims, es256.signing_key, algorithm="ES256", headers={"kid": eddsa.kid}))
    assert present(api, kind, issued).status_code == 200  # the ES256 key, retiring, still verifies its own
