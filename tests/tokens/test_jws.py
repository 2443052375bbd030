"""
tokens/jws.py stands in for two pieces of PyJWT on the hot paths, and must
give exactly their answers:

- it decodes a token's base64url segments with one regular expression
  instead of PyJWT 2.15's per-character loop: the same rule, or a token
  PyJWT refuses (junk characters, bad padding, stray bits: one token, one
  spelling) would get through. Both are run on the same inputs here;
- it signs with the header serialized once per key: the same bytes as
  ``PyJWS.encode``, or a refresh inside the grace window, signed again on
  another host, would hand back a different successor.
"""

import random

import jwt
import pytest

from tests.conftest import bearer
from tokens import keys
from tokens.jws import _JWS, encode, jws

pyjwt_rule = jwt.api_jws.PyJWS._decode_base64url_segment
our_rule = _JWS._decode_base64url_segment

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
JUNK = b"=+/!. \n\x00\xff"


def outcome(rule, segment: bytes):
    try:
        return "decoded", rule(segment, "payload")
    except jwt.DecodeError as exc:
        return "refused", str(exc)


def segments(count: int):
    rng = random.Random(20261207)
    for _ in range(count):
        body = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(0, 13)))
        roll = rng.random()
        if roll < 0.3:
            body += b"=" * rng.randint(1, 4)
        elif roll < 0.5:
            at = rng.randint(0, len(body))
            body = body[:at] + bytes([rng.choice(JUNK)]) + body[at:]
        yield body


@pytest.mark.parametrize("segment", [
    b"", b"e30", b"e30=", b"e30==", b"e30===", b"eyJhIjoxfQ", b"eyJhIjoxfQ==", b"eyJhIjoxfR",  # stray bits
    b"a", b"ab=", b"abc==", b"ab==", b"ab+/", b"ab!c", b"ab c", b"a=bc", "é".encode(),
])
def test_known_segments_get_pyjwts_answer(segment):
    assert outcome(our_rule, segment) == outcome(pyjwt_rule, segment)


def test_many_segments_get_pyjwts_answer():
    refused = 0
    for segment in segments(20_000):
        ours = outcome(our_rule, segment)
        assert ours == outcome(pyjwt_rule, segment), segment
        refused += ours[0] == "refused"
    # Both kinds of answer were compared, many times each.
    assert 2_000 < refused < 18_000


@pytest.mark.django_db
def test_a_token_with_a_non_canonical_signature_is_refused(api, tokens):
    head, payload, signature = tokens["access"].split(".")
    # The last character of an ES256 signature (64 bytes, 86 characters) carries 2 unused bits.
    last = ALPHABET.index(signature[-1].encode())
    twin = signature[:-1] + chr(ALPHABET[last ^ 1])
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
    assert api.get("/api/auth/me/", **bearer(f"{head}.{payload}.{twin}")).status_code == 401


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "RS256", "HS256"])
def test_signing_gives_pyjwts_bytes(algorithm):
    # All four sign deterministically here (ES256 with RFC 6979 nonces), so the bytes can be compared.
    if algorithm == "HS256":
        signing_key = "a shared secret of more than thirty-two bytes, for HMAC"
    else:
        signing_key = keys._new_private_key(algorithm)
    payload = b'{"token_type":"access","user_id":7,"exp":1900000000}'
    for kid in ("kid-1", "kid-2", None):
        headers = {"kid": kid} if kid is not None else None
        ours = encode(payload, signing_key, algorithm=algorithm, kid=kid)
        assert ours == jws.encode(payload, signing_key, algorithm=algorithm, headers=headers)
