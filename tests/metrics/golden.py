"""The golden day: hand-written timelines of Monday 2 March 2026 (UTC) whose metrics were worked out
by hand in tests/metrics/test_compute.py.

Names stand for ids so the same day can be replayed as plain events (no database) or inserted as
ConversationEvent and AgentStatusEvent rows: `ids` maps alice, bob, sales (a department), billing
(a tag), acme (the site) and each visitor to real ids.

    A  transferred: alice answers (canned), hands to bob, bob wraps up and closes, resolved
    B  answered late by alice, closed unresolved, wrap-up counted from the last message
    C  abandoned after 9.9 s (a short abandon, left out of rates)
    D  abandoned after 10.1 s (counts)
    E  accepted by bob, never answered: missed
    F  alice, overlapping B, tagged, resolved; the visitor comes back two days later
    H  an offline message
"""

from datetime import datetime, timedelta, timezone

DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)
AS_OF = datetime(2026, 3, 20, tzinfo=timezone.utc)  # every 7-day FCR window of the day has passed


def at(clock: str, day: datetime = DAY) -> datetime:
    h, m, s = clock.split(":")
    return day + timedelta(hours=int(h), minutes=int(m), seconds=float(s))


# chat name → (visitor name, department name or None)
CHATS = {
    "A": ("ann", "sales"), "B": ("ben", "sales"), "C": ("cid", None), "D": ("dan", None),
    "E": ("eve", "sales"), "F": ("fay", None), "H": ("hal", None),
    # Later chats of the same visitors: ann after 10 days (outside the window), fay after 2 days.
    "A2": ("ann", None), "F2": ("fay", None),
}


def events(ids: dict) -> list[tuple[str, str, datetime, int | None, dict]]:
    """(chat, kind, at, actor agent id, details) of the golden day, as lifecycle.py writes them."""
    alice, bob, billing = ids["alice"], ids["bob"], ids["billing"]
    return [
        ("A", "queued", at("10:00:00"), None, {"topic": "Orders", "priority": 0}),
        ("A", "assigned", at("10:00:05"), None, {"agent_id": alice, "reason": {}}),
        ("A", "accepted", at("10:00:08"), alice, {"agent_id": alice, "auto": False}),
        ("A", "message", at("10:00:10"), None, {"seq": 1, "author": "visitor", "visibility": "public", "chars": 5}),
        ("A", "message", at("10:00:15"), alice, {"seq": 2, "author": "agent", "visibility": "public", "chars": 9,
                                                 "canned_response_id": 3}),
        ("A", "message", at("10:01:00"), alice, {"seq": 3, "author": "agent", "visibility": "internal", "chars": 4}),
        ("A", "transferred", at("10:02:00"), alice, {"from_agent_id": alice, "to_agent_id": bob,
                                                     "to_department_id": None, "to_skill_id": None, "note": ""}),
        ("A", "accepted", at("10:02:10"), bob, {"agent_id": bob, "auto": False}),
        ("A", "message", at("10:03:00"), bob, {"seq": 4, "author": "agent", "visibility": "public", "chars": 7}),
        ("A", "wrapup", at("10:05:00"), bob, {"agent_id": bob}),
        ("A", "closed", at("10:06:00"), bob, {"agent_id": bob, "resolved": True, "summary": "",
                                              "tags": ["billing"], "wrapup_started_at": at("10:05:00").isoformat(),
                                              "wrapup_source": "wrapup"}),

        ("B", "queued", at("11:00:00"), None, {"topic": None, "priority": 0}),
        ("B", "assigned", at("11:00:30"), None, {"agent_id": alice, "reason": {}}),
        ("B", "accepted", at("11:00:30"), None, {"agent_id": alice, "auto": True}),
        ("B", "message", at("11:00:40"), alice, {"seq": 1, "author": "agent", "visibility": "public", "chars": 3}),
        ("B", "message", at("11:01:00"), None, {"seq": 2, "author": "visitor", "visibility": "public", "chars": 3}),
        ("B", "closed", at("11:10:00"), alice, {"agent_id": alice, "resolved": False, "summary": "", "tags": [],
                                                "wrapup_started_at": at("11:01:00").isoformat(),
                                                "wrapup_source": "last_message"}),

        ("C", "queued", at("12:00:00"), None, {"topic": None, "priority": 0}),
        ("C", "abandoned", at("12:00:09.9"), None, {"agent_id": None, "resolved": None, "summary": ""}),

        ("D", "queued", at("12:10:00"), None, {"topic": None, "priority": 0}),
        ("D", "abandoned", at("12:10:10.1"), None, {"agent_id": None, "resolved": None, "summary": ""}),

        ("E", "queued", at("13:00:00"), None, {"topic": None, "priority": 0}),
        ("E", "assigned", at("13:00:02"), None, {"agent_id": bob, "reason": {}}),
        ("E", "accepted", at("13:00:02"), None, {"agent_id": bob, "auto": True}),
        ("E", "message", at("13:00:05"), None, {"seq": 1, "author": "visitor", "visibility": "public", "chars": 2}),
        ("E", "missed", at("13:05:02"), None, {"agent_id": bob, "resolved": None, "summary": ""}),

        ("F", "queued", at("11:05:00"), None, {"topic": None, "priority": 0}),
        ("F", "assigned", at("11:05:04"), None, {"agent_id": alice, "reason": {}}),
        ("F", "accepted", at("11:05:04"), None, {"agent_id": alice, "auto": True}),
        ("F", "message", at("11:05:20"), alice, {"seq": 1, "author": "agent", "visibility": "public", "chars": 3}),
        ("F", "tagged", at("11:06:00"), alice, {"tag_id": billing, "tag": "billing"}),
        ("F", "closed", at("11:09:00"), alice, {"agent_id": alice, "resolved": True, "summary": "",
                                                "tags": ["billing"], "wrapup_started_at": None,
                                                "wrapup_source": None}),

        ("H", "offline_message", at("15:00:00"), None, {"chars": 20}),

        ("A2", "queued", at("09:00:00", DAY + timedelta(days=10)), None, {"topic": None, "priority": 0}),
        ("F2", "queued", at("09:00:00", DAY + timedelta(days=2)), None, {"topic": None, "priority": 0}),
    ]


def status_changes(ids: dict) -> list[tuple[str, datetime, str, str]]:
    """(agent, at, status, previous): alice online 09:00-15:00; bob online since the evening before,
    offline at 13:30."""
    return [
        ("bob", at("20:00:00", DAY - timedelta(days=1)), "online", "offline"),
        ("alice", at("09:00:00"), "online", "offline"),
        ("bob", at("13:30:00"), "offline", "online"),
        ("alice", at("15:00:00"), "offline", "online"),
    ]
