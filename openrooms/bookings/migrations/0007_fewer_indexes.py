"""Four indexes fewer for every booking written: the foreign keys' own (the composite indexes
begin with them) and PostgreSQL's LIKE indexes of the Outlook ids (never used).

Altering a field makes SQLite rebuild the table, which drops its no-overlap triggers: they are
dropped before and made again after (migration 0004's).
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

no_overlap = importlib.import_module("openrooms.bookings.migrations.0004_no_overlap_on_sqlite")


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0006_conflicts_indexed'),
        ('spaces', '0004_spaces_listed_rooms_first'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(no_overlap.drop_triggers, no_overlap.add_triggers),
        migrations.AlterField(
            model_name='booking',
            name='booker',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='bookings', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='booking',
            name='graph_event_id',
            field=models.CharField(blank=True, max_length=512),
        ),
        migrations.AlterField(
            model_name='booking',
            name='ical_uid',
            field=models.CharField(blank=True, max_length=512),
        ),
        migrations.AlterField(
            model_name='booking',
            name='space',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='bookings', to='spaces.space'),
        ),
        migrations.AddIndex(
            model_name='booking',
            index=models.Index(fields=['graph_event_id'], name='booking_graph_event_id'),
        ),
        migrations.AddIndex(
            model_name='booking',
            index=models.Index(fields=['ical_uid'], name='booking_ical_uid'),
        ),
        migrations.RunPython(no_overlap.add_triggers, no_overlap.drop_triggers),
    ]
