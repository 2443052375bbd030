"""
The account's whole life (issue 18): verified addresses, links, the
farewell notice — and one address, one account.

Each account gets the skeleton of its address (``addresses.skeleton``),
uniquely indexed: the look-alike check becomes symmetric and race-free.
Rows are taken oldest first; a row whose skeleton an older account already
has (two accounts that look alike, let in before this column) keeps an
empty skeleton and is reported — here in the migration's log and output,
and after it by the ``accounts.W001`` check that ``migrate`` and
``check --database default`` run — for an operator to decide which of the
two is the mailbox's owner. A stored quoted local part (``"alice"@…``) is
brought to its plain form unless that is another account's (reported too).
"""

import logging
import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from accounts.addresses import normalize_email, skeleton

logger = logging.getLogger(__name__)


def _report(message: str, *args) -> None:
    logger.warning(message, *args)
    print("  " + message % args)


def fill_skeletons(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    manager = User._default_manager.using(schema_editor.connection.alias)
    taken = {}
    for pk, email in manager.order_by("date_joined", "pk").values_list("pk", "email").iterator():
        if email.startswith('"'):
            plain = normalize_email(email)
            if plain != email and manager.filter(email=plain).exists():
                _report("user %s: %r is a second spelling of another account's %r; left as it is", pk, email, plain)
            elif plain != email:
                manager.filter(pk=pk).update(email=plain)
                email = plain
        look = skeleton(email)
        if look in taken:
            _report("user %s: %r looks like the address of user %s; its look-alike check is off until one of "
                    "them changes address", pk, email, taken[look])
            continue
        taken[look] = pk
        manager.filter(pk=pk).update(email_skeleton=look)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0007_notice_kinds_sent_once'),
    ]

    operations = [
        migrations.AddField(
            model_name='notice',
            name='to',
            field=models.CharField(blank=True, default='', max_length=254),
        ),
        migrations.AddField(
            model_name='user',
            name='email_skeleton',
            field=models.CharField(blank=True, editable=False, max_length=254, null=True),
        ),
        migrations.RunPython(fill_skeletons, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name='user',
            name='email_skeleton',
            field=models.CharField(blank=True, editable=False, max_length=254, null=True, unique=True),
        ),
        migrations.AddField(
            model_name='user',
            name='email_verified',
            field=models.BooleanField(db_default=False, default=False, help_text='The owner of the address proved it: a verification link, an email change, an emailed sign-in code.'),
        ),
        migrations.AlterField(
            model_name='notice',
            name='kind',
            field=models.CharField(choices=[('credentials_changed', 'Credentials changed'), ('factor_changed', 'Second factor changed'), ('new_sign_in', 'New sign-in'), ('password_reset', 'Password reset link'), ('sign_in_attempts', 'Someone is trying to sign in'), ('two_factor_paused', 'Too many wrong sign-in codes'), ('sign_up_attempt', 'Someone tried to sign up with this address'), ('email_change_requested', 'Address change requested'), ('email_changed', 'Address changed'), ('account_deleted', 'Account deleted'), ('account_exported', 'Account data exported')], max_length=32),
        ),
        migrations.AlterField(
            model_name='notice',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notices', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='user',
            name='auth_epoch',
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False, help_text='Moves on when the password is set, the address changed or the account deactivated: every older session ends.'),
        ),
        migrations.CreateModel(
            name='EmailLink',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('purpose', models.CharField(choices=[('verify', 'Verify the address'), ('change', 'Change to this address')], max_length=16)),
                ('email', models.CharField(help_text='The address the link goes to, and proves.', max_length=254)),
                ('key_hash', models.CharField(blank=True, editable=False, max_length=64, null=True, unique=True)),
                ('task_id', models.CharField(blank=True, editable=False, max_length=64, null=True, unique=True)),
                ('session_id', models.UUIDField(blank=True, null=True)),
                ('created_at', models.DateTimeField()),
                ('expires_at', models.DateTimeField()),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('used_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='email_links', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['user', 'purpose', '-created_at'], name='email_link_user'), models.Index(fields=['expires_at'], name='email_link_expires')],
            },
        ),
    ]
