"""On PostgreSQL, the database itself refuses two overlapping confirmed bookings of a space.

An exclusion constraint over (space, [start, end)) holds under any concurrency; SQLite has no
such constraint, so there bookings.services serializes the check-and-insert instead.
"""

from django.db import migrations

CONSTRAINT = "booking_confirmed_no_overlap"


def add_exclusion_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"""ALTER TABLE bookings_booking ADD CONSTRAINT {CONSTRAINT}
        EXCLUDE USING gist (space_id WITH =, tstzrange("start", "end", '[)') WITH &&)
        WHERE (status = 'confirmed')"""
    )


def drop_exclusion_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE bookings_booking DROP CONSTRAINT IF EXISTS {CONSTRAINT}"
        )


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial")]

    operations = [migrations.RunPython(add_exclusion_constraint, drop_exclusion_constraint)]
