"""
PyJWT, set up the way authsvc signs and verifies its JWTs (``tokens.jwt``
builds the tokens on top): ES256 with deterministic nonces, a cheaper check
of the base64url segments, and simplejwt's backend verifying through both.
"""

import base64
import binascii
import json
import re

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_encode, der_to_raw_signature
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken


class _DeterministicES256(pyjwt.algorithms.ECAlgorithm):
    """
    ES256 with RFC 6979 deterministic nonces (``cryptography``'s own): the
    same claims sign to the same token, as they do with EdDSA, RS256 and
    HS256 — a refresh inside the reuse grace window hands back the very
    successor token — and no weak random number can leak the key.
    """

    def sign(self, msg: bytes, key) -> bytes:
        return der_to_raw_signature(key.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)), key.curve)


# The characters of a base64url segment without its padding (RFC 7515 §2).
_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")


class _JWS(pyjwt.PyJWS):
    """
    PyJWT's JWS, its segment check done by one regular expression. PyJWT
    2.15 tests each character in a Python generator (GHSA-hxm8-2xgr-2p9m):
    a fifth of verifying an ES256 token here, and done twice (the header is
    read first to find the key). The same rule (tests/tokens/test_jws.py):
    at most two ``=``, on a whole quartet; the base64url alphabet; no length
    1 mod 4; the canonical encoding, so that a token has one spelling.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1
                or not _SEGMENT.fullmatch(stripped)):
            raise pyjwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
        except (TypeError, binascii.Error) as exc:
            raise pyjwt.DecodeError(f"Invalid {name} padding") from exc
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
            raise pyjwt.DecodeError(f"Invalid {name} padding")
        return decoded


jws = _JWS()
jws.unregister_algorithm("ES256")
jws.register_algorithm("ES256", _DeterministicES256(_DeterministicES256.SHA256))


def encode(payload: bytes, key, *, algorithm: str, kid: str | None, mac=None) -> str:
    """
    ``jws.encode(payload, key, algorithm=algorithm, headers={"kid": kid})``,
    byte for byte (tests/tokens/test_jws.py), with the header —
    the same for every token a key signs — serialized once per key: two
    tokens a refresh. ``mac``, given a function of the payload's segment,
    adds its result to the header as ``mac`` (``tokens.jwt``: refresh tokens).
    """
    payload_segment = base64url_encode(payload)
    signing_input = header_segment(algorithm, kid, mac(payload_segment) if mac else None) + b"." + payload_segment
    signer = jws.get_algorithm_by_name(algorithm)
    signature = signer.sign(signing_input, signer.prepare_key(key))
    return (signing_input + b"." + base64url_encode(signature)).decode()


def header_segment(algorithm: str, kid: str | None, mac: str | None = None) -> bytes:
    """The encoded header ``encode`` writes: the only spelling of it that authsvc issues."""
    if mac is not None:
        return _header_segment({"typ": "JWT", "alg": algorithm, "kid": kid, "mac": mac})
    header = _headers.get((algorithm, kid))
    if header is None:
        fields = {"typ": "JWT", "alg": algorithm} | ({"kid": kid} if kid is not None else {})
        header = _headers[algorithm, kid] = _header_segment(fields)
    return header


def _header_segment(fields: dict) -> bytes:
    return base64url_encode(json.dumps(fields, separators=(",", ":"), sort_keys=True).encode())


_headers: dict[tuple[str, str | None], bytes] = {}

# PyJWT's claims checks (exp, nbf, iat, iss, aud), on top of that JWS.
_jwt = pyjwt.PyJWT()
_jwt._jws = jws


class Backend(TokenBackend):
    """simplejwt's backend, verifying with the PyJWT above (simplejwt's ``decode``: the same options, the same errors)."""

    def decode(self, token, verify: bool = True) -> dict:
        return self._decode(token, {"verify_aud": self.audience is not None, "verify_signature": verify})

    def _decode(self, token, options: dict) -> dict:
        try:
            return _jwt.decode(
                token, self.get_verifying_key(token), algorithms=[self.algorithm], audience=self.audience,
                issuer=self.issuer, leeway=self.get_leeway(), options=options,
            )
        except pyjwt.InvalidAlgorithmError as exc:
            raise TokenBackendError("Invalid algorithm specified") from exc
        except pyjwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except pyjwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc


class ClaimsBackend(Backend):
    """
    ``Backend`` for a token whose signature something else has proven (a
    refresh token's MAC, ``tokens.jwt``): the same checks of the claims (exp,
    nbf, iat, iss, aud), the same errors, the signature left alone.
    """

    def decode(self, token, verify: bool = True) -> dict:
        return self._decode(token, {
            "verify_signature": False, "verify_exp": verify, "verify_nbf": verify, "verify_iat": verify,
            "verify_iss": verify, "verify_aud": verify and self.audience is not None,
        })
