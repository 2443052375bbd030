from django.core.management.base import BaseCommand, CommandError

from authsvc.users import find_user
from tokens.models import AuthEvent, Session
from tokens.services import revoke_all_sessions


class Command(BaseCommand):
    help = "Revoke every session of a user (and so all their tokens, at once)."

    def add_arguments(self, parser):
        parser.add_argument("user", help="The user's email address (any case) or numeric id.")
        parser.add_argument("--reason", default="", help="Why, recorded with the revocation (revoked_by).")

    def handle(self, *args, user: str, reason: str, **options):
        target = find_user(user)
        revoked_by = f"command: {reason.strip() or 'revoke_all'}"
        max_length = Session._meta.get_field("revoked_by").max_length
        if len(revoked_by) > max_length:
            raise CommandError(f"--reason is too long: at most {max_length - len('command: ')} characters.")
        count = revoke_all_sessions(user_id=target.pk, reason=Session.RevokeReason.COMMAND, revoked_by=revoked_by,
                                    via=AuthEvent.Via.COMMAND)
        self.stdout.write(f"Revoked {count} session(s) of {email_of(target)}.")


def email_of(user) -> str:
    return getattr(user, user.get_email_field_name(), "") or user.get_username()
