"""
The databases' contents: each database created when missing and migrated, its
token tables emptied (every run starts from the same state), the virtual users
created, and dead token rows added by bulk SQL, as many as asked for in seconds.
"""

from __future__ import annotations

import time
import uuid

import psycopg

from .config import PASSWORD, PG
from .procs import run_checked
from .servers import Project

SESSIONS_PER_FILL = 4  # refresh records per filled session: a login and three rotations


def ensure_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(project: Project, users: int) -> int:
    """Create and migrate the database, empty the token tables, create the users; the filler user's id."""
    ensure_database(project.database)
    run_checked(project.manage("migrate", "--noinput", "-v", "0"), project.env(), f"migrate {project.database}")
    truncate(project)
    if project.kind == "authsvc":
        code = (
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"for i in range({users}):\n"
            "    email = f'bench-{i}@example.com'\n"
            "    if not User.objects.filter(email=email).exists():\n"
            f"        User.objects.create_user(email=email, password={PASSWORD!r})\n"
            "filler = User.objects.filter(email='bench-filler@example.com').first()\n"
            "filler = filler or User.objects.create_user(email='bench-filler@example.com', password=None)\n"
            "print(filler.pk)\n"
        )
    else:
        code = (
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"for i in range({users}):\n"
            "    if not User.objects.filter(username=f'bench-{i}').exists():\n"
            f"        User.objects.create_user(username=f'bench-{{i}}', email=f'bench-{{i}}@example.com', "
            f"password={PASSWORD!r})\n"
            "filler = User.objects.filter(username='bench-filler').first()\n"
            "filler = filler or User.objects.create_user(username='bench-filler', password=None)\n"
            "print(filler.pk)\n"
        )
    out = run_checked(project.manage("shell", "-c", code), project.env(), f"users in {project.database}")
    return int(out.strip().splitlines()[-1])


def truncate(project: Project) -> None:
    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(project.token_tables)} CASCADE")


# --- bulk rows ------------------------------------------------------------------------------

# The keys are spread evenly over the whole key space, as uuid4 keys are, so
# that a refresh's own keys land among the dead ones, but they ascend with the
# series: each index grows at its right edge instead of at random pages, as
# CREATE INDEX would build it, and no key costs a hash (computing three md5s
# per row took about half of the insert's time). A key: 15 hex digits that
# ascend with the session (stock: the row), a 16th for the record's place in
# its session (0: the session itself), then 16 random digits, one draw per
# fill; the first 16 alone make it unique.
def _key(head: str, place: str) -> str:
    return f"lpad(to_hex({head} * %(step)s), 15, '0') || {place} || %(tail)s"


# authsvc: one session per SESSIONS_PER_FILL refresh records. Of the sessions,
# 40% are past their absolute expiry, 30% idle (every refresh record expired,
# last used 20 days ago), 30% revoked 8 days ago (past the 7-day retention):
# 70% expired, 30% revoked. Every refresh record has expired (a 7-day token
# issued 21 days ago); all but the last of each session were rotated.
AUTHSVC_FILL = f"""
INSERT INTO tokens_session (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,
                            revoked_at, revoke_reason, revoked_by, auth_epoch)
SELECT ({_key("g", "'0'")})::uuid, %(user_id)s,
       CASE WHEN g %% 10 < 4 THEN now() - interval '40 days' ELSE now() - interval '25 days' END,
       now() - interval '20 days',
       CASE WHEN g %% 10 < 4 THEN now() - interval '10 days' ELSE now() + interval '5 days' END,
       'bench-fill', '127.0.0.1',
       CASE WHEN g %% 10 >= 7 THEN now() - interval '8 days' END,
       CASE WHEN g %% 10 >= 7 THEN 'logout' ELSE '' END,
       '', 0
FROM generate_series(1, %(sessions)s) AS g;

INSERT INTO tokens_refreshtoken (jti, session_id, issued_at, expires_at, used_at, replaced_by)
SELECT ({_key("s", "to_hex(k + 1)")})::uuid, ({_key("s", "'0'")})::uuid,
       now() - interval '21 days' + k * interval '10 minutes',
       now() - interval '14 days' + k * interval '10 minutes',
       CASE WHEN k < %(per)s - 1 THEN now() - interval '21 days' + (k + 1) * interval '10 minutes' END,
       CASE WHEN k < %(per)s - 1 THEN ({_key("s", "to_hex(k + 2)")})::uuid END
FROM generate_series(1, %(rows)s) AS g,
     LATERAL (SELECT (g - 1) / %(per)s + 1 AS s, (g - 1) %% %(per)s AS k) AS place;
"""

# stock: one OutstandingToken per refresh token ever issued (the whole JWT is
# stored, ~230 characters), all past expiry; 30% of them blacklisted. The jti
# ascends the same way.
STOCK_FILL = f"""
WITH issued AS (
    INSERT INTO token_blacklist_outstandingtoken (user_id, jti, token, created_at, expires_at)
    SELECT %(user_id)s, {_key("g", "'0'")},
           'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' || repeat(md5(%(seed)s || g::text), 6),
           now() - interval '21 days', now() - interval '14 days'
    FROM generate_series(1, %(rows)s) AS g
    RETURNING id
)
INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at)
SELECT id, now() - interval '20 days' FROM issued WHERE id %% 10 >= 7;
"""


def fill(project: Project, rows: int, user_id: int) -> float:
    """
    Add ``rows`` dead token rows by bulk SQL (then ANALYZE, as autovacuum
    would); seconds taken. The foreign keys' per-row checks are off for the
    fill's session (``session_replication_role``, when a superuser): each would queue
    a deferred trigger event per row, 10M of them at the largest size, for
    rows that match by construction. The constraints themselves stay.
    """
    started = time.perf_counter()
    sessions = -(-rows // SESSIONS_PER_FILL)
    params = {"seed": uuid.uuid4().hex, "tail": uuid.uuid4().hex[:16], "user_id": user_id, "rows": rows,
              "sessions": sessions, "per": SESSIONS_PER_FILL,
              # authsvc's keys are numbered by session, stock's by row.
              "step": (2**60 - 1) // ((sessions if project.kind == "authsvc" else rows) + 1)}
    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        if conn.execute("SHOW is_superuser").fetchone()[0] == "on":  # else the checks run, only slower
            conn.execute("SET session_replication_role = replica")
        with conn.transaction():
            for statement in (AUTHSVC_FILL if project.kind == "authsvc" else STOCK_FILL).split(";\n\n"):
                conn.execute(statement, params)
        for table in project.token_tables:
            conn.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def table_counts(project: Project) -> dict[str, int]:
    with psycopg.connect(project.url, autocommit=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in project.token_tables}


def checkpoint(project: Project) -> None:
    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
