"""On SQLite too, the database itself refuses two overlapping confirmed bookings of a space.

SQLite has no exclusion constraint: triggers before every insert and update abort a write that
would leave a confirmed booking sharing an instant with another of the same space. Confirmed
bookings of a space never overlap, so sorted by start they are sorted by end as well: the one
that starts last before the new booking ends is the only one that can reach into it, and a
partial index finds it in one step, however many bookings the space has.

Times are compared as SQLite stores them (Django's UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"),
which sorts as the instants do.
"""

from django.db import migrations

INDEX = "booking_confirmed_by_space_start"
TRIGGERS = ("booking_confirmed_no_overlap_insert", "booking_confirmed_no_overlap_update")
REFUSAL = "booking_confirmed_no_overlap: the space is already booked at that time"


def last_start_before_the_end(excluding_itself: str) -> str:
    return f"""(SELECT b."end" FROM bookings_booking b
        WHERE b.space_id = NEW.space_id AND b.status = 'confirmed' {excluding_itself}
        AND b."start" < NEW."end" ORDER BY b."start" DESC LIMIT 1)"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(
        f"""CREATE INDEX {INDEX} ON bookings_booking (space_id, "start")
        WHERE status = 'confirmed'"""
    )
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
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("bookings", "0003_declined_conflict_and_outlook_fields")]

    operations = [migrations.RunPython(add_triggers, drop_triggers)]
