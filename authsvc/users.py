"""Finding the user a command names: shared by every ``manage.py`` command that takes one."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def find_user(identifier: str):
    """
    ASCII digits are a primary key; anything else is the login name (the
    email), found the way the login finds it: the user model's manager's
    ``get_by_natural_key``, Django's contract for that lookup (ModelBackend
    calls it), which applies the model's own normalisation — any case,
    full-width or IDN spelling of the address. Unknown: ``CommandError``
    (the message on stderr, exit 1).
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
