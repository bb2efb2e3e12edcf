"""How a Microsoft call fails: `GraphFailure`, the identity platform's refusals, Retry-After.

A `GraphFailure` is permanent or worth another try; Retry-After is read as RFC 9110 spells it."""

from __future__ import annotations

import datetime as dt
import json
import re
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from openrooms.integrations.microsoft365.graph.replies import reply_json

RETRYABLE_STATUSES = {429, 503, 504}
# The longest Retry-After we believe: Outlook's throttling windows are minutes long, so a
# larger value is a broken header and must not park a booking for days.
RETRY_AFTER_CAP_SECONDS = 3600.0


class GraphFailure(Exception):
    """A Microsoft call that failed. `permanent` failures need a person (consent, secret)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after


class TokenFailure(GraphFailure):
    """The identity platform refused a token; `error_codes` holds the AADSTS numbers."""

    def __init__(
        self, message: str, *, error: str, error_codes: list[int], status: int | None = None
    ) -> None:
        super().__init__(message, status=status, code=error, permanent=True)
        self.error = error
        self.error_codes = error_codes


def is_on_premises(failure: GraphFailure) -> bool:
    """Graph's answer for a mailbox hosted in on-premises Exchange (a hybrid deployment)."""
    return failure.code == "MailboxNotEnabledForRESTAPI" or "on-premise" in failure.message.lower()


def failure_of(status: int, body: object, retry_after: float | None = None) -> GraphFailure:
    """The GraphFailure of an answer with `status` and Graph's error `body` (`{"error": ...}`)."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    error = error if isinstance(error, dict) else {}
    return GraphFailure(
        str(error.get("message") or f"Microsoft Graph answered {status}."),
        status=status,
        code=str(error.get("code") or ""),
        permanent=status in {400, 401, 403, 404, 410},
        retry_after=retry_after,
    )


def failure_in_batch(answer: dict[str, object]) -> GraphFailure:
    """The GraphFailure of one failed answer of a `$batch` call."""
    return failure_of(int(str(answer.get("status") or 0)), answer.get("body"))


def graph_failure(response: httpx.Response) -> GraphFailure:
    try:
        body = reply_json(response.text)
    except json.JSONDecodeError:
        body = {}
    return failure_of(
        response.status_code, body, parse_retry_after(response.headers.get("Retry-After"))
    )


DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")
# RFC 850's obsolete date form, with its two-digit year: "Sunday, 06-Nov-94 08:49:37 GMT".
RFC850_DATE = re.compile(r"[A-Za-z]+, \d{2}-[A-Za-z]{3}-(?P<year>\d{2}) ")


def parse_retry_after(value: object, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when it says nothing usable.

    RFC 9110, section 10.2.3: delta-seconds or an HTTP-date (IMF-fixdate, and the obsolete
    RFC 850 and asctime forms, all in GMT). A date in the past means now (0). Negative, NaN
    and infinite values are not delta-seconds: None. Values past an hour are capped.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if DELTA_SECONDS.fullmatch(text):
        seconds = float(text)  # a long run of digits overflows to inf: that is "huge" too
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)  # asctime has no zone: HTTP-dates are GMT
        now = now or dt.datetime.now(dt.UTC)
        if (match := RFC850_DATE.match(text)) is not None:
            # A two-digit year more than 50 years ahead is the most recent such year past.
            year = now.year - now.year % 100 + int(match["year"])
            if year > now.year + 50:
                year -= 100
            try:
                when = when.replace(year=year)
            except ValueError:  # 29 February of a year that has none
                return None
        seconds = max(0.0, (when - now).total_seconds())
    return min(seconds, RETRY_AFTER_CAP_SECONDS)


def network_failure(url: str, error: httpx.TransportError) -> GraphFailure:
    host = urlsplit(url).netloc
    if isinstance(error, httpx.TimeoutException):
        reason = "did not answer in time"
    elif "CERTIFICATE" in str(error).upper():
        reason = "presented a certificate this server does not trust"
    else:
        reason = "could not be reached"
    return GraphFailure(f"{host} {reason} ({error.__class__.__name__}: {error}).")


def token_failure_from_discovery(message: str) -> GraphFailure:
    """The AADSTS error inside msal's 'OIDC Discovery failed' ValueError, if there is one."""
    start = message.find("{")
    try:
        body = json.loads(message[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        body = {}
    if not body.get("error"):
        return GraphFailure(message, permanent=True)
    return TokenFailure(
        body.get("error_description", message),
        error=body["error"],
        error_codes=list(body.get("error_codes", [])),
        status=400,
    )
