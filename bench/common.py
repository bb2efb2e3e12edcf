"""What the Microsoft 365 benchmarks share: an organisation connected to the emulator's app.

Call after django.setup(): the models are imported here, when called.
"""

from __future__ import annotations

from typing import Any


def connected_organisation(config: dict[str, Any], *, timezone: str = "Europe/London") -> Any:
    """The "Bench" organisation, connected in room-calendar mode to the emulator's openrooms
    app (`config` is the emulator's)."""
    from openrooms.accounts.services import do_create_organisation
    from openrooms.integrations.microsoft365.connection import do_save_connection

    organisation, _ = do_create_organisation(
        name="Bench", slug="bench", admin_email="bench@bench.test",
        admin_password="bench-password-1", timezone_name=timezone,
    )
    app = next(a for a in config["apps"] if a["name"] == "openrooms")
    do_save_connection(
        organisation, tenant_id=config["tenant_id"], client_id=app["client_id"],
        client_secret=app["secret_value"], secret_expires_on=None, write_mode="room",
    )
    return organisation
