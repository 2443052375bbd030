"""
The service's own Prometheus counters (DESIGN.md, "Observability"), beside
the request, response and latency metrics django-prometheus keeps.

Under gunicorn every worker is its own process: with
``PROMETHEUS_MULTIPROC_DIR`` set (the gunicorn config sets it), each process
writes its counts to files there and ``/metrics`` adds them up, so the
numbers are the whole host's, not one worker's.

Labels take a few fixed values each (outcomes, reasons, kinds): never a user,
an address or anything a client chooses, which would grow the series without
bound.
"""

from prometheus_client import Counter

LOGINS = Counter(
    "authsvc_logins_total", "Password logins, by outcome (succeeded, failed, two_factor_required).", ["outcome"]
)
SECOND_FACTORS = Counter(
    "authsvc_second_factors_total", "Second-factor answers, by method and outcome (succeeded, failed, locked).",
    ["method", "outcome"],
)
REFRESHES = Counter(
    "authsvc_refreshes_total",
    "Refresh-token exchanges, by outcome (rotated, grace, reused, invalid, expired, revoked).",
    ["outcome"],
)
REVOCATIONS = Counter("authsvc_sessions_revoked_total", "Sessions revoked, by reason.", ["reason"])
RATE_LIMITED = Counter("authsvc_rate_limited_total", "Requests refused by a rate limit, by scope.", ["scope"])
PURGED_ROWS = Counter("authsvc_purged_rows_total", "Rows deleted by the purge, by kind.", ["kind"])
EMAILS_FAILED = Counter(
    "authsvc_emails_failed_total", "Email sends that failed (each try, retried or not), by template.", ["template"]
)
