"""
The token purge: deletes the token rows nobody can use any more, in bounded
batches (``authsvc.purge``: a ``DELETE`` per batch, each its own short
transaction, rows locked ``SKIP LOCKED`` so a row a refresh or a revocation
holds right now is left for the next run).

What goes, with the current time ``now``:

- refresh records past their ``expires_at``: that is the ``exp`` claim of
  the JWT, which is refused on its signature check before any lookup, so the
  record can no longer serve rotation nor reuse detection;
- sessions past their absolute expiry, and sessions revoked more than
  ``REVOKED_RETENTION`` ago, after the refresh records that still point at
  them (a long-revoked session may keep unexpired ones when the retention is
  shorter than ``REFRESH_TOKEN_TTL``);
- idle sessions: never revoked, no longer live by the one rule
  (``SessionQuerySet.ended``), and left with no refresh record at all once
  the expired ones are gone. No refresh can ever wake such a session (a
  rotation needs an unexpired record), and its access tokens died with its
  newest refresh token. Revoked sessions stay for the retention, as a record.

What stays: every refresh record that has not expired, used or not — a used
one is how a replayed (stolen) token is recognised, until its ``exp``.

Other apps add their own purges through ``settings.PURGE_FUNCTIONS``;
:func:`purge_all` runs them all and adds up the counts.
"""

import logging
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.module_loading import import_string

from authsvc.metrics import PURGED_ROWS
from authsvc.purge import Batches, Progress, vacuum
from tokens.conf import conf
from tokens.models import RefreshToken, Session

logger = logging.getLogger(__name__)

REFRESH_TOKENS = "refresh_tokens"
SESSIONS = "sessions"


def purge_expired(*, batch_size: int | None = None, dry_run: bool = False, now: datetime | None = None,
                  on_progress: Progress | None = None) -> dict[str, int]:
    """
    Delete expired refresh records and dead sessions (see the module
    docstring), ``batch_size`` rows a statement. Returns the number of rows
    deleted per kind, or with ``dry_run`` the number that would be. No
    ``batch_size``: ``PURGE_BATCH_SIZE``.
    """
    batch_size = conf.purge_batch_size if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    now = now or timezone.now()
    retention_cutoff = now - conf.revoked_retention
    dead = Q(expires_at__lt=now) | Q(revoked_at__lt=retention_cutoff)
    # The live-session rule decides which unrevoked sessions are over; the
    # pre-filter only spares it a probe of every live session: the newest
    # refresh token of a session was issued at its last use, so it cannot
    # have expired unless that use is older than the refresh lifetime.
    idle = Session.objects.filter(last_used_at__lt=now - conf.refresh_ttl).ended(now)

    if dry_run:
        return _count_dead_rows(now=now, dead=dead, idle=idle)

    counts = {REFRESH_TOKENS: 0, SESSIONS: 0}
    batches = Batches(batch_size=batch_size, counts=counts, on_progress=on_progress)
    batches.delete(RefreshToken.objects.filter(expires_at__lt=now), kind=REFRESH_TOKENS)
    vacuum(RefreshToken)
    # Whatever records dead sessions still hold, then the sessions. A session
    # whose last record was skipped (locked by a concurrent refresh) is not
    # deleted in this run: ``_without_records`` keeps the foreign key intact.
    batches.delete(
        RefreshToken.objects.filter(Q(session__expires_at__lt=now) | Q(session__revoked_at__lt=retention_cutoff)),
        kind=REFRESH_TOKENS,
    )
    batches.delete(_without_records(Session.objects.filter(dead)), kind=SESSIONS)
    batches.delete(_without_records(idle), kind=SESSIONS)
    logger.info("expired tokens purged", extra={"counts": counts})
    return counts


def _without_records(sessions: QuerySet) -> QuerySet:
    """
    The sessions no refresh record points at any more. A scalar subquery per
    candidate, not ``NOT EXISTS``: PostgreSQL turns the latter into a hash
    anti-join that reads the whole refresh table for every batch, while this
    probes the ``session_id`` index once per candidate and stops at the LIMIT.
    """
    any_record = RefreshToken.objects.filter(session=OuterRef("pk")).values("pk")[:1]
    return sessions.alias(any_record=Subquery(any_record)).filter(any_record__isnull=True)


def _count_dead_rows(*, now: datetime, dead: Q, idle: QuerySet) -> dict[str, int]:
    """What ``purge_expired`` would delete now, counted in the database (disjoint sets, nothing loaded)."""
    live_record = RefreshToken.objects.filter(session=OuterRef("pk"), expires_at__gte=now)
    dead_sessions = Session.objects.filter(dead)
    return {
        REFRESH_TOKENS: RefreshToken.objects.filter(expires_at__lt=now).count()
        + RefreshToken.objects.filter(expires_at__gte=now, session__in=dead_sessions.values("pk")).count(),
        SESSIONS: dead_sessions.count()
        + idle.filter(expires_at__gte=now).filter(~Exists(live_record)).count(),
    }


def purge_all(*, batch_size: int | None = None, dry_run: bool = False, now: datetime | None = None,
              on_progress: Progress | None = None) -> dict[str, int]:
    """
    Run every purge listed in ``settings.PURGE_FUNCTIONS`` (dotted paths, read
    when used) at one instant, and add up their counts per kind. Each
    function takes the keyword arguments of :func:`purge_expired` and returns
    ``{kind: count}``. Deleted rows (not a dry run's) are counted in
    ``PURGED_ROWS`` as each purge finishes, so one that fails later does not
    hide what the others deleted.
    """
    batch_size = conf.purge_batch_size if batch_size is None else batch_size
    now = now or timezone.now()
    totals: dict[str, int] = {}
    for path in conf.purge_functions:
        purge = import_string(path)
        counts = purge(batch_size=batch_size, dry_run=dry_run, now=now, on_progress=on_progress)
        for kind, count in counts.items():
            totals[kind] = totals.get(kind, 0) + count
            if not dry_run:
                PURGED_ROWS.labels(kind=kind).inc(count)
    return totals
