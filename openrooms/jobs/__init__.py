"""Background work that is not Microsoft's: leases and queued marks, the worker and scheduler
commands, and the periodic work each app registers."""
