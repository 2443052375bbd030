from django.core.management.base import BaseCommand, CommandError

from tokens import keys
from tokens.conf import conf


class Command(BaseCommand):
    help = (
        "Publish a new signing key in the JWKS; the hourly purge task (or purge_tokens) makes it sign once it has "
        "been published for JWT_KEY_PUBLISH_DELAY, and retires the former key when nothing it signed can still be "
        "valid. Nobody is signed out."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now", action="store_true",
            help="Sign with the pending (or a new) key at once. Verifiers that cached the JWKS before it was "
                 "published refuse its tokens until they fetch the JWKS again.",
        )

    def handle(self, *args, now: bool, **options):
        try:
            key = keys.rotate(at_once=now)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if now:
            self.stdout.write(f"{key.algorithm} key {key.kid} signs from now on.")
        else:
            self.stdout.write(f"{key.algorithm} key {key.kid} published; it signs from "
                              f"{key.created_at + conf.key_publish_delay:%Y-%m-%d %H:%M:%S} UTC on.")
