"""
The default database's settings, built from ``DATABASE_URL`` (parsed by
django-environ) and the knobs ``authsvc/settings.py`` reads from the
environment.
"""


def database_config(url: dict, *, conn_max_age: int, disable_server_side_cursors: bool,
                    connect_timeout: int, tcp_user_timeout: int) -> dict:
    database = dict(url)
    # Persistent connections, checked before reuse: a refresh must not pay for a
    # new TCP + auth handshake, and a dropped connection must not become a 500.
    database["CONN_MAX_AGE"] = conn_max_age
    database["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode (README, "Several hosts").
    database["DISABLE_SERVER_SIDE_CURSORS"] = disable_server_side_cursors
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # Concurrent writers wait for the lock instead of failing at once.
        database.setdefault("OPTIONS", {})["timeout"] = 20
    if database["ENGINE"] == "django.db.backends.postgresql":
        # Never wait on a database that does not answer: the request gets its 503
        # within seconds (DESIGN.md, faults) instead of holding a gunicorn worker
        # until gunicorn kills it. libpq waits forever by default.
        # - connect_timeout (s): connecting, TLS and authentication included;
        # - tcp_user_timeout (ms): a statement sent to a peer that vanished (a
        #   partition, a host powered off) fails once its bytes have gone
        #   unacknowledged that long, not after the kernel's ~15 minutes of
        #   retransmissions; keepalives find such a peer while the connection
        #   waits for an answer or idles between requests.
        # Not statement_timeout: the server enforces it, so it cannot fire when the
        # server or the network is what is gone, and it would cut the purge's and
        # the migrations' legitimately long statements. Options in DATABASE_URL's
        # query string win.
        database["OPTIONS"] = {
            "connect_timeout": connect_timeout,
            "tcp_user_timeout": tcp_user_timeout * 1000,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            **database.get("OPTIONS", {}),
        }
    return database
