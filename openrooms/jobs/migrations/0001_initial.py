"""WorkLease moves here from the Microsoft 365 app, which created its table (its 0002): the
table is renamed and the model's state is taken over (microsoft365 0004 lets go of it)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("microsoft365", "0003_calendar_sync_state")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WorkLease",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("key", models.CharField(max_length=300, unique=True)),
                        ("holder", models.CharField(blank=True, max_length=200)),
                        ("expires_at", models.DateTimeField()),
                    ],
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE microsoft365_worklease RENAME TO jobs_worklease",
                    "ALTER TABLE jobs_worklease RENAME TO microsoft365_worklease",
                ),
            ],
        ),
    ]
