"""On SQLite too, the database itself refuses two overlapping confirmed bookings of a space.

SQLite has no exclusion constraint: triggers before every insert and update abort a write that
would leave a confirmed booking sharing an instant with another of the same space. Confirmed
bookings of a space never overlap, so sorted by start they are sorted by end as well: the one
that starts last before the new booking ends is the only one that can reach into it. The
(space, start) index of Booking.Meta finds it (SQLite's planner picks it for the ORDER BY ...
LIMIT 1), walking back from the new booking's end past the few cancelled or conflicting
bookings in between; an index of its own (a partial one on confirmed bookings)
made a first sync of 2,000 rooms a tenth slower for SQLite's page cache.

Times are compared as SQLite stores them (Django's UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"),
which sorts as the instants do.
"""

from django.db import migrations

TRIGGERS = ("booking_confirmed_no_overlap_insert", "booking_confirmed_no_overlap_update")
REFUSAL = "booking_confirmed_no_overlap: the space is already booked at that time"


def last_start_before_the_end(excluding_itself: str) -> str:
    return f"""(SELECT b."end" FROM bookings_booking b
        WHERE b.space_id = NEW.space_id AND b."start" < NEW."end"
        AND b.status = 'confirmed' {excluding_itself} ORDER BY b."start" DESC LIMIT 1)"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(
        f"""CREATE TRIGGER {TRIGGERS[0]} BEFORE INSERT ON bookings_booking
        WHEN NEW.status = 'confirmed'
        BEGIN
            SELECT RAISE(ABORT, '{REFUSAL}')
            WHERE {last_start_before_the_end("")} > NEW."start";
        END"""
    )
    schema_editor.execute(
        f"""CREATE TRIGGER {TRIGGERS[1]}
        BEFORE UPDATE OF status, "start", "end", space_id ON bookings_booking
        WHEN NEW.status = 'confirmed'
        BEGIN
            SELECT RAISE(ABORT, '{REFUSAL}')
            WHERE {last_start_before_the_end("AND b.id != NEW.id")} > NEW."start";
        END"""
    )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for trigger in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger}")


class Migration(migrations.Migration):
    dependencies = [("bookings", "0003_declined_conflict_and_outlook_fields")]

    operations = [migrations.RunPython(add_triggers, drop_triggers)]
