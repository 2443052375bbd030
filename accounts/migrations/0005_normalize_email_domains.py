"""
Bring the stored addresses to the normal form of issue 11 (NFKC, IDNA
A-label domain: ``accounts.addresses.normalize_email``). Before it, an
address was stored lower-cased only, so a row with a full-width or an
internationalised domain would no longer be found by the login, which
looks up the normal form. Only rows with a character outside printable
ASCII can change, and there are few; the others are not read.

A row whose normal form is already another account's (the duplicate the
issue is about) is left as it is and logged: which of the two is the
mailbox's owner is for an operator to decide, not a migration.
"""

import logging

from django.db import migrations

from accounts.addresses import normalize_email

logger = logging.getLogger(__name__)


def normalize_stored_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    rows = list(User._default_manager.filter(email__regex=r"[^ -~]").values_list("pk", "email"))
    for pk, email in rows:
        normal = normalize_email(email)
        if normal == email:
            continue
        if User._default_manager.filter(email=normal).exists():
            logger.warning("user %s: %r is a second spelling of another account's %r; left as it is",
                           pk, email, normal)
            continue
        User._default_manager.filter(pk=pk).update(email=normal)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_user_auth_epoch"),
    ]

    operations = [
        migrations.RunPython(normalize_stored_emails, migrations.RunPython.noop),
    ]
