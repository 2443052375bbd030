"""Signing test tokens as authsvc signs its own: the active key (``tokens.keys``), its ``kid`` in the header."""

import jwt

from tokens.keys import keyring


def sign_as_authsvc(claims: dict, **headers) -> str:
    key = keyring.active()
    return jwt.encode(claims, key.signing_key, algorithm=key.algorithm, headers={"kid": key.kid, **headers})
