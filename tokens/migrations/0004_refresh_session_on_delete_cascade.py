"""
On PostgreSQL, make the database cascade a session's deletion to its refresh
records (``ON DELETE CASCADE``), as the model's ``on_delete=CASCADE`` already
says. Django 5.2 declares every foreign key ``NO ACTION`` and emulates
cascades in Python; the bulk purge never goes through that emulation, and for
each deleted session a ``NO ACTION`` key runs two lookups at COMMIT (is the
key back? is it still referenced?) where a cascade runs one delete. On the
purge of 250,000 sessions that is 2.2 s against 1.0 s (bench/RESULTS.md).

Nothing else changes: the purge still deletes the records first and only
takes sessions with none left, and the ORM's collector still deletes records
before their session. The key stays deferrable for inserts and updates.

The constraint is swapped in place under its own name, ``NOT VALID`` then
validated, so a large table is not scanned under an exclusive lock. Other
databases keep Django's key (SQLite cannot alter one without rebuilding the
table, and the purge does not depend on it).
"""

from django.db import migrations

TABLE = "tokens_refreshtoken"
COLUMN = "session_id"
REFERENCES = "tokens_session(id)"


def _swap(schema_editor, on_delete: str) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
            WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND a.attname = %s
            """,
            [TABLE, COLUMN],
        )
        row = cursor.fetchone()
        if row is None:
            raise RuntimeError(f"{TABLE}.{COLUMN} has no foreign key to swap: recreate it (migration 0001) first.")
        name = schema_editor.quote_name(row[0])
        cursor.execute(
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {name}, "
            f"ADD CONSTRAINT {name} FOREIGN KEY ({COLUMN}) REFERENCES {REFERENCES} "
            f"ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )
        cursor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {name}")


def cascade(apps, schema_editor) -> None:
    _swap(schema_editor, "CASCADE")


def no_action(apps, schema_editor) -> None:
    _swap(schema_editor, "NO ACTION")


class Migration(migrations.Migration):
    # Each ALTER commits on its own: the exclusive lock of the swap is not
    # held while the key is validated.
    atomic = False

    dependencies = [
        ("tokens", "0003_session_created_index"),
    ]

    operations = [
        migrations.RunPython(cascade, no_action, elidable=False),
    ]
