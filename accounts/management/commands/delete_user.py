"""
``manage.py delete_user <email-or-id>``: the account deleted by the one rule
(``accounts.flows.deletion.delete_account``), as the API and the admin do —
every session ended and in the revocation feed, the audit trail naming the
command, the notice to the address. No prompt: it is meant for scripts.
"""

from django.core.management.base import BaseCommand

from accounts.flows.deletion import delete_account
from authsvc.users import find_user
from tokens import audit

ACTOR = "command: delete_user"


class Command(BaseCommand):
    help = "Delete a user's account (no prompt): every session ends, the address is told and is free again."

    def add_arguments(self, parser):
        parser.add_argument("user", help="The user's email address (any case) or numeric id.")

    def handle(self, *args, user: str, **options):
        target = find_user(user)
        email = target.email
        ended = delete_account(target, actor=ACTOR, via=audit.Via.COMMAND)
        self.stdout.write(f"Deleted the account of {email}; ended {ended} session(s).")
