"""Every booking made in the app now gets its transactionId when it is made (bookings.services);
the ones made before are given theirs here."""

import uuid

from django.db import migrations


def give_transaction_ids(apps, schema_editor):
    Booking = apps.get_model("bookings", "Booking")
    missing = Booking.objects.filter(source="app", transaction_id__isnull=True)
    for booking in missing.only("pk").iterator():
        Booking.objects.filter(pk=booking.pk).update(transaction_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("bookings", "0004_no_overlap_on_sqlite")]

    operations = [migrations.RunPython(give_transaction_ids, migrations.RunPython.noop)]
