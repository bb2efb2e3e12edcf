"""Places and users: paging to the end, $top/$skip/$select/$filter/$count."""

from __future__ import annotations

from m365_emulator.tests.conftest import graph_client, token_for

ROOM_FIELDS = {"id", "emailAddress", "displayName", "address", "geoCoordinates", "phone",
               "nickname", "label", "capacity", "building", "floorNumber", "floorLabel",
               "isWheelChairAccessible", "bookingType", "tags", "audioDeviceName",
               "videoDeviceName", "displayDeviceName"}


def follow(graph, url, params=None):
    pages, items = 0, []
    answer = graph.get(url, params=params)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["value"]
        pages += 1
        if "@odata.nextLink" not in body:
            return pages, items
        answer = graph.get(body["@odata.nextLink"])


def test_rooms_page_by_100_to_the_end(graph):
    pages, rooms = follow(graph, "/places/microsoft.graph.room")
    assert pages == 2
    assert len(rooms) == 12 + 1 + 150  # demo rooms + the on-premises one + generated
    assert len({r["emailAddress"] for r in rooms}) == len(rooms)
    assert set(rooms[0]) >= ROOM_FIELDS


def test_room_not_yet_in_places_is_absent(graph):
    _, rooms = follow(graph, "/places/microsoft.graph.room")
    assert "paris-newroom@contoso.onmicrosoft.com" not in {r["emailAddress"] for r in rooms}


def test_top_skip_select_and_count(graph):
    body = graph.get("/places/microsoft.graph.room",
                     params={"$top": "5", "$skip": "2", "$select": "displayName,capacity",
                             "$count": "true"}).json()
    assert len(body["value"]) == 5
    assert body["@odata.count"] == 163
    assert set(body["value"][0]) - {"@odata.type"} == {"id", "displayName", "capacity"}
    assert "$skip=7" in body["@odata.nextLink"]


def test_filter_by_building(graph):
    body = graph.get("/places/microsoft.graph.room",
                     params={"$filter": "building eq 'Lyon office'"}).json()
    assert len(body["value"]) == 5
    assert {r["building"] for r in body["value"]} == {"Lyon office"}


def test_room_lists_and_their_rooms(graph):
    lists = graph.get("/places/microsoft.graph.roomlist").json()["value"]
    assert {rl["emailAddress"] for rl in lists} == {"paris-rooms@contoso.onmicrosoft.com",
                                                    "lyon-rooms@contoso.onmicrosoft.com"}
    rooms = graph.get("/places/lyon-rooms@contoso.onmicrosoft.com/microsoft.graph.roomlist/"
                      "rooms").json()["value"]
    assert len(rooms) == 5


def test_unknown_room_list_is_404(graph):
    answer = graph.get("/places/nope@contoso.onmicrosoft.com/microsoft.graph.roomlist/rooms")
    assert answer.status_code == 404


def test_users_page_to_the_end_and_resolve_by_upn_or_id(graph):
    pages, users = follow(graph, "/users")
    assert pages == 2
    alice = next(u for u in users if u["userPrincipalName"].startswith("alice@"))
    assert graph.get(f"/users/{alice['userPrincipalName']}").json()["id"] == alice["id"]
    assert graph.get(f"/users/{alice['id']}").json()["displayName"] == "Alice Martin"


def test_unknown_user_is_404_request_resource_not_found(graph):
    answer = graph.get("/users/ghost@contoso.onmicrosoft.com")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "Request_ResourceNotFound"


def test_room_appears_in_places_once_published(graph, control):
    new_room = "paris-newroom@contoso.onmicrosoft.com"
    assert control.post("/places/publish", json={"room": new_room}).status_code == 204
    rooms = graph.get("/places/microsoft.graph.room",
                      params={"$filter": f"emailAddress eq '{new_room}'"}).json()["value"]
    assert [r["emailAddress"] for r in rooms] == [new_room]


def test_get_place_by_address_or_id_answers_its_type(graph):
    room = graph.get("/places/paris-seine@contoso.onmicrosoft.com")
    assert room.status_code == 200
    assert room.json()["@odata.type"] == "#microsoft.graph.room"
    assert room.json()["emailAddress"] == "paris-seine@contoso.onmicrosoft.com"
    by_id = graph.get(f"/places/{room.json()['id']}").json()
    assert by_id["emailAddress"] == room.json()["emailAddress"]
    room_list = graph.get("/places/paris-rooms@contoso.onmicrosoft.com").json()
    assert room_list["@odata.type"] == "#microsoft.graph.roomList"


def test_a_persons_mailbox_is_no_place(graph):
    answer = graph.get("/places/alice@contoso.onmicrosoft.com")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "ErrorItemNotFound"


def test_mailbox_settings_say_what_a_mailbox_is_for(graph):
    for address, purpose in (("alice@contoso.onmicrosoft.com", "user"),
                             ("paris-newroom@contoso.onmicrosoft.com", "room")):
        answer = graph.get(f"/users/{address}/mailboxSettings/userPurpose")
        assert answer.status_code == 200
        assert answer.json()["value"] == purpose
        assert answer.json()["@odata.context"].endswith("/mailboxSettings/userPurpose")
        whole = graph.get(f"/users/{address}/mailboxSettings", params={"$select": "userPurpose"})
        assert set(whole.json()) == {"@odata.context", "userPurpose"}


def test_an_on_premises_mailbox_has_no_settings_through_graph(graph):
    answer = graph.get("/users/david.onprem@contoso.onmicrosoft.com/mailboxSettings/userPurpose")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"


def test_mailbox_settings_need_the_mailbox_settings_permission(config):
    token = token_for(config, "openrooms-no-calendar-consent")
    with graph_client(config, token) as graph:
        answer = graph.get("/users/alice@contoso.onmicrosoft.com/mailboxSettings/userPurpose")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"
