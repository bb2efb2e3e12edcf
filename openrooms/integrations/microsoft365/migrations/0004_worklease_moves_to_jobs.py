"""WorkLease now belongs to the jobs app (jobs 0001 renamed its table): only the state moves."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("microsoft365", "0003_calendar_sync_state"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="WorkLease")],
            database_operations=[],
        ),
    ]
