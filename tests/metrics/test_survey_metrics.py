"""CSAT, NPS and CES from `rated` events, worked out by hand (docs/metrics.md).

| chat | outcome | end agent | rated         | csat | nps | ces |
| c1   | closed  | alice     | same day      | 5    | 10  | 6   |
| c2   | closed  | alice     | the next day  | 4    | 9   | -   |
| c3   | closed  | bob       | same day      | 2    | 3   | 2   |
| c4   | missed  | bob       | same day      | 1    | 7   | -   |
| c5   | closed  | alice     | not rated     |      |     |     |
| c6   | abandoned (no survey)                                 |

Total: surveyed 4 closed + 1 missed = 5; CSAT [5, 4, 2, 1]: mean 3.0, satisfied (4-5) 2/4 = 0.5,
response rate 4/5 = 0.8. NPS [10, 9, 3, 7]: promoters 2, detractors 1 (the 3; 7 is passive):
100 × (2 − 1) / 4 = 25.0. CES [6, 2]: mean 4.0.
Alice (c1, c2, c5): CSAT [5, 4] mean 4.5, satisfied 1.0, rate 2/3 = 0.6667; NPS 100 × 2/2 = 100.0; CES 6.0.
Bob (c3, c4): CSAT [2, 1] mean 1.5, satisfied 0.0, rate 1.0; NPS 100 × (0 − 1)/2 = −50.0; CES 2.0.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from metrics import compute

ALICE, BOB = 1, 2
DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


def chat_events(chat_id: int, agent: int | None, outcome: str, start: datetime, rating: dict | None,
                rated_at: datetime | None = None) -> list[compute.Event]:
    events = [compute.Event(chat_id, compute.QUEUED, start, id=chat_id * 10)]
    if agent is not None:
        events += [
            compute.Event(chat_id, compute.ASSIGNED, start + timedelta(seconds=5), details={"agent_id": agent},
                          id=chat_id * 10 + 1),
            compute.Event(chat_id, compute.ACCEPTED, start + timedelta(seconds=6), agent, {"agent_id": agent},
                          id=chat_id * 10 + 2),
        ]
    if outcome == compute.CLOSED:
        events.append(compute.Event(chat_id, compute.MESSAGE, start + timedelta(seconds=15), agent,
                                    {"author": "agent", "visibility": "public"}, id=chat_id * 10 + 3))
    end = start + timedelta(minutes=10)
    events.append(compute.Event(chat_id, outcome, end, details={"agent_id": agent}, id=chat_id * 10 + 4))
    if rating is not None:
        events.append(compute.Event(chat_id, compute.RATED, rated_at or end + timedelta(minutes=1),
                                    details={"agent_id": agent, "nps": None, "ces": None, **rating},
                                    id=chat_id * 10 + 5))
    return events


def facts() -> list[compute.ChatFacts]:
    chats = [
        (1, ALICE, compute.CLOSED, at(9), {"csat": 5, "nps": 10, "ces": 6}, None),
        (2, ALICE, compute.CLOSED, at(23, 30), {"csat": 4, "nps": 9}, at(1, days=1)),
        (3, BOB, compute.CLOSED, at(10), {"csat": 2, "nps": 3, "ces": 2}, None),
        (4, BOB, compute.MISSED, at(11), {"csat": 1, "nps": 7}, None),
        (5, ALICE, compute.CLOSED, at(12), None, None),
        (6, None, compute.ABANDONED, at(13), None, None),
    ]
    return [compute.chat_facts(compute.Chat(id=c[0], site_id=1, visitor_id=c[0]), chat_events(*c)) for c in chats]


def survey_numbers(scope: str, key: int) -> dict:
    buckets = compute.periods(DAY.date(), DAY.date(), "day", ZoneInfo("UTC"))
    tallies = compute.aggregate(facts(), buckets=buckets, as_of=at(0, days=20))
    return tallies[(0, scope, key)].survey_metrics()


def test_the_team_numbers():
    assert survey_numbers(compute.TOTAL, compute.NO_KEY) == {
        "csat_responses": 4, "csat_mean": 3.0, "csat_satisfied_share": 0.5, "survey_response_rate": 0.8,
        "nps_responses": 4, "nps_promoters": 2, "nps_detractors": 1, "nps": 25.0,
        "ces_responses": 2, "ces_mean": 4.0,
    }


def test_each_rating_belongs_to_the_agent_who_held_the_chat_when_it_ended():
    assert survey_numbers(compute.AGENT, ALICE) == {
        "csat_responses": 2, "csat_mean": 4.5, "csat_satisfied_share": 1.0, "survey_response_rate": 0.6667,
        "nps_responses": 2, "nps_promoters": 2, "nps_detractors": 0, "nps": 100.0,
        "ces_responses": 1, "ces_mean": 6.0,
    }
    assert survey_numbers(compute.AGENT, BOB) == {
        "csat_responses": 2, "csat_mean": 1.5, "csat_satisfied_share": 0.0, "survey_response_rate": 1.0,
        "nps_responses": 2, "nps_promoters": 0, "nps_detractors": 1, "nps": -50.0,
        "ces_responses": 1, "ces_mean": 2.0,
    }


def test_no_answers_give_nulls_not_zeros():
    assert compute.Tally().survey_metrics() == {
        "csat_responses": 0, "csat_mean": None, "csat_satisfied_share": None, "survey_response_rate": None,
        "nps_responses": 0, "nps_promoters": 0, "nps_detractors": 0, "nps": None,
        "ces_responses": 0, "ces_mean": None,
    }


def test_the_scores_survive_the_daily_rollup_round_trip():
    from metrics.models import DailyRollup

    buckets = compute.periods(DAY.date(), DAY.date(), "day", ZoneInfo("UTC"))
    tally = compute.aggregate(facts(), buckets=buckets, as_of=at(0, days=20))[(0, compute.TOTAL, compute.NO_KEY)]
    row = DailyRollup.from_tally(tally, day=DAY.date(), time_zone="UTC", scope="total", key=0, computed_at=DAY)
    assert row.to_tally().survey_metrics() == tally.survey_metrics()
