"""Request bodies over their cap are refused from Content-Length, before anything reads them:
413, as JSON where the client speaks JSON."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse

from openrooms.accounts.services import do_create_api_token


class UnreadablePayload(io.RawIOBase):
    """A body that fails the test if anything reads from it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = read  # type: ignore[assignment]


def claimed_body(length: int) -> dict[str, Any]:
    """WSGI environ of a multipart body of `length` bytes that must not be read."""
    return {"CONTENT_TYPE": "multipart/form-data; boundary=x", "CONTENT_LENGTH": str(length),
            "wsgi.input": UnreadablePayload()}


def test_an_anonymous_hundred_megabyte_upload_is_refused_unread():
    started = time.perf_counter()
    response = Client().generic("POST", "/accounts/login/", **claimed_body(100 * 1024 * 1024))
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert "KB this address accepts" in response.content.decode()
    assert time.perf_counter() - started < 0.1


def test_an_api_body_over_the_cap_is_a_json_413(member):
    _, token = do_create_api_token(member)
    client = Client(headers={"authorization": f"Bearer {token}"})
    body = json.dumps({"space": 1, "title": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    response = client.post("/api/v1/bookings", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_the_plans_json_over_the_cap_is_a_json_413(member_client, floor):
    body = json.dumps({"title": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    response = member_client.post(
        reverse("plan_book", args=[floor.pk]), body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_plan_image_over_the_upload_cap_is_refused_unread(admin_client, floor):
    response = admin_client.generic(
        "POST", reverse("plan_image_upload", args=[floor.office_id, floor.pk]),
        **claimed_body(settings.UPLOAD_MAX_BYTES + 1),
    )
    assert response.status_code == 413


def test_an_upload_within_the_cap_still_reaches_the_view(admin_client, floor):
    # Not an image: the plan's own check answers, so the cap let it through.
    response = admin_client.post(
        reverse("plan_image_upload", args=[floor.office_id, floor.pk]),
        {"image": io.BytesIO(b"not an image" * 1000)},
    )
    assert response.status_code != 413
