"""
The one statement of the two-factor challenge that the ORM cannot write
(STYLE 13): an ``UPDATE … RETURNING`` that counts a try. The flows read as
use cases and never build SQL.
"""

import uuid
from datetime import datetime

from django.db import connections, router

from accounts.models import TwoFactorChallenge


def count_attempt(challenge_id: uuid.UUID, *, now: datetime) -> int | None:
    """
    Count one try, if the challenge still takes one; the count after it, or None.

    A conditional ``UPDATE … RETURNING`` on the row's own columns only:
    PostgreSQL re-checks them on the latest row version after waiting for a
    concurrent writer's lock (it would not for a condition in a joined
    subquery), so parallel tries cannot exceed ``MAX_ATTEMPTS``.
    """
    model = TwoFactorChallenge
    alias = router.db_for_write(model)
    connection = connections[alias]
    qn = connection.ops.quote_name
    field = model._meta.get_field
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(model._meta.db_table)} SET {qn('attempts')} = {qn('attempts')} + 1 "
            f"WHERE {qn('id')} = %s AND {qn('consumed_at')} IS NULL AND {qn('expires_at')} > %s "
            f"AND {qn('attempts')} < %s RETURNING {qn('attempts')}",
            [field("id").get_db_prep_value(challenge_id, connection),
             field("expires_at").get_db_prep_value(now, connection), model.MAX_ATTEMPTS],
        )
        row = cursor.fetchone()
    return row[0] if row else None
