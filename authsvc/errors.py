"""
The one error hierarchy of authsvc.

Services raise these; they know nothing of HTTP beyond the status a client
should see. ``authsvc.exceptions.exception_handler`` is the one place that
renders them as ``{"detail": ..., "code": ...}``.
"""


class ServiceError(Exception):
    """A refusal a client should see, with a stable machine-readable ``code``."""

    status = 400
    code = "invalid"
    detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        if code is not None:
            self.code = code
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    detail = "Not found."


class Unauthorized(ServiceError):
    status = 401
    code = "not_authenticated"
    detail = "Authentication credentials were not provided."

    @property
    def headers(self) -> dict[str, str]:
        # RFC 7235 §3.1: a 401 names the scheme that would be accepted.
        return {"WWW-Authenticate": 'Bearer realm="api"'}


class Forbidden(ServiceError):
    status = 403
    code = "permission_denied"
    detail = "You do not have permission to perform this action."


class Conflict(ServiceError):
    status = 400
    code = "conflict"


class FieldErrors(ServiceError):
    """Validation failures found by a service (for example password validators)."""

    status = 400
    code = "invalid"
    detail = "Invalid input."

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None) -> None:
        self.errors = errors
        super().__init__(detail)


class TooManyRequests(ServiceError):
    status = 429
    code = "rate_limited"
    detail = "Too many requests. Try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(ServiceError):
    """
    Something the request needs cannot be reached (PostgreSQL, Redis, the
    broker). One code for every such 503, whatever is missing (DESIGN.md,
    "Production shape, hosts and faults"): the client's remedy is the same.
    """

    status = 503
    code = "service_unavailable"
    detail = "The service is temporarily unavailable. Try again later."
    retry_after = 30

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
