"""HSTS: on by default once served over HTTPS (behind a proxy that says so), off for the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.test import Client


def settings_with(**environment: str) -> dict[str, object]:
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'hsts': settings.SECURE_HSTS_SECONDS, "
        "'proxy': settings.SECURE_PROXY_SSL_HEADER, 'secure': settings.SESSION_COOKIE_SECURE}))"
    )
    ours = {"DEBUG", "OPENROOMS_INSECURE_HTTP", "BEHIND_PROXY", "SECURE_HSTS_SECONDS"}
    clean = {name: value for name, value in os.environ.items() if name not in ours}
    result = subprocess.run(
        [sys.executable, "-c", script], env={**clean, **environment,
                                             "DJANGO_SETTINGS_MODULE": "openrooms.settings"},
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_behind_an_https_proxy_hsts_is_on_for_a_year_by_default():
    values = settings_with(BEHIND_PROXY="1")
    assert values["hsts"] == 31_536_000
    assert values["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_the_plain_http_demo_sends_no_hsts():
    assert settings_with(OPENROOMS_INSECURE_HTTP="1")["hsts"] == 0
    assert settings_with(DEBUG="1")["hsts"] == 0


def test_an_administrator_can_turn_it_off():
    assert settings_with(BEHIND_PROXY="1", SECURE_HSTS_SECONDS="0")["hsts"] == 0


def test_an_answer_the_proxy_marks_https_carries_the_header(settings, db):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    over_https = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert over_https["Strict-Transport-Security"] == "max-age=31536000"
    over_http = Client().get("/accounts/login/")
    assert "Strict-Transport-Security" not in over_http
