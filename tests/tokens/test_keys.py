"""
Keys other services verify with (DESIGN.md, Part 2): every token names its
key (``kid``), carries ``iss`` and ``aud``, and verifies against the public
key the JWKS publishes — with PyJWT alone, holding nothing that could sign.
"""

import jwt
import pytest

from tokens.models import SigningKey

pytestmark = pytest.mark.django_db


def test_the_jwks_publishes_the_key_that_signed_the_tokens(api, tokens, settings):
    response = api.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    (published,) = response.json()["keys"]
    assert set(published) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (published["alg"], published["use"], published["crv"]) == ("ES256", "sig", "P-256")
    for kind in ("access", "refresh"):
        assert jwt.get_unverified_header(tokens[kind])["kid"] == published["kid"]
        claims = jwt.decode(tokens[kind], jwt.PyJWK(published).key, algorithms=["ES256"],
                            audience=settings.JWT_AUDIENCE, issuer=settings.JWT_ISSUER)
        assert claims["token_type"] == kind


def test_the_private_key_is_encrypted_at_rest(tokens):
    (key,) = SigningKey.objects.all()
    assert "PRIVATE KEY" not in key.private_key and key.private_key.startswith("gAAAA")


def test_the_same_claims_sign_to_the_same_token(api, tokens):
    """RFC 6979: the grace window's successor is the very token handed out before, as with every algorithm."""
    from tokens.jwt import sign

    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    assert sign(claims) == sign(claims) == tokens["access"]


@pytest.mark.parametrize("algorithm, kty", [("EdDSA", "OKP"), ("RS256", "RSA")])
def test_other_asymmetric_algorithms(api, user, login, settings, algorithm, kty):
    settings.JWT_ALGORITHM = algorithm
    issued = login(user).json()

    (published,) = api.get("/.well-known/jwks.json").json()["keys"]
    assert (published["alg"], published["kty"]) == (algorithm, kty)
    jwt.decode(issued["access"], jwt.PyJWK(published).key, algorithms=[algorithm], audience=settings.JWT_AUDIENCE)
    assert api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {issued['access']}").status_code == 200


def test_hs256_publishes_nothing(api, user, login, settings):
    settings.JWT_ALGORITHM = "HS256"
    issued = login(user).json()

    assert api.get("/.well-known/jwks.json").json() == {"keys": []}
    assert "kid" in jwt.get_unverified_header(issued["access"])
    assert api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {issued['access']}").status_code == 200
