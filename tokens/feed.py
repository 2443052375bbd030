"""
The revocation feed's storage (``SessionEnd``): sessions ended early, for
resource servers that verify access tokens locally with the JWKS and poll
``GET /api/auth/revocations/?since=<cursor>`` to refuse an ended session
within a second (DESIGN.md, Part 2, "Keys other services can verify").

**The cursor never skips an event.** A timestamp or a plain serial id would:
transaction A takes id 7 (or ``revoked_at`` 12:00:00.1) and commits after
transaction B, which took id 8; a reader between the two commits sees 8,
moves its cursor past it, and never sees 7. So on PostgreSQL each row holds
the id of the transaction that wrote it (``pg_current_xact_id()``, 64 bits,
no wraparound), and a read returns only rows whose transaction id is below
``pg_snapshot_xmin(pg_current_snapshot())``: every transaction below that
horizon has ended, so no row below it can appear later. The next cursor
starts at that horizon. A row committed late by a slow transaction is above
the horizon until it commits, and read then. Rows are taken in (xid, id)
order, a page at a time; a full page's cursor is its last row, which is
sound because everything below the horizon is final.

On SQLite one writer holds the database at a time and ids are assigned
under its lock (``AUTOINCREMENT``, never reused), so id order is commit
order and the row id alone is a sound cursor (``xid`` stays empty, 0).

The horizon is the whole PostgreSQL server's: one long transaction anywhere
would hold it back. So a read also serves the rows above it that have
already committed, without moving the cursor past the horizon: those come
again on the next reads until the horizon passes them. Delivery is at least
once, never late; a resource server keeps the revoked sids as a set.

The cursor is opaque to clients: ``v1.`` and the base64url of a small JSON
object; anything else is refused (``InvalidCursor``).
"""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, router
from django.db.models import Q
from django.utils import timezone

from authsvc.errors import ServiceError
from authsvc.purge import purge_queryset
from tokens.conf import conf
from tokens.models import SessionEnd

SESSION_ENDS = "session_ends"
#: Rows a read returns at most; a full page means: ask again with its cursor at once.
PAGE_SIZE = 1000
#: Kept this long past the access-token lifetime (the feed never serves them; a margin for a slow poller's clock).
RETENTION_MARGIN = timedelta(minutes=5)
_MAX = 2**63 - 1
_PREFIX = "v1."


class InvalidCursor(ServiceError):
    status = 400
    code = "invalid_cursor"
    detail = "The cursor is not one this feed handed out."


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the feed: every row at or before (xid, id) has been read."""

    xid: int = 0
    id: int = 0

    def encode(self) -> str:
        raw = json.dumps({"x": self.xid, "i": self.id}, separators=(",", ":")).encode()
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        if not isinstance(text, str) or not text.startswith(_PREFIX) or len(text) > 200:
            raise InvalidCursor()
        body = text[len(_PREFIX):]
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise InvalidCursor() from exc
        if not isinstance(data, dict) or set(data) != {"x", "i"}:
            raise InvalidCursor()
        values = (data["x"], data["i"])
        if not all(type(v) is int and 0 <= v <= _MAX for v in values):
            raise InvalidCursor()
        return cls(xid=values[0], id=values[1])


@dataclass(frozen=True)
class Page:
    ends: list[tuple[uuid.UUID, datetime]]
    cursor: Cursor


def record_ends(*, session_ids: list[uuid.UUID], revoked_at: datetime) -> None:
    """
    Log these sessions as ended at ``revoked_at``. Call it in the transaction
    that revoked them: the row and the revocation commit (or not) together,
    and on PostgreSQL the row carries that transaction's id.
    """
    if not session_ids:
        return
    alias = router.db_for_write(SessionEnd)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        SessionEnd.objects.using(alias).bulk_create(
            [SessionEnd(session_id=pk, revoked_at=revoked_at) for pk in session_ids], batch_size=500)
        return
    table = connection.ops.quote_name(SessionEnd._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (session_id, revoked_at, xid) "
            "SELECT ended, %s, pg_current_xact_id()::text::bigint FROM unnest(%s::uuid[]) AS ended",
            [revoked_at, [str(pk) for pk in session_ids]],
        )


def read(*, since: Cursor | None, now: datetime | None = None) -> Page:
    """
    The sessions ended after ``since`` whose access tokens may still be
    unexpired, oldest first, and the cursor to read on from. No ``since``:
    everything within one access-token lifetime.
    """
    now = now or timezone.now()
    since = since or Cursor()
    page_size = PAGE_SIZE
    alias = router.db_for_write(SessionEnd)  # the primary: a replica's horizon is its own
    connection = connections[alias]
    rows = SessionEnd.objects.using(alias).filter(revoked_at__gte=now - conf.access_ttl - timedelta(seconds=conf.leeway))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            (horizon,) = cursor.fetchone()
        # Rows above the horizon that have committed are served at once too, and
        # again from the next cursor until the horizon passes them: a long
        # transaction anywhere on the server (the horizon is the cluster's)
        # delays no revocation, it only repeats a few (clients keep a set).
        rows = rows.filter(Q(xid__gt=since.xid) | Q(xid=since.xid, id__gt=since.id))
        order, done = ("xid", "id"), Cursor(xid=horizon)
    else:
        # The newest id first, then the rows up to it: a row written between the two reads waits for the next.
        newest = SessionEnd.objects.using(alias).order_by("-id").values_list("id", flat=True).first() or 0
        rows = rows.filter(id__gt=since.id, id__lte=newest)
        order, done = ("id",), Cursor(id=newest)
    found = list(rows.order_by(*order).values_list("xid", "id", "session_id", "revoked_at")[:page_size])
    if len(found) == page_size:
        xid, pk, _, _ = found[-1]
        # Never past the horizon: below it every row is final, above it one may still come.
        done = min(done, Cursor(xid=xid or 0, id=pk)) if connection.vendor == "postgresql" else Cursor(id=pk)
    return Page(ends=[(sid, at) for _, _, sid, at in found], cursor=max(done, since))


def purge_session_ends(*, batch_size: int, dry_run: bool = False, now: datetime | None = None,
                       on_progress=None) -> dict[str, int]:
    """Delete rows the feed no longer serves (a ``PURGE_FUNCTIONS`` entry)."""
    now = now or timezone.now()
    cutoff = now - conf.access_ttl - timedelta(seconds=conf.leeway) - RETENTION_MARGIN
    return purge_queryset(SessionEnd.objects.filter(revoked_at__lt=cutoff), kind=SESSION_ENDS,
                          batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)
