from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tokens', '0005_session_auth_epoch'),
    ]

    operations = [
        migrations.AddField(
            model_name='authevent',
            name='via',
            field=models.CharField(choices=[('api', 'API'), ('admin', 'Admin'), ('command', 'Command')], default='api', max_length=16),
        ),
        migrations.AlterField(
            model_name='authevent',
            name='kind',
            field=models.CharField(choices=[('login_succeeded', 'Login succeeded'), ('login_failed', 'Login failed'), ('two_factor_failed', 'Wrong two-factor code'), ('two_factor_locked', 'Two-factor challenge locked'), ('refresh_reuse', 'Refresh token reuse detected'), ('session_revoked', 'Session revoked'), ('two_factor_disabled', 'Two-factor disabled')], max_length=32),
        ),
    ]
