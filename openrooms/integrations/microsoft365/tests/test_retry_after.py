"""Retry-After, read one way everywhere (graph.failures.parse_retry_after).

RFC 9110's delta-seconds and HTTP-dates, and the values a broken server or proxy sends."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from openrooms.integrations.microsoft365.graph.client import (
    Credentials,
    GraphClient,
)
from openrooms.integrations.microsoft365.graph.failures import (
    RETRY_AFTER_CAP_SECONDS,
    graph_failure,
    parse_retry_after,
)

NOW = dt.datetime(2026, 11, 6, 8, 49, 7, tzinfo=dt.UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("0", 0.0),
    ("7", 7.0),
    (" 120 ", 120.0),
    ("1.5", 1.5),
    ("3600", 3600.0),
])
def test_it_reads_delta_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize("value", [
    None, "", "   ", "-1", "-0.5", "nan", "NaN", "inf", "-inf", "Infinity", "1e3", "0x10",
    "soon", "1 2", "Sun, 31 Feb 2026 08:49:37 GMT", 5,
])
def test_it_ignores_what_is_not_a_retry_after(value):
    assert parse_retry_after(value) is None


@pytest.mark.parametrize("value", ["86400", "1000000000", "9" * 400])
def test_it_caps_huge_values_at_an_hour(value):
    assert parse_retry_after(value) == RETRY_AFTER_CAP_SECONDS


@pytest.mark.parametrize("value", [
    "Fri, 06 Nov 2026 08:49:37 GMT",  # IMF-fixdate, the form servers must send
    "Friday, 06-Nov-26 08:49:37 GMT",  # obsolete RFC 850 form
    "Fri Nov  6 08:49:37 2026",  # obsolete asctime form, no zone: GMT
])
def test_it_reads_every_http_date_form(value):
    assert parse_retry_after(value, now=NOW) == 30.0


def test_an_http_date_in_the_past_means_now():
    assert parse_retry_after("Thu, 05 Nov 2026 08:49:37 GMT", now=NOW) == 0.0


def test_a_far_http_date_is_capped():
    assert parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now=NOW) == RETRY_AFTER_CAP_SECONDS


def test_a_two_digit_year_more_than_50_years_ahead_is_in_the_past():
    # RFC 9110, 5.6.7: in 2026, "-76" is 2076 (50 years ahead, not more), "-77" is 1977.
    assert parse_retry_after("Wednesday, 06-Nov-76 08:49:37 GMT", now=NOW) == 3600.0
    assert parse_retry_after("Saturday, 06-Nov-77 08:49:37 GMT", now=NOW) == 0.0


def test_graph_failures_and_backoff_use_it():
    response = httpx.Response(
        429, headers={"Retry-After": "Fri, 06 Nov 2026 08:49:37 GMT"},
        json={"error": {"code": "TooManyRequests", "message": "Please retry again later."}},
        request=httpx.Request("GET", "https://graph.test/v1.0/users"),
    )
    failure = graph_failure(response)
    assert failure.status == 429 and failure.retry_after is not None
    assert graph_failure(httpx.Response(
        503, headers={"Retry-After": "-3"},
        request=httpx.Request("GET", "https://graph.test/v1.0/users"),
    )).retry_after is None
    client = GraphClient(Credentials("t", "c", "s"), http=httpx.Client(), max_wait_seconds=2)
    assert client.backoff(1, 30.0) == 2
    assert client.backoff(1, 0.5) == 0.5
    assert 0.5 <= client.backoff(2, None) <= 2
