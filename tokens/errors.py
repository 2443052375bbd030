"""Why a token was refused. Each code is part of the API contract."""

from authsvc.errors import Unauthorized


class TokenInvalid(Unauthorized):
    code = "token_invalid"
    detail = "Token is invalid."


class TokenExpired(Unauthorized):
    code = "token_expired"
    detail = "Token has expired."


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    detail = "Token has been revoked."


class TokenReused(Unauthorized):
    code = "token_reused"
    detail = "Refresh token was already used; the session has been revoked."
