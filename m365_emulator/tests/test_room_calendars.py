"""Room calendars over HTTP: calendarView, events CRUD, the booking assistant, recurrence."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from m365_emulator.testing import wait_until

ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"


def day(offset: int) -> str:
    """A date relative to today: the booking assistant judges windows against the real clock."""
    return (date.today() + timedelta(days=offset)).isoformat()


def room(n: int) -> str:
    return f"gen-room-{n:03d}@contoso.onmicrosoft.com"


def event(subject, start, end, *, zone="UTC", room_address=None, **extra):
    body = {"subject": subject, "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone}, **extra}
    if room_address:
        body["attendees"] = [{"type": "resource", "emailAddress": {"address": room_address}}]
    return body


def view(graph, mailbox, start, end, **kwargs):
    answer = graph.get(f"/users/{mailbox}/calendarView",
                       params={"startDateTime": start, "endDateTime": end}, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer


def test_calendar_view_requires_a_window(graph):
    answer = graph.get(f"/users/{room(1)}/calendarView")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorInvalidParameter"
    assert "StartDateTime and EndDateTime" in answer.json()["error"]["message"]


def test_calendar_view_pages_by_10_and_honours_select_and_timezone(graph):
    mailbox = room(2)
    for hour in range(12):
        created = graph.post(f"/users/{mailbox}/events", json=event(
            f"slot {hour}", f"2027-02-01T{hour:02d}:00:00", f"2027-02-01T{hour:02d}:30:00"))
        assert created.status_code == 201, created.text
    first = graph.get(
        f"/users/{mailbox}/calendarView",
        params={"startDateTime": "2027-02-01T00:00:00Z", "endDateTime": "2027-02-02T00:00:00Z",
                "$select": "subject,start"},
        headers={"Prefer": 'outlook.timezone="Europe/Paris"'})
    body = first.json()
    assert len(body["value"]) == 10
    assert set(body["value"][0]) == {"@odata.etag", "id", "subject", "start"}
    assert body["value"][0]["start"] == {"dateTime": "2027-02-01T01:00:00.0000000",
                                         "timeZone": "Europe/Paris"}
    second = graph.get(body["@odata.nextLink"],
                       headers={"Prefer": 'outlook.timezone="Europe/Paris"'}).json()
    assert [e["subject"] for e in second["value"]] == ["slot 10", "slot 11"]
    assert "@odata.nextLink" not in second


def test_event_crud_and_transaction_id_idempotency(graph):
    mailbox = room(3)
    transaction = str(uuid.uuid4())
    payload = event("Direct", "2027-02-02T09:00:00", "2027-02-02T10:00:00",
                    transactionId=transaction)
    first = graph.post(f"/users/{mailbox}/events", json=payload)
    again = graph.post(f"/users/{mailbox}/events", json=payload)
    assert first.status_code == 201 and again.status_code in (200, 201)
    event_id = first.json()["id"]
    assert again.json()["id"] == event_id
    patched = graph.patch(f"/users/{mailbox}/events/{event_id}", json={"subject": "Moved"})
    assert patched.status_code == 200 and patched.json()["subject"] == "Moved"
    assert graph.get(f"/users/{mailbox}/events/{event_id}").json()["subject"] == "Moved"
    assert graph.delete(f"/users/{mailbox}/events/{event_id}").status_code == 204
    missing = graph.get(f"/users/{mailbox}/events/{event_id}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_booking_assistant_accepts_then_declines_a_conflict(graph):
    mailbox = room(4)
    first = graph.post(f"/users/{ALICE}/events", json=event(
        "Alice's meeting", f"{day(10)}T09:00:00", f"{day(10)}T10:00:00",
        room_address=mailbox)).json()

    def response_of(organizer, event_id):
        item = graph.get(f"/users/{organizer}/events/{event_id}").json()
        return item["attendees"][0]["status"]["response"]

    assert wait_until(lambda: response_of(ALICE, first["id"]) == "accepted")
    copies = view(graph, mailbox, f"{day(10)}T00:00:00", f"{day(11)}T00:00:00").json()["value"]
    assert len(copies) == 1 and copies[0]["iCalUId"] == first["iCalUId"]
    clash = graph.post(f"/users/{BOB}/events", json=event(
        "Bob's clash", f"{day(10)}T09:30:00", f"{day(10)}T10:30:00",
        room_address=mailbox)).json()
    assert wait_until(lambda: response_of(BOB, clash["id"]) == "declined")
    assert len(view(graph, mailbox, f"{day(10)}T00:00:00",
                    f"{day(11)}T00:00:00").json()["value"]) == 1


def test_booking_assistant_declines_too_long_for_the_room_policy(graph):
    seine_orsay = "paris-orsay@contoso.onmicrosoft.com"  # max 120 minutes in the demo tenant
    booked = graph.post(f"/users/{ALICE}/events", json=event(
        "Workshop", f"{day(12)}T09:00:00", f"{day(12)}T13:00:00",
        room_address=seine_orsay)).json()
    assert wait_until(lambda: graph.get(f"/users/{ALICE}/events/{booked['id']}").json()
                      ["attendees"][0]["status"]["response"] == "declined")


def test_cancel_by_organizer_is_202_and_others_get_400(graph):
    mailbox = room(5)
    booked = graph.post(f"/users/{ALICE}/events", json=event(
        "To cancel", f"{day(11)}T09:00:00", f"{day(11)}T10:00:00", room_address=mailbox)).json()
    assert wait_until(lambda: view(graph, mailbox, f"{day(11)}T00:00:00",
                                   f"{day(12)}T00:00:00").json()["value"])
    copy_id = view(graph, mailbox, f"{day(11)}T00:00:00",
                   f"{day(12)}T00:00:00").json()["value"][0]["id"]
    assert graph.post(f"/users/{mailbox}/events/{copy_id}/cancel",
                      json={"comment": "no"}).status_code == 400
    assert graph.post(f"/users/{ALICE}/events/{booked['id']}/cancel",
                      json={"comment": "Sorry"}).status_code == 202

    def room_copy_cancelled():
        items = view(graph, mailbox, f"{day(11)}T00:00:00", f"{day(12)}T00:00:00").json()["value"]
        return items and items[0]["isCancelled"]

    assert wait_until(room_copy_cancelled)


def test_weekly_series_keeps_local_time_across_the_dst_change(graph):
    mailbox = room(6)
    series = event("Weekly", "2027-03-15T09:00:00", "2027-03-15T10:00:00", zone="Europe/Paris",
                   recurrence={"pattern": {"type": "weekly", "interval": 1,
                                           "daysOfWeek": ["monday"]},
                               "range": {"type": "numbered", "startDate": "2027-03-15",
                                         "numberOfOccurrences": 4}})
    assert graph.post(f"/users/{mailbox}/events", json=series).status_code == 201
    body = graph.get(f"/users/{mailbox}/calendarView",
                     params={"startDateTime": "2027-03-01T00:00:00Z",
                             "endDateTime": "2027-04-30T00:00:00Z"},
                     headers={"Prefer": 'outlook.timezone="UTC"'}).json()
    starts = [e["start"]["dateTime"][:16] for e in body["value"]]
    # Paris leaves CET for CEST on 28 March 2027: 09:00 local is 08:00 UTC, then 07:00 UTC.
    assert starts == ["2027-03-15T08:00", "2027-03-22T08:00", "2027-03-29T07:00",
                      "2027-04-05T07:00"]
    assert {e["type"] for e in body["value"]} == {"occurrence"}
    assert len({e["seriesMasterId"] for e in body["value"]}) == 1
