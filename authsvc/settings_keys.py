"""
Keys other services verify with (DESIGN.md, Part 2, "Keys other services
can verify"). Read when used, through ``tokens.conf``. Part of the settings:
``authsvc/settings.py`` star-imports this module.
"""

import environ

env = environ.Env()

# ES256 (default), EdDSA, RS256: asymmetric keys in the database, published
# at /.well-known/jwks.json. HS256: the shared secret JWT_SIGNING_KEY
# (default SECRET_KEY), for a single-service install only (its holder can mint
# tokens for anyone).
JWT_ALGORITHM = env.str("JWT_ALGORITHM", default="ES256")
JWT_ISSUER = env.str("JWT_ISSUER", default="authsvc")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="authsvc")
# Seconds a new key is published in the JWKS before it signs, so every
# verifier's cached JWKS already holds it (publish first, sign later).
JWT_KEY_PUBLISH_DELAY = env.int("JWT_KEY_PUBLISH_DELAY", default=3600)
# Seconds a process keeps the keys it read before reading them again: how
# soon every host and worker sees a rotation without a restart.
JWT_KEYRING_MAX_AGE = env.int("JWT_KEYRING_MAX_AGE", default=30)
# Access tokens each process keeps once verified, so that the same token's next
# request skips its signature check (tokens/verified.py); 0: none.
ACCESS_TOKEN_CACHE_SIZE = env.int("ACCESS_TOKEN_CACHE_SIZE", default=4096)
# Services allowed to introspect tokens (RFC 7662, /api/auth/introspect/)
# and to read the revocation feed (/api/auth/revocations/), with HTTP Basic:
# "name:secret,name2:secret2". Unset: both endpoints are the JSON 404 of an
# unknown path.
INTROSPECTION_CLIENTS = env.str("INTROSPECTION_CLIENTS", default="")
