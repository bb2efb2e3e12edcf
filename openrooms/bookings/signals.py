"""What other apps may learn about bookings, without bookings knowing who listens.

`booking_changed` is sent by the actions in bookings.services *inside* their transaction, after
the booking row is written: a receiver's own rows (the Microsoft 365 outbox) commit or roll back
with the booking, and a receiver that raises undoes the action. Receivers must not call out to
other systems here; they record work and let it run on commit.
"""

from django.dispatch import Signal

# Sent with `booking` (a saved Booking) and `change`: "created", "moved" or "cancelled".
booking_changed = Signal()
