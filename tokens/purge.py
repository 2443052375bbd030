"""
The purge: deletes the token rows nobody can use any more, in bounded batches.

Each batch is one ``DELETE … WHERE pk IN (SELECT pk … LIMIT n)`` in its own
short transaction: no row is loaded into Python and the ORM's cascade
collector never runs, so memory stays flat however large the backlog, and no
lock is held for longer than one batch. On PostgreSQL the subquery takes its
rows ``FOR UPDATE SKIP LOCKED``: two purges at once split the work instead of
queueing behind each other, and a row that a refresh or a revocation holds
right now is left for the next run instead of making either side wait.

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
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Exists, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.module_loading import import_string

from authsvc.metrics import PURGED_ROWS
from tokens.conf import conf
from tokens.models import RefreshToken, Session

logger = logging.getLogger(__name__)

REFRESH_TOKENS = "refresh_tokens"
SESSIONS = "sessions"
DEFAULT_BATCH_SIZE = 20000

#: ``on_progress(kind, deleted_so_far)``: called after each full batch, i.e.
#: when more rows of that kind may follow (a large backlog).
Progress = Callable[[str, int], None]


def purge_expired(*, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False, now: datetime | None = None,
                  on_progress: Progress | None = None) -> dict[str, int]:
    """
    Delete expired refresh records and dead sessions (see the module
    docstring), ``batch_size`` rows a statement. Returns the number of rows
    deleted per kind, or with ``dry_run`` the number that would be.
    """
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
    batches = _Batches(batch_size=batch_size, counts=counts, on_progress=on_progress)
    batches.delete(RefreshToken.objects.filter(expires_at__lt=now), kind=REFRESH_TOKENS)
    _vacuum(RefreshToken)
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


def purge_queryset(rows: QuerySet, *, kind: str, batch_size: int, dry_run: bool = False,
                   on_progress: Progress | None = None) -> dict[str, int]:
    """Delete every row of ``rows`` in batches (count them with ``dry_run``): the simple purges of other tables."""
    if dry_run:
        return {kind: rows.count()}
    counts = {kind: 0}
    _Batches(batch_size=batch_size, counts=counts, on_progress=on_progress).delete(rows, kind=kind)
    return counts


def _vacuum(model: type[Model]) -> None:
    """
    Reclaim the dead index entries a mass delete leaves behind before the next
    phase probes that index (PostgreSQL only, and only outside a transaction:
    the purge's batches already commit one by one).
    """
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {connection.ops.quote_name(model._meta.db_table)}")


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


class _Batches:
    """Deletes the rows of querysets, ``batch_size`` at a time, each batch its own transaction."""

    def __init__(self, *, batch_size: int, counts: dict[str, int], on_progress: Progress | None) -> None:
        self.batch_size = batch_size
        self.counts = counts
        self.on_progress = on_progress

    def delete(self, rows: QuerySet, *, kind: str) -> None:
        while True:
            deleted = _delete_batch(rows, self.batch_size)
            self.counts[kind] += deleted
            if deleted < self.batch_size:
                return
            if self.on_progress is not None:
                self.on_progress(kind, self.counts[kind])


def _delete_batch(rows: QuerySet, limit: int) -> int:
    """
    One ``DELETE FROM t WHERE pk IN (SELECT pk … LIMIT n)``; the number of rows deleted.

    The subquery is compiled by the ORM (quoting, parameter adaptation per
    backend); the DELETE around it is ours, so Django's collector, which would
    load every row and its related rows to emulate cascades, never runs.
    On PostgreSQL the same set is written ``pk = ANY(ARRAY(SELECT …))``: the
    batch is computed once and deleted through the primary-key index, where
    ``IN`` may be planned as a hash join over a scan of the whole table, once
    per batch.
    """
    model: type[Model] = rows.model
    alias = router.db_for_write(model)
    connection = connections[alias]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    if connection.vendor == "postgresql":
        # By row address: a TID scan deletes the batch without probing the
        # primary-key index once per row (bench/RESULTS.md, "Purge").
        batch = rows.using(alias).order_by().annotate(_ctid=RawSQL(f"{table}.ctid", [])).values("_ctid")[:limit]
    else:
        batch = rows.using(alias).order_by().values("pk")[:limit]
    with transaction.atomic(using=alias):
        if connection.features.has_select_for_update_skip_locked:
            # Lock only the rows being deleted, not the joined session rows.
            batch = batch.select_for_update(skip_locked=True, of=("self",))
        subquery, params = batch.query.sql_with_params()
        pk = qn(model._meta.pk.column)
        where = f"ctid = ANY(ARRAY({subquery}))" if connection.vendor == "postgresql" else f"{pk} IN ({subquery})"
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {qn(model._meta.db_table)} WHERE {where}", params)
            return cursor.rowcount


def purge_all(*, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False, now: datetime | None = None,
              on_progress: Progress | None = None) -> dict[str, int]:
    """
    Run every purge listed in ``settings.PURGE_FUNCTIONS`` (dotted paths, read
    when used) at one instant, and add up their counts per kind. Each
    function takes the keyword arguments of :func:`purge_expired` and returns
    ``{kind: count}``. Deleted rows (not a dry run's) are counted in
    ``PURGED_ROWS`` as each purge finishes, so one that fails later does not
    hide what the others deleted.
    """
    now = now or timezone.now()
    totals: dict[str, int] = {}
    for path in settings.PURGE_FUNCTIONS:
        purge = import_string(path)
        counts = purge(batch_size=batch_size, dry_run=dry_run, now=now, on_progress=on_progress)
        for kind, count in counts.items():
            totals[kind] = totals.get(kind, 0) + count
            if not dry_run:
                PURGED_ROWS.labels(kind=kind).inc(count)
    return totals
