"""The production web server: gunicorn, with threads, run in this process by `openrooms serve`.

gunicorn's threaded workers are the Django convention for a WSGI app that waits on a database
and on nothing slow in a request (Graph is called from workers, never from a page). Workers and
threads come from the environment, with defaults for the machine's cores; gunicorn itself gives
SIGHUP (new workers with the new code, the old ones finish their requests) and SIGTERM
(stop accepting, finish what is in flight within the graceful timeout).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.wsgi import get_wsgi_application
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]  # no hints


def default_bind() -> str:
    """127.0.0.1:8000, or every interface on $PORT when the platform gives one."""
    port = os.environ.get("PORT")
    return f"0.0.0.0:{port}" if port else "127.0.0.1:8000"


def default_workers() -> int:
    """$WEB_CONCURRENCY, else one process per core (at least two, so one restarting or busy
    with a slow request never stops the site)."""
    return int(os.environ.get("WEB_CONCURRENCY") or max(2, os.cpu_count() or 1))


def default_threads() -> int:
    return int(os.environ.get("WEB_THREADS") or 4)


def server_options(bind: str, workers: int, threads: int) -> dict[str, Any]:
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"',
        # A request is over long before this; a worker stuck past it is replaced.
        "timeout": int(os.environ.get("WEB_TIMEOUT_SECONDS") or 60),
        "graceful_timeout": int(os.environ.get("WEB_GRACEFUL_TIMEOUT_SECONDS") or 30),
        "keepalive": 5,
        # Behind a proxy it is the proxy that connects; the app reads X-Forwarded-* itself.
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        "proc_name": "openrooms",
    }


class ProductionServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return get_wsgi_application()
