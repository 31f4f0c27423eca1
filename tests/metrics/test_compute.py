"""The pure metrics computation on hand-written timelines, without a database.

Every expected number is a literal worked out by hand from tests/metrics/golden.py; the comment
beside it shows the arithmetic. Times are 2 March 2026 UTC.
"""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from metrics import compute
from tests.metrics import golden

IDS = {"alice": 1, "bob": 2, "sales": 7, "billing": 50, "acme": 1}
CHAT_IDS = {name: n for n, name in enumerate(golden.CHATS, start=1)}
VISITOR_IDS = {"ann": 101, "ben": 102, "cid": 103, "dan": 104, "eve": 105, "fay": 106, "hal": 108}
UTC = ZoneInfo("UTC")
ALICE, BOB, SALES, BILLING = 1, 2, 7, 50


def golden_dataset():
    by_chat: dict[str, list[compute.Event]] = {name: [] for name in golden.CHATS}
    for n, (chat, kind, at, agent_id, details) in enumerate(golden.events(IDS), start=1):
        by_chat[chat].append(compute.Event(CHAT_IDS[chat], kind, at, agent_id, details, n))
    facts, contacts = [], {}
    for name, (visitor, department) in golden.CHATS.items():
        chat = compute.Chat(CHAT_IDS[name], 1, VISITOR_IDS[visitor], IDS.get(department))
        facts.append(compute.chat_facts(chat, by_chat[name], {(1, "billing"): BILLING}))
        for event in by_chat[name]:
            if event.kind in ("queued", "offline_message"):
                contacts.setdefault(chat.visitor_id, []).append((event.at, chat.id))
    changes = {ALICE: [], BOB: []}
    for agent, at, status, _ in golden.status_changes(IDS):
        changes[IDS[agent]].append(compute.StatusChange(IDS[agent], at, status))
    return facts, contacts, changes


def golden_day(scopes=compute.SCOPES):
    facts, contacts, changes = golden_dataset()
    buckets = compute.periods(date(2026, 3, 2), date(2026, 3, 2), "day", UTC)
    start, end = buckets[0].start, buckets[-1].end

    def before(agent_id):
        earlier = [c for c in changes[agent_id] if c.at < start]
        return earlier[-1].status if earlier else None

    online = {agent_id: compute.online_intervals(c, before(agent_id), start, end) for agent_id, c in changes.items()}
    return compute.aggregate(facts, buckets=buckets, as_of=golden.AS_OF, online=online, contacts=contacts,
                             scopes=scopes)


def metrics_of(scope, key):
    return golden_day()[(0, scope, key)].metrics()


# --- One chat's facts -------------------------------------------------------------------------

def test_a_transferred_chat_has_one_segment_per_agent_with_its_own_handling_time():
    facts = {f.chat.id: f for f in golden_dataset()[0]}
    a = facts[CHAT_IDS["A"]]
    assert [(s.agent_id, s.accepted_at, s.released_at) for s in a.segments] == [
        (ALICE, golden.at("10:00:08"), golden.at("10:02:00")),
        (BOB, golden.at("10:02:10"), golden.at("10:06:00")),
    ]
    assert a.handled_seconds(ALICE) == 112  # 10:00:08 → 10:02:00
    assert a.handled_seconds(BOB) == 230  # 10:02:10 → 10:06:00
    assert a.handled_seconds() == 342  # 112 + 230
    assert a.wait_seconds == 8  # queued 10:00:00 → first accept 10:00:08
    assert a.first_response_seconds == 15  # → alice's first public message 10:00:15 (the note does not count)
    assert a.wrapup_seconds == 60  # wrapup_started_at 10:05:00 → closed 10:06:00
    assert (a.outcome, a.end_agent_id, a.resolved) == ("closed", BOB, True)
    assert a.tag_ids == {BILLING}  # from the close event's "tags" names
    assert a.public_messages == 3  # visitor, alice, bob; the internal note is left out


def test_a_chat_still_open_has_no_outcome_and_an_unreleased_segment():
    events = [compute.Event(1, "queued", golden.at("10:00:00")),
              compute.Event(1, "assigned", golden.at("10:00:01"), details={"agent_id": ALICE}),
              compute.Event(1, "accepted", golden.at("10:00:01"), details={"agent_id": ALICE})]
    facts = compute.chat_facts(compute.Chat(1, 1, 1), events)
    assert facts.outcome is None and facts.ended_at is None
    assert facts.segments[0].released_at is None


def test_untagging_removes_a_tag_and_requeue_releases_the_agent():
    events = [compute.Event(1, "queued", golden.at("10:00:00")),
              compute.Event(1, "assigned", golden.at("10:00:01"), details={"agent_id": ALICE}),
              compute.Event(1, "accepted", golden.at("10:00:02"), details={"agent_id": ALICE}),
              compute.Event(1, "tagged", golden.at("10:00:03"), details={"tag_id": 5}),
              compute.Event(1, "tagged", golden.at("10:00:04"), details={"tag_id": 6}),
              compute.Event(1, "untagged", golden.at("10:00:05"), details={"tag_id": 5}),
              compute.Event(1, "requeued", golden.at("10:00:12"), details={"from_agent_id": ALICE}),
              compute.Event(1, "abandoned", golden.at("10:01:00"), details={"agent_id": None})]
    facts = compute.chat_facts(compute.Chat(1, 1, 1), events)
    assert facts.tag_ids == {6}
    assert facts.handled_seconds(ALICE) == 10  # accepted 10:00:02 → requeued 10:00:12
    assert facts.outcome == "abandoned" and facts.end_agent_id is None


# --- The golden day, in total -----------------------------------------------------------------

def test_the_golden_day_in_total():
    m = metrics_of("total", 0)
    assert m["chats"] == 6  # A B C D E F queued; H is an offline message
    assert m["offline_messages"] == 1
    assert (m["ended"], m["closed"], m["missed"], m["abandoned"], m["short_abandoned"]) == (6, 3, 1, 1, 1)
    # C waited 9.9 s (< 10: short, left out); D waited 10.1 s (counts).
    assert m["abandonment_rate"] == 0.2  # 1 (D) / (6 ended - 1 short)
    assert m["missed_rate"] == 0.2  # 1 (E) / 5
    # Eligible: A B D E F (5). Answered within 20 s: A (15 s), F (20 s, the limit counts); B took 40 s.
    assert (m["service_level_answered"], m["service_level_eligible"], m["service_level"]) == (2, 5, 0.4)
    # FRT: A 15, F 20 (11:05:00 → 11:05:20), B 40 → mean 75/3 = 25, median 20, p90 = 3rd of 3 (ceil 2.7) = 40
    assert m["first_response_seconds"] == {"count": 3, "mean": 25.0, "median": 20.0, "p90": 40.0}
    # Wait (queued → first accept): E 2, F 4, A 8, B 30 → mean 44/4 = 11, median (4+8)/2 = 6, p90 = 4th (ceil 3.6)
    assert m["wait_seconds"] == {"count": 4, "mean": 11.0, "median": 6.0, "p90": 30.0}
    # Handle (accept → release, all agents): F 236, E 300, A 112+230 = 342, B 570
    # → mean 1448/4 = 362, median (300+342)/2 = 321, p90 = 570
    assert m["handle_seconds"] == {"count": 4, "mean": 362.0, "median": 321.0, "p90": 570.0}
    # Wrap-up: A 10:05:00 → 10:06:00 = 60; B last message 11:01:00 → 11:10:00 = 540; F none recorded
    assert m["wrapup_seconds"] == {"count": 2, "mean": 300.0, "median": 300.0, "p90": 540.0}
    # Resolution (closed and marked resolved): A 10:00 → 10:06 = 360, F 11:05 → 11:09 = 240
    assert m["resolution_seconds"] == {"count": 2, "mean": 300.0, "median": 300.0, "p90": 360.0}
    assert m["messages_per_chat"] == 2.0  # closed A 3 + B 2 + F 1 = 6 public messages / 3
    # Agent public messages: A alice (canned) and bob, B alice, F alice = 4, one canned
    assert (m["agent_messages"], m["canned_messages"], m["canned_share"]) == (4, 1, 0.25)
    assert (m["handled_chats"], m["transferred_chats"], m["transfer_rate"]) == (4, 1, 0.25)  # A of A B E F
    # FCR: closed A B F. A resolved, ann back only after 10 days: yes. B unresolved. F resolved but fay
    # came back after 2 days. 1/3.
    assert (m["fcr_eligible"], m["fcr_resolved"], m["fcr_rate"]) == (3, 1, 0.3333)
    # Online: alice 09:00-15:00 = 21600 s, bob 00:00-13:30 = 48600 s → 70200
    # Busy: alice A 112 + B 570 (F lies inside B) = 682, bob A 230 + E 300 = 530 → 1212
    assert (m["online_seconds"], m["busy_seconds"]) == (70200.0, 1212.0)
    assert m["occupancy"] == 0.0173  # 1212 / 70200 = 0.01726...
    assert m["average_concurrency"] == 0.02  # chat-seconds 682 + 236 + 530 = 1448 / 70200 = 0.0206
    assert m["chats_per_hour"] == 0.26  # 5 handled segments (alice A B F, bob A E) / 19.5 online hours


def test_the_golden_day_for_alice_who_handed_chat_a_to_bob():
    m = metrics_of("agent", ALICE)
    assert m["chats"] == 3  # assigned A, B, F
    assert (m["ended"], m["closed"], m["missed"]) == (2, 2, 0)  # held B and F when they closed; A was bob's
    # Service level by the first reply's agent: A 15 s, F 20 s met; B 40 s not
    assert (m["service_level_answered"], m["service_level_eligible"]) == (2, 3)
    assert m["first_response_seconds"] == {"count": 3, "mean": 25.0, "median": 20.0, "p90": 40.0}
    # Wait counts for the first accepting agent: A 8, F 4, B 30 → mean 14, median 8
    assert m["wait_seconds"] == {"count": 3, "mean": 14.0, "median": 8.0, "p90": 30.0}
    # Her own handling: A 112, F 236, B 570 → mean 918/3 = 306, median 236
    assert m["handle_seconds"] == {"count": 3, "mean": 306.0, "median": 236.0, "p90": 570.0}
    assert (m["handled_chats"], m["transferred_chats"], m["transfer_rate"]) == (3, 1, 0.3333)  # she transferred A
    assert m["wrapup_seconds"]["count"] == 1 and m["wrapup_seconds"]["mean"] == 540.0  # B; A's wrap-up is bob's
    assert m["resolution_seconds"]["mean"] == 240.0  # F; A was closed by bob
    assert m["messages_per_chat"] == 1.5  # B 2 + F 1 over 2 closed
    assert (m["agent_messages"], m["canned_messages"]) == (3, 1)
    assert (m["fcr_eligible"], m["fcr_resolved"]) == (2, 0)  # B unresolved, F's visitor came back
    assert (m["online_seconds"], m["busy_seconds"]) == (21600.0, 682.0)
    assert m["occupancy"] == 0.0316  # 682 / 21600 = 0.03157...
    assert m["chats_per_hour"] == 0.5  # 3 handled / 6 h


def test_the_golden_day_for_bob_who_took_chat_a_over():
    m = metrics_of("agent", BOB)
    assert m["chats"] == 2  # A (transferred to him), E
    assert (m["ended"], m["closed"], m["missed"]) == (2, 1, 1)  # A closed by him, E missed while his
    assert (m["service_level_answered"], m["service_level_eligible"]) == (0, 1)  # E: never answered
    assert m["first_response_seconds"]["count"] == 0  # alice answered A first
    assert m["wait_seconds"] == {"count": 1, "mean": 2.0, "median": 2.0, "p90": 2.0}  # E
    assert m["handle_seconds"] == {"count": 2, "mean": 265.0, "median": 265.0, "p90": 300.0}  # A 230, E 300
    assert m["wrapup_seconds"]["mean"] == 60.0  # A
    assert m["resolution_seconds"]["mean"] == 360.0  # A
    assert (m["fcr_eligible"], m["fcr_resolved"]) == (1, 1)  # A
    assert (m["online_seconds"], m["busy_seconds"]) == (48600.0, 530.0)
    assert m["occupancy"] == 0.0109  # 530 / 48600 = 0.010905...
    assert m["chats_per_hour"] == 0.15  # 2 / 13.5 h = 0.148


def test_the_golden_day_per_department_and_tag():
    sales, none, billing = metrics_of("department", SALES), metrics_of("department", 0), metrics_of("tag", BILLING)
    assert (sales["chats"], sales["closed"], sales["missed"]) == (3, 2, 1)  # A B E
    assert (none["chats"], none["closed"], none["abandoned"], none["short_abandoned"]) == (3, 1, 1, 1)  # C D F
    assert (billing["ended"], billing["closed"]) == (2, 2)  # A (close tags), F (tagged, then close tags)
    assert billing["resolution_seconds"]["mean"] == 300.0  # A 360, F 240
    assert sales["online_seconds"] == 0.0  # online time belongs to agents, not departments


# --- Periods and time zones -------------------------------------------------------------------

def test_hourly_buckets_put_each_chat_in_the_hour_it_ended():
    facts, contacts, _ = golden_dataset()
    buckets = compute.periods(date(2026, 3, 2), date(2026, 3, 2), "hour", UTC)
    tallies = compute.aggregate(facts, buckets=buckets, as_of=golden.AS_OF, contacts=contacts, scopes=("total",))
    ended = {buckets[i].label: t.ended for (i, _, _), t in tallies.items() if t.ended}
    assert ended == {"2026-03-02T10:00+0000": 1, "2026-03-02T11:00+0000": 2, "2026-03-02T12:00+0000": 2,
                     "2026-03-02T13:00+0000": 1}


def test_days_follow_the_local_calendar_of_the_time_zone():
    vilnius = ZoneInfo("Europe/Vilnius")  # UTC+2 in March
    days = compute.periods(date(2026, 3, 2), date(2026, 3, 3), "day", vilnius)
    assert [(p.label, p.start.astimezone(timezone.utc).hour) for p in days] == [("2026-03-02", 22), ("2026-03-03", 22)]


def test_a_dst_day_has_twenty_three_hours():
    hours = compute.periods(date(2026, 3, 29), date(2026, 3, 29), "hour", ZoneInfo("Europe/Vilnius"))
    assert len(hours) == 23


def test_weeks_start_on_monday_and_months_on_the_first_cut_to_the_range():
    weeks = compute.periods(date(2026, 3, 4), date(2026, 3, 17), "week", UTC)
    assert [p.label for p in weeks] == ["2026-03-04", "2026-03-09", "2026-03-16"]
    months = compute.periods(date(2026, 1, 30), date(2026, 3, 2), "month", UTC)
    assert [p.label for p in months] == ["2026-01-30", "2026-02-01", "2026-03-01"]
    assert months[-1].end == datetime(2026, 3, 3, tzinfo=UTC)


def test_an_unknown_granularity_is_refused():
    with pytest.raises(ValueError):
        compute.periods(date(2026, 3, 2), date(2026, 3, 2), "fortnight", UTC)


# --- Building blocks --------------------------------------------------------------------------

def test_p90_is_the_nearest_rank():
    assert compute.summarise(np.arange(1, 11) * 1000)["p90"] == 9  # ceil(9.0) = 9th of 10
    assert compute.summarise(np.arange(1, 12) * 1000)["p90"] == 10  # ceil(9.9) = 10th of 11
    assert compute.summarise(np.array([], dtype=np.int64))["p90"] is None


def test_online_time_runs_from_the_status_before_the_range_and_stops_at_the_end():
    start, end = golden.DAY, golden.DAY + timedelta(days=1)
    changes = [compute.StatusChange(1, golden.at("08:00:00"), "away"),
               compute.StatusChange(1, golden.at("09:00:00"), "online")]
    assert compute.online_intervals(changes, "online", start, end) == [(start, golden.at("08:00:00")),
                                                                       (golden.at("09:00:00"), end)]
    assert compute.online_intervals([], None, start, end) == []  # no recorded change: not online


def test_nothing_counts_after_the_time_of_computation():
    start = golden.DAY
    buckets = compute.periods(date(2026, 3, 2), date(2026, 3, 2), "day", UTC)
    open_chat = compute.chat_facts(compute.Chat(1, 1, 1), [
        compute.Event(1, "queued", golden.at("10:00:00")),
        compute.Event(1, "assigned", golden.at("10:00:00"), details={"agent_id": ALICE}),
        compute.Event(1, "accepted", golden.at("10:00:00"), details={"agent_id": ALICE})])
    tallies = compute.aggregate([open_chat], buckets=buckets, as_of=golden.at("12:00:00"),
                                online={ALICE: [(start, start + timedelta(days=1))]})
    alice = tallies[(0, "agent", ALICE)]
    assert (alice.online_seconds, alice.busy_seconds) == (43200.0, 7200.0)  # 00:00-12:00, 10:00-12:00


def test_tallies_of_two_halves_merge_into_the_whole():
    facts, contacts, _ = golden_dataset()
    whole = compute.aggregate(facts, buckets=compute.periods(date(2026, 3, 2), date(2026, 3, 2), "day", UTC),
                              as_of=golden.AS_OF, contacts=contacts, scopes=("total",))[(0, "total", 0)]
    hours = compute.aggregate(facts, buckets=compute.periods(date(2026, 3, 2), date(2026, 3, 2), "hour", UTC),
                              as_of=golden.AS_OF, contacts=contacts, scopes=("total",))
    merged = compute.Tally()
    for tally in hours.values():
        merged.merge(tally)
    assert merged.normalised() == whole


def test_samples_keep_milliseconds_and_survive_packing_and_merging():
    first, second = compute.Tally(), compute.Tally()
    for seconds in (12.3456, 0.0004, 7):
        first.add_sample("first_response", seconds)
    second.add_sample("first_response", 3.0)
    second.add_sample("csat", 4)
    stored = compute.Samples.from_bytes(first.samples.to_bytes())
    assert stored.values("first_response").tolist() == [0, 7000, 12346]
    merged = compute.Tally(samples=stored).merge(second)
    assert merged.samples.values("first_response").tolist() == [0, 3000, 7000, 12346]
    assert merged.samples.values("csat").tolist() == [4]
    assert compute.Samples.from_bytes(merged.samples.to_bytes()) == merged.samples
    assert compute.Samples.from_bytes(b"") == compute.Samples()


def test_samples_longer_than_int32_milliseconds_are_stored_wide():
    tally = compute.Tally()
    month = 30 * 24 * 3600  # 2 592 000 000 ms: above 2**31 - 1
    tally.add_sample("resolution", month)
    tally.add_sample("resolution", 1)
    packed = tally.samples.to_bytes()
    assert len(packed) == 4 * len(compute.SAMPLE_NAMES) + 8 * 2
    assert compute.Samples.from_bytes(packed).values("resolution").tolist() == [1000, month * 1000]
    narrow = compute.Tally()
    narrow.add_sample("resolution", 1)
    assert len(narrow.samples.to_bytes()) == 4 * len(compute.SAMPLE_NAMES) + 4


def test_durations_summarise_exactly_in_seconds():
    tally = compute.Tally()
    for seconds in (1, 2, 3.5, 10):
        tally.add_sample("handle", seconds)
    assert tally.metrics()["handle_seconds"] == {"count": 4, "mean": 4.125, "median": 2.75, "p90": 10.0}


def test_first_response_histogram_counts_each_reply_once_between_its_bounds():
    tally = compute.Tally()
    for seconds in (0, 9.999, 10, 19, 45, 599.9, 600, 3600):
        tally.add_sample("first_response", seconds)
    histogram = tally.metrics()["first_response_histogram"]
    assert list(histogram) == ["0-10", "10-20", "20-30", "30-45", "45-60", "60-90", "90-120", "120-180",
                               "180-300", "300-600", "600+"]
    assert histogram == {"0-10": 2, "10-20": 2, "20-30": 0, "30-45": 0, "45-60": 1, "60-90": 0, "90-120": 0,
                         "120-180": 0, "180-300": 0, "300-600": 1, "600+": 2}
    assert sum(compute.Tally().metrics()["first_response_histogram"].values()) == 0
