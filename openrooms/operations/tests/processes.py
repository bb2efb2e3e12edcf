"""Running openrooms as an operator does, for the operations tests: a free port, the health."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

PROJECT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers_health(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
