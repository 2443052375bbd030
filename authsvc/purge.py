"""
The purge runner that every app's purge uses: rows deleted in bounded batches.

Each batch is one ``DELETE … WHERE pk IN (SELECT pk … LIMIT n)`` in its own
short transaction: no row is loaded into Python and the ORM's cascade
collector never runs, so memory stays flat however large the backlog, and no
lock is held for longer than one batch. On PostgreSQL the subquery takes its
rows ``FOR UPDATE SKIP LOCKED``: two purges at once split the work instead of
queueing behind each other, and a row that a request holds right now is left
for the next run instead of making either side wait.

What each app deletes is its own (``tokens.purge``, ``accounts.purge``);
``tokens.purge.purge_all`` runs them all (``PURGE_FUNCTIONS``).
"""

from collections.abc import Callable

from django.db import connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL

#: ``on_progress(kind, deleted_so_far)``: called after each full batch, i.e.
#: when more rows of that kind may follow (a large backlog).
Progress = Callable[[str, int], None]


def purge_queryset(rows: QuerySet, *, kind: str, batch_size: int, dry_run: bool = False,
                   on_progress: Progress | None = None) -> dict[str, int]:
    """Delete every row of ``rows`` in batches (count them with ``dry_run``): the simple purges of other tables."""
    if dry_run:
        return {kind: rows.count()}
    counts = {kind: 0}
    Batches(batch_size=batch_size, counts=counts, on_progress=on_progress).delete(rows, kind=kind)
    return counts


class Batches:
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


def vacuum(model: type[Model]) -> None:
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
