from django.db import migrations, models


class Migration(migrations.Migration):
    """Reports count voices, not addresses: a signed-in account is one voice wherever it
    reports from, an anonymous viewer one per IPv4 address or IPv6 /48. The digests kept so
    far (an IPv4 address, or an IPv6 /64) stay, as anonymous voices."""

    dependencies = [
        ("imagegen", "0017_generation_request_id"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="sharereport",
            name="share_report_once_per_address",
        ),
        migrations.RenameField(
            model_name="sharereport",
            old_name="address",
            new_name="voice",
        ),
        migrations.AlterField(
            model_name="sharereport",
            name="voice",
            field=models.CharField(
                help_text="A keyed digest of who reported: the account, else the address "
                "(IPv6: its /48).",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="sharereport",
            name="signed_in",
            field=models.BooleanField(
                default=False, help_text="Sent by a signed-in account, not an anonymous viewer."
            ),
        ),
        migrations.AddConstraint(
            model_name="sharereport",
            constraint=models.UniqueConstraint(
                fields=("generation", "voice"), name="share_report_once_per_voice"
            ),
        ),
    ]
