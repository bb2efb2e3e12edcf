"""The Microsoft 365 integration app: its signal receiver and its periodic work."""

from django.apps import AppConfig


class Microsoft365Config(AppConfig):
    name = "openrooms.integrations.microsoft365"
    label = "microsoft365"
    verbose_name = "Microsoft 365"

    def ready(self) -> None:
        # bookings knows nothing of Microsoft 365: it announces its changes, and the outbox
        # records them inside the same transaction.
        from openrooms.bookings.signals import booking_changed
        from openrooms.integrations.microsoft365 import schedule
        from openrooms.integrations.microsoft365.outbound import (
            extend_entry_claims,
            record_booking_change,
            release_entry_claims,
        )
        from openrooms.jobs.heartbeat import register_claims

        booking_changed.connect(record_booking_change, dispatch_uid="microsoft365-outbox")
        schedule.register()
        # A worker's heartbeat keeps its outbox claims alive; one that stops lets them go.
        register_claims(extend_entry_claims, release_entry_claims)
