"""`m365-emulator`: serve the emulated tenant over HTTPS, or print its configuration."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .fixture import load_fixture
from .server import EmulatorOptions, base_url_for, config_for, serve
from .subscriptions import SubscriptionOptions
from .tls import DEFAULT_STATE_DIR, ensure_tls_files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="m365-emulator",
        description="Microsoft identity platform + Graph v1.0 emulator for openrooms.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9365)
    parser.add_argument("--fixture", type=Path, help="tenant fixture JSON (default: demo tenant)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="where the CA, server certificate and token key live")
    parser.add_argument("--state-file", type=Path, help="save/load calendars and subscriptions")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every Graph answer")
    parser.add_argument("--rba-delay", type=float, default=2.0,
                        help="seconds before a room's booking assistant answers")
    parser.add_argument("--subscription-max-minutes", type=int, default=10080)
    parser.add_argument("--allow-http-webhooks", action="store_true",
                        help="accept http:// notification URLs on loopback (Microsoft doesn't)")
    parser.add_argument("--webhook-ca", help="CA bundle to trust the webhook receiver's TLS")
    parser.add_argument("--print-config", action="store_true",
                        help="print settings JSON (authority, graph_url, ca_file, apps...)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.print_config:
        tls = ensure_tls_files(args.state_dir)
        base = base_url_for(args.host, args.port)
        print(json.dumps(config_for(load_fixture(args.fixture), tls, base), indent=2))
        return 0
    options = EmulatorOptions(
        host=args.host, port=args.port, fixture=args.fixture, state_dir=args.state_dir,
        state_file=args.state_file, latency_ms=args.latency_ms, rba_delay_seconds=args.rba_delay,
        subscriptions=SubscriptionOptions(
            max_lifetime_minutes=args.subscription_max_minutes,
            allow_http_webhooks=args.allow_http_webhooks,
            verify=args.webhook_ca or True),
    )
    handle = serve(options)
    print(f"m365-emulator serving {handle.base_url} (CA: {handle.emulator.tls.ca_file})",
          file=sys.stderr)
    print(f"  authority  {handle.config()['authority']}\n  web page   {handle.base_url}"
          f"/_emulator/", file=sys.stderr)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    handle.stop()  # saves --state-file
    return 0
