"""
The ``LOGGING`` dictionary, built from the two values ``authsvc/settings.py``
reads from the environment (``LOG_FORMAT``, ``LOG_LEVEL``). Observability:
DESIGN.md.
"""

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS as JSON_LOG_RESERVED_ATTRS

# json: one JSON object per line, with the fields the code passes as `extra`
# (event, user_id, session_id, ip…) and the request id; plain: for a terminal.
LOG_FORMATS = ("json", "plain")


def logging_config(*, log_format: str, level: str) -> dict:
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {log_format!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "authsvc.requestid.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                # ISO 8601 in UTC, under "timestamp".
                "timestamp": True,
                # Django hands its request object to django.request and
                # django.security records: its repr carries the query string,
                # which the plain format never printed. The path is in the message.
                "reserved_attrs": [*JSON_LOG_RESERVED_ATTRS, "request"],
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django logs 4xx responses with the request path at WARNING; our 401s
            # are routine and their paths carry no secrets, but keep them quiet.
            "django.request": {"level": "ERROR"},
        },
    }
