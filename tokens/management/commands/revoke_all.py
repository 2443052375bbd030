from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

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


def find_user(identifier: str):
    """
    ASCII digits are a primary key; anything else is the login name (the
    email), found the way the login finds it: the user model's manager's
    ``get_by_natural_key``, Django's contract for that lookup (ModelBackend
    calls it), which applies the model's own normalisation — any case,
    full-width or IDN spelling of the address — without ``tokens`` importing
    ``accounts``.
    """
    User = get_user_model()
    identifier = identifier.strip()
    # "²".isdigit() is true and int("²") fails; "１" would read as 1.
    if identifier.isascii() and identifier.isdigit():
        user = User._default_manager.filter(pk=int(identifier)).first()
    else:
        try:
            user = User._default_manager.get_by_natural_key(identifier)
        except User.DoesNotExist:
            user = None
    if user is None:
        raise CommandError(f"No user with the id or email {identifier!r}.")
    return user


def email_of(user) -> str:
    return getattr(user, user.get_email_field_name(), "") or user.get_username()
