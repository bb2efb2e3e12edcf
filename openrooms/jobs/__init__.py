"""Background work that is not Microsoft's: leases, the worker and scheduler, periodic work.

Leases and queued marks, the worker and scheduler commands, and the periodic work each app
registers."""
