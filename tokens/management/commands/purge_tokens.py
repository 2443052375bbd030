from django.core.management.base import BaseCommand, CommandError

from tokens import keys
from tokens.conf import conf
from tokens.purge import purge_all


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Delete expired refresh-token records, expired and long-revoked sessions (and whatever else "
        "settings.PURGE_FUNCTIONS lists), in batches, then activate a published signing key that is due and retire "
        "spent ones: what the hourly Celery task does."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument(
            "--batch-size", type=positive_int, default=None, metavar="N",
            help="Rows per DELETE statement (default: settings.PURGE_BATCH_SIZE).",
        )

    def handle(self, *args, dry_run: bool, batch_size: int | None, **options):
        batch_size = batch_size or conf.purge_batch_size
        if batch_size < 1:
            raise CommandError("The batch size must be at least 1.")

        def progress(kind: str, deleted: int) -> None:
            self.stdout.write(f"  {kind}: {deleted} deleted so far…")

        counts = purge_all(batch_size=batch_size, dry_run=dry_run, on_progress=progress)
        outcome = "to delete (dry run)" if dry_run else "deleted"
        for kind, count in sorted(counts.items()):
            self.stdout.write(f"{kind}: {count} {outcome}")
        if not dry_run:
            advanced = keys.advance()
            if any(advanced.values()):
                self.stdout.write(f"signing keys: {advanced['signing_keys_activated']} activated, "
                                  f"{advanced['signing_keys_retired']} retired")
